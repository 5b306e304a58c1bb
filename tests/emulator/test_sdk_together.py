"""Together's official SDK (``together``, 3.1.1 in the dev extra) drives the emulator's ``together``
dialect: its own upload flow (announce, PUT to the signed URL, preprocess), the create (model
limits, price estimate, create), reads, events, checkpoints, metrics, cancel, delete and a
not-found error, as a Together user's code would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

together_sdk = pytest.importorskip("together", reason="the official together SDK is not installed")

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(provider="together", job_seconds=1.0) as emulator:
        yield emulator


@pytest.fixture
async def sdk(emu: Emulator) -> AsyncIterator[Any]:
    # The SDK puts /v1 in every path itself: its base URL is the origin.
    client = together_sdk.AsyncTogether(api_key="tg-key", base_url=emu.base_url.removesuffix("/v1"), max_retries=0)
    try:
        yield client
    finally:
        await client.close()


async def _upload(sdk: Any, tmp_path: Path, rows: int, name: str = "train.jsonl") -> Any:
    path = tmp_path / name
    path.write_bytes(jsonl(supervised_rows(rows)))
    return await sdk.files.upload(file=path, purpose="fine-tune", check=False)


async def _wait(sdk: Any, job_id: str, statuses: tuple[str, ...]) -> Any:
    with anyio.fail_after(30):
        while True:
            job = await sdk.fine_tuning.retrieve(job_id)
            if job.status in statuses:
                return job
            await anyio.sleep(0.05)


async def test_the_sdk_runs_a_job_to_completion(sdk: Any, tmp_path: Path) -> None:
    uploaded = await _upload(sdk, tmp_path, 24)
    assert uploaded.id.startswith("file-")
    assert uploaded.filename == "train.jsonl"
    assert [f.id for f in (await sdk.files.list()).data] == [uploaded.id]
    assert (await sdk.files.retrieve(uploaded.id)).bytes == len(jsonl(supervised_rows(24)))

    job = await sdk.fine_tuning.create(
        training_file=uploaded.id, model=MODEL, n_epochs=2, batch_size=8, lora=True, suffix="sdk"
    )
    assert job.status in ("pending", "queued")
    got = await sdk.fine_tuning.retrieve(job.id)
    assert got.id == job.id
    assert got.model_output_name == job.model_output_name
    assert [j.id for j in (await sdk.fine_tuning.list()).data] == [job.id]

    done = await _wait(sdk, job.id, ("completed", "error", "cancelled"))
    assert done.status == "completed"
    assert done.token_count > 0

    events = (await sdk.fine_tuning.list_events(job.id)).data
    types = [e.type for e in events]
    assert "job_start" in types
    assert types[-1] == "job_complete"
    checkpoints = (await sdk.fine_tuning.list_checkpoints(job.id)).data
    assert checkpoints[0].checkpoint_type == "Final Merged"
    assert checkpoints[0].path == done.model_output_name
    metrics = (await sdk.fine_tuning.list_metrics(job.id)).metrics
    assert metrics
    assert all("train/loss" in m for m in metrics)
    late = (await sdk.fine_tuning.list_metrics(job.id, global_step_from=int(metrics[-1]["train/global_step"]))).metrics
    assert late == metrics[-1:]

    await sdk.fine_tuning.delete(job.id)
    with pytest.raises(together_sdk.NotFoundError):
        await sdk.fine_tuning.retrieve(job.id)


async def test_the_sdk_cancels_a_job(sdk: Any, tmp_path: Path) -> None:
    uploaded = await _upload(sdk, tmp_path, 40)
    job = await sdk.fine_tuning.create(training_file=uploaded.id, model=MODEL, n_epochs=5, batch_size=8, lora=True)
    cancelled = await sdk.fine_tuning.cancel(job.id)
    assert cancelled.status == "cancel_requested"
    assert (await sdk.fine_tuning.retrieve(job.id)).status == "cancelled"
    with pytest.raises(together_sdk.BadRequestError):
        await sdk.fine_tuning.cancel(job.id)


async def test_the_sdk_sees_not_found(sdk: Any) -> None:
    with pytest.raises(together_sdk.NotFoundError) as missing:
        await sdk.fine_tuning.retrieve("ft-does-not-exist")
    assert "ft-does-not-exist" in str(missing.value)
    with pytest.raises(together_sdk.NotFoundError):
        await sdk.fine_tuning.list_events("ft-does-not-exist")
    with pytest.raises(together_sdk.NotFoundError):
        await sdk.files.retrieve("file-does-not-exist")


async def test_the_sdks_multipart_flow_with_a_small_threshold(
    sdk: Any, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's large-file path (initiate, a PUT per part to its signed URL, complete), driven
    with its own constants made small: over 2 KB goes in parts of about 1 KB."""
    files_module = pytest.importorskip("together.lib.resources.files")
    monkeypatch.setattr(files_module, "MULTIPART_THRESHOLD_GB", 2048 / files_module.NUM_BYTES_IN_GB)
    monkeypatch.setattr(files_module, "TARGET_PART_SIZE_MB", 1000 / 2**20)
    monkeypatch.setattr(files_module, "MIN_PART_SIZE_MB", 0)
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(supervised_rows(40)))
    assert path.stat().st_size > 4000
    # The initiate refused once: the SDK went the multipart way. (A refused part would block this
    # event loop, and so the emulator on it: the SDK shuts its part threads down inside the loop.)
    emu.faults.inject("POST:/v1/files/multipart/initiate", "500", count=1)
    with pytest.raises(together_sdk.APIStatusError):
        await sdk.files.upload(file=path, purpose="fine-tune", check=False)
    assert emu.faults.history.count(("POST:/v1/files/multipart/initiate", "500")) == 1
    uploaded = await sdk.files.upload(file=path, purpose="fine-tune", check=False)
    assert uploaded.filename == "big.jsonl"
    assert uploaded.bytes == path.stat().st_size
    content = await sdk.files.content(uploaded.id)
    assert await content.read() == path.read_bytes()
    # The same bytes again: Together answers 409 with the file it has, which the SDK returns.
    again = await sdk.files.upload(file=path, purpose="fine-tune", check=False)
    assert again.id == uploaded.id

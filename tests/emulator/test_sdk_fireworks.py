"""Fireworks' official Python SDK (``fireworks-ai``) drives the emulator's ``fireworks`` dialect:
a dataset made, uploaded and read until ``READY``, a supervised job created with a chosen id,
read, listed and waited on until ``JOB_STATE_COMPLETED``, another job cancelled, and a missing
job's ``NotFoundError``. Every answer the SDK got is checked against Fireworks' spec."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows
from tests.spec import FIREWORKS_SPEC

fireworks = pytest.importorskip("fireworks")

MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
ACCOUNT = "acme"

pytestmark = FIREWORKS_SPEC.requires


class Answers:
    """An httpx response hook: each answer checked against the spec's response schema."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        template = FIREWORKS_SPEC.match_path(request.method, request.url.path)
        assert template is not None, f"{request.method} {request.url.path} is not in Fireworks' spec"
        if response.status_code == 200:
            FIREWORKS_SPEC.validate_response(request.method, template, 200, response.json())
        self.checked.append(f"{request.method} {template} {response.status_code}")


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(provider="fireworks", job_seconds=1.0) as emulator:
        yield emulator


@pytest.fixture
async def sdk(emu: Emulator) -> AsyncIterator[tuple[Any, Answers]]:
    answers = Answers()
    http = httpx.AsyncClient(event_hooks={"response": [answers]})
    client = fireworks.AsyncFireworks(
        api_key="fw-key", account_id=ACCOUNT, base_url=f"http://127.0.0.1:{emu.port}", http_client=http, max_retries=0
    )
    try:
        yield client, answers
    finally:
        await client.close()
        await http.aclose()


async def ready_dataset(client: Any, dataset_id: str, rows: int = 16) -> Any:
    created = await client.datasets.create(
        dataset_id=dataset_id, dataset={"exampleCount": str(rows), "userUploaded": {}, "format": "CHAT"}
    )
    assert created.name == f"accounts/{ACCOUNT}/datasets/{dataset_id}"
    await client.datasets.upload(dataset_id, file=("train.jsonl", jsonl(supervised_rows(rows)), "application/jsonl"))
    with anyio.fail_after(10):
        while True:
            dataset = await client.datasets.get(dataset_id)
            if dataset.state == "READY":
                return dataset
            await anyio.sleep(0.02)


async def test_the_official_sdk_trains_a_model_on_the_emulator(sdk: tuple[Any, Answers]) -> None:
    client, answers = sdk
    dataset = await ready_dataset(client, "train-1")
    assert dataset.example_count == "16"

    job = await client.supervised_fine_tuning_jobs.create(
        dataset=dataset.name,
        base_model=MODEL,
        supervised_fine_tuning_job_id="my-job",
        epochs=2,
        batch_size_samples=4,
        display_name="sdk run",
    )
    assert job.name == f"accounts/{ACCOUNT}/supervisedFineTuningJobs/my-job"
    assert job.state == "JOB_STATE_CREATING"

    got = await client.supervised_fine_tuning_jobs.get("my-job")
    assert got.name == job.name
    assert got.display_name == "sdk run"
    listed = [j.name async for j in client.supervised_fine_tuning_jobs.list()]
    assert job.name in listed

    states: list[str] = []
    with anyio.fail_after(30):
        while True:
            polled = await client.supervised_fine_tuning_jobs.get("my-job")
            if not states or states[-1] != polled.state:
                states.append(polled.state)
            if polled.state == "JOB_STATE_COMPLETED":
                break
            await anyio.sleep(0.02)
    assert states[-1] == "JOB_STATE_COMPLETED"
    assert polled.output_model == f"accounts/{ACCOUNT}/models/my-job"
    assert polled.job_progress is not None
    assert polled.job_progress.percent == 100
    assert "POST /v1/accounts/{account_id}/datasets/{dataset_id}:upload 200" in answers.checked


async def test_the_official_sdk_cancels_deletes_and_reads_a_missing_job(sdk: tuple[Any, Answers]) -> None:
    client, answers = sdk
    dataset = await ready_dataset(client, "train-2")
    await client.supervised_fine_tuning_jobs.create(
        dataset=dataset.name, base_model=MODEL, supervised_fine_tuning_job_id="to-cancel", epochs=3
    )
    await client.supervised_fine_tuning_jobs.cancel("to-cancel", body={})
    with anyio.fail_after(10):
        while (await client.supervised_fine_tuning_jobs.get("to-cancel")).state != "JOB_STATE_CANCELLED":
            await anyio.sleep(0.02)
    await client.supervised_fine_tuning_jobs.delete("to-cancel")

    with pytest.raises(fireworks.NotFoundError) as caught:
        await client.supervised_fine_tuning_jobs.get("to-cancel")
    assert caught.value.status_code == 404
    with pytest.raises(fireworks.NotFoundError):
        await client.supervised_fine_tuning_jobs.get("never-made")
    # A second create with the same chosen id is AIP's 409, which the SDK raises as its ConflictError.
    with pytest.raises(fireworks.ConflictError):
        await client.datasets.create(dataset_id="train-2", dataset={"exampleCount": "1"})
    assert any(entry.endswith(" 404") for entry in answers.checked)

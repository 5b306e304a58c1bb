"""A wait that reaches its deadline says which job, how it was doing and how long it waited,
and stays a ``TimeoutError`` for code that catches that."""

from __future__ import annotations

import pytest

import finetune_async as ft
from tests.dialects import Dialect
from tests.polling.conftest import GOOD, assert_idle, upload


@pytest.fixture
async def slow(dialect: Dialect) -> ft.AsyncClient:  # type: ignore[misc]
    async with (
        dialect.emulator(job_seconds=60.0) as emu,
        dialect.client(emu.base_url) as client,
    ):
        yield client


async def _job(client: ft.AsyncClient, model: str, training_file: str | None = None) -> str:
    training_file = training_file or await upload(client)
    return (await client.fine_tuning.jobs.create(model=model, training_file=training_file)).id


@pytest.mark.parametrize("with_events", [False, True], ids=["plain", "on_event"])
async def test_wait_for_job_timeout_names_the_job_its_status_and_the_time(
    slow: ft.AsyncClient, model: str, with_events: bool
) -> None:
    job_id = await _job(slow, model)
    seen: list[ft.FineTuningJobEvent] = []
    on_event = seen.append if with_events else None
    with pytest.raises(ft.WaitTimeoutError) as info:
        await ft.wait_for_job(slow, job_id, timeout=1.0, poll_interval=0.2, on_event=on_event)
    exc = info.value
    assert isinstance(exc, TimeoutError)
    assert exc.job_id == job_id
    assert exc.statuses == {job_id: exc.status}
    # (Azure's dated route reads pending through the first half of validation.)
    assert exc.status in ("pending", "validating_files", "queued", "running")
    assert 1.0 <= exc.waited < 3.0
    text = str(exc)
    assert job_id in text
    assert f"last status: {exc.status}" in text
    assert "1.0 s" in text or "after 1" in text
    assert "keeps running" in text  # what to do: the job was not cancelled
    assert_idle(slow)


async def test_wait_for_jobs_timeout_names_the_jobs_not_ended(slow: ft.AsyncClient, model: str) -> None:
    training_file = await upload(slow)
    ids = [await _job(slow, model, training_file) for _ in range(3)]
    with pytest.raises(ft.WaitTimeoutError) as info:
        await ft.wait_for_jobs(slow, ids, timeout=1.0, poll_interval=0.2)
    exc = info.value
    assert set(exc.statuses) == set(ids)
    assert exc.job_id == ids[0]
    assert "3 fine-tuning jobs" in str(exc)
    for job_id in ids:
        assert job_id in str(exc)


async def test_a_job_never_seen_says_so(slow: ft.AsyncClient, model: str) -> None:
    job_id = await _job(slow, model)
    with pytest.raises(ft.WaitTimeoutError) as info:
        await ft.wait_for_job(slow, job_id, timeout=0.000_001, poll_interval=0.2)
    assert info.value.status is None
    assert "not seen yet" in str(info.value)


async def test_file_processing_timeout_names_the_file(slow: ft.AsyncClient) -> None:
    file_id = (await slow.files.create(file=("train.jsonl", GOOD), purpose="fine-tune")).id
    # Processed at once (or, on Azure, soon); a deadline of zero still has to say which file.
    with pytest.raises(ft.WaitTimeoutError) as info:
        await slow.files.wait_for_processing(file_id, max_wait_seconds=0, poll_interval=0.1)
    assert file_id in str(info.value)
    assert info.value.job_id is None
    assert info.value.statuses == {file_id: None}

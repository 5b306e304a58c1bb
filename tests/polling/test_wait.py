"""wait_for_job, stream_events and stream_checkpoints against the emulator over loopback HTTP."""

from __future__ import annotations

import time
from contextlib import aclosing

import anyio
import anyio.lowlevel
import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.dialects import Dialect, skip_unless
from tests.polling.conftest import BAD, CreateJob, assert_idle, upload


async def all_events(client: ft.AsyncClient, job_id: str) -> list[ft.FineTuningJobEvent]:
    """The server's events of the job, oldest first (read with the plain paginator)."""
    return [e async for e in client.fine_tuning.jobs.list_events(job_id, limit=100)][::-1]


async def test_wait_returns_the_succeeded_job(client: ft.AsyncClient, create_job: CreateJob) -> None:
    job_id = await create_job()
    job = await ft.wait_for_job(client, job_id, timeout=20)
    assert job.id == job_id
    assert job.status == ft.JobStatus.SUCCEEDED
    assert job.fine_tuned_model is not None
    assert_idle(client)


async def test_on_event_sees_every_event_once_oldest_first(client: ft.AsyncClient, create_job: CreateJob) -> None:
    skip_unless(client, "events", "the test compares what on_event saw with the job's events list")
    job_id = await create_job()
    seen: list[ft.FineTuningJobEvent] = []

    async def on_event(event: ft.FineTuningJobEvent) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(event)

    job = await client.fine_tuning.jobs.wait(job_id, timeout=20, on_event=on_event)
    assert job.status == "succeeded"
    assert [e.id for e in seen] == [e.id for e in await all_events(client, job_id)]
    assert seen[-1].message == "The job has successfully completed"
    # A plain callable works too.
    plain: list[ft.FineTuningJobEvent] = []
    await ft.wait_for_job(client, job_id, on_event=plain.append)
    assert [e.id for e in plain] == [e.id for e in seen]
    assert_idle(client)


async def test_stream_events_and_checkpoints(client: ft.AsyncClient, create_job: CreateJob) -> None:
    skip_unless(client, "checkpoints", "the test streams the job's checkpoint list")
    job_id = await create_job()
    events = [e async for e in ft.stream_events(client, job_id)]
    assert [e.id for e in events] == [e.id for e in await all_events(client, job_id)]
    assert events[-1].message == "The job has successfully completed"
    ckpts = [c async for c in client.fine_tuning.jobs.stream_checkpoints(job_id)]
    listed = [c async for c in client.fine_tuning.jobs.checkpoints.list(job_id)][::-1]
    assert ckpts
    assert [c.id for c in ckpts] == [c.id for c in listed]
    assert [c.step_number for c in ckpts] == sorted(c.step_number for c in ckpts)
    # Same through the method.
    again = [e.id async for e in client.fine_tuning.jobs.stream_events(job_id)]
    assert again == [e.id for e in events]
    assert_idle(client)


async def test_failed_job_raises_with_its_error(client: ft.AsyncClient, model: str, dialect: Dialect) -> None:
    bad = await upload(client, BAD)
    job = await client.fine_tuning.jobs.create(model=model, training_file=bad)
    with pytest.raises(ft.JobFailedError) as info:
        await ft.wait_for_job(client, job.id, timeout=20)
    assert info.value.job.status == "failed"
    assert info.value.error is not None
    assert info.value.error.message
    if dialect.job_error_codes:
        assert info.value.error.code == "invalid_training_file"
    final = await ft.wait_for_job(client, job.id, raise_on_failure=False)
    assert final.status == ft.JobStatus.FAILED


async def test_cancelled_job_raises(slow_emulator: Emulator, dialect: Dialect) -> None:
    async with dialect.client(slow_emulator.base_url) as client:
        job = await client.fine_tuning.jobs.create(model=dialect.model, training_file=await upload(client))
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.fine_tuning.jobs.cancel, job.id)
            with pytest.raises(ft.JobCancelledError) as info:
                await ft.wait_for_job(client, job.id, timeout=20)
        assert info.value.job.status == "cancelled"
        events = [e async for e in ft.stream_events(client, job.id)]
        if dialect.capabilities.events:
            assert events[-1].message == "Fine-tuning job cancelled"
        else:
            # Made from the job's state and progress changes: one says it was cancelled.
            assert any("cancelled" in e.message.lower() for e in events)


async def test_paused_is_not_terminal_and_timeout_raises(slow_emulator: Emulator, dialect: Dialect) -> None:
    skip_unless(dialect, "pause_resume", "the test pauses a job")
    async with dialect.client(slow_emulator.base_url) as client:
        job = await client.fine_tuning.jobs.create(model=dialect.model, training_file=await upload(client))
        async with aclosing(ft.stream_events(client, job.id, poll_interval=0.05)) as events:
            async for event in events:
                if event.message == "Fine-tuning job started":
                    break
        await client.fine_tuning.jobs.pause(job.id)
        with pytest.raises(TimeoutError):
            await ft.wait_for_job(client, job.id, timeout=1.5, poll_interval=0.2)
        assert_idle(client)
        await client.fine_tuning.jobs.resume(job.id)
        messages = [e.message async for e in ft.stream_events(client, job.id, poll_interval=0.2)]
        assert "Fine-tuning job paused" in messages
        assert "Fine-tuning job resumed" in messages
        assert messages[-1] == "The job has successfully completed"
        assert (await ft.wait_for_job(client, job.id)).status == "succeeded"


async def test_unknown_job_raises_not_found(client: ft.AsyncClient) -> None:
    with pytest.raises(ft.NotFoundError):
        await ft.wait_for_job(client, "ftjob-doesnotexist", timeout=10)
    with pytest.raises(ft.NotFoundError):
        [e async for e in ft.stream_events(client, "ftjob-doesnotexist")]
    with pytest.raises(ValueError, match="poll_interval"):
        await ft.wait_for_job(client, "ftjob-x", poll_interval=0)
    assert_idle(client)


async def test_outage_keeps_the_wait_alive(emulator: Emulator, client: ft.AsyncClient, create_job: CreateJob) -> None:
    job_id = await create_job()
    # Every poll fails for a while (more than the transport would retry), then the API is back.
    emulator.faults.configure("rate=1.0,kinds=503+reset,routes=GET:/v1/fine_tuning/*")
    async with anyio.create_task_group() as tg:

        async def heal() -> None:
            await anyio.sleep(0.5)
            emulator.faults.clear()

        tg.start_soon(heal)
        job = await ft.wait_for_job(client, job_id, timeout=30)
    assert job.status == "succeeded"
    # Polls kept failing and the wait went on. The backoff after errors is instant here (a test
    # about logic), so the polls that fail are paced by the rate ceiling: many fall within the
    # half-second outage; three for sure however loaded the machine is.
    assert len(emulator.faults.history) >= 3


async def test_thousands_of_events_are_streamed_once_in_order(
    emulator: Emulator, client: ft.AsyncClient, create_job: CreateJob
) -> None:
    skip_unless(client, "events", "the test compares the stream with the job's events list")
    job_id = await create_job()
    store = emulator.state.store
    # Thousands of extra events land in bursts while the stream runs: several pages between polls.
    stream = ft.stream_events(client, job_id, poll_interval=0.05)
    got: list[str] = []
    first = await anext(stream)
    got.append(first.id)
    for burst in range(3):
        t = time.time()
        store.add_events(
            job_id,
            [
                {
                    "object": "fine_tuning.job.event",
                    "id": f"ftevent-extra{burst:02d}{i:05d}",
                    "created_at": int(t),  # many share one second
                    "level": "info",
                    "message": f"extra {burst}/{i}",
                    "type": "message",
                    "data": {},
                }
                for i in range(1500)
            ],
        )
        for _ in range(500):
            got.append((await anext(stream)).id)
    got.extend([e.id async for e in stream])
    assert got == [e.id for e in [e async for e in client.fine_tuning.jobs.list_events(job_id, limit=100)][::-1]]
    assert len(got) == len(set(got)) >= 4500


async def test_on_event_error_ends_the_wait(client: ft.AsyncClient, create_job: CreateJob) -> None:
    job_id = await create_job()

    def boom(event: ft.FineTuningJobEvent) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        await ft.wait_for_job(client, job_id, on_event=boom)
    assert_idle(client)

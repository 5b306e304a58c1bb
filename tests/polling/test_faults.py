"""Fifty jobs at once with 30% of all requests failing in every way the emulator knows."""

from __future__ import annotations

import contextlib

import anyio

import finetune_async as ft
from tests.dialects import Dialect, one_route_each, skip_unless
from tests.polling.conftest import BAD, GOOD, assert_idle, upload

FAULTS = "rate=0.3,kinds=429+500+503+reset+lost,retry_after=0.01,seed=7"
# The same, with servers that act a second after the client's 0.6 s read deadline passed.
LATE_FAULTS = "rate=0.3,kinds=429+500+503+reset+lost+late,late=1.0,retry_after=0.01,seed=7"
N = 50


@one_route_each
async def test_fifty_jobs_waited_and_streamed_under_faults(dialect: Dialect) -> None:
    skip_unless(dialect, "events", "the test compares the streams with the job's events list")
    skip_unless(dialect, "checkpoints", "the test streams the job's checkpoint list")
    async with (
        # Jobs long enough for a cancel 0.3 s in to land mid-run, even applied a second late and
        # with four workers sharing two cores (at 2 s, all five cancels once came too late).
        dialect.emulator(job_seconds=4.0) as emu,
        dialect.client(
            emu.base_url,
            max_retries=10,
            max_poll_requests_per_second=None,
            timeout=ft.Timeout(total=None, read=0.6),
            # A create the server never acted on (a reset) is sent again after 2 s, not 30.
            settle_window=ft.SettleWindow(minimum=2.0),
        ) as client,
    ):
        emu.faults.configure(LATE_FAULTS)
        # At least three creates are applied after the client's deadline, whatever the draws.
        emu.faults.inject("POST:/v1/fine_tuning/jobs", "late", count=3, seconds=1.0)
        good = await upload(client, GOOD, "good.jsonl")
        bad = await upload(client, BAD, "bad.jsonl")
        ids: list[str] = [""] * N
        waited: dict[str, ft.FineTuningJob | BaseException] = {}
        on_event: dict[str, list[str]] = {}
        streamed: dict[str, list[str]] = {}
        ckpts: dict[str, list[str]] = {}

        async def one(i: int) -> None:
            training = bad if i % 10 == 0 else good
            job = await client.fine_tuning.jobs.create(
                model=dialect.model, training_file=training, metadata={"i": str(i)}
            )
            ids[i] = job.id
            on_event[job.id], streamed[job.id], ckpts[job.id] = [], [], []

            async def wait() -> None:
                try:
                    waited[job.id] = await ft.wait_for_job(
                        # Generous: with 30% of requests failing the run takes 16-46 s here.
                        client,
                        job.id,
                        timeout=120,
                        on_event=lambda e: on_event[job.id].append(e.id),
                    )
                except (ft.JobFailedError, ft.JobCancelledError) as exc:
                    waited[job.id] = exc

            async def stream() -> None:
                async for event in ft.stream_events(client, job.id):
                    streamed[job.id].append(event.id)

            async def checkpoints() -> None:
                async for ckpt in ft.stream_checkpoints(client, job.id):
                    ckpts[job.id].append(ckpt.id)

            async def cancel() -> None:
                await anyio.sleep(0.3)
                # If it had already ended, its wait must say how.
                with contextlib.suppress(ft.BadRequestError):
                    await client.fine_tuning.jobs.cancel(job.id)

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                tg.start_soon(stream)
                tg.start_soon(checkpoints)
                if i % 10 == 5:
                    tg.start_soon(cancel)

        with anyio.fail_after(55):
            async with anyio.create_task_group() as tg:
                for i in range(N):
                    tg.start_soon(one, i)

        emu.faults.clear()
        # Each create made exactly one job, lost answers notwithstanding.
        assert len(emu.state.store.jobs) == N == len(set(ids))
        assert {kind for _, kind in emu.faults.history} == {"429", "500", "503", "reset", "lost", "late"}
        assert any(route == "POST:/v1/fine_tuning/jobs" and kind == "late" for route, kind in emu.faults.history)
        outcomes = {"succeeded": 0, "failed": 0, "cancelled": 0}
        for job_id in ids:
            final = await client.fine_tuning.jobs.retrieve(job_id)
            outcomes[final.status] += 1
            result = waited[job_id]
            if final.status == "succeeded":
                assert isinstance(result, ft.FineTuningJob)
                assert result.status == "succeeded"
            elif final.status == "failed":
                assert isinstance(result, ft.JobFailedError)
                assert result.job.error is not None
            else:
                assert isinstance(result, ft.JobCancelledError)
            server = [e.id async for e in client.fine_tuning.jobs.list_events(job_id, limit=100)][::-1]
            assert streamed[job_id] == server, job_id
            assert on_event[job_id] == server, job_id
            last = (await client.fine_tuning.jobs.list_events(job_id, limit=1)).data[0].message
            assert last in (
                "The job has successfully completed",
                "The job failed due to an invalid file.",
                "Fine-tuning job cancelled",
            )
            server_ckpts = [c.id async for c in client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)][::-1]
            assert ckpts[job_id] == server_ckpts
        assert outcomes["failed"] == N // 10
        assert outcomes["cancelled"] >= 1
        assert outcomes["succeeded"] >= N // 2
        assert_idle(client)


async def test_many_waiters_share_the_watch_under_faults(dialect: Dialect) -> None:
    """wait_for_job from many tasks, coalesced into sweeps, with faults on the polling routes."""
    async with (
        dialect.emulator(job_seconds=1.0) as emu,
        dialect.client(emu.base_url, max_retries=10) as client,
    ):
        good = await upload(client, GOOD, "good.jsonl")
        ids = [(await client.fine_tuning.jobs.create(model=dialect.model, training_file=good)).id for _ in range(40)]
        emu.faults.configure(FAULTS)
        results: dict[str, ft.FineTuningJob] = {}

        async def wait(job_id: str) -> None:
            results[job_id] = await ft.wait_for_job(client, job_id, timeout=40)

        async with anyio.create_task_group() as tg:
            for job_id in ids:
                tg.start_soon(wait, job_id)
        assert {j.status for j in results.values()} == {"succeeded"}
        assert len(results) == 40
        assert_idle(client)

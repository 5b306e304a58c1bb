"""Many jobs: wait_for_jobs, as_completed, the shared rate ceiling, and sweeps of the listing."""

from __future__ import annotations

import time
from contextlib import aclosing

import anyio
import pytest

import finetune_async as ft
from finetune_async._watch import watch_of
from tests.dialects import Dialect, one_route_each
from tests.polling.conftest import BAD, GOOD, assert_idle, upload


async def test_wait_for_jobs_and_as_completed(dialect: Dialect) -> None:
    async with dialect.emulator(job_seconds=1.5) as emu, dialect.client(emu.base_url) as client:
        good = await upload(client, GOOD, "good.jsonl")
        bad = await upload(client, BAD, "bad.jsonl")
        ids = [
            (await client.fine_tuning.jobs.create(model=dialect.model, training_file=bad if i == 3 else good)).id
            for i in range(12)
        ]
        jobs = await ft.wait_for_jobs(client, [*ids, ids[3]], timeout=30)
        assert [j.id for j in jobs] == [*ids, ids[3]]
        assert [j.status for j in jobs].count("failed") == 2  # ids[3], twice, returned not raised
        with pytest.raises(ft.JobFailedError):
            await ft.wait_for_jobs(client, ids, raise_on_failure=True)
        seen = [job.id async for job in ft.as_completed(client, ids)]
        assert sorted(seen) == sorted(ids)
        with pytest.raises(ft.NotFoundError):
            await ft.wait_for_jobs(client, [ids[0], "ftjob-nope"])
        assert_idle(client)


@one_route_each
async def test_many_jobs_under_one_rate_ceiling_with_few_requests(dialect: Dialect) -> None:
    rate = 10.0
    stamps: list[float] = []

    def hook(info: ft.RequestInfo) -> None:
        if dialect.reads_jobs(info):
            stamps.append(time.monotonic())

    async with (
        dialect.emulator(job_seconds=3.0) as emu,
        dialect.client(emu.base_url, request_hooks=[hook], max_poll_requests_per_second=rate) as client,
    ):
        good = await upload(client, GOOD, "good.jsonl")
        ids = [(await client.fine_tuning.jobs.create(model=dialect.model, training_file=good)).id for _ in range(300)]
        stamps.clear()
        done = 0
        async with anyio.create_task_group() as tg:
            # Waiters of every kind share the ceiling: single waits, a bulk wait, an iterator, a stream.
            async def single(job_id: str) -> None:
                nonlocal done
                await ft.wait_for_job(client, job_id, timeout=60)
                done += 1

            for job_id in ids[:100]:
                tg.start_soon(single, job_id)
            tg.start_soon(ft.wait_for_jobs, client, ids[100:200])

            async def iterate() -> None:
                async with aclosing(ft.as_completed(client, ids[200:])) as it:
                    async for _ in it:
                        pass

            tg.start_soon(iterate)

            async def stream() -> None:
                async for _ in ft.stream_events(client, ids[0]):
                    pass

            tg.start_soon(stream)
        assert done == 100
        # Never more than `rate` polling requests in any one-second window...
        window = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
        assert window <= rate
        # ...and far fewer requests than jobs: the listing gives a hundred at a time (where
        # jobs are listed newest first; else each job is read, at most `rate` a second).
        few = 150 if dialect.capabilities.jobs_listed_newest_first else 3 * len(ids)
        assert watch_of(client).requests == len(stamps) < few
        assert_idle(client)

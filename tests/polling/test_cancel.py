"""Cancelling a waiter leaves nothing behind: no task, no connection, no watch entry.

The suite runs with warnings as errors, so an unclosed session or a never-awaited coroutine
would fail these tests too.
"""

from __future__ import annotations

import functools
import gc
from contextlib import aclosing, suppress

import anyio

import finetune_async as ft
from tests.dialects import Dialect, skip_unless
from tests.polling.conftest import GOOD, assert_idle, tasks_now, upload


async def test_cancelling_waiters_mid_request_leaves_nothing_behind(dialect: Dialect) -> None:
    skip_unless(dialect, "checkpoints", "a waiter streams the job's checkpoint list")
    # Jobs outlast the cancellation at 1 s, and not by much: the survivor waits for the end of its own.
    async with dialect.emulator(job_seconds=2.0) as emu, dialect.client(emu.base_url) as client:
        good = await upload(client, GOOD, "good.jsonl")
        ids = [(await client.fine_tuning.jobs.create(model=dialect.model, training_file=good)).id for _ in range(3)]
        # Slow answers, so that cancellation lands while requests are in flight.
        emu.faults.configure("latency=0.3,routes=GET:/v1/fine_tuning/*")
        before = tasks_now()
        survivor: list[ft.FineTuningJob] = []

        async def survive() -> None:
            survivor.append(await ft.wait_for_job(client, ids[2], timeout=30))

        async with anyio.create_task_group() as outer:
            outer.start_soon(survive)
            with anyio.move_on_after(1.0):  # the first waiter is the driver: cancel it mid-poll
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ft.wait_for_job, client, ids[0])
                    tg.start_soon(functools.partial(ft.wait_for_job, client, ids[1], poll_interval=0.2))
                    tg.start_soon(_drain, ft.stream_events(client, ids[0]))
                    tg.start_soon(_drain, ft.stream_checkpoints(client, ids[1]))
                    tg.start_soon(_drain, ft.as_completed(client, ids))
        # The survivor took over the driving and still got its answer.
        assert survivor[0].status == "succeeded"
        gc.collect()
        await anyio.sleep(0.05)
        assert tasks_now() == before
        assert client.connections_in_use == 0
        assert_idle(client)


async def _drain(it: object) -> None:
    async with aclosing(it) as stream:  # type: ignore[type-var]
        async for _ in stream:
            pass


async def test_timeout_and_early_exit_leave_nothing_behind(dialect: Dialect) -> None:
    async with dialect.emulator(job_seconds=1.5) as emu, dialect.client(emu.base_url) as client:
        good = await upload(client, GOOD, "good.jsonl")
        ids = [(await client.fine_tuning.jobs.create(model=dialect.model, training_file=good)).id for _ in range(3)]
        before = tasks_now()
        with suppress(TimeoutError):
            await ft.wait_for_job(client, ids[0], timeout=0.3, on_event=lambda e: None)
        async with aclosing(ft.stream_events(client, ids[0])) as events:
            async for _ in events:
                break
        async with aclosing(ft.as_completed(client, ids)) as jobs:
            async for _ in jobs:
                break
        assert tasks_now() == before
        assert client.connections_in_use == 0
        assert_idle(client)
    assert client.is_closed

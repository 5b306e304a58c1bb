"""Shared pieces of the waiting helpers' tests: emulators, clients, a training file, leak checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import finetune_async as ft
from finetune_async._watch import watch_of
from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

MODEL = "gpt-4o-mini-2024-07-18"
GOOD = jsonl(supervised_rows(20))
# Too few examples: the job is accepted, then fails while validating its files.
BAD = jsonl(supervised_rows(3))


async def upload(client: ft.AsyncClient, data: bytes = GOOD, name: str = "train.jsonl") -> str:
    return (await client.files.create(file=(name, data), purpose="fine-tune")).id


CreateJob = Callable[..., Awaitable[str]]


@pytest.fixture
async def training_file(client: ft.AsyncClient) -> str:
    return await upload(client)


@pytest.fixture
def create_job(client: ft.AsyncClient, training_file: str) -> CreateJob:
    async def create(training: str | None = None, **kwargs: object) -> str:
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=training or training_file, **kwargs)  # type: ignore[arg-type]
        return job.id

    return create


@pytest.fixture
async def slow_emulator() -> AsyncIterator[Emulator]:
    """Jobs that take five seconds, for pausing and cancelling mid-way."""
    async with Emulator(job_seconds=5.0) as emu:
        yield emu


def assert_idle(client: ft.AsyncClient) -> None:
    """Nothing left behind in the client's watch: no job watched, no subscriber, nobody parked or driving."""
    stats = watch_of(client).stats()
    assert (stats.watched, stats.subscribed, stats.parked, stats.driving) == (0, 0, 0, False)


def tasks_now() -> set[asyncio.Task[object]]:
    """The running tasks, but for this one and the emulator's (server side) connection handlers."""
    return {
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "RequestHandler" not in getattr(t.get_coro(), "__qualname__", "")
    }

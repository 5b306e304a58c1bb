"""Shared pieces of the waiting helpers' tests: emulators, clients, a training file, leak checks.

Every test here that runs a helper against the emulator runs on each dialect
(tests/dialects.py: OpenAI, Azure's v1 and dated routes, Nebius): ``dialect`` is parametrized,
and ``emulator``, ``client``, ``model``, ``training_file`` and ``create_job`` follow it. A test
that builds its own emulator and client does it with ``dialect.emulator(...)`` and
``dialect.client(emu.base_url, ...)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import finetune_async as ft
from finetune_async._watch import watch_of
from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows
from tests.dialects import BY_ID, DIALECTS, Dialect

MODEL = "gpt-4o-mini-2024-07-18"
GOOD = jsonl(supervised_rows(20))
# Too few examples: the job is accepted, then fails while validating its files.
# A file every dialect refuses (3 examples are enough on Together and Fireworks): a broken line.
BAD = jsonl(supervised_rows(3)) + b"{not json\n"


@pytest.fixture(params=[d.id for d in DIALECTS])
def dialect(request: pytest.FixtureRequest) -> Dialect:
    """Each dialect in turn (tests/dialects.py)."""
    return BY_ID[request.param]


async def upload(client: ft.AsyncClient, data: bytes = GOOD, name: str = "train.jsonl") -> str:
    """A fine-tune file's id, ready for a job: where the provider needs its files processed
    before a job names them (Azure), after waiting for that."""
    file = await client.files.create(file=(name, data), purpose="fine-tune")
    if client.provider.capabilities.files_must_be_processed:
        await client.files.wait_for_processing(file.id, poll_interval=0.02)
    return file.id


CreateJob = Callable[..., Awaitable[str]]


@pytest.fixture
async def training_file(client: ft.AsyncClient) -> str:
    return await upload(client)


@pytest.fixture
def create_job(client: ft.AsyncClient, training_file: str, model: str) -> CreateJob:
    async def create(training: str | None = None, **kwargs: object) -> str:
        job = await client.fine_tuning.jobs.create(model=model, training_file=training or training_file, **kwargs)  # type: ignore[arg-type]
        return job.id

    return create


@pytest.fixture
async def slow_emulator(dialect: Dialect) -> AsyncIterator[Emulator]:
    """Jobs that take two and a half seconds (running from 0.5 s on), for pausing and cancelling mid-way."""
    async with dialect.emulator(job_seconds=2.5) as emu:
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

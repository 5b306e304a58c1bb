"""``stream_events`` (and ``wait_for_job(on_event=...)``) where jobs have no events list.

Fireworks has none (``capabilities.events`` false): the stream makes its events from the job as
it polls it, one when the job's status changes and one when its ``jobProgress`` changes, in that
order, with stable ids, and ends when the job ends. Run against the emulator's Fireworks dialect.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.data import dpo_rows, jsonl, supervised_rows

MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
# The order a job's states come in (a job passes some of them too quickly to be seen).
ORDER = [
    "JOB_STATE_CREATING",
    "JOB_STATE_VALIDATING",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_WRITING_RESULTS",
]
# CANCELLING reads cancelled: the stream may end on it.
ENDS = {"JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_CANCELLING"}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(provider="fireworks", job_seconds=1.0) as emulator:
        yield emulator


class Paths:
    """A request hook keeping what was requested."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, info: ft.RequestInfo) -> None:
        self.seen.append(f"{info.method} {info.path}")


@pytest.fixture
def paths() -> Paths:
    return Paths()


@pytest.fixture
async def client(emu: Emulator, paths: Paths) -> AsyncIterator[ft.AsyncClient]:
    async with ft.AsyncClient.fireworks(
        api_key="fw-key",
        account_id="acme",
        base_url=f"http://127.0.0.1:{emu.port}",
        max_poll_requests_per_second=None,
        request_hooks=[paths],
    ) as c:
        yield c


async def create(client: ft.AsyncClient, rows: bytes | None = None, **kwargs: Any) -> str:
    file = await client.files.create(file=("t.jsonl", rows if rows is not None else jsonl(supervised_rows(20))))
    await client.files.wait_for_processing(file.id, poll_interval=0.01)
    return (await client.fine_tuning.jobs.create(model=MODEL, training_file=file.id, **kwargs)).id


async def collect(client: ft.AsyncClient, job_id: str) -> list[ft.FineTuningJobEvent]:
    with anyio.fail_after(30):
        return [e async for e in ft.stream_events(client, job_id, poll_interval=0.01)]


def states(events: list[ft.FineTuningJobEvent]) -> list[str]:
    return [str((e.data or {})["provider_status"]) for e in events if is_state(e)]


def is_state(event: ft.FineTuningJobEvent) -> bool:
    return ":state:" in event.id


def check_stream(job_id: str, events: list[ft.FineTuningJobEvent]) -> None:
    """What every stream of made events holds to: ordered, each a change, ids stable and unique."""
    assert events
    assert events[0].id.startswith(f"{job_id}:state:")  # the status the job had when the stream began
    assert len({e.id for e in events}) == len(events)
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    seen = states(events)
    assert all(a != b for a, b in itertools.pairwise(seen))  # an event per change, not per poll
    assert seen[-1] in ENDS
    assert seen.count(seen[-1]) == 1
    # The end's event is the last but for the progress seen with it.
    last_state = max(i for i, e in enumerate(events) if is_state(e))
    assert all(not is_state(e) for e in events[last_state + 1 :])
    running = [s for s in seen[:-1] if s in ORDER]
    assert running == sorted(running, key=ORDER.index)
    progress = [(e.data or {}) for e in events if not is_state(e)]
    marks = [(p["epoch"], p["percent"]) for p in progress]
    assert all(a != b for a, b in itertools.pairwise(marks))
    assert marks == sorted(marks)
    for event in events:
        data = event.data or {}
        if is_state(event):
            assert event.id == f"{job_id}:state:{data['provider_status']}"
            assert data["provider_status"] in event.message or data["status"] in event.message
        else:
            assert event.id == f"{job_id}:progress:{data['epoch']}:{data['percent']}"
            assert f"{data['percent']}%" in event.message


async def test_a_job_s_states_and_progress_arrive_as_events_in_order(client: ft.AsyncClient, paths: Paths) -> None:
    job_id = await create(client, hyperparameters={"n_epochs": 2})
    paths.seen.clear()
    events = await collect(client, job_id)
    check_stream(job_id, events)
    assert states(events)[-1] == "JOB_STATE_COMPLETED"
    assert "JOB_STATE_RUNNING" in states(events)
    progress = [e for e in events if ":progress:" in e.id]
    assert progress[-1].data == {"percent": 100, "epoch": 1}
    # The stream only reads the job (one request a poll): there is no events path to ask.
    assert set(paths.seen) == {f"GET /v1/accounts/acme/supervisedFineTuningJobs/{job_id}"}


async def test_wait_for_job_hands_the_same_events_to_on_event(client: ft.AsyncClient) -> None:
    job_id = await create(client)
    got: list[ft.FineTuningJobEvent] = []
    with anyio.fail_after(30):
        job = await ft.wait_for_job(client, job_id, poll_interval=0.01, on_event=got.append)
    assert job.status == "succeeded"
    check_stream(job_id, got)


async def test_two_streams_of_one_job_give_one_change_one_id(client: ft.AsyncClient) -> None:
    job_id = await create(client)
    results: list[list[ft.FineTuningJobEvent]] = [[], []]

    async def follow(i: int) -> None:
        results[i] = await collect(client, job_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow, 0)
        tg.start_soon(follow, 1)
    first, second = ({e.id: e.data for e in r} for r in results)
    for event_id in first.keys() & second.keys():
        assert first[event_id] == second[event_id]
    assert states(results[0])[-1] == states(results[1])[-1] == "JOB_STATE_COMPLETED"


async def test_a_cancelled_job_ends_its_stream(client: ft.AsyncClient) -> None:
    job_id = await create(client, hyperparameters={"n_epochs": 3})
    events: list[ft.FineTuningJobEvent] = []
    with anyio.fail_after(30):
        async with aclosing(ft.stream_events(client, job_id, poll_interval=0.01)) as stream:
            async for event in stream:
                events.append(event)
                if (event.data or {}).get("provider_status") == "JOB_STATE_RUNNING":
                    await client.fine_tuning.jobs.cancel(job_id)
    check_stream(job_id, events)
    assert states(events)[-1] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert events[-1].data is not None
    assert events[-1].data["status"] == "cancelled"


async def test_a_failed_job_s_last_event_says_why(client: ft.AsyncClient) -> None:
    job_id = await create(client, rows=b'{"messages": "not a list"}\n' * 12)
    events = await collect(client, job_id)
    check_stream(job_id, events)
    last = events[-1]
    assert states(events)[-1] == "JOB_STATE_FAILED"
    assert last.level == "error"
    assert ": " in last.message


async def test_a_dpo_job_has_state_events_only(client: ft.AsyncClient) -> None:
    job_id = await create(client, rows=jsonl(dpo_rows(10)), method={"type": "dpo"})
    events = await collect(client, job_id)
    check_stream(job_id, events)
    assert all(":state:" in e.id for e in events)
    assert job_id.startswith("dpo:")


async def test_polls_that_fail_are_asked_again(client: ft.AsyncClient, emu: Emulator) -> None:
    job_id = await create(client)
    emu.faults.inject("GET:/v1/fine_tuning/jobs/*", "503", count=3)
    events = await collect(client, job_id)
    check_stream(job_id, events)
    assert [kind for _, kind in emu.faults.history] == ["503"] * 3


async def test_an_unknown_job_raises_and_checkpoints_are_refused_before_asking(
    client: ft.AsyncClient, paths: Paths
) -> None:
    with pytest.raises(ft.NotFoundError):
        await collect(client, "ft-unknown")
    paths.seen.clear()
    with pytest.raises(ft.UnsupportedByProviderError, match="checkpoint"):
        ft.stream_checkpoints(client, "ft-unknown")
    with pytest.raises(ft.UnsupportedByProviderError, match="checkpoint"):
        client.fine_tuning.jobs.stream_checkpoints("ft-unknown")
    assert paths.seen == []

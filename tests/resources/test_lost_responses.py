"""Creates are never duplicated by a retry: lost answers are reconciled before a resend.

The emulator's ``lost`` fault applies the action and then drops the connection without an
answer, exactly the case where the official SDK's blind resend can start a second job.
"""

from __future__ import annotations

import hashlib

import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

DATA = jsonl(supervised_rows(10))
JOBS = "POST:/v1/fine_tuning/jobs"
FILES = "POST:/v1/files"


async def count_jobs(client: ft.AsyncClient) -> int:
    return len([j async for j in client.fine_tuning.jobs.list(limit=100)])


async def count_files(client: ft.AsyncClient) -> int:
    return len([f async for f in client.files.list(limit=100)])


async def test_lost_job_create_ends_with_exactly_one_job(client: ft.AsyncClient, emulator: Emulator) -> None:
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    emulator.faults.inject(JOBS, "lost", count=1)
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=training, suffix="once", metadata={"k": "v"}
    )
    assert await count_jobs(client) == 1
    listed = await client.fine_tuning.jobs.list()
    assert listed.data[0].id == job.id
    # Only one create request reached the server: the second try was a reconciling list.
    assert emulator.faults.history.count((JOBS, "lost")) == 1


async def test_lost_job_create_twice_in_a_row(client: ft.AsyncClient, emulator: Emulator) -> None:
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    emulator.faults.inject(JOBS, "lost", count=2)
    job = await client.with_options(max_retries=3).fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=training
    )
    assert await count_jobs(client) == 1
    assert job.id == (await client.fine_tuning.jobs.list()).data[0].id


async def test_reset_before_the_server_acted_is_resent(client: ft.AsyncClient, emulator: Emulator) -> None:
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    emulator.faults.inject(JOBS, "reset", count=1)
    await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    assert await count_jobs(client) == 1


@pytest.mark.parametrize("kind", ["429", "500", "503"])
async def test_refused_creates_are_retried(client: ft.AsyncClient, emulator: Emulator, kind: str) -> None:
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    emulator.faults.configure("retry_after=0.01")
    emulator.faults.inject(JOBS, kind, count=2)
    await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    assert await count_jobs(client) == 1


async def test_two_identical_creates_with_lost_answers_get_two_jobs(client: ft.AsyncClient, emulator: Emulator) -> None:
    """Reconciliation never hands one call's job to another identical call."""
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    emulator.faults.inject(JOBS, "lost", count=1)
    first = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    emulator.faults.inject(JOBS, "lost", count=1)
    second = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    assert first.id != second.id
    assert await count_jobs(client) == 2


async def test_lost_file_create_ends_with_exactly_one_file(client: ft.AsyncClient, emulator: Emulator) -> None:
    emulator.faults.inject(FILES, "lost", count=1)
    created = await client.files.create(file=("lost.jsonl", DATA))
    assert created.filename == "lost.jsonl"
    assert await count_files(client) == 1
    assert (await client.files.content(created.id)).content == DATA


async def test_lost_upload_completion_ends_with_exactly_one_file(client: ft.AsyncClient, emulator: Emulator) -> None:
    upload = await client.uploads.create(
        bytes=len(DATA), filename="up.jsonl", mime_type="application/jsonl", purpose="fine-tune"
    )
    part = await client.uploads.parts.create(upload.id, data=DATA)
    emulator.faults.inject("POST:/v1/uploads/*/complete", "lost", count=1)
    done = await client.uploads.complete(upload.id, part_ids=[part.id], md5=hashlib.md5(DATA).hexdigest())
    assert done.status == "completed"
    assert done.file is not None
    assert await count_files(client) == 1


async def test_lost_cancel_returns_the_cancelled_job(client: ft.AsyncClient, emulator: Emulator) -> None:
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    emulator.faults.inject("POST:/v1/fine_tuning/jobs/*/cancel", "lost", count=1)
    cancelled = await client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"


async def test_a_lost_create_is_settled_even_without_retries(client: ft.AsyncClient, emulator: Emulator) -> None:
    """Settling is not resending: with max_retries=0 the lost create is still found and returned."""
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    emulator.faults.inject(JOBS, "lost", count=1)
    job = await client.with_options(max_retries=0).fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=training
    )
    assert await count_jobs(client) == 1
    assert job.id == (await client.fine_tuning.jobs.list()).data[0].id


async def test_ambiguous_create_without_retries_raises_and_says_so(emulator: Emulator) -> None:
    """A create the server never acted on (reset), no retries left: after the window, the error
    says what was checked."""
    async with ft.AsyncClient(
        api_key="sk-test", base_url=emulator.base_url, max_retries=0, settle_window=0.6
    ) as client:
        training = (await client.files.create(file=("t.jsonl", DATA))).id
        emulator.faults.inject(JOBS, "reset", count=1)
        with pytest.raises(ft.APIConnectionError) as caught:
            await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
        assert caught.value.maybe_sent is True
        message = str(caught.value)
        assert "looked for a job" in message
        assert "ft_create=" in message
        assert "found nothing" in message
        assert await count_jobs(client) == 0


# --- creates with per-call options (issue 14) -------------------------------------------------


@pytest.mark.parametrize("mark_creates", [True, False], ids=["marked", "unmarked"])
async def test_a_lost_create_with_per_call_options_is_still_recognised(emulator: Emulator, mark_creates: bool) -> None:
    """extra_body is merged before the marker is added, and the lookups go with the call's
    headers: the job a lost answer left behind is found, by its marker or by its fields."""
    async with ft.AsyncClient(
        api_key="sk-test",
        base_url=emulator.base_url,
        settle_window=ft.SettleWindow(minimum=1.0),
        mark_creates=mark_creates,
    ) as client:
        training = (await client.files.create(file=("t.jsonl", DATA))).id
        emulator.faults.inject(JOBS, "lost", count=1)
        job = await client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18",
            training_file=training,
            suffix="plain",
            timeout=30,
            extra_headers={"X-Team": "a"},
            extra_body={"metadata": {"team": "a"}, "suffix": "extra"},
        )
        assert await count_jobs(client) == 1
        assert job.id == (await client.fine_tuning.jobs.list()).data[0].id
        assert job.metadata is not None
        assert job.metadata["team"] == "a"
        assert ("ft_create" in job.metadata) is mark_creates
        assert emulator.faults.history.count((JOBS, "lost")) == 1
        assert client.ledger.handed_out(job.id)


async def test_a_lost_raw_create_parses_to_the_job_found(client: ft.AsyncClient, emulator: Emulator) -> None:
    training = (await client.files.create(file=("t.jsonl", DATA))).id
    emulator.faults.inject(JOBS, "lost", count=1)
    raw = await client.fine_tuning.jobs.with_raw_response.create(
        model="gpt-4o-mini-2024-07-18", training_file=training, extra_body={"seed": 7}
    )
    job = raw.parse()
    assert job.seed == 7
    assert await count_jobs(client) == 1
    # The create's own answer was lost: the response shown is the lookup's that found the job.
    assert raw.method == "GET"
    assert raw.status_code == 200


async def test_a_lost_tuple_file_create_with_extra_body_ends_with_one_file(
    client: ft.AsyncClient, emulator: Emulator
) -> None:
    emulator.faults.inject(FILES, "lost", count=1)
    created = await client.files.create(
        file=("dpo.jsonl", DATA, "application/jsonl"), purpose="batch", extra_body={"purpose": "fine-tune"}
    )
    assert created.purpose == "fine-tune"
    assert await count_files(client) == 1

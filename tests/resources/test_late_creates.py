"""A server that acts after the client gave up: creates are settled, never sent twice.

The emulator's ``late`` fault accepts a request, applies it N seconds later whether or not the
client still waits, and only then answers. With the client's read deadline shorter than N, the
client sees a timeout while nothing exists yet; the create-once ledger keeps looking over its
settle window and returns the object once it appears.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter

import anyio
import pytest

import finetune_async as ft
from finetune_async._ledger import MARKER_KEY, CreateLedger, SettleWindow
from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

DATA = jsonl(supervised_rows(10))
MODEL = "gpt-4o-mini-2024-07-18"
JOBS = "POST:/v1/fine_tuning/jobs"
FILES = "POST:/v1/files"
COMPLETE = "POST:/v1/uploads/*/complete"
LATE = 2.5
DEADLINE = ft.Timeout(total=None, read=1.0)


class Posts:
    """A request hook counting the POSTs each path received (tries, not calls)."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    def __call__(self, info: ft.RequestInfo) -> None:
        if info.method == "POST":
            self.count[info.path] += 1


def late_client(emulator: Emulator, posts: Posts, **kwargs: object) -> ft.AsyncClient:
    return ft.AsyncClient(
        api_key="sk-test",
        base_url=emulator.base_url,
        timeout=DEADLINE,
        request_hooks=[posts],
        max_poll_requests_per_second=None,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_fifty_late_job_creates_make_one_job_each(emulator: Emulator) -> None:
    posts = Posts()
    async with late_client(emulator, posts) as client:
        training = (await client.files.create(file=("t.jsonl", DATA))).id
        emulator.faults.inject(JOBS, "late", count=50, seconds=LATE)
        jobs: dict[int, ft.FineTuningJob] = {}

        async def create(i: int) -> None:
            # Fifty identical creates but for their metadata, and half of them fully identical.
            metadata = {"i": str(i)} if i % 2 else None
            jobs[i] = await client.fine_tuning.jobs.create(model=MODEL, training_file=training, metadata=metadata)

        started = time.monotonic()
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(create, i)
        elapsed = time.monotonic() - started
        listed = [job async for job in client.fine_tuning.jobs.list(limit=100)]
    assert len(listed) == 50, "a late create was sent again"
    assert posts.count["/fine_tuning/jobs"] == 50
    assert emulator.faults.history.count((JOBS, "late")) == 50
    # Every call returned its own job, recognised by its marker.
    assert len({job.id for job in jobs.values()}) == 50
    assert {job.id for job in jobs.values()} == {job.id for job in listed}
    for i, job in jobs.items():
        assert job.metadata is not None
        assert job.metadata.get("i") == (str(i) if i % 2 else None)
    # Returned soon after the server acted, not after the whole settle window.
    assert LATE <= elapsed < LATE + 8


async def test_fifty_late_file_creates_make_one_file_each(emulator: Emulator) -> None:
    posts = Posts()
    async with late_client(emulator, posts) as client:
        emulator.faults.inject(FILES, "late", count=50, seconds=LATE)
        files: dict[int, ft.FileObject] = {}

        async def create(i: int) -> None:
            # Same name and size for all: the ledger never hands one file to two calls.
            files[i] = await client.files.create(file=("same.jsonl", DATA))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(create, i)
        listed = [f async for f in client.files.list(limit=100)]
    assert len(listed) == 50
    assert posts.count["/files"] == 50
    assert len({f.id for f in files.values()}) == 50
    assert {f.id for f in files.values()} == {f.id for f in listed}


async def test_fifty_late_upload_completions_make_one_file_each(emulator: Emulator) -> None:
    posts = Posts()
    async with late_client(emulator, posts) as client:
        uploads: list[tuple[str, str]] = []
        for i in range(50):
            upload = await client.uploads.create(
                bytes=len(DATA), filename=f"up{i % 5}.jsonl", mime_type="application/jsonl", purpose="fine-tune"
            )
            part = await client.uploads.parts.create(upload.id, data=DATA)
            uploads.append((upload.id, part.id))
        emulator.faults.inject(COMPLETE, "late", count=50, seconds=LATE)
        done: dict[str, ft.Upload] = {}

        async def complete(upload_id: str, part_id: str) -> None:
            done[upload_id] = await client.uploads.complete(
                upload_id, part_ids=[part_id], md5=hashlib.md5(DATA).hexdigest()
            )

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for upload_id, part_id in uploads:
                    tg.start_soon(complete, upload_id, part_id)
        listed = [f async for f in client.files.list(limit=100)]
    assert len(listed) == 50
    assert sum(n for path, n in posts.count.items() if path.endswith("/complete")) == 50
    assert all(u.status == "completed" and u.file is not None for u in done.values())
    assert len({u.file.id for u in done.values() if u.file is not None}) == 50


async def test_two_processes_with_identical_late_creates_are_never_confused(emulator: Emulator) -> None:
    """Two clients (two ledgers, as two processes) send the same body: each gets the job it made."""
    posts = Posts()
    async with late_client(emulator, posts) as first, late_client(emulator, posts) as second:
        training = (await first.files.create(file=("t.jsonl", DATA))).id
        emulator.faults.inject(JOBS, "late", count=1, seconds=LATE)
        emulator.faults.inject(JOBS, "late", count=1, seconds=LATE - 1.0)
        results: dict[str, ft.FineTuningJob] = {}

        async def create(name: str, client: ft.AsyncClient) -> None:
            results[name] = await client.fine_tuning.jobs.create(model=MODEL, training_file=training, seed=1)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(create, "first", first)
                tg.start_soon(create, "second", second)
        listed = [job async for job in first.fine_tuning.jobs.list()]
    assert len(listed) == 2
    assert results["first"].id != results["second"].id
    markers = {job.id: (job.metadata or {})[MARKER_KEY] for job in listed}
    assert markers[results["first"].id] != markers[results["second"].id]


async def test_an_unanswered_create_is_sent_again_only_after_the_window(emulator: Emulator) -> None:
    """A reset (the server never acted): the create waits out the settle window, then goes again once."""
    posts = Posts()
    async with late_client(emulator, posts, settle_window=1.0) as client:
        training = (await client.files.create(file=("t.jsonl", DATA))).id
        emulator.faults.inject(JOBS, "reset", count=1)
        started = time.monotonic()
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
        elapsed = time.monotonic() - started
        listed = [j async for j in client.fine_tuning.jobs.list()]
    assert [j.id for j in listed] == [job.id]
    assert posts.count["/fine_tuning/jobs"] == 2
    assert elapsed >= 1.0


async def test_a_create_whose_check_keeps_failing_is_never_sent_again(emulator: Emulator) -> None:
    """When the settle cannot list (the listing fails throughout), nothing is known: raise, do not resend."""
    posts = Posts()
    async with late_client(emulator, posts, settle_window=0.8, max_retries=1) as client:
        training = (await client.files.create(file=("t.jsonl", DATA))).id
        emulator.faults.inject(JOBS, "reset", count=1)
        emulator.faults.inject("GET:/v1/fine_tuning/jobs", "500", count=1000)
        with pytest.raises(ft.APIConnectionError) as caught:
            await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
        emulator.faults.clear()
        assert caught.value.maybe_sent
        text = str(caught.value)
        assert "could not list" in text
        # What to do: how to find this very create later, by its marker.
        marker = text.split(f"{MARKER_KEY}=")[1].split()[0]
        assert f"metadata={{'{MARKER_KEY}': '{marker}'}}" in text, text
        assert "before creating it again" in text
        assert posts.count["/fine_tuning/jobs"] == 1


async def test_a_create_never_answered_with_no_retry_left_says_what_to_do(emulator: Emulator) -> None:
    """The window passed with the listing answered and nothing in it: most likely not created,
    and the error says how to check (the marker) before creating again."""
    posts = Posts()
    async with late_client(emulator, posts, settle_window=0.5, max_retries=0) as client:
        training = (await client.files.create(file=("t.jsonl", DATA))).id
        emulator.faults.inject(JOBS, "reset", count=1)
        with pytest.raises(ft.APIConnectionError) as caught:
            await client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    text = str(caught.value)
    assert "found nothing" in text
    assert "most likely not created" in text
    assert f"metadata={{'{MARKER_KEY}': " in text
    assert "before creating it again" in text
    assert posts.count["/fine_tuning/jobs"] == 1


async def test_upload_completion_looks_back_only_the_skew(emulator: Emulator) -> None:
    """An older file of the same name and size, created 180 s before (outside the 120 s skew), is not
    taken for the completion's file. (The lookback was once subtracted twice: 240 s.)"""
    posts = Posts()
    async with late_client(emulator, Posts()) as other:
        # Uploaded by another process: this client's ledger has not handed it out.
        old = await other.files.create(file=("same.jsonl", DATA))
    emulator.state.store.files[old.id].created_at -= 180
    async with late_client(emulator, posts, settle_window=0.5) as client:
        upload = await client.uploads.create(
            bytes=len(DATA), filename="same.jsonl", mime_type="application/jsonl", purpose="fine-tune"
        )
        part = await client.uploads.parts.create(upload.id, data=DATA)
        emulator.faults.inject(COMPLETE, "reset", count=1)
        done = await client.uploads.complete(upload.id, part_ids=[part.id])
    assert done.file is not None
    assert done.file.id != old.id
    assert sum(n for path, n in posts.count.items() if path.endswith("/complete")) == 2


def test_the_settle_window_follows_the_evidence() -> None:
    window = SettleWindow(minimum=30, factor=2, maximum=600)
    assert window.length(1.0, 0.0) == 30
    assert window.length(100.0, 0.0) == 200  # a request held 100 s may take as long again
    assert window.length(1.0, 40.0) == 80  # creates here were seen to take 40 s
    assert window.length(10_000.0, 0.0) == 600
    assert SettleWindow.coerce(5).length(100.0, 100.0) == 5
    ledger = CreateLedger(settle=window)
    ledger.answered("a job", 20.0)
    ledger.answered("a job", 5.0)
    assert ledger.window("a job", 1.0) == 40
    assert ledger.window("a file", 1.0) == 30
    with pytest.raises(ValueError, match="minimum"):
        SettleWindow(minimum=10, maximum=5)


def test_markers_are_added_when_there_is_room() -> None:
    ledger = CreateLedger()
    metadata, marker = ledger.mark({"a": "b"})
    assert marker is not None
    assert metadata == {"a": "b", MARKER_KEY: marker}
    full = {f"k{i}": "v" for i in range(16)}
    assert ledger.mark(full) == (full, None)
    assert ledger.mark({MARKER_KEY: "mine"}) == ({MARKER_KEY: "mine"}, "mine")
    assert CreateLedger(mark_creates=False).mark(None) == (None, None)
    assert ledger.mark(None)[1] != ledger.mark(None)[1]

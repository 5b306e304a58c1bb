"""Helpers that own the longer-lived loops built on the resources (they poll; resources never do).

* :func:`wait_for_job` — await one fine-tuning job until it ends.
* :func:`wait_for_jobs` / :func:`as_completed` — many jobs at once, under one request-rate
  ceiling shared by every waiter of the client (``AsyncClient(max_poll_requests_per_second=...)``).
* :func:`stream_events` / :func:`stream_checkpoints` — a job's events or checkpoints, oldest
  first, each once, as they appear.
* :func:`wait_for_file_processing` — poll an uploaded file until it is processed.

Waiting is adaptive: quick at first (1 s), slower while nothing changes (up to 30 s, or 120 s
when a webhook hub is attached, see :mod:`finetune_async.webhooks`), and never much past
the job's ``estimated_finish``. A failing poll (connection trouble, 429, 5xx) is tried again
later: an outage keeps the wait alive until its ``timeout``. Everything is structured: the
helpers start no task that outlives them, and cancelling the awaiting task stops them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import TYPE_CHECKING, Protocol, TypeVar

import anyio

from ._callbacks import call_maybe_async
from ._retry import is_transient
from ._watch import Waiter, unique
from ._watch_planner import DEFAULT_BACKOFF, TERMINAL, next_poll_delay
from .errors import APIConnectionError, APIStatusError, JobCancelledError, JobFailedError, WaitTimeoutError
from .models import (
    EventLevel,
    EventType,
    FileObject,
    FileStatus,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    JobStatus,
)
from .pagination import Page

if TYPE_CHECKING:
    from .client import AsyncClient

__all__ = [
    "as_completed",
    "stream_checkpoints",
    "stream_events",
    "wait_for_file_processing",
    "wait_for_job",
    "wait_for_jobs",
]

#: Items asked for by the first page of a poll: usually only a few are new since the last.
FIRST_PAGE = 20
#: Items per page when catching up.
PAGE_SIZE = 100
#: A stream asks for the job's status when new items arrived, and at least every this many polls.
STATUS_EVERY = 3

#: Reused by every wait without a deadline (it holds nothing).
_NO_DEADLINE = contextlib.nullcontext()

EventCallback = Callable[[FineTuningJobEvent], "Awaitable[object] | object"]


async def wait_for_file_processing(
    client: AsyncClient, file_id: str, *, poll_interval: float = 1.0, max_wait_seconds: float = 30 * 60
) -> FileObject:
    """Poll the file until its status is ``processed`` or ``error``, and return it.

    Raises :class:`~finetune_async.WaitTimeoutError` (a :class:`TimeoutError` naming the file
    and its last status) if it is still being processed after ``max_wait_seconds``, and the
    transport's errors (after its own retries) if the file cannot be fetched.
    """
    status: str | None = None
    started = time.monotonic()
    with anyio.move_on_after(max_wait_seconds):
        while True:
            file = await client.files.retrieve(file_id)
            status = file.status
            if file.status in (FileStatus.PROCESSED, FileStatus.ERROR):
                return file
            await anyio.sleep(poll_interval)
    raise WaitTimeoutError({file_id: status}, waited=time.monotonic() - started, timeout=max_wait_seconds, kind="file")


class _Seen:
    """What a follower learnt of its job: the last status, and the job once it ended."""

    __slots__ = ("job", "status")

    def __init__(self) -> None:
        self.status: str | None = None
        self.job: FineTuningJob | None = None


def _outcome(job: FineTuningJob, raise_on_failure: bool) -> FineTuningJob:
    if raise_on_failure:
        if job.status == JobStatus.FAILED:
            raise JobFailedError(job)
        if job.status == JobStatus.CANCELLED:
            raise JobCancelledError(job)
    return job


def _check_interval(poll_interval: float | None) -> None:
    if poll_interval is not None and not poll_interval > 0:
        raise ValueError("poll_interval must be > 0 seconds")


async def wait_for_job(
    client: AsyncClient,
    job_id: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 (the public API takes a deadline, as the official SDK does)
    poll_interval: float | None = None,
    on_event: EventCallback | None = None,
    raise_on_failure: bool = True,
) -> FineTuningJob:
    """Wait until the fine-tuning job ends and return it (status ``succeeded``).

    ``poll_interval`` fixes the seconds between polls (default: adaptive, see the module
    docstring). ``on_event``, a plain or async callable, receives each of the job's events
    once, oldest first, as they appear (the same stream as :func:`stream_events`); an
    exception it raises ends the wait. A ``paused`` job is waited on like a running one.

    Raises :class:`~finetune_async.JobFailedError` (``.job``, ``.error``: code, message,
    param) or :class:`~finetune_async.JobCancelledError` when the job ended otherwise, unless
    ``raise_on_failure=False``, which returns the job whatever its final status.
    :class:`~finetune_async.WaitTimeoutError` (a :class:`TimeoutError` with the job id, its
    last status and the time waited) when it has not ended after ``timeout`` seconds; the job
    keeps running. Errors that
    polling again cannot fix (e.g. :class:`~finetune_async.NotFoundError`,
    :class:`~finetune_async.AuthenticationError`) are raised at once; connection trouble,
    429 and 5xx answers are not: polling goes on until ``timeout``.
    """
    _check_interval(poll_interval)
    started = time.monotonic()
    seen = _Seen()
    # No cancel scope without a deadline: ten thousand waiters each save its half kilobyte.
    # Every way out of the block returns or raises: falling out of it means the deadline passed.
    with anyio.move_on_after(timeout) if timeout is not None else _NO_DEADLINE:
        if on_event is not None:
            async with aclosing(_follow(client, job_id, _event_lister(client, job_id), poll_interval, seen)) as it:
                async for event in it:
                    await call_maybe_async(on_event, event)
            assert seen.job is not None
            return _outcome(seen.job, raise_on_failure)
        watch = client._watch
        waiter = Waiter()
        slot = waiter.only_slot = watch.register(job_id, waiter, poll_interval)
        try:
            # WatchState.wait, inlined on purpose: its coroutine would cost each parked waiter 224
            # bytes more (tracemalloc, 10,000 parked waiters: 9.90 MiB inlined, 12.03 MiB calling
            # it), 2.1 MiB of bench_waiters' 90 MB peak RSS, whose target is 100 MB.
            while not waiter.ended:
                fut = watch.park(waiter)
                if fut is None:
                    await watch.drive(client, waiter)
                    continue
                try:
                    await fut
                finally:
                    watch.unpark(waiter)
        finally:
            seen.status = slot.status
            watch.unregister(slot, waiter)
            watch.release()
        if slot.error is not None:
            raise slot.error
        assert slot.job is not None
        return _outcome(slot.job, raise_on_failure)
    assert timeout is not None
    raise WaitTimeoutError({job_id: seen.status}, waited=time.monotonic() - started, timeout=timeout)


async def as_completed(
    client: AsyncClient,
    job_ids: Iterable[str],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 (the public API takes a deadline, as the official SDK does)
    poll_interval: float | None = None,
) -> AsyncGenerator[FineTuningJob, None]:
    """Yield each job once it has ended (whatever its final status), in the order they end.

    ``async for job in ft.as_completed(client, ids): ...``. Repeated ids are watched once.
    The jobs are polled together (see :func:`wait_for_jobs`), and only while the loop waits
    for the next job: polling pauses while your loop body runs. Close the iterator early with
    ``contextlib.aclosing`` to stop watching at once.

    Raises :class:`~finetune_async.WaitTimeoutError` (a :class:`TimeoutError` naming the jobs
    not ended and their last statuses) when not every job has ended ``timeout`` seconds after
    the iteration started, and errors that polling again cannot fix (e.g.
    :class:`~finetune_async.NotFoundError` for an unknown job id).
    """
    _check_interval(poll_interval)
    ids = unique(job_ids)
    watch = client._watch
    waiter = Waiter()
    deadline = None if timeout is None else time.monotonic() + timeout
    slots = {}
    try:
        for job_id in ids:
            slots[job_id] = watch.register(job_id, waiter, poll_interval)
        while slots:
            with anyio.move_on_after(None if deadline is None else deadline - time.monotonic()) as scope:
                await watch.wait(client, waiter)
            if scope.cancelled_caught:
                assert timeout is not None
                assert deadline is not None
                statuses = {job_id: slot.status for job_id, slot in slots.items()}
                raise WaitTimeoutError(statuses, waited=timeout + time.monotonic() - deadline, timeout=timeout)
            ended, waiter.ended = waiter.ended or [], None
            for slot in ended:
                if slots.pop(slot.job_id, None) is None:
                    continue
                watch.unregister(slot, waiter)
                if slot.error is not None:
                    raise slot.error
                assert slot.job is not None
                yield slot.job
    finally:
        for slot in slots.values():
            watch.unregister(slot, waiter)
        watch.release()


async def wait_for_jobs(
    client: AsyncClient,
    job_ids: Iterable[str],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 (the public API takes a deadline, as the official SDK does)
    poll_interval: float | None = None,
    raise_on_failure: bool = False,
) -> list[FineTuningJob]:
    """Wait until every job has ended; return them in the order of ``job_ids``.

    Watching many jobs costs few requests: jobs due for a look at the same time are read from
    the jobs listing, a hundred per request, and every waiter of the client shares its one
    request-rate ceiling. By default failed and cancelled jobs are returned like the others
    (check ``job.status``); ``raise_on_failure=True`` raises the
    :class:`~finetune_async.JobFailedError` / :class:`~finetune_async.JobCancelledError` of
    the first job to end that way.

    Raises :class:`~finetune_async.WaitTimeoutError` (a :class:`TimeoutError` naming the jobs
    not ended) when not all have ended after ``timeout`` seconds, and errors that polling
    again cannot fix (e.g. :class:`~finetune_async.NotFoundError`).
    """
    ids = list(job_ids)
    results: dict[str, FineTuningJob] = {}
    async with aclosing(as_completed(client, ids, timeout=timeout, poll_interval=poll_interval)) as jobs:
        async for job in jobs:
            results[job.id] = _outcome(job, raise_on_failure)
    return [results[job_id] for job_id in ids]


class _Listed(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> int: ...


T = TypeVar("T", bound=_Listed)
Lister = Callable[[str | None, int], Awaitable[Page[T]]]


class _Cursor:
    """Which items of a newest-first listing are new since the last look (sans I/O).

    Remembers only the newest item seen (and the ids sharing its ``created_at`` second, for
    the fallback below), not every id: a job with a hundred thousand events costs the same.
    The listing is read from the top until that item shows up; everything above it is new.
    Were it ever missing from the listing, items are told apart by time instead: newer than
    its second, or in its second and not among the ids seen there.
    """

    __slots__ = ("newest_at", "newest_id", "recent")

    def __init__(self) -> None:
        self.newest_id: str | None = None
        self.newest_at: int | None = None
        self.recent: set[str] = set()

    def scan(self, items: list[T]) -> tuple[list[T], bool]:
        """The items of one page (newest first) above the newest seen, and whether it was met."""
        if self.newest_id is None:
            return items, False
        for i, item in enumerate(items):
            if item.id == self.newest_id:
                return items[:i], True
        return items, False

    def accept(self, newest_first: list[T], met: bool) -> list[T]:
        """Remember ``newest_first`` (everything read above the newest seen) as seen; oldest first."""
        if not met and self.newest_id is not None and self.newest_at is not None:
            at, recent = self.newest_at, self.recent
            newest_first = [i for i in newest_first if i.created_at > at or (i.created_at == at and i.id not in recent)]
        if newest_first:
            top = newest_first[0].created_at
            same = {i.id for i in newest_first if i.created_at == top}
            self.recent = (self.recent | same) if top == self.newest_at else same
            self.newest_id, self.newest_at = newest_first[0].id, top
        newest_first.reverse()
        return newest_first


async def _fetch_new(client: AsyncClient, lister: Lister[T], cursor: _Cursor) -> list[T]:
    """Every item listed above the newest seen, oldest first, following as many pages as needed.

    A page that fails is asked for again (after a pause) rather than starting over: with many
    new items and a flaky network, starting over might never finish.
    """
    watch = client._watch
    collected: list[T] = []
    after: str | None = None
    limit = FIRST_PAGE if cursor.newest_id is not None else PAGE_SIZE
    errors = 0
    while True:
        await watch.acquire()
        try:
            page = await lister(after, limit)
        except (APIConnectionError, APIStatusError) as exc:
            if not is_transient(exc):
                raise
            watch.penalize(exc)
            errors += 1
            await anyio.sleep(DEFAULT_BACKOFF.after_errors(errors))
            continue
        errors = 0
        new, met = cursor.scan(page.data)
        collected.extend(new)
        if met or not page.has_more or not page.data:
            return cursor.accept(collected, met)
        # next_cursor() raises DecodeError for a page that ends where it started: a server
        # that answers the same page forever must not keep this loop asking.
        after = page.next_cursor()
        limit = PAGE_SIZE


class _StateEvents:
    """The events of a job on a provider without an events list (``capabilities.events``
    false: Fireworks), made from the job as it is polled: one when its status changes (its
    ``provider_status``, the provider's own), one when its ``jobProgress`` (percent, epoch)
    changes, in that order. Ids are stable (``{job}:state:{provider_status}``, a ``#n`` added
    when a status comes back, ``{job}:progress:{epoch}:{percent}``); ``created_at`` is when the
    change was seen. A lister (see :data:`Lister`): each call retrieves the job once, and the
    job it read is :attr:`fresh` for the follower's own look at the job."""

    __slots__ = ("fresh", "job_id", "jobs", "last", "progress", "seen", "state")

    def __init__(self, client: AsyncClient, job_id: str) -> None:
        self.jobs = client._watch.poll_client(client).fine_tuning.jobs
        self.job_id = job_id
        #: The job the last call read, until the follower takes it.
        self.fresh: FineTuningJob | None = None
        self.last: FineTuningJobEvent | None = None
        self.state: str | None = None
        self.progress: tuple[object, object] | None = None
        self.seen: dict[str, int] = {}

    async def __call__(self, after: str | None, limit: int) -> Page[FineTuningJobEvent]:
        job = self.fresh = await self.jobs.retrieve(self.job_id)
        # Never older than the newest event: the stream stays in order.
        now = max(int(time.time()), self.last.created_at if self.last is not None else 0)
        new: list[FineTuningJobEvent] = []
        raw = job.provider_status
        if raw != self.state:
            self.state = raw
            times = self.seen[raw] = self.seen.get(raw, 0) + 1
            failed = job.status == JobStatus.FAILED
            message = f"Job {job.status}" + (f" ({raw})" if raw != str(job.status) else "")
            if failed and job.error is not None:
                message += f": {job.error.message}"
            new.append(
                FineTuningJobEvent(
                    id=f"{self.job_id}:state:{raw}" + (f"#{times}" if times > 1 else ""),
                    created_at=now,
                    level=EventLevel("error" if failed else "info"),
                    message=message,
                    type=EventType("message"),
                    data={"status": str(job.status), "provider_status": raw},
                )
            )
        progress = job.model_extra.get("jobProgress")
        if isinstance(progress, dict) and progress.get("percent") is not None:
            mark = (progress.get("epoch"), progress.get("percent"))
            if mark != self.progress:
                self.progress = mark
                epoch, percent = mark
                new.append(
                    FineTuningJobEvent(
                        id=f"{self.job_id}:progress:{epoch}:{percent}",
                        created_at=now,
                        level=EventLevel("info"),
                        message=f"Progress {percent}%" + (f" (epoch {epoch})" if epoch is not None else ""),
                        type=EventType("message"),
                        data={"percent": percent, "epoch": epoch},
                    )
                )
        # Newest first, down to the newest event already handed out (where the cursor stops).
        data = new[::-1] + ([self.last] if self.last is not None else [])
        if new:
            self.last = new[-1]
        return Page(data=data, has_more=False)


def _event_lister(client: AsyncClient, job_id: str) -> Lister[FineTuningJobEvent]:
    if not client.provider.capabilities.events:
        return _StateEvents(client, job_id)
    jobs = client._watch.poll_client(client).fine_tuning.jobs
    # Where events are not paged, one call answers the whole list (newest first, as mapped).
    paged = client.provider.capabilities.paged_events

    async def lister(after: str | None, limit: int) -> Page[FineTuningJobEvent]:
        if not paged:
            return await jobs.list_events(job_id)
        return await jobs.list_events(job_id, limit=limit, after=after)

    return lister


def _checkpoint_lister(client: AsyncClient, job_id: str) -> Lister[FineTuningJobCheckpoint]:
    jobs = client._watch.poll_client(client).fine_tuning.jobs
    paged = client.provider.capabilities.paged_checkpoints

    async def lister(after: str | None, limit: int) -> Page[FineTuningJobCheckpoint]:
        if not paged:
            return await jobs.checkpoints.list(job_id)
        return await jobs.checkpoints.list(job_id, limit=limit, after=after)

    return lister


async def _follow(
    client: AsyncClient, job_id: str, lister: Lister[T], poll_interval: float | None, seen: _Seen
) -> AsyncGenerator[T, None]:
    """Yield the listed items of a job as they appear; ``seen`` follows its status, and holds
    the terminal job at the end."""
    watch = client._watch
    jobs = watch.poll_client(client).fine_tuning.jobs
    cursor = _Cursor()
    waiter = Waiter()
    watch.subscribe(job_id, waiter)
    status: str | None = None
    estimated_finish: int | None = None
    interval: float | None = None
    polls_without_status = errors = 0
    try:
        while True:
            woken = waiter.arm()
            items = await _fetch_new(client, lister, cursor)
            for item in items:
                yield item
            changed = bool(items)
            if items or status is None or woken.done() or polls_without_status >= STATUS_EVERY:
                # Each status change comes with an event, so a quiet listing rarely needs a look at the job.
                polls_without_status = 0
                try:
                    if isinstance(lister, _StateEvents) and lister.fresh is not None:
                        # The events were made from the job just read: no second look.
                        job, lister.fresh = lister.fresh, None
                    else:
                        await watch.acquire()
                        job = await jobs.retrieve(job_id)
                except (APIConnectionError, APIStatusError) as exc:
                    if not is_transient(exc):
                        raise
                    watch.penalize(exc)
                    errors += 1
                else:
                    errors = 0
                    changed = changed or job.status != status
                    status, estimated_finish = job.status, job.estimated_finish
                    seen.status = status
                    if job.status in TERMINAL:
                        # The terminal events were written with the status: one more read has them all.
                        for item in await _fetch_new(client, lister, cursor):
                            yield item
                        seen.job = job
                        return
            else:
                polls_without_status += 1
            backoff = watch.backoff
            if errors:
                delay = backoff.after_errors(errors)
            elif poll_interval is not None:
                delay = poll_interval
            else:
                interval = backoff.next_interval(interval, changed=changed)
                delay = next_poll_delay(interval, estimated_finish=estimated_finish, now=time.time(), backoff=backoff)
            with anyio.move_on_after(delay):
                await woken
    finally:
        waiter.disarm()
        watch.unsubscribe(job_id, waiter)


def stream_events(
    client: AsyncClient, job_id: str, *, poll_interval: float | None = None
) -> AsyncIterator[FineTuningJobEvent]:
    """The job's events, oldest first, each exactly once, as they appear; ends after the
    events that came with the job's end (succeeded, failed or cancelled).

    ``async for event in ft.stream_events(client, job_id): ...``. Starts with the events the
    job already has. Between polls only what is new is fetched (several pages when many
    events arrived). The stream does not raise for a failed or cancelled job (the last events
    say so); it raises errors that polling again cannot fix, such as
    :class:`~finetune_async.NotFoundError`. Wrap it in ``anyio.fail_after`` for a deadline.

    Where jobs have no events list (``client.provider.capabilities.events`` false: Fireworks)
    the events are made from the job as it is polled: one (type ``message``, ``data``
    ``{status, provider_status}``) each time its status changes, the first for the status it
    has when the stream starts, and one (``data`` ``{percent, epoch}``) each time its
    ``jobProgress`` changes, after the status's when both changed; ids are stable
    (``{job}:state:{provider_status}``, ``{job}:progress:{epoch}:{percent}``). A change that
    comes and goes between two polls is not seen; the stream ends, as elsewhere, once the job ended.
    """
    _check_interval(poll_interval)
    return _follow(client, job_id, _event_lister(client, job_id), poll_interval, _Seen())


def stream_checkpoints(
    client: AsyncClient, job_id: str, *, poll_interval: float | None = None
) -> AsyncIterator[FineTuningJobCheckpoint]:
    """The job's checkpoints, oldest first, each exactly once, as they are saved; ends once the
    job has ended. Same behaviour and errors as :func:`stream_events`.

    Raises :class:`~finetune_async.UnsupportedByProviderError` at once, before any request,
    where jobs have no checkpoint list (``client.provider.capabilities.checkpoints`` false:
    Fireworks).
    """
    _check_interval(poll_interval)
    client.provider.require("jobs.checkpoints.list")
    return _follow(client, job_id, _checkpoint_lister(client, job_id), poll_interval, _Seen())

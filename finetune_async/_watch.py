"""The machinery behind the waiting helpers: one watch per client, shared by every waiter.

Every job someone waits on has one :class:`_Slot` (however many waiters share it): its last
known status and when to look again. Nobody runs a background task. Whichever waiter finds
no one *driving* becomes the driver: inside its own task (and its own task group) it polls
for everybody until its own job is done, then hands the role to a waiter that is idle.
Cancelling any waiter, driver or not, therefore leaves no task behind.

The driver sends every request through the client's :class:`~._ratelimit.RateLimiter`, so all
waiters together stay under one ceiling. When several jobs are due at once it *sweeps*:
``GET /fine_tuning/jobs?limit=100`` pages give a hundred jobs per request. A sweep starts
just above the newest due job (the listing's ``after`` cursor is the job listed right before
it, remembered from earlier sweeps) and stops as soon as every due job was seen, or when it
has cost as many pages as the jobs still missing would cost one by one; those then get their
own ``GET /fine_tuning/jobs/{id}``. A webhook (see :mod:`finetune_async.webhooks`) marks its
job urgent: it is fetched before anything else.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import anyio
import attrs

from ._ratelimit import RateLimiter
from ._transport import Timeout
from .errors import APIConnectionError, APIStatusError, BadRequestError, RateLimitError
from .models import FineTuningJob, JobStatus

if TYPE_CHECKING:
    from .client import AsyncClient

__all__ = ["TERMINAL", "Backoff", "WatchState", "is_transient", "next_poll_delay"]

TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

FETCHING = 1
SWEEPING = 2

#: Jobs per page of a sweep (the API's list endpoints take up to 100 without complaint).
PAGE_SIZE = 100
#: Request deadline of a polling request: a hung poll must not hold a waiter for the
#: client's default ten minutes, the next poll will do.
POLL_TIMEOUT = 60.0


@attrs.frozen(kw_only=True)
class Backoff:
    """Adaptive polling: ``initial`` seconds at first, times ``factor`` after every look that
    found nothing new, up to ``ceiling``; back to ``initial`` when something changed."""

    initial: float = 1.0
    ceiling: float = 30.0
    factor: float = 1.5
    #: Seconds after the job's estimated finish to look (at ``initial`` intervals from then on).
    finish_slack: float = 0.25

    def next_interval(self, previous: float | None, *, changed: bool) -> float:
        """The interval to use after a poll, given the previous one."""
        if previous is None or changed:
            return self.initial
        return min(self.ceiling, previous * self.factor)

    def after_errors(self, errors: int) -> float:
        """How long to wait after ``errors`` failed polls in a row (jittered, capped)."""
        ceiling = min(self.ceiling, 0.25 * 2 ** min(errors, 16))
        return random.uniform(ceiling / 2, ceiling)


#: With no user-given interval. With a webhook hub attached polling is only the fallback for a
#: webhook that never came: it starts slower, backs off further, and gives the webhook a few
#: seconds past the estimated finish.
DEFAULT_BACKOFF = Backoff()
WEBHOOK_BACKOFF = Backoff(initial=5.0, ceiling=120.0, finish_slack=5.0)


def next_poll_delay(interval: float, *, estimated_finish: int | None, now: float, backoff: Backoff) -> float:
    """Seconds until the next poll: the interval, but never much past the job's estimated finish
    (``estimated_finish`` is wall-clock epoch seconds), and quick once that moment has passed."""
    if estimated_finish is None:
        return interval
    until = estimated_finish + backoff.finish_slack - now
    if until <= 0:
        return min(interval, backoff.initial)
    return min(interval, until)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed poll is worth repeating later (connection trouble, 408/409/429, 5xx)."""
    if isinstance(exc, APIConnectionError):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def retry_after(exc: BaseException) -> float | None:
    """The pause a 429 asked for, if any."""
    if isinstance(exc, RateLimitError):
        from ._transport import parse_retry_after

        return parse_retry_after(exc.headers)
    return None


class Listener:
    """One waiter: woken when one of its jobs is done (``done``) or to take over driving.

    ``slot`` is the one job of a single-job waiter (None for a many-jobs waiter).
    """

    __slots__ = ("_event", "done", "slot")

    def __init__(self) -> None:
        self._event: anyio.Event | None = None
        self.done: list[Slot] = []
        self.slot: Slot | None = None

    def expected_stay(self) -> float:
        """Larger for waiters likely to wait longer: the driving role goes to them (fewer handoffs)."""
        if self.slot is None:
            return math.inf
        return float(self.slot.estimated_finish or self.slot.created_at or 0)

    def arm(self) -> anyio.Event:
        """A fresh event to wait on; arm *before* checking state so no wake-up is lost."""
        self._event = anyio.Event()
        return self._event

    def nudge(self) -> None:
        if self._event is not None:
            self._event.set()

    def finished(self, slot: Slot) -> None:
        self.done.append(slot)
        self.nudge()


class Slot:
    """What the watch knows about one job. Kept small: ten thousand of these must be cheap."""

    __slots__ = (
        "backoff",
        "created_at",
        "due",
        "error",
        "errors",
        "estimated_finish",
        "fixed",
        "heap_due",
        "in_flight",
        "interval",
        "job",
        "job_id",
        "listeners",
        "needs_retrieve",
        "prev_id",
        "status",
        "urgent",
    )

    def __init__(self, job_id: str, fixed: float | None, backoff: Backoff) -> None:
        self.job_id = job_id
        self.fixed = fixed
        self.backoff = backoff
        self.status: str | None = None
        self.created_at: int | None = None
        self.estimated_finish: int | None = None
        #: The final job, once terminal (only then: a live job is not kept, to keep slots small).
        self.job: FineTuningJob | None = None
        self.error: BaseException | None = None
        self.errors = 0
        self.interval: float | None = None
        self.due = 0.0
        self.heap_due: float | None = None
        #: Who is fetching it now: nobody (0), a retrieve or an announced sweep (FETCHING), or a
        #: routine sweep (SWEEPING), which a webhook's announcement does not wait for.
        self.in_flight = 0
        self.urgent = False
        self.needs_retrieve = False
        #: The id listed right before this job in the jobs listing: ``after=prev_id`` starts a page at it.
        self.prev_id: str | None = None
        self.listeners: list[Listener] = []

    @property
    def finished(self) -> bool:
        return self.job is not None or self.error is not None


class WatchState:
    """Per-client state shared by every waiter (see the module docstring).

    ``limiter`` is the one request-rate ceiling of all polling; ``requests`` counts polling
    requests sent; ``webhooks`` is how many webhook hubs are attached (they make polling a
    slower fallback).
    """

    def __init__(self, max_requests_per_second: float | None = 20.0) -> None:
        self.limiter = RateLimiter(math.inf if max_requests_per_second is None else max_requests_per_second)
        self.webhooks = 0
        self.requests = 0
        self._slots: dict[str, Slot] = {}
        self._heap: list[tuple[float, int, Slot]] = []
        self._ready: deque[Slot] = deque()
        self._singles: deque[Slot] = deque()
        self._urgent: dict[str, None] = {}
        self._idle: dict[Listener, None] = {}
        self._subscribers: dict[str, list[Listener]] = {}
        self._seq = itertools.count()
        self._driving = False
        # One sweep at a time for due jobs, and one for jobs a webhook announced (those go first,
        # see _sweep); announcements that come meanwhile gather for the next one.
        self._sweeping = False
        self._urgent_sweeping = False
        self._sweep_scopes: set[anyio.CancelScope] = set()
        self._wakeup: anyio.Event | None = None
        # Due jobs satisfied per sweep page, smoothed; below 1 a sweep costs more than retrieves.
        self._sweep_yield = 2.0
        self._poll_client: AsyncClient | None = None

    # -- registration ------------------------------------------------------------------

    @property
    def backoff(self) -> Backoff:
        return WEBHOOK_BACKOFF if self.webhooks else DEFAULT_BACKOFF

    def register(self, job_id: str, listener: Listener, poll_interval: float | None) -> Slot:
        """Start watching ``job_id`` for ``listener``; the slot to read the outcome from."""
        slot = self._slots.get(job_id)
        if slot is None:
            slot = self._slots[job_id] = Slot(job_id, poll_interval, self.backoff)
            self._schedule(slot, time.monotonic())
        elif poll_interval is not None and (slot.fixed is None or poll_interval < slot.fixed):
            slot.fixed = poll_interval
        slot.listeners.append(listener)
        if slot.finished:
            listener.finished(slot)
        self._kick()
        return slot

    def unregister(self, slot: Slot, listener: Listener) -> None:
        """Stop watching for ``listener`` (idempotent; called from ``finally`` blocks)."""
        if listener in slot.listeners:
            slot.listeners.remove(listener)
        if not slot.listeners and self._slots.get(slot.job_id) is slot:
            del self._slots[slot.job_id]
            self._urgent.pop(slot.job_id, None)

    def subscribe(self, job_id: str, listener: Listener) -> None:
        """Nudge ``listener`` when a webhook says ``job_id`` changed (for the event streams)."""
        self._subscribers.setdefault(job_id, []).append(listener)

    def unsubscribe(self, job_id: str, listener: Listener) -> None:
        subs = self._subscribers.get(job_id)
        if subs is not None and listener in subs:
            subs.remove(listener)
            if not subs:
                del self._subscribers[job_id]

    def notify(self, job_id: str) -> None:
        """A webhook said ``job_id`` changed: fetch it before anything else, wake its streams."""
        slot = self._slots.get(job_id)
        if slot is not None and not slot.finished:
            slot.urgent = True
            self._urgent[job_id] = None
            self._kick()
        for listener in self._subscribers.get(job_id, ()):
            listener.nudge()

    # -- waiting -------------------------------------------------------------------------

    async def wait(self, client: AsyncClient, listener: Listener) -> None:
        """Return once ``listener`` has a finished slot, driving the polling when nobody else does."""
        while not listener.done:
            if not self._driving:
                await self._drive(client, listener)
                continue
            event = listener.arm()
            if listener.done or not self._driving:
                continue
            self._idle[listener] = None
            try:
                await event.wait()
            finally:
                self._idle.pop(listener, None)

    def _handoff(self) -> None:
        # Every handoff interrupts the sweeps under way: give the role to a waiter whose job
        # should end last (a many-jobs waiter first), so that it changes hands rarely.
        if not self._driving and self._idle:
            max(self._idle, key=Listener.expected_stay).nudge()

    def release(self) -> None:
        """A waiter is leaving: make sure someone will drive for the ones that stay."""
        self._handoff()

    # -- scheduling ----------------------------------------------------------------------

    def _schedule(self, slot: Slot, due: float) -> None:
        slot.due = due
        # One live heap entry per slot: a later due is picked up when the earlier entry pops.
        if slot.heap_due is None or due < slot.heap_due:
            slot.heap_due = due
            heapq.heappush(self._heap, (due, next(self._seq), slot))

    def _kick(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _collect_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, slot = heapq.heappop(heap)
            if slot.heap_due != due:
                continue
            slot.heap_due = None
            if self._slots.get(slot.job_id) is not slot or slot.finished:
                continue
            if slot.due > now:
                self._schedule(slot, slot.due)
            else:
                (self._singles if slot.needs_retrieve else self._ready).append(slot)

    def _next_due_in(self, now: float) -> float:
        return max(0.0, self._heap[0][0] - now) if self._heap else math.inf

    def _is_live(self, slot: Slot) -> bool:
        return self._slots.get(slot.job_id) is slot and not slot.finished and not slot.in_flight

    def _pop_live(self, queue: deque[Slot], now: float) -> Slot | None:
        while queue:
            slot = queue.popleft()
            if self._is_live(slot) and slot.due <= now:
                return slot
        return None

    def _take_work(self, now: float) -> tuple[list[Slot], str] | None:
        """The next slots to fetch and how (``retrieve``, ``sweep``, ``urgent`` sweep), or None
        when nothing is due now."""
        urgent: list[Slot] = []
        for job_id in list(self._urgent):
            slot = self._slots.get(job_id)
            if slot is None or slot.finished:
                del self._urgent[job_id]
            elif slot.in_flight != FETCHING and (not urgent or not self._urgent_sweeping):
                # A slot being fetched stays urgent: that answer may predate the webhook.
                del self._urgent[job_id]
                slot.urgent = False
                urgent.append(slot)
        if len(urgent) == 1:
            return urgent, "retrieve"
        if urgent:
            # Webhooks come in bursts for jobs that started together: one listing page has them all.
            return urgent, "urgent"
        self._collect_due(now)
        single = self._pop_live(self._singles, now)
        if single is not None:
            return [single], "retrieve"
        if not self._ready:
            return None
        if self._sweep_yield >= 1.0:
            if self._sweeping:
                return None  # the sweep under way will likely cover them; the next one will
            batch: list[Slot] = []
            while (slot := self._pop_live(self._ready, now)) is not None:
                batch.append(slot)
            if len(batch) >= 2:
                return batch, "sweep"
            return (batch, "retrieve") if batch else None
        # Sweeps have not paid off lately: one by one, and let sweeping be tried again later.
        self._sweep_yield = min(2.0, self._sweep_yield + 0.02)
        slot = self._pop_live(self._ready, now)
        return ([slot], "retrieve") if slot is not None else None

    # -- driving -------------------------------------------------------------------------

    def poll_client(self, client: AsyncClient) -> AsyncClient:
        """A view of the client for polling: no transport retries (each attempt must pass the
        rate limiter, and the next poll is the retry) and a shorter request deadline."""
        if self._poll_client is None:
            total = client.timeout.total
            self._poll_client = client.with_options(
                max_retries=0,
                timeout=Timeout(
                    total=POLL_TIMEOUT if total is None else min(total, POLL_TIMEOUT),
                    connect=client.timeout.connect,
                    read=client.timeout.read,
                ),
            )
        return self._poll_client

    async def acquire(self) -> None:
        """Wait for the rate limiter's permission to send one polling request."""
        await self.limiter.acquire()
        self.requests += 1

    def penalize(self, exc: BaseException) -> None:
        """After a 429: every waiter of this client holds back for the time the server asked."""
        pause = retry_after(exc)
        if pause is not None:
            self.limiter.pause(pause)

    async def _drive(self, client: AsyncClient, listener: Listener) -> None:
        self._driving = True
        try:
            async with anyio.create_task_group() as tg:
                while not listener.done:
                    now = time.monotonic()
                    work = self._take_work(now)
                    if work is None:
                        wakeup = self._wakeup = anyio.Event()
                        with anyio.move_on_after(self._next_due_in(now)):
                            await wakeup.wait()
                        continue
                    slots, how = work
                    mark = SWEEPING if how == "sweep" else FETCHING
                    for slot in slots:
                        slot.in_flight = mark
                    try:
                        await self.acquire()
                    except BaseException:
                        for slot in slots:
                            slot.in_flight = 0
                            self._schedule(slot, time.monotonic())
                        raise
                    if how != "retrieve":
                        urgent = how == "urgent"
                        if urgent:
                            self._urgent_sweeping = True
                        else:
                            self._sweeping = True
                        tg.start_soon(self._sweep_in_scope, client, slots, urgent)
                    else:
                        tg.start_soon(self._retrieve, client, slots[0])
                # Our job is done. A retrieve in flight is let finish (its answer is a moment
                # away and its request already counted); a sweep stops before its next page,
                # and the next driver goes on from the jobs it had not reached.
                for scope in self._sweep_scopes:
                    scope.cancel()
        finally:
            self._driving = False
            self._wakeup = None
            self._handoff()

    def _update(self, slot: Slot, job: FineTuningJob, now: float) -> None:
        if slot.finished:
            return  # a sweep and a retrieve can both bring the end: report it once
        changed = job.status != slot.status
        slot.status = job.status
        slot.created_at = job.created_at
        slot.estimated_finish = job.estimated_finish
        slot.errors = 0
        slot.needs_retrieve = False
        if job.status in TERMINAL:
            slot.job = job
            for listener in slot.listeners:
                listener.finished(slot)
            self._kick()
            return
        if slot.fixed is not None:
            delay = slot.fixed
        else:
            backoff = self.backoff
            slot.interval = backoff.next_interval(slot.interval, changed=changed)
            delay = next_poll_delay(
                slot.interval, estimated_finish=job.estimated_finish, now=time.time(), backoff=backoff
            )
        self._schedule(slot, now + delay)

    def _failed(self, slot: Slot, exc: BaseException) -> None:
        if not is_transient(exc):
            slot.error = exc
            for listener in slot.listeners:
                listener.finished(slot)
            self._kick()
            return
        self.penalize(exc)
        slot.errors += 1
        self._schedule(slot, time.monotonic() + self.backoff.after_errors(slot.errors))

    def _fail_all(self, slots: Iterable[Slot], exc: BaseException) -> None:
        for slot in list(slots):
            slot.error = exc
            for listener in slot.listeners:
                listener.finished(slot)
        self._kick()

    async def _retrieve(self, client: AsyncClient, slot: Slot) -> None:
        try:
            job = await self.poll_client(client).fine_tuning.jobs.retrieve(slot.job_id)
        except Exception as exc:  # delivered to this job's waiters, not raised in the driver's task
            self._failed(slot, exc)
        else:
            self._update(slot, job, time.monotonic())
        finally:
            slot.in_flight = 0
            if not slot.finished and slot.heap_due is None:
                # Cancelled mid-request (the driver left): whoever drives next fetches it.
                self._schedule(slot, time.monotonic())
            self._kick()

    async def _sweep_in_scope(self, client: AsyncClient, slots: list[Slot], urgent: bool) -> None:
        with anyio.CancelScope() as scope:
            self._sweep_scopes.add(scope)
            try:
                await self._sweep(client, slots, urgent)
            finally:
                self._sweep_scopes.discard(scope)
                if urgent:
                    self._urgent_sweeping = False
                else:
                    self._sweeping = False

    def _anchor(self, slots: list[Slot]) -> str | None:
        """The ``after`` cursor that starts the listing just above the newest of ``slots``."""
        newest = max(slots, key=lambda s: -1 if s.created_at is None else s.created_at)
        if newest.created_at is None:
            return None
        # Jobs created in the same second are listed in an order their created_at cannot tell:
        # climb over the watched ones listed above, so that none of them is left out.
        anchor = newest
        for _ in range(len(self._slots)):
            above = self._slots.get(anchor.prev_id) if anchor.prev_id is not None else None
            if above is None or above.created_at != newest.created_at:
                break
            anchor = above
        return anchor.prev_id

    def _urgent_ready(self) -> bool:
        return any((slot := self._slots.get(job_id)) is not None and self._is_live(slot) for job_id in self._urgent)

    async def _sweep(self, client: AsyncClient, slots: list[Slot], urgent: bool) -> None:
        jobs = self.poll_client(client).fine_tuning.jobs
        wanted = {s.job_id: s for s in slots}
        known = [s.created_at for s in slots if s.created_at is not None]
        oldest = min(known) if len(known) == len(slots) else None
        after = self._anchor(slots)
        pages = found = 0
        outcome = "cancelled"
        try:
            while wanted:
                if pages:
                    # A routine sweep lets jobs a webhook announced go first (their waiters are
                    # waiting right now, the routine sweep's only might be), one turn per page.
                    if not urgent and self._urgent_ready():
                        await anyio.sleep(self.limiter.interval)
                    await self.acquire()
                try:
                    page = await jobs.list(limit=PAGE_SIZE, after=after)
                except BadRequestError:
                    if after is None:
                        raise
                    after = None  # the anchor job is gone from the listing: start at the top
                    continue
                pages += 1
                now = time.monotonic()
                prev = after
                for job in page.data:
                    slot = self._slots.get(job.id)
                    if slot is not None:
                        slot.prev_id = prev
                        if wanted.pop(job.id, None) is not None:
                            found += 1
                        self._update(slot, job, now)
                    prev = job.id
                if not page.has_more or not page.data:
                    break
                if oldest is not None and page.data[-1].created_at < oldest:
                    break
                if pages >= len(wanted):
                    break  # the rest is cheaper one by one
                after = page.data[-1].id
            outcome = "done"
        except (APIConnectionError, APIStatusError) as exc:
            outcome = "failed"
            self.penalize(exc)
            if not is_transient(exc):
                self._fail_all(wanted.values(), exc)
        except Exception as exc:  # e.g. the client was closed: the waiters of these jobs hear it
            outcome = "failed"
            self._fail_all(wanted.values(), exc)
        finally:
            self._sweep_yield = min(10.0, 0.7 * self._sweep_yield + 0.3 * (found / max(pages, 1)))
            now = time.monotonic()
            mark = FETCHING if urgent else SWEEPING
            for slot in slots:
                if slot.in_flight == mark:
                    slot.in_flight = 0
                if slot.job_id not in wanted or slot.finished:
                    continue
                if outcome == "done":
                    slot.needs_retrieve = True  # not where the listing said it would be
                    self._schedule(slot, now)
                elif outcome == "failed":
                    slot.errors += 1
                    self._schedule(slot, now + self.backoff.after_errors(slot.errors))
                else:
                    self._schedule(slot, now)
            self._kick()

    def stats(self) -> dict[str, float]:
        """Counters for benchmarks and tests."""
        return {"requests": self.requests, "watched": len(self._slots), "sweep_yield": self._sweep_yield}


def unique(ids: Iterable[str]) -> list[str]:
    """``ids`` without repeats, in first-seen order."""
    return list(dict.fromkeys(ids))


def call_sync_or_async(callback: Callable[..., object], *args: object) -> object:
    """Call ``callback``; the caller awaits the result if it is awaitable."""
    return callback(*args)

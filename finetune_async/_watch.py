"""The machinery behind the waiting helpers: one watch per client, shared by every waiter.

Every job someone waits on has one :class:`_Slot` (however many waiters share it): its last
known status and when to look again. Nobody runs a background task. Whichever waiter finds
no one *driving* becomes the driver: inside its own task (and its own task group) it polls
for everybody until its own job is done, then hands the role to a waiter that is idle.
Cancelling any waiter, driver or not, therefore leaves no task behind.

The driver sends every request through the client's :class:`~._ratelimit.RateLimiter`, so all
waiters together stay under one ceiling, and chooses what to ask for only once the limiter lets
the request out, so the freshest need goes first: jobs a webhook announced (see
:mod:`finetune_async.webhooks`; their requests skip the routine spacing), then jobs past their
estimated finish, then the other due ones, longest overdue first.

Most requests are ``GET /fine_tuning/jobs?limit=100`` pages. The listing is newest first and
only grows at the top, so the job listed right above a job never changes: each slot remembers
its neighbours as pages showed them, and a page (``after`` = the job right above the first one
wanted) is placed to show its target and as many of the wanted jobs listed around it as fit,
a hundred per request: the due ones for a routine look; for a job a webhook announced, every
watched one not yet ended (jobs listed together started together, and end together: one page
reads a burst of them, also those whose webhooks are still on the way). Every watched job on a
page is brought up to date. A job the listing did not show where expected is then retrieved
by its id.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import anyio
import attrs

from ._ratelimit import RateLimiter
from ._retry import backoff, is_transient, server_delay
from ._transport import Timeout
from .errors import APIConnectionError, APIStatusError, BadRequestError, RateLimitError
from .models import FineTuningJob, JobStatus

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from .client import AsyncClient

__all__ = ["TERMINAL", "Backoff", "WatchState", "next_poll_delay"]

TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

#: Jobs per listing page (the API's list endpoints take up to 100 without complaint).
PAGE_SIZE = 100
#: Request deadline of a polling request: a hung poll must not hold a waiter for the
#: client's default ten minutes, the next poll will do.
POLL_TIMEOUT = 60.0
#: A listing page is chosen once the previous one has answered (so it is chosen knowing what
#: that one showed), unless that takes longer than this many seconds.
PAGE_WAIT = 0.5
#: Pages that may go on down the listing looking for a job never looked at, before it is retrieved by id.
WALK_PAGES = 3
#: One request in this many goes to the routine looks when jobs ending keep the ceiling busy.
ROUTINE_SHARE = 4
#: Seconds before looking again when something was due but nothing could be asked for (rare).
RECHECK = 0.05
#: Seconds overdue after which a job's look ranks before the other routine looks (still after
#: the jobs past their estimated finish).
STARVE = 10.0


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
        """How long to wait after ``errors`` failed polls in a row (the one backoff, capped at ``ceiling``)."""
        return backoff(errors, initial=0.25, cap=self.ceiling)


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


def retry_after(exc: BaseException) -> float | None:
    """The pause a 429 asked for, if any."""
    return server_delay(exc) if isinstance(exc, RateLimitError) else None


class Listener:
    """One waiter: woken when one of its jobs is done (``done``) or to take over driving.

    ``slot`` is the one job of a single-job waiter (None for a many-jobs waiter). A parked
    waiter sleeps on one bare future (a few dozen bytes: no Event, no cancel scope), which is
    what lets one process hold ten thousand of them.
    """

    __slots__ = ("_fut", "done", "slot")

    def __init__(self, slot: Slot | None = None) -> None:
        self._fut: asyncio.Future[None] | None = None
        #: The finished slots not yet taken (None until the first one).
        self.done: list[Slot] | None = None
        self.slot = slot

    def expected_stay(self) -> float:
        """Larger for waiters likely to wait longer: the driving role goes to them (fewer handoffs)."""
        if self.slot is None:
            return math.inf
        return float(self.slot.estimated_finish or self.slot.created_at or 0)

    def arm(self) -> asyncio.Future[None]:
        """A fresh future to wait on; arm *before* checking state so no wake-up is lost."""
        fut = self._fut = asyncio.get_running_loop().create_future()
        return fut

    def disarm(self) -> None:
        self._fut = None

    def nudge(self) -> None:
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def finished(self, slot: Slot) -> None:
        if self.done is None:
            self.done = [slot]
        else:
            self.done.append(slot)
        self.nudge()


class Slot:
    """What the watch knows about one job. Kept small: ten thousand of these must be cheap."""

    __slots__ = (
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
        "misses",
        "next_id",
        "prev_id",
        "status",
        "urgent",
    )

    def __init__(self, job_id: str, fixed: float | None) -> None:
        self.job_id = job_id
        self.fixed = fixed
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
        #: A request that will tell about this job is in flight.
        self.in_flight = False
        #: A webhook announced its end and the request in flight is for that (if the answer does
        #: not show the end yet, it is looked at again soon: see ``_send``).
        self.urgent = False
        #: How many listing pages in a row failed to show it where expected.
        self.misses = 0
        #: The id listed right before this job in the jobs listing: ``after=prev_id`` starts a page at it.
        self.prev_id: str | None = None
        #: The id listed right after it (older), when a page showed one.
        self.next_id: str | None = None
        self.listeners: list[Listener] = []

    @property
    def finished(self) -> bool:
        return self.job is not None or self.error is not None


class _Request:
    """One polling request about to be sent: a retrieve of ``slots[0]`` or a listing page
    starting ``after`` that should show every one of ``slots`` (the first is the target)."""

    __slots__ = ("after", "page", "slots", "urgent")

    def __init__(self, slots: list[Slot], *, page: bool, after: str | None = None, urgent: bool = False) -> None:
        self.slots = slots
        self.page = page
        self.after = after
        self.urgent = urgent


class WatchState:
    """Per-client state shared by every waiter (see the module docstring).

    ``limiter`` is the one request-rate ceiling of all polling; ``requests`` counts polling
    requests sent; ``webhooks`` is how many webhook hubs are attached (they make polling a
    slower fallback).
    """

    def __init__(self, max_requests_per_second: float | None = 20.0) -> None:
        self.limiter = RateLimiter(math.inf if max_requests_per_second is None else max_requests_per_second)
        self._webhooks = 0
        self.requests = 0
        self._slots: dict[str, Slot] = {}
        self._heap: list[tuple[float, int, Slot]] = []
        self._ready: list[Slot] = []
        self._urgent: dict[str, None] = {}
        self._idle: dict[Listener, None] = {}
        self._subscribers: dict[str, list[Listener]] = {}
        self._seq = itertools.count()
        self._driving = False
        # The idle waiter last asked to take over driving (not asked again while it may still come).
        self._heir: Listener | None = None
        # When the listing page in flight was sent (None: none is): one page at a time, so that
        # the next one is chosen knowing what this one showed.
        self._page_sent: float | None = None
        self._wakeup: asyncio.Future[None] | None = None
        # The last job of the latest page read from the top of the listing (or on down from
        # there): where to look next for jobs never looked at that were not on it.
        self._walk_after: str | None = None
        # The watched job first on the latest page from the top (see ``_top_page``).
        self._top_first: Slot | None = None
        self._turns = 0
        self._poll_client: AsyncClient | None = None

    # -- registration ------------------------------------------------------------------

    @property
    def webhooks(self) -> int:
        return self._webhooks

    @webhooks.setter
    def webhooks(self, hubs: int) -> None:
        self._webhooks = hubs
        # With webhooks, a quarter of the ceiling is kept for the jobs they announce: polling
        # is only the fallback, and an announced job must not queue behind a run of polls.
        self.limiter.reserve = self.limiter.cap // 4 if hubs else 0

    @property
    def backoff(self) -> Backoff:
        return WEBHOOK_BACKOFF if self._webhooks else DEFAULT_BACKOFF

    def register(self, job_id: str, listener: Listener, poll_interval: float | None) -> Slot:
        """Start watching ``job_id`` for ``listener``; the slot to read the outcome from."""
        slot = self._slots.get(job_id)
        if slot is None:
            slot = self._slots[job_id] = Slot(job_id, poll_interval)
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
            self._urgent[job_id] = None
            self._kick()
        for listener in self._subscribers.get(job_id, ()):
            listener.nudge()

    # -- waiting -------------------------------------------------------------------------

    def park(self, listener: Listener) -> asyncio.Future[None] | None:
        """What a waiter whose job is not done awaits next: a future that is resolved when it
        is done or should take over driving, or None when nobody drives and it must."""
        if not self._driving:
            return None
        fut = listener.arm()
        self._idle[listener] = None
        return fut

    def unpark(self, listener: Listener) -> None:
        listener.disarm()
        self._idle.pop(listener, None)
        if self._heir is listener:
            self._heir = None

    async def wait(self, client: AsyncClient, listener: Listener) -> None:
        """Return once ``listener`` has a finished slot, driving the polling when nobody else does."""
        while not listener.done:
            fut = self.park(listener)
            if fut is None:
                await self.drive(client, listener)
                continue
            try:
                await fut
            finally:
                self.unpark(listener)

    def _handoff(self) -> None:
        # Give the role to a waiter whose job should end last (a many-jobs waiter first), so
        # that it changes hands rarely; once asked, that waiter is not looked for again.
        if self._driving or not self._idle:
            return
        if self._heir is not None and self._heir in self._idle:
            return
        self._heir = max(self._idle, key=Listener.expected_stay)
        self._heir.nudge()

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
        fut = self._wakeup
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _is_live(self, slot: Slot) -> bool:
        return self._slots.get(slot.job_id) is slot and not slot.finished and not slot.in_flight

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
                self._ready.append(slot)

    def _due_now(self, slot: Slot, now: float) -> bool:
        return self._is_live(slot) and slot.due <= now

    def _prune(self, now: float) -> None:
        self._collect_due(now)
        if self._ready:
            self._ready = [s for s in self._ready if self._due_now(s, now)]
        for job_id in list(self._urgent):
            slot = self._slots.get(job_id)
            if slot is None or slot.finished:
                del self._urgent[job_id]

    def _urgent_waiting(self) -> bool:
        return any(not self._slots[job_id].in_flight for job_id in self._urgent)

    def _page_free(self, now: float) -> bool:
        return self._page_sent is None or now - self._page_sent > PAGE_WAIT

    def _pending(self, now: float) -> float:
        """0 when there is a request to send now, else how long until there may be one."""
        self._prune(now)
        if self._urgent_waiting():
            return 0.0
        if self._ready and self._page_free(now):
            return 0.0
        wait = max(0.0, self._heap[0][0] - now) if self._heap else math.inf
        if self._page_sent is not None and (self._ready or self._urgent):
            wait = min(wait, max(0.0, self._page_sent + PAGE_WAIT - now))
        return wait

    def _climb(self, slot: Slot, ok: Callable[[Slot], bool], limit: int) -> list[Slot]:
        """``slot`` and the watched jobs listed right above it for which ``ok`` holds (up to
        ``limit`` of them), topmost first: a page ``after`` the topmost's ``prev_id`` shows them all.

        A job last seen at the very top of the listing (no ``prev_id``) ends the climb below it:
        newer jobs may have come since, so a page from the top would no longer show it.
        """
        run = [slot]
        while len(run) <= limit:
            prev = run[-1].prev_id
            above = self._slots.get(prev) if prev is not None else None
            if above is None or above.prev_id is None or not ok(above):
                break
            run.append(above)
        run.reverse()
        return run

    def _descend(self, slot: Slot, ok: Callable[[Slot], bool], limit: int) -> Slot:
        """The lowest of the watched jobs listed right below ``slot`` for which ``ok`` holds
        (at most ``limit`` rows down), or ``slot`` itself."""
        bottom = slot
        for _ in range(limit):
            below = self._slots.get(bottom.next_id) if bottom.next_id is not None else None
            if below is None or below.prev_id != bottom.job_id or not ok(below):
                break
            bottom = below
        return bottom

    def _plan(self, target: Slot, ok: Callable[[Slot], bool], *, urgent: bool = False) -> _Request:
        """How to look at ``target``: a listing page showing it and as many of the watched jobs
        listed around it for which ``ok`` holds as a page has room for, or a retrieve when no
        page is known to show it."""
        if target.misses == 0 and target.prev_id is not None:
            # Known place in the listing: the page starts as far up as keeps the run of wanted
            # jobs below the target on it, and goes down from there.
            run = self._climb(self._descend(target, ok, PAGE_SIZE - 1), ok, PAGE_SIZE - 1)
            return _Request(run, page=True, after=run[0].prev_id, urgent=urgent)
        if target.created_at is None and target.misses == 0:
            # Never looked at: new jobs are at the top of the listing.
            return _Request([target], page=True, urgent=urgent)
        if target.created_at is None and target.misses <= WALK_PAGES and self._walk_after is not None:
            # Never looked at and not at the top: go on down the listing from the last page there.
            return _Request([target], page=True, after=self._walk_after, urgent=urgent)
        # Looked at by its id only, or not where the listing should have shown it.
        return _Request([target], page=False, urgent=urgent)

    def _take_work(self, now: float) -> _Request | None:
        """The next request to send, chosen at the moment it may be sent: jobs a webhook
        announced first, then jobs past their estimated finish or never looked at, then the
        rest of the due ones (longest overdue first within each)."""
        self._prune(now)
        target = next((s for job_id in self._urgent if not (s := self._slots[job_id]).in_flight), None)
        if target is not None:
            # The first one announced. Webhooks come in bursts for jobs that ended together
            # (started together, listed together): a page around it shows them all, also the
            # ones whose webhooks are still on their way. It does not wait for a routine page.
            request = self._plan(target, self._is_live, urgent=True)
            for slot in request.slots:
                if slot.job_id in self._urgent:
                    del self._urgent[slot.job_id]
                    slot.urgent = True
            return request
        if not self._ready:
            return None
        page_free = self._page_free(now)
        wall = time.time()

        def rank(slot: Slot) -> tuple[int, float]:
            # Ending now, or never looked at (new jobs are at the top of the listing: a page
            # from the top every little while shows them all); then the long starved.
            overdue = now - slot.due
            if (slot.estimated_finish is not None and slot.estimated_finish <= wall) or slot.status is None:
                return (2, overdue)
            return (1 if overdue > STARVE else 0, overdue)

        target = max(self._ready, key=rank)
        self._turns += 1
        if rank(target)[0] == 2 and self._turns % ROUTINE_SHARE == 0:
            # Every few turns the longest overdue routine look goes first, however many jobs
            # are ending: a job whose estimated finish is not known yet must not starve.
            routine = max((s for s in self._ready if rank(s)[0] < 2), key=rank, default=None)
            if routine is not None and now - routine.due > 1.0:
                target = routine
        if not page_free:
            # Only a retrieve may go now; the page under way may well show the rest.
            request = self._plan(target, lambda s: False)
            return None if request.page else request
        return self._plan(target, lambda s: self._due_now(s, now))

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

    async def drive(self, client: AsyncClient, listener: Listener) -> None:
        """Poll for every waiter of the client until ``listener`` has a finished slot."""
        self._driving = True
        self._heir = None
        try:
            async with anyio.create_task_group() as tg:
                while not listener.done:
                    now = time.monotonic()
                    pause = self._pending(now)
                    if pause == 0:
                        # What to ask for is chosen once the limiter lets a request out, not
                        # before; a webhook that arrives meanwhile wakes us and goes first.
                        pause = self.limiter.delay(urgent=self._urgent_waiting())
                    request = self._take_work(now) if pause == 0 else None
                    if request is None:
                        wakeup = self._wakeup = asyncio.get_running_loop().create_future()
                        try:
                            with anyio.move_on_after(pause or RECHECK):
                                await wakeup
                        finally:
                            self._wakeup = None
                        continue
                    self.limiter.take()
                    self.requests += 1
                    for slot in request.slots:
                        slot.in_flight = True
                    if request.page and not request.urgent:
                        self._page_sent = time.monotonic()
                    # Returns once the request is about to leave (and the limiter knows when).
                    await tg.start(self._send, client, request)
                # Our job is done: the requests in flight are let finish (their answers are a
                # moment away and already counted against the ceiling).
        finally:
            self._driving = False
            self._wakeup = None
            self._handoff()

    def _update(self, slot: Slot, job: FineTuningJob, now: float) -> None:
        if slot.finished:
            return  # two answers can both bring the end: report it once
        changed = job.status != slot.status
        slot.status = job.status
        slot.created_at = job.created_at
        slot.estimated_finish = job.estimated_finish
        slot.errors = 0
        slot.misses = 0
        if job.status in TERMINAL:
            slot.job = job
            for listener in slot.listeners:
                listener.finished(slot)
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
            return
        slot.errors += 1
        self._schedule(slot, time.monotonic() + self.backoff.after_errors(slot.errors))

    async def _send(
        self, client: AsyncClient, request: _Request, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        jobs = self.poll_client(client).fine_tuning.jobs
        self.limiter.sent()
        task_status.started()
        sent = time.monotonic()
        seen: set[str] = set()
        walked = self._walk_after
        fresh = 0  # jobs never looked at before that the page showed
        try:
            if not request.page:
                job = await jobs.retrieve(request.slots[0].job_id)
                self._update(request.slots[0], job, time.monotonic())
                seen.add(job.id)
            else:
                page = await jobs.list(limit=PAGE_SIZE, after=request.after)
                now = time.monotonic()
                if request.after is None or request.after == self._walk_after:
                    self._walk_after = page.data[-1].id if page.has_more and page.data else None
                prev = request.after
                above = self._slots.get(prev) if prev is not None else None
                for job in page.data:
                    slot = self._slots.get(job.id)
                    if above is not None:
                        above.next_id = job.id
                    if slot is not None:
                        slot.prev_id = prev
                        seen.add(job.id)
                        fresh += slot.status is None
                        self._update(slot, job, now)
                    above = slot
                    prev = job.id
                if request.after is None and page.data:
                    self._top_page(page.data[0].id, page.data[-1].id if page.has_more else None, seen)
                first = request.slots[0]
                if request.after is not None and first.prev_id == request.after and first.job_id not in seen:
                    # A page starting right below the job listed above it shows it first: that
                    # place was a guess that did not hold (see ``_top_page``).
                    first.prev_id = None
        except BadRequestError as exc:
            if request.page and request.after is not None:
                # The job the page was to start after is not in the listing: look the target up by id.
                request.slots[0].prev_id = None
                if request.after == self._walk_after:
                    self._walk_after = None
            else:
                self._fail(request.slots, exc)
        except (APIConnectionError, APIStatusError) as exc:
            self.penalize(exc)
            for slot in request.slots:
                self._failed(slot, exc)
            seen.update(s.job_id for s in request.slots)
        except Exception as exc:  # e.g. the client was closed: the waiters of these jobs hear it
            self._fail(request.slots, exc)
        finally:
            if request.page and not request.urgent:
                self._page_sent = None
            now = time.monotonic()
            walk = request.page and (request.after is None or request.after == walked)
            if walk and fresh:
                # A page from the top (or on down from there) shows where jobs never looked at
                # are: those it did not show are further down; the next page goes on from it.
                # (Only those watched since before it was sent: newer ones may be newer jobs.)
                for slot in self._ready:
                    if slot.status is None and not slot.misses and slot.job_id not in seen and slot.due <= sent:
                        slot.misses = 1
            for slot in request.slots:
                slot.in_flight = False
                announced, slot.urgent = slot.urgent, False
                if slot.finished:
                    continue
                if slot.job_id not in seen:
                    # Not where the listing was expected to show it (or cancelled mid-request):
                    # further down, or next time by its id.
                    if request.page and not (walk and fresh and slot.status is None and slot.misses):
                        slot.misses += 1
                    if announced:
                        self._urgent[slot.job_id] = None
                    else:
                        self._schedule(slot, now)
                elif announced and slot.job_id not in self._urgent:
                    # Announced as ended but not yet shown so: look again soon, not at the fallback pace.
                    self._schedule(slot, now + DEFAULT_BACKOFF.initial)
            self._kick()

    def _top_page(self, first: str, last: str | None, seen: set[str]) -> None:
        """A page from the top of the listing showed ``first`` to ``last`` (None: nothing below).

        The job first on the previous such page, if this one did not show it, is taken to be
        listed right below this one's last: that is where it is when no unwatched job was
        created between the two pages. If not, the page that relies on it does not show it
        where expected and it is looked up by id, as for any job out of place.
        """
        previous = self._top_first
        if (
            previous is not None
            and last is not None
            and previous.prev_id is None
            and previous.job_id not in seen
            and self._slots.get(previous.job_id) is previous
        ):
            previous.prev_id = last
            below_last = self._slots.get(last)
            if below_last is not None:
                below_last.next_id = previous.job_id
        self._top_first = self._slots.get(first)

    def _fail(self, slots: Iterable[Slot], exc: BaseException) -> None:
        for slot in slots:
            if not slot.finished:
                slot.error = exc
                for listener in slot.listeners:
                    listener.finished(slot)

    def stats(self) -> dict[str, float]:
        """Counters for benchmarks and tests."""
        return {"requests": self.requests, "watched": len(self._slots)}


def unique(ids: Iterable[str]) -> list[str]:
    """``ids`` without repeats, in first-seen order."""
    return list(dict.fromkeys(ids))

"""The watch driver: one per client, shared by every waiter; the I/O around the planner.

What to ask for and when is decided by the pure :class:`~._watch_planner.Planner`; this module
owns what it must not: the rate limiter, the waiters and the hand-off of driving between them,
the task group and the HTTP calls.

Every job someone waits on has one :class:`~._watch_planner.Slot` (however many waiters share
it). Nobody runs a background task. Whichever waiter finds no one *driving* becomes the driver:
inside its own task (and its own task group) it polls for everybody until its own job is done,
then hands the role to a waiter that is idle. Cancelling any waiter, driver or not, therefore
leaves no task behind.

The driver sends every request through the client's :class:`~._ratelimit.RateLimiter`, so all
waiters together stay under one ceiling, and asks the planner what to send only once the
limiter lets the request out, so the freshest need goes first (a job a webhook announced, see
:mod:`finetune_async.webhooks`, skips the routine spacing).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
import attrs

from ._ratelimit import RateLimiter
from ._retry import server_delay
from ._transport import Timeout
from ._watch_planner import DEFAULT_BACKOFF, PAGE_SIZE, TERMINAL, WEBHOOK_BACKOFF, Backoff, Planner, Request, Slot
from .errors import RateLimitError

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from .client import AsyncClient

# TERMINAL is re-exported for batch.py, which imports it from here.
__all__ = ["TERMINAL", "Waiter", "WatchState", "WatchStats", "unique", "watch_of"]

#: Request deadline of a polling request: a hung poll must not hold a waiter for the
#: client's default ten minutes, the next poll will do.
POLL_TIMEOUT = 60.0
#: Seconds before asking the planner again when something was due but nothing could be asked for (rare).
RECHECK = 0.05


def retry_after(exc: BaseException) -> float | None:
    """The pause a 429 asked for, if any."""
    return server_delay(exc) if isinstance(exc, RateLimitError) else None


class Waiter:
    """One waiter: woken when one of its jobs has ended (``ended``) or to take over driving.

    ``only_slot`` is the one job of a single-job waiter (None for a many-jobs waiter). A parked
    waiter sleeps on one bare future (a few dozen bytes: no Event, no cancel scope), which is
    what lets one process hold ten thousand of them.
    """

    __slots__ = ("_wakeup", "ended", "only_slot")

    def __init__(self, only_slot: Slot | None = None) -> None:
        self._wakeup: asyncio.Future[None] | None = None
        #: The ended slots not yet taken (None until the first one).
        self.ended: list[Slot] | None = None
        self.only_slot = only_slot

    def expected_stay(self) -> float:
        """Larger for waiters likely to wait longer: the driving role goes to them (fewer handoffs)."""
        if self.only_slot is None:
            return math.inf
        return float(self.only_slot.estimated_finish or self.only_slot.created_at or 0)

    def arm(self) -> asyncio.Future[None]:
        """A fresh future to wait on; arm *before* checking state so no wake-up is lost."""
        fut = self._wakeup = asyncio.get_running_loop().create_future()
        return fut

    def disarm(self) -> None:
        """Forget the future armed last (the waiter is awake)."""
        self._wakeup = None

    def nudge(self) -> None:
        """Wake the waiter if it sleeps on its armed future."""
        fut = self._wakeup
        if fut is not None and not fut.done():
            fut.set_result(None)

    def job_ended(self, slot: Slot) -> None:
        """``slot``'s watch is over: keep it for the waiter to take, and wake it."""
        if self.ended is None:
            self.ended = [slot]
        else:
            self.ended.append(slot)
        self.nudge()


@attrs.frozen(kw_only=True)
class WatchStats:
    """A snapshot of a client's watch, for tests and benchmarks."""

    #: Polling requests sent (retries included: every attempt passes the rate limiter).
    requests: int
    #: Jobs watched for at least one waiter.
    watched: int
    #: Jobs whose event or checkpoint streams want a webhook's nudge.
    subscribed: int
    #: Waiters parked (waiting while another drives).
    parked: int
    #: Whether a waiter is driving the polling now.
    driving: bool


class WatchState:
    """Per-client state shared by every waiter (see the module docstring).

    ``limiter`` is the one request-rate ceiling of all polling; ``requests`` counts polling
    requests sent; ``webhooks`` is how many webhook hubs are attached (they make polling a
    slower fallback).
    """

    def __init__(self, max_requests_per_second: float | None = 20.0, *, list_pages: bool = True) -> None:
        self.limiter = RateLimiter(math.inf if max_requests_per_second is None else max_requests_per_second)
        # list_pages: the provider lists jobs newest first with a cursor (its capabilities).
        self.planner = Planner(list_pages=list_pages)
        self.requests = 0
        self._webhooks = 0
        self._parked: dict[Waiter, None] = {}
        # The event and checkpoint streams to nudge when a webhook says their job changed.
        self._subscribers: dict[str, list[Waiter]] = {}
        self._driving = False
        # The parked waiter last asked to take over driving (not asked again while it may still come).
        self._asked_to_drive: Waiter | None = None
        # What the driver sleeps on between requests: resolved when there may be work sooner.
        self._driver_wakeup: asyncio.Future[None] | None = None
        self._poll_client: AsyncClient | None = None

    # -- registration ------------------------------------------------------------------

    @property
    def webhooks(self) -> int:
        """How many webhook hubs are attached (set by :meth:`~finetune_async.WebhookHub.attach`)."""
        return self._webhooks

    @webhooks.setter
    def webhooks(self, hubs: int) -> None:
        self._webhooks = hubs
        self.planner.backoff = WEBHOOK_BACKOFF if hubs else DEFAULT_BACKOFF
        # With webhooks, a quarter of the ceiling is kept for the jobs they announce: polling
        # is only the fallback, and an announced job must not queue behind a run of polls.
        self.limiter.reserve = self.limiter.cap // 4 if hubs else 0

    @property
    def backoff(self) -> Backoff:
        """The polling pace in force (slower while a webhook hub is attached)."""
        return self.planner.backoff

    def register(self, job_id: str, waiter: Waiter, poll_interval: float | None) -> Slot:
        """Start watching ``job_id`` for ``waiter``; the slot to read the outcome from."""
        slot = self.planner.watch(job_id, poll_interval, now=time.monotonic())
        slot.waiters.append(waiter)
        if slot.finished:
            waiter.job_ended(slot)
        self._kick()
        return slot

    def unregister(self, slot: Slot, waiter: Waiter) -> None:
        """Stop watching for ``waiter`` (idempotent; called from ``finally`` blocks)."""
        if waiter in slot.waiters:
            slot.waiters.remove(waiter)
        if not slot.waiters:
            self.planner.forget(slot)

    def subscribe(self, job_id: str, waiter: Waiter) -> None:
        """Nudge ``waiter`` when a webhook says ``job_id`` changed (for the event streams)."""
        self._subscribers.setdefault(job_id, []).append(waiter)

    def unsubscribe(self, job_id: str, waiter: Waiter) -> None:
        """Stop nudging ``waiter`` for ``job_id`` (idempotent)."""
        subs = self._subscribers.get(job_id)
        if subs is not None and waiter in subs:
            subs.remove(waiter)
            if not subs:
                del self._subscribers[job_id]

    def notify(self, job_id: str) -> None:
        """A webhook said ``job_id`` changed: fetch it before anything else, wake its streams."""
        if self.planner.announce(job_id):
            self._kick()
        for waiter in self._subscribers.get(job_id, ()):
            waiter.nudge()

    def stats(self) -> WatchStats:
        """Counters for benchmarks and tests."""
        return WatchStats(
            requests=self.requests,
            watched=len(self.planner),
            subscribed=len(self._subscribers),
            parked=len(self._parked),
            driving=self._driving,
        )

    # -- waiting -------------------------------------------------------------------------

    def park(self, waiter: Waiter) -> asyncio.Future[None] | None:
        """What a waiter whose job is not done awaits next: a future that is resolved when it
        is done or should take over driving, or None when nobody drives and it must."""
        if not self._driving:
            return None
        fut = waiter.arm()
        self._parked[waiter] = None
        return fut

    def unpark(self, waiter: Waiter) -> None:
        """``waiter`` is awake again (called once its parked future is done or it gave up)."""
        waiter.disarm()
        self._parked.pop(waiter, None)
        if self._asked_to_drive is waiter:
            self._asked_to_drive = None

    async def wait(self, client: AsyncClient, waiter: Waiter) -> None:
        """Return once ``waiter`` has an ended slot, driving the polling when nobody else does."""
        while not waiter.ended:
            fut = self.park(waiter)
            if fut is None:
                await self.drive(client, waiter)
                continue
            try:
                await fut
            finally:
                self.unpark(waiter)

    def _handoff(self) -> None:
        # Give the role to a waiter whose job should end last (a many-jobs waiter first), so
        # that it changes hands rarely; once asked, that waiter is not looked for again.
        if self._driving or not self._parked:
            return
        if self._asked_to_drive is not None and self._asked_to_drive in self._parked:
            return
        self._asked_to_drive = max(self._parked, key=Waiter.expected_stay)
        self._asked_to_drive.nudge()

    def release(self) -> None:
        """A waiter is leaving: make sure someone will drive for the ones that stay."""
        self._handoff()

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

    def _kick(self) -> None:
        fut = self._driver_wakeup
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _next_request(self) -> tuple[Request | None, float]:
        """The request to send now, or None and how long to sleep before asking again."""
        now = time.monotonic()
        pause = self.planner.wait_time(now)
        if pause == 0:
            # What to ask for is chosen once the limiter lets a request out, not before; a
            # webhook that arrives meanwhile wakes the driver and goes first.
            pause = self.limiter.delay(urgent=self.planner.announced_waiting())
        if pause == 0 and (request := self.planner.take_request(now, time.time())) is not None:
            return request, 0.0
        return None, pause or RECHECK

    async def _sleep(self, seconds: float) -> None:
        wakeup = self._driver_wakeup = asyncio.get_running_loop().create_future()
        try:
            with anyio.move_on_after(seconds):
                await wakeup
        finally:
            self._driver_wakeup = None

    async def drive(self, client: AsyncClient, waiter: Waiter) -> None:
        """Poll for every waiter of the client until ``waiter`` has an ended slot."""
        self._driving = True
        self._asked_to_drive = None
        try:
            async with anyio.create_task_group() as tg:
                while not waiter.ended:
                    request, pause = self._next_request()
                    if request is None:
                        await self._sleep(pause)
                        continue
                    self.limiter.take()
                    self.requests += 1
                    # Returns once the request is about to leave (and the limiter knows when).
                    await tg.start(self._send, client, request)
                # Our job is done: the requests in flight are let finish (their answers are a
                # moment away and already counted against the ceiling).
        finally:
            self._driving = False
            self._driver_wakeup = None
            self._handoff()

    async def _send(
        self, client: AsyncClient, request: Request, *, task_status: TaskStatus[None] | None = None
    ) -> None:
        # task_status: given by tg.start (None when called directly). Not defaulted to
        # anyio.TASK_STATUS_IGNORED: naming it here would load anyio's task module at import.
        jobs = self.poll_client(client).fine_tuning.jobs
        self.limiter.sent()
        if task_status is not None:
            task_status.started()
        planner = self.planner
        planner.request_left(request, time.monotonic())
        try:
            if request.is_page:
                page = await jobs.list(limit=PAGE_SIZE, after=request.after)
            else:
                job = await jobs.retrieve(request.slots[0].job_id)
        except Exception as exc:
            self.penalize(exc)
            ended = planner.failed(request, exc, now=time.monotonic())
        except BaseException:  # cancelled mid-request: its jobs are looked at again
            planner.abandoned(request, now=time.monotonic())
            self._kick()
            raise
        else:
            if request.is_page:
                ended = planner.page_read(
                    request, page.data, has_more=page.has_more, now=time.monotonic(), wall=time.time()
                )
            else:
                ended = planner.retrieved(request, job, now=time.monotonic(), wall=time.time())
        self._tell(ended)
        self._kick()

    @staticmethod
    def _tell(ended: Iterable[Slot]) -> None:
        for slot in ended:
            for waiter in slot.waiters:
                waiter.job_ended(slot)


def watch_of(client: AsyncClient) -> WatchState:
    """The watch shared by ``client`` and its ``with_options()`` views."""
    return client._watch


def unique(ids: Iterable[str]) -> list[str]:
    """``ids`` without repeats, in first-seen order."""
    return list(dict.fromkeys(ids))

"""The watch planner: which polling request to send next, decided from what was seen (sans I/O).

It does no I/O, starts no task and reads no clock: the driver (:mod:`finetune_async._watch`)
tells it what happened — a job is watched or no longer, a webhook announced a job, a listing
page or a retrieve answered, a request failed or was abandoned — with the time it happened
(``now``: monotonic seconds, ``wall``: epoch seconds), and asks it what to send next and when.

Every watched job has one :class:`Slot`: its last known status, when to look at it again, and
its guessed place in the jobs listing. The listing is newest first and only grows at the top,
so the job listed right above a job never changes: each slot remembers its neighbours as pages
showed them (``above_id``, ``below_id``), and a page (``after`` = the job right above the first
one wanted) is placed to show its target and as many of the wanted jobs listed around it as
fit, a hundred per request: the due ones for a routine look; for a job a webhook announced,
every watched one not yet ended (jobs listed together started together, and end together: one
page reads a burst of them, also those whose webhooks are still on the way). Every watched job
on a page is brought up to date. A job the listing did not show where expected is then
retrieved by its id.

Jobs never looked at are read from the top of the listing; those a page from the top did not
show are further down, and the next page goes on down from that one's last job (the *walk*).

The order of requests: jobs a webhook announced first, then jobs past their estimated finish
or never looked at, then the other due ones, longest overdue first; every few picks the longest
overdue routine look goes first however many jobs are ending, so none starves.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from ._retry import backoff, is_transient
from .errors import APIConnectionError, APIStatusError, BadRequestError
from .models import FineTuningJob, JobStatus

__all__ = [
    "DEFAULT_BACKOFF",
    "PAGE_SIZE",
    "TERMINAL",
    "WEBHOOK_BACKOFF",
    "Backoff",
    "Planner",
    "Request",
    "Slot",
    "next_poll_delay",
]

TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

#: Jobs per listing page (the API's list endpoints take up to 100 without complaint).
PAGE_SIZE = 100
#: A routine listing page is chosen once the previous one has answered (so it is chosen knowing
#: what that one showed), unless that takes longer than this many seconds.
PAGE_WAIT = 0.5
#: Pages that may go on down the listing looking for a job never looked at, before it is retrieved by id.
WALK_PAGES = 3
#: One pick in this many goes to the routine looks when jobs ending keep the ceiling busy.
ROUTINE_SHARE = 4
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
    (``estimated_finish`` and ``now`` are wall-clock epoch seconds), and quick once that moment
    has passed."""
    if estimated_finish is None:
        return interval
    until = estimated_finish + backoff.finish_slack - now
    if until <= 0:
        return min(interval, backoff.initial)
    return min(interval, until)


class Slot:
    """What the planner knows about one watched job. Kept small: ten thousand of these must be cheap."""

    __slots__ = (
        "above_id",
        "adaptive_interval",
        "announced",
        "below_id",
        "created_at",
        "due",
        "error",
        "estimated_finish",
        "failed_polls",
        "in_flight",
        "job",
        "job_id",
        "missed_pages",
        "poll_interval",
        "queued_due",
        "status",
        "waiters",
    )

    def __init__(self, job_id: str, poll_interval: float | None) -> None:
        self.job_id = job_id
        #: Seconds between looks a waiter asked for (the shortest, when several did); None: adaptive.
        self.poll_interval = poll_interval
        self.status: str | None = None
        self.created_at: int | None = None
        self.estimated_finish: int | None = None
        #: The final job, once terminal (only then: a live job is not kept, to keep slots small).
        self.job: FineTuningJob | None = None
        #: The error that ended the watch (one polling again cannot fix).
        self.error: BaseException | None = None
        #: Polls about this job that failed in a row (sets the backoff after errors).
        self.failed_polls = 0
        #: The adaptive interval last used (None until the first answer).
        self.adaptive_interval: float | None = None
        #: Monotonic time of the next look.
        self.due = 0.0
        #: The due time of this slot's one live entry in the planner's schedule heap (None: not queued).
        self.queued_due: float | None = None
        #: A request that will tell about this job is in flight.
        self.in_flight = False
        #: A webhook announced its end and the request in flight is for that (if the answer does
        #: not show the end yet, it is looked at again soon: see :meth:`Planner._settle_slot`).
        self.announced = False
        #: How many listing pages in a row failed to show it where expected.
        self.missed_pages = 0
        #: The id listed right above this job (newer) in the jobs listing: ``after=above_id``
        #: starts a page at it. None: unknown, or it was at the very top when last seen.
        self.above_id: str | None = None
        #: The id listed right below it (older), when a page showed one.
        self.below_id: str | None = None
        #: The driver's waiters of this job; the planner never reads them.
        self.waiters: list[Any] = []

    @property
    def finished(self) -> bool:
        """Whether the watch of this job is over: it reached a terminal status or failed for good."""
        return self.job is not None or self.error is not None


class Request:
    """One polling request to send: a retrieve of ``slots[0]`` or a listing page starting
    ``after`` that should show every one of ``slots`` (the first is the target)."""

    __slots__ = ("after", "announced", "is_page", "sent_at", "slots", "walks_down")

    def __init__(self, slots: list[Slot], *, is_page: bool, after: str | None = None, announced: bool = False) -> None:
        self.slots = slots
        self.is_page = is_page
        #: The page starts right below this job (None: at the top of the listing).
        self.after = after
        #: For a job a webhook announced: not held back for a routine page in flight.
        self.announced = announced
        #: When it left (see :meth:`Planner.request_left`).
        self.sent_at = math.inf
        #: A page from the top of the listing, or on down from the latest one there, when it left.
        self.walks_down = False

    def __repr__(self) -> str:
        kind = f"page after={self.after!r}" if self.is_page else "retrieve"
        return f"Request({kind}, jobs={len(self.slots)}, announced={self.announced})"


class Planner:
    """The scheduling state of every watched job of one client (see the module docstring).

    The driver calls, in turn: :meth:`wait_time` (and, when it is 0, asks its rate limiter),
    :meth:`take_request` to get what to send, :meth:`request_left` when it goes, then one of
    :meth:`page_read`, :meth:`retrieved`, :meth:`failed` or :meth:`abandoned` with the outcome.
    Those return the slots whose watch just ended (their waiters are to be told).
    """

    def __init__(self, *, list_pages: bool = True) -> None:
        #: False when the provider cannot list jobs newest first with a cursor: every look is
        #: then a retrieve of one job.
        self.list_pages = list_pages
        #: The polling pace: :data:`WEBHOOK_BACKOFF` while a webhook hub is attached.
        self.backoff = DEFAULT_BACKOFF
        self._slots: dict[str, Slot] = {}
        # Every slot waiting for its next look, by due time (at most one live entry per slot).
        self._schedule_heap: list[tuple[float, int, Slot]] = []
        self._heap_order = itertools.count()
        # Slots whose look is due, taken from the heap.
        self._due: list[Slot] = []
        # Jobs a webhook announced, not yet asked for (in the order announced).
        self._announced: dict[str, None] = {}
        # When the routine listing page in flight left (None: none is): one at a time, so
        # that the next one is chosen knowing what this one showed.
        self._routine_page_sent_at: float | None = None
        # The last job of the latest page read from the top of the listing (or on down from
        # there): where to look next for jobs never looked at that were not on it.
        self._walk_after: str | None = None
        # The watched job first on the latest page from the top (see ``_place_previous_top``).
        self._top_page_first: Slot | None = None
        # How many times a due job was picked (every ROUTINE_SHARE-th pick may go to a routine look).
        self._due_picks = 0

    # -- what is watched -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, job_id: str) -> Slot | None:
        """The slot of ``job_id``, if it is watched."""
        return self._slots.get(job_id)

    def watch(self, job_id: str, poll_interval: float | None, *, now: float) -> Slot:
        """Start watching ``job_id`` (first look at once), or return its slot if it is watched:
        a shorter ``poll_interval`` than the slot's then applies from its next look."""
        slot = self._slots.get(job_id)
        if slot is None:
            slot = self._slots[job_id] = Slot(job_id, poll_interval)
            self._schedule(slot, now)
        elif poll_interval is not None and (slot.poll_interval is None or poll_interval < slot.poll_interval):
            slot.poll_interval = poll_interval
        return slot

    def forget(self, slot: Slot) -> None:
        """Stop watching ``slot``'s job (idempotent)."""
        if self._slots.get(slot.job_id) is slot:
            del self._slots[slot.job_id]
            self._announced.pop(slot.job_id, None)

    def announce(self, job_id: str) -> bool:
        """A webhook said ``job_id`` changed: it is asked for before anything else. Whether it is
        watched and not finished (otherwise nothing changes)."""
        slot = self._slots.get(job_id)
        if slot is None or slot.finished:
            return False
        self._announced[job_id] = None
        return True

    # -- what to send next ---------------------------------------------------------------

    def wait_time(self, now: float) -> float:
        """0 when there is a request to send now, else seconds until there may be one (``math.inf``: none)."""
        self._prune(now)
        if self.announced_waiting():
            return 0.0
        if self._due and self._page_free(now):
            return 0.0
        wait = max(0.0, self._schedule_heap[0][0] - now) if self._schedule_heap else math.inf
        if self._routine_page_sent_at is not None and (self._due or self._announced):
            wait = min(wait, max(0.0, self._routine_page_sent_at + PAGE_WAIT - now))
        return wait

    def announced_waiting(self) -> bool:
        """Whether a job a webhook announced waits for a request (the rate limiter lets those out sooner)."""
        return any(not self._slots[job_id].in_flight for job_id in self._announced)

    def take_request(self, now: float, wall: float) -> Request | None:
        """The next request to send, chosen at the moment it may be sent (after :meth:`wait_time`
        said 0 and the rate limiter agreed), marked as in flight; None if, after all, nothing can
        be asked for now. Jobs a webhook announced first, then jobs past their estimated finish
        or never looked at, then the rest of the due ones (longest overdue first within each)."""
        self._prune(now)
        request = self._announced_request() or self._routine_request(now, wall)
        if request is not None:
            for slot in request.slots:
                slot.in_flight = True
            if request.is_page and not request.announced:
                self._routine_page_sent_at = now
        return request

    def _announced_request(self) -> Request | None:
        target = next((s for job_id in self._announced if not (s := self._slots[job_id]).in_flight), None)
        if target is None:
            return None
        # The first one announced. Webhooks come in bursts for jobs that ended together
        # (started together, listed together): a page around it shows them all, also the
        # ones whose webhooks are still on their way. It does not wait for a routine page.
        request = self._plan(target, self._is_live, announced=True)
        for slot in request.slots:
            if slot.job_id in self._announced:
                del self._announced[slot.job_id]
                slot.announced = True
        return request

    def _routine_request(self, now: float, wall: float) -> Request | None:
        if not self._due:
            return None

        def rank(slot: Slot) -> tuple[int, float]:
            # Ending now, or never looked at (new jobs are at the top of the listing: a page
            # from the top every little while shows them all); then the long starved.
            overdue = now - slot.due
            if (slot.estimated_finish is not None and slot.estimated_finish <= wall) or slot.status is None:
                return (2, overdue)
            return (1 if overdue > STARVE else 0, overdue)

        target = max(self._due, key=rank)
        self._due_picks += 1
        if rank(target)[0] == 2 and self._due_picks % ROUTINE_SHARE == 0:
            # Every few picks the longest overdue routine look goes first, however many jobs
            # are ending: a job whose estimated finish is not known yet must not starve.
            routine = max((s for s in self._due if rank(s)[0] < 2), key=rank, default=None)
            if routine is not None and now - routine.due > 1.0:
                target = routine
        if not self._page_free(now):
            # Only a retrieve may go now; the page under way may well show the rest.
            request = self._plan(target, lambda s: False)
            return None if request.is_page else request
        return self._plan(target, lambda s: self._due_now(s, now))

    def _plan(self, target: Slot, wanted: Callable[[Slot], bool], *, announced: bool = False) -> Request:
        """How to look at ``target``: a listing page showing it and as many of the watched jobs
        listed around it that are ``wanted`` as a page has room for, or a retrieve when no page
        is known to show it (always, when the provider has no such listing)."""
        if not self.list_pages:
            return Request([target], is_page=False, announced=announced)
        if target.missed_pages == 0 and target.above_id is not None:
            # Known place in the listing: the page starts as far up as keeps the run of wanted
            # jobs below the target on it, and goes down from there.
            run = self._climb(self._descend(target, wanted, PAGE_SIZE - 1), wanted, PAGE_SIZE - 1)
            return Request(run, is_page=True, after=run[0].above_id, announced=announced)
        if target.created_at is None and target.missed_pages == 0:
            # Never looked at: new jobs are at the top of the listing.
            return Request([target], is_page=True, announced=announced)
        if target.created_at is None and target.missed_pages <= WALK_PAGES and self._walk_after is not None:
            # Never looked at and not at the top: go on down the listing from the last page there.
            return Request([target], is_page=True, after=self._walk_after, announced=announced)
        # Looked at by its id only, or not where the listing should have shown it.
        return Request([target], is_page=False, announced=announced)

    def _climb(self, slot: Slot, wanted: Callable[[Slot], bool], limit: int) -> list[Slot]:
        """``slot`` and the watched jobs listed right above it that are ``wanted`` (up to
        ``limit`` of them), topmost first: a page ``after`` the topmost's ``above_id`` shows them all.

        A job last seen at the very top of the listing (no ``above_id``) ends the climb below it:
        newer jobs may have come since, so a page from the top would no longer show it.
        """
        run = [slot]
        while len(run) <= limit:
            above_id = run[-1].above_id
            above = self._slots.get(above_id) if above_id is not None else None
            if above is None or above.above_id is None or not wanted(above):
                break
            run.append(above)
        run.reverse()
        return run

    def _descend(self, slot: Slot, wanted: Callable[[Slot], bool], limit: int) -> Slot:
        """The lowest of the watched jobs listed right below ``slot`` that are ``wanted``
        (at most ``limit`` rows down), or ``slot`` itself."""
        bottom = slot
        for _ in range(limit):
            below = self._slots.get(bottom.below_id) if bottom.below_id is not None else None
            if below is None or below.above_id != bottom.job_id or not wanted(below):
                break
            bottom = below
        return bottom

    # -- the schedule --------------------------------------------------------------------

    def _schedule(self, slot: Slot, due: float) -> None:
        slot.due = due
        # One live heap entry per slot: a later due is picked up when the earlier entry pops.
        if slot.queued_due is None or due < slot.queued_due:
            slot.queued_due = due
            heapq.heappush(self._schedule_heap, (due, next(self._heap_order), slot))

    def _is_live(self, slot: Slot) -> bool:
        return self._slots.get(slot.job_id) is slot and not slot.finished and not slot.in_flight

    def _due_now(self, slot: Slot, now: float) -> bool:
        return self._is_live(slot) and slot.due <= now

    def _collect_due(self, now: float) -> None:
        heap = self._schedule_heap
        while heap and heap[0][0] <= now:
            due, _, slot = heapq.heappop(heap)
            if slot.queued_due != due:
                continue
            slot.queued_due = None
            if self._slots.get(slot.job_id) is not slot or slot.finished:
                continue
            if slot.due > now:
                self._schedule(slot, slot.due)
            else:
                self._due.append(slot)

    def _prune(self, now: float) -> None:
        self._collect_due(now)
        if self._due:
            self._due = [s for s in self._due if self._due_now(s, now)]
        for job_id in list(self._announced):
            slot = self._slots.get(job_id)
            if slot is None or slot.finished:
                del self._announced[job_id]

    def _page_free(self, now: float) -> bool:
        return self._routine_page_sent_at is None or now - self._routine_page_sent_at > PAGE_WAIT

    # -- what was seen -------------------------------------------------------------------

    def request_left(self, request: Request, now: float) -> None:
        """``request`` goes on the wire now (a moment after :meth:`take_request`)."""
        request.sent_at = now
        request.walks_down = request.is_page and (request.after is None or request.after == self._walk_after)

    def retrieved(self, request: Request, job: FineTuningJob, *, now: float, wall: float) -> list[Slot]:
        """The retrieve ``request`` answered ``job``; the slots whose watch ended."""
        ended: list[Slot] = []
        self._update(request.slots[0], job, now, wall, ended)
        self._settle(request, {job.id}, fresh=0, now=now)
        return ended

    def page_read(
        self, request: Request, jobs: Sequence[FineTuningJob], *, has_more: bool, now: float, wall: float
    ) -> list[Slot]:
        """The listing page ``request`` asked for answered ``jobs`` (newest first; ``has_more``:
        the listing goes on below); the slots whose watch ended."""
        ended: list[Slot] = []
        self._advance_walk(request, jobs, has_more)
        seen, fresh = self._read_rows(request.after, jobs, now, wall, ended)
        if request.after is None and jobs:
            self._place_previous_top(jobs[0].id, jobs[-1].id if has_more else None, seen)
        self._drop_wrong_guess(request, seen)
        self._settle(request, seen, fresh=fresh, now=now)
        return ended

    def failed(self, request: Request, exc: BaseException, *, now: float) -> list[Slot]:
        """``request`` failed with ``exc``; the slots whose watch ended (an error polling again
        cannot fix ends the watch of every job the request was for)."""
        ended: list[Slot] = []
        seen: set[str] = set()
        if isinstance(exc, BadRequestError) and request.is_page and request.after is not None:
            # The job the page was to start after is not in the listing: look the target up by id.
            request.slots[0].above_id = None
            if request.after == self._walk_after:
                self._walk_after = None
        elif isinstance(exc, (APIConnectionError, APIStatusError)) and not isinstance(exc, BadRequestError):
            for slot in request.slots:
                self._poll_failed(slot, exc, now, ended)
            seen.update(s.job_id for s in request.slots)
        else:  # e.g. the client was closed: the waiters of these jobs hear it
            self._end_with_error(request.slots, exc, ended)
        self._settle(request, seen, fresh=0, now=now)
        return ended

    def abandoned(self, request: Request, *, now: float) -> None:
        """``request`` was given up before its answer (its sender was cancelled): its jobs are looked at again."""
        self._settle(request, set(), fresh=0, now=now)

    def _advance_walk(self, request: Request, jobs: Sequence[FineTuningJob], has_more: bool) -> None:
        # A page from the top, or on down from the latest one there: the next walk page goes on from its last job.
        if request.after is None or request.after == self._walk_after:
            self._walk_after = jobs[-1].id if has_more and jobs else None

    def _read_rows(
        self, after: str | None, jobs: Sequence[FineTuningJob], now: float, wall: float, ended: list[Slot]
    ) -> tuple[set[str], int]:
        """Bring every watched job of the page up to date and note its neighbours as the page
        lists them; the watched ids seen, and how many of them had never been looked at."""
        seen: set[str] = set()
        fresh = 0
        above_id = after
        above = self._slots.get(above_id) if above_id is not None else None
        for job in jobs:
            slot = self._slots.get(job.id)
            if above is not None:
                above.below_id = job.id
            if slot is not None:
                slot.above_id = above_id
                seen.add(job.id)
                fresh += slot.status is None
                self._update(slot, job, now, wall, ended)
            above = slot
            above_id = job.id
        return seen, fresh

    def _drop_wrong_guess(self, request: Request, seen: set[str]) -> None:
        first = request.slots[0]
        if request.after is not None and first.above_id == request.after and first.job_id not in seen:
            # A page starting right below the job listed above it shows it first: that place
            # was a guess that did not hold (see ``_place_previous_top``).
            first.above_id = None

    def _place_previous_top(self, first: str, last: str | None, seen: set[str]) -> None:
        """A page from the top of the listing showed ``first`` to ``last`` (None: nothing below).

        The job first on the previous such page, if this one did not show it, is taken to be
        listed right below this one's last: that is where it is when no unwatched job was
        created between the two pages. If not, the page that relies on it does not show it
        where expected and it is looked up by id, as for any job out of place.
        """
        previous = self._top_page_first
        if (
            previous is not None
            and last is not None
            and previous.above_id is None
            and previous.job_id not in seen
            and self._slots.get(previous.job_id) is previous
        ):
            previous.above_id = last
            below_last = self._slots.get(last)
            if below_last is not None:
                below_last.below_id = previous.job_id
        self._top_page_first = self._slots.get(first)

    def _update(self, slot: Slot, job: FineTuningJob, now: float, wall: float, ended: list[Slot]) -> None:
        if slot.finished:
            return  # two answers can both bring the end: report it once
        changed = job.status != slot.status
        slot.status = job.status
        slot.created_at = job.created_at
        slot.estimated_finish = job.estimated_finish
        slot.failed_polls = 0
        slot.missed_pages = 0
        if job.status in TERMINAL:
            slot.job = job
            ended.append(slot)
            return
        if slot.poll_interval is not None:
            delay = slot.poll_interval
        else:
            pace = self.backoff
            slot.adaptive_interval = pace.next_interval(slot.adaptive_interval, changed=changed)
            delay = next_poll_delay(
                slot.adaptive_interval, estimated_finish=job.estimated_finish, now=wall, backoff=pace
            )
        self._schedule(slot, now + delay)

    def _poll_failed(self, slot: Slot, exc: BaseException, now: float, ended: list[Slot]) -> None:
        if not is_transient(exc):
            self._end_with_error([slot], exc, ended)
            return
        slot.failed_polls += 1
        self._schedule(slot, now + self.backoff.after_errors(slot.failed_polls))

    def _end_with_error(self, slots: Iterable[Slot], exc: BaseException, ended: list[Slot]) -> None:
        for slot in slots:
            if not slot.finished:
                slot.error = exc
                ended.append(slot)

    # -- after every answer --------------------------------------------------------------

    def _settle(self, request: Request, seen: set[str], *, fresh: int, now: float) -> None:
        """What every outcome of ``request`` ends with: the page slot is free again, the jobs
        never looked at that a walk page did not show are marked as further down, and each job
        the request was for is scheduled again (at once if it was not shown)."""
        if request.is_page and not request.announced:
            self._routine_page_sent_at = None
        marked_below = request.walks_down and fresh > 0
        if marked_below:
            self._mark_new_jobs_below(seen, request.sent_at)
        for slot in request.slots:
            self._settle_slot(slot, request, seen, now, marked_below=marked_below)

    def _mark_new_jobs_below(self, seen: set[str], sent_at: float) -> None:
        # A page from the top (or on down from there) that showed jobs never looked at shows
        # where such jobs are: those it did not show are further down; the next page goes on
        # from it. (Only those watched since before it was sent: newer ones may be newer jobs.)
        for slot in self._due:
            if slot.status is None and not slot.missed_pages and slot.job_id not in seen and slot.due <= sent_at:
                slot.missed_pages = 1

    def _settle_slot(self, slot: Slot, request: Request, seen: set[str], now: float, *, marked_below: bool) -> None:
        slot.in_flight = False
        announced, slot.announced = slot.announced, False
        if slot.finished:
            return
        if slot.job_id not in seen:
            # Not where the listing was expected to show it (or abandoned mid-request):
            # further down, or next time by its id.
            if request.is_page and not (marked_below and slot.status is None and slot.missed_pages):
                slot.missed_pages += 1
            if announced:
                self._announced[slot.job_id] = None
            else:
                self._schedule(slot, now)
        elif announced and slot.job_id not in self._announced:
            # Announced as ended but not yet shown so: look again soon, not at the fallback pace.
            self._schedule(slot, now + DEFAULT_BACKOFF.initial)

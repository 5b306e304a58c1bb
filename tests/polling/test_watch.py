"""The watch planner, fed recorded pages and a fake clock: no network, no sleeping.

The listing is newest first; a page ``after=X`` shows the hundred jobs listed right below X.
:class:`Listing` plays it (jobs created over time, some not watched), the tests answer the
planner's requests from it and check the requests it asks for next; the property tests run a
whole fake driver (the planner, the real rate limiter on a virtual clock, answers that fail in
every way polling knows) and check that no job is ever lost and the ceiling never passed.
``test_many``, ``test_webhooks`` and ``test_faults`` run the real driver against the emulator.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async._ratelimit import RateLimiter
from finetune_async._watch_planner import PAGE_SIZE, WEBHOOK_BACKOFF, Planner, Request, Slot
from finetune_async.models import FineTuningJob
from finetune_async.models._converter import structure

START = 1_000.0  # monotonic seconds at the start of every test
EPOCH = 1_700_000_000.0  # wall-clock seconds at START


class Clock:
    """Virtual time: ``now`` (monotonic) and ``wall`` (epoch) move together."""

    def __init__(self) -> None:
        self.now = START

    @property
    def wall(self) -> float:
        return EPOCH + self.now - START

    def monotonic(self) -> float:
        return self.now


class Listing:
    """The jobs listing as the API keeps it: newest first, growing only at the top."""

    def __init__(self) -> None:
        self.ids: list[str] = []  # newest first
        self.jobs: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count()

    def create(self, n: int, *, at: float = EPOCH, ends_at: float | None = None, estimated: bool = False) -> list[str]:
        """``n`` new running jobs on top of the listing; their ids, newest first."""
        made = []
        for _ in range(n):
            job_id = f"ftjob-{next(self._numbers):05d}"
            self.jobs[job_id] = {
                "id": job_id,
                "created_at": int(at),
                "ends_at": ends_at,
                "estimated_finish": int(ends_at) if estimated and ends_at is not None else None,
                "status": "running",
            }
            made.append(job_id)
        made.reverse()
        self.ids[:0] = made
        return made

    def job(self, job_id: str, wall: float) -> FineTuningJob:
        row = self.jobs[job_id]
        ends_at = row["ends_at"]
        status = "succeeded" if ends_at is not None and wall >= ends_at else row["status"]
        return structure(
            {
                "id": job_id,
                "object": "fine_tuning.job",
                "created_at": row["created_at"],
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": {},
                "model": "gpt-4o-mini-2024-07-18",
                "organization_id": "org-test",
                "result_files": [],
                "seed": 1,
                "status": status,
                "trained_tokens": None,
                "training_file": "file-t",
                "validation_file": None,
                "estimated_finish": row["estimated_finish"],
            },
            FineTuningJob,
        )

    def page(self, after: str | None, wall: float) -> tuple[list[FineTuningJob], bool]:
        start = 0 if after is None else self.ids.index(after) + 1
        ids = self.ids[start : start + PAGE_SIZE]
        return [self.job(i, wall) for i in ids], start + PAGE_SIZE < len(self.ids)


def answer(planner: Planner, request: Request, listing: Listing, clock: Clock) -> list[Slot]:
    """Answer ``request`` from ``listing`` at once, as the API would; the slots whose watch ended."""
    planner.request_left(request, clock.now)
    if request.is_page:
        jobs, has_more = listing.page(request.after, clock.wall)
        return planner.page_read(request, jobs, has_more=has_more, now=clock.now, wall=clock.wall)
    return planner.retrieved(request, listing.job(request.slots[0].job_id, clock.wall), now=clock.now, wall=clock.wall)


def take(planner: Planner, clock: Clock) -> Request:
    assert planner.wait_time(clock.now) == 0
    request = planner.take_request(clock.now, clock.wall)
    assert request is not None
    return request


def ids_of(request: Request) -> list[str]:
    return [s.job_id for s in request.slots]


def watched(planner: Planner, ids: list[str], poll_interval: float | None = None, now: float = START) -> list[Slot]:
    return [planner.watch(job_id, poll_interval, now=now) for job_id in ids]


def sweep(planner: Planner, listing: Listing, clock: Clock) -> int:
    """Answer every request due now (all jobs never looked at are); how many were sent."""
    sent = 0
    while planner.wait_time(clock.now) == 0:
        request = planner.take_request(clock.now, clock.wall)
        assert request is not None
        answer(planner, request, listing, clock)
        sent += 1
    return sent


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- which page, for what ---------------------------------------------------------------------


def test_new_jobs_are_read_from_the_top_a_page_at_a_time(clock: Clock) -> None:
    listing = Listing()
    ids = listing.create(250)
    planner = Planner()
    slots = watched(planner, ids)
    first = take(planner, clock)
    assert first.is_page
    assert first.after is None  # never looked at: new jobs are at the top
    answer(planner, first, listing, clock)
    # The jobs the page from the top did not show are further down: the next pages walk on
    # down from its last job (they are not held back: the first page answered).
    assert sweep(planner, listing, clock) == 2
    assert all(s.status == "running" for s in slots)
    # Each job's place is as the pages showed it; the newest was at the very top.
    assert slots[0].above_id is None
    assert [s.above_id for s in slots[1:]] == ids[:-1]
    assert [s.below_id for s in slots[:-1]] == ids[1:]


def listed(planner: Planner, listing: Listing, clock: Clock, n: int) -> list[str]:
    """``n`` watched running jobs, each looked at once (so their places are known); newest first."""
    ids = listing.create(n)
    watched(planner, ids)
    sweep(planner, listing, clock)
    return ids


def test_an_announced_job_gets_a_page_of_the_run_it_ended_with(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listed(planner, listing, clock, 250)
    # The 40 oldest ended earlier and are no longer watched; a webhook announces one in the
    # middle of the 100 listed above them (they started together, so they end together too).
    for job_id in ids[-40:]:
        planner.forget(planner.watch(job_id, None, now=clock.now))
    assert planner.announce("ftjob-00070")
    assert planner.announced_waiting()
    request = take(planner, clock)
    assert request.is_page
    assert request.announced
    # One page from the job right above the run down to its oldest: all hundred, the
    # announced one among them (and only it marked as announced).
    assert ids_of(request) == ids[110:210]
    assert "ftjob-00070" in ids_of(request)
    assert request.after == ids[109]
    assert [s.job_id for s in request.slots if s.announced] == ["ftjob-00070"]
    assert not planner.announced_waiting()
    assert all(s.in_flight for s in request.slots)


def test_a_page_never_starts_from_a_job_last_seen_at_the_top(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listed(planner, listing, clock, 30)
    planner.announce(ids[-1])
    request = take(planner, clock)
    assert request.is_page
    # The newest was at the top when last seen; newer jobs may have come since, so a page
    # from the top might not show it: the page starts right below it instead.
    assert request.after == ids[0]
    assert ids_of(request) == ids[1:]


def test_an_announced_job_with_no_known_place_is_retrieved(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listed(planner, listing, clock, 5)
    planner.announce(ids[0])  # at the top when last seen: no page is known to show it
    request = take(planner, clock)
    assert not request.is_page
    assert ids_of(request) == [ids[0]]


def test_announcing_an_unwatched_or_ended_job_changes_nothing(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listing.create(1, ends_at=EPOCH)
    assert not planner.announce(ids[0])
    (slot,) = watched(planner, ids)
    assert answer(planner, take(planner, clock), listing, clock) == [slot]
    assert slot.finished
    assert not planner.announce(ids[0])
    assert planner.wait_time(clock.now) == float("inf")


def test_routine_pages_show_the_due_jobs_around_the_target(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listing.create(300)
    due = set(ids[50:200])
    for job_id in ids:
        planner.watch(job_id, 1.0 if job_id in due else 60.0, now=clock.now)
    sweep(planner, listing, clock)
    clock.now += 2.0
    request = take(planner, clock)
    assert request.is_page
    assert not request.announced
    shown = ids_of(request)
    assert len(shown) == PAGE_SIZE
    assert set(shown) <= due
    # Contiguous in the listing, and starting right below the job before the first of them.
    start = ids.index(shown[0])
    assert shown == ids[start : start + PAGE_SIZE]
    assert request.after == ids[start - 1]
    # One routine page at a time: the next due jobs wait for its answer (or half a second).
    assert planner.wait_time(clock.now) == pytest.approx(0.5)
    answer(planner, request, listing, clock)
    assert set(ids_of(take(planner, clock))) == due - set(shown)


def test_a_new_page_from_the_top_places_the_previous_one(clock: Clock) -> None:
    """Two pages from the top: the job first on the earlier one is taken to be listed right
    below the last of the later one, and the page that relies on the guess corrects it."""
    listing, planner = Listing(), Planner()
    listing.create(20)  # older jobs nobody watches
    older = listing.create(100)
    watched(planner, older)
    sweep(planner, listing, clock)
    unwatched = listing.create(3)  # someone else's jobs, created between the two pages
    newer = listing.create(100)
    slots = watched(planner, newer, now=clock.now)
    sweep(planner, listing, clock)
    first_older = planner.watch(older[0], None, now=clock.now)
    # The guess: right below the later page's last job (three unwatched jobs are really between).
    assert first_older.above_id == newer[-1]
    assert slots[-1].below_id == older[0]
    planner.announce(older[0])
    request = take(planner, clock)
    assert request.after == newer[-1]
    answer(planner, request, listing, clock)
    # The page started three rows higher than it had to, and showed the job: placed as it is.
    assert first_older.above_id == unwatched[-1]
    assert first_older.missed_pages == 0


def test_a_wrong_guess_of_place_is_dropped_and_the_job_retrieved(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    older = listing.create(100)
    watched(planner, older)
    sweep(planner, listing, clock)
    listing.create(PAGE_SIZE)  # more unwatched jobs than a page holds, then watched ones on top
    newer = listing.create(100)
    watched(planner, newer, now=clock.now)
    sweep(planner, listing, clock)
    first_older = planner.watch(older[0], None, now=clock.now)
    assert first_older.above_id == newer[-1]  # the guess, a hundred rows off
    planner.announce(older[0])
    request = take(planner, clock)
    assert request.after == newer[-1]
    answer(planner, request, listing, clock)
    # A page starting right below the job thought to be listed above it did not show it: the
    # place is forgotten and the job, still announced, is next looked up by its id.
    assert first_older.above_id is None
    assert first_older.missed_pages == 1
    retry = take(planner, clock)
    assert not retry.is_page
    assert ids_of(retry) == [older[0]]


def test_a_page_whose_start_is_not_listed_falls_back_to_a_retrieve(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listed(planner, listing, clock, 10)
    planner.announce(ids[5])
    request = take(planner, clock)
    assert request.after == ids[0]
    planner.request_left(request, clock.now)
    error = ft.BadRequestError("no such job", status_code=400, param="after")
    assert planner.failed(request, error, now=clock.now) == []
    retry = take(planner, clock)
    assert not retry.is_page
    assert ids_of(retry) == [ids[5]]


def test_an_error_polling_cannot_fix_ends_the_watch(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    (slot,) = watched(planner, listing.create(1))
    request = take(planner, clock)
    planner.request_left(request, clock.now)
    error = ft.NotFoundError("gone", status_code=404)
    assert planner.failed(request, error, now=clock.now) == [slot]
    assert slot.error is error
    assert slot.finished


def test_transient_errors_back_off_then_polling_goes_on(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    (slot,) = watched(planner, listing.create(1, ends_at=EPOCH + 30))
    for attempt in range(1, 4):
        request = take(planner, clock)
        planner.request_left(request, clock.now)
        assert planner.failed(request, ft.APIConnectionError(), now=clock.now) == []
        assert slot.failed_polls == attempt
        clock.now += planner.wait_time(clock.now)
    answer(planner, take(planner, clock), listing, clock)
    assert slot.failed_polls == 0
    assert slot.status == "running"


def test_an_abandoned_request_looks_again_at_once(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listed(planner, listing, clock, 3)
    planner.announce(ids[1])
    request = take(planner, clock)
    planner.request_left(request, clock.now)
    planner.abandoned(request, now=clock.now)
    assert not any(s.in_flight for s in request.slots)
    assert planner.announced_waiting()  # still announced: asked for first again


def test_a_job_announced_but_not_yet_shown_ended_is_looked_at_again_soon(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    planner.backoff = WEBHOOK_BACKOFF  # as with a webhook hub attached
    ids = listing.create(1, ends_at=EPOCH + 10)
    watched(planner, ids)
    sweep(planner, listing, clock)
    assert planner.wait_time(clock.now) == pytest.approx(5.0)  # the webhook pace
    planner.announce(ids[0])
    answer(planner, take(planner, clock), listing, clock)  # still running, as far as the API says
    assert planner.wait_time(clock.now) == pytest.approx(1.0)  # not the fallback pace


def test_a_fixed_poll_interval_wins_over_the_adaptive_pace_and_the_shortest_applies(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listing.create(1)
    planner.watch(ids[0], 7.0, now=clock.now)
    planner.watch(ids[0], 3.0, now=clock.now)
    planner.watch(ids[0], None, now=clock.now)
    sweep(planner, listing, clock)
    assert planner.wait_time(clock.now) == pytest.approx(3.0)


def test_the_first_look_comes_right_after_the_estimated_finish(clock: Clock) -> None:
    listing, planner = Listing(), Planner()
    ids = listing.create(1, ends_at=EPOCH + 4.0, estimated=True)
    watched(planner, ids)
    sweep(planner, listing, clock)
    # Adaptive: 1 s at first; the estimated finish (4 s) is later, so 1 s.
    assert planner.wait_time(clock.now) == pytest.approx(1.0)
    clock.now += planner.wait_time(clock.now)
    sweep(planner, listing, clock)
    assert planner.wait_time(clock.now) == pytest.approx(1.5)  # nothing changed: backing off
    clock.now += planner.wait_time(clock.now)
    sweep(planner, listing, clock)
    # 2.25 s next, but never past the estimated finish plus the slack (4.25 s from the start).
    assert clock.now - START + planner.wait_time(clock.now) == pytest.approx(4.25)
    clock.now += planner.wait_time(clock.now)
    request = take(planner, clock)
    (slot,) = answer(planner, request, listing, clock)
    assert slot.job is not None
    assert slot.job.status == "succeeded"


# -- a whole fake driver ----------------------------------------------------------------------


class FakeDriver:
    """What the real driver does, in virtual time: ask the planner, pass the rate limiter, send,
    answer after a latency (or fail), tell the planner, deliver webhooks. Records every grant."""

    def __init__(self, listing: Listing, clock: Clock, *, rate: float, latency: float) -> None:
        self.listing = listing
        self.clock = clock
        self.planner = Planner()
        self.limiter = RateLimiter(rate, clock=clock.monotonic)
        self.latency = latency
        self.grants: list[float] = []
        self.ended: dict[str, Slot] = {}
        self.reported: list[str] = []
        # (when, order, what): answers of requests in flight, webhook deliveries.
        self._events: list[tuple[float, int, Any]] = []
        self._order = itertools.count()

    def at(self, when: float, what: Any) -> None:
        heapq.heappush(self._events, (when, next(self._order), what))

    def step(self, fault: Iterator[str], until: float) -> None:
        """Send what may be sent now, else move the clock to the next thing to happen (not past ``until``)."""
        planner, clock = self.planner, self.clock
        pause = planner.wait_time(clock.now)
        if pause == 0:
            pause = self.limiter.delay(urgent=planner.announced_waiting())
        if pause == 0 and (request := planner.take_request(clock.now, clock.wall)) is not None:
            self.limiter.take()
            self.grants.append(clock.now)
            planner.request_left(request, clock.now)
            self.at(clock.now + self.latency, (request, next(fault)))
            return
        next_event = self._events[0][0] if self._events else float("inf")
        clock.now = max(clock.now, min(clock.now + (pause or 0.05), next_event, until))
        while self._events and self._events[0][0] <= clock.now:
            _, _, what = heapq.heappop(self._events)
            self._handle(what)

    def _handle(self, what: Any) -> None:
        planner, clock = self.planner, self.clock
        if isinstance(what, str):  # a webhook
            planner.announce(what)
            return
        request, fault = what
        if fault == "ok":
            if request.is_page:
                jobs, has_more = self.listing.page(request.after, clock.wall)
                ended = planner.page_read(request, jobs, has_more=has_more, now=clock.now, wall=clock.wall)
            else:
                job = self.listing.job(request.slots[0].job_id, clock.wall)
                ended = planner.retrieved(request, job, now=clock.now, wall=clock.wall)
        elif fault == "cancelled":
            planner.abandoned(request, now=clock.now)
            ended = []
        else:
            error: BaseException = {
                "reset": ft.APIConnectionError(),
                "429": ft.RateLimitError("slow down", status_code=429),
                "500": ft.InternalServerError("oops", status_code=500),
                "400": ft.BadRequestError("no such job", status_code=400),
            }[fault]
            if fault == "400" and not (request.is_page and request.after is not None):
                error = ft.InternalServerError("oops", status_code=503)  # a 400 only for a page's unknown start
            ended = planner.failed(request, error, now=clock.now)
        for slot in ended:
            self.reported.append(slot.job_id)
            self.ended[slot.job_id] = slot
            planner.forget(slot)


FAULTS = ("reset", "429", "500", "400", "cancelled")


def fault_stream(rnd: random.Random, rate: float, kinds: list[str]) -> Iterator[str]:
    """ "ok", or one of ``kinds`` for a share ``rate`` of the answers, drawn at random."""
    while True:
        yield rnd.choice(kinds) if rnd.random() < rate else "ok"


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(
        st.tuples(
            st.floats(0.0, 20.0),  # created at (seconds from the start)
            st.integers(1, 150),  # how many jobs
            st.floats(0.0, 40.0),  # how long they run
            st.booleans(),  # watched?
            st.booleans(),  # estimated finish known?
            st.booleans(),  # webhooks announce their ends?
        ),
        min_size=1,
        max_size=6,
    ),
    rate=st.sampled_from([2.0, 5.0, 20.0]),
    latency=st.sampled_from([0.0, 0.05, 0.4]),
    fault_rate=st.sampled_from([0.0, 0.1, 0.3, 0.6]),
    kinds=st.lists(st.sampled_from(FAULTS), min_size=1, max_size=5, unique=True),
    rnd=st.randoms(use_true_random=False),
)
def test_property_no_job_is_lost_and_the_ceiling_holds(
    batches: list[tuple[float, int, float, bool, bool, bool]],
    rate: float,
    latency: float,
    fault_rate: float,
    kinds: list[str],
    rnd: random.Random,
) -> None:
    """Whatever jobs are created when (watched or not, interleaved), however long they run and
    whatever each answer is (a page, a retrieve, a reset, a 429, a 500, a 400 for a page's
    start, a request abandoned mid-way), every watched job's end is reported, once, with its
    final status; no one-second window holds more requests than the ceiling; nothing is left
    in flight."""
    clock = Clock()
    listing = Listing()
    driver = FakeDriver(listing, clock, rate=rate, latency=latency)
    fault = fault_stream(rnd, fault_rate, kinds)
    want: set[str] = set()
    pending = sorted(batches, key=lambda b: b[0])
    horizon = START + 20.0 + 40.0 + 600.0
    while clock.now < horizon and (pending or set(driver.ended) != want):
        while pending and START + pending[0][0] <= clock.now:
            _, n, runs, watch, estimated, hooks = pending.pop(0)
            ids = listing.create(n, at=clock.wall, ends_at=clock.wall + runs, estimated=estimated)
            if watch:
                for job_id in ids:
                    driver.planner.watch(job_id, None, now=clock.now)
                    want.add(job_id)
                    if hooks:
                        driver.at(clock.now + runs + 0.1, job_id)
        driver.step(fault, until=START + pending[0][0] if pending else horizon)
    assert set(driver.ended) == set(want)
    assert len(driver.reported) == len(set(driver.reported))  # each end told once
    for slot in driver.ended.values():
        assert slot.error is None
        assert slot.job is not None
        assert slot.job.status == "succeeded"
        assert not slot.in_flight
    # Never more requests in a one-second window than the ceiling.
    stamps = driver.grants
    lo = 0
    for hi, t in enumerate(stamps):
        while stamps[lo] <= t - 1.0:
            lo += 1
        assert hi - lo + 1 <= int(rate)
    assert len(driver.planner) == 0


def test_thousands_of_jobs_cost_a_page_per_hundred_when_nothing_fails(clock: Clock) -> None:
    """The bench_waiters shape in virtual time (3,000 jobs rather than 10,000, created over 6 s
    rather than 20): jobs created in bursts and ending together are read a page of a hundred at
    a time, under the ceiling, each reported soon after its end."""
    listing = Listing()
    driver = FakeDriver(listing, clock, rate=20.0, latency=0.02)
    want: dict[str, float] = {}
    ok = itertools.repeat("ok")
    for burst in range(30):
        at = START + burst * 0.2
        while clock.now < at:
            driver.step(ok, until=at)
        ids = listing.create(100, at=clock.wall, ends_at=clock.wall + 20.0, estimated=True)
        for job_id in ids:
            driver.planner.watch(job_id, None, now=clock.now)
            want[job_id] = clock.wall + 20.0
    lags: list[float] = []
    done = 0
    while len(driver.ended) < len(want):
        assert clock.now < START + 120.0
        driver.step(ok, until=START + 120.0)
        while done < len(driver.reported):
            lags.append(clock.wall - want[driver.reported[done]])
            done += 1
    assert len(driver.grants) < 300  # retrieving each would take 3,000
    lags.sort()
    assert lags[int(0.99 * len(lags))] < 2.0  # p99: under two poll intervals

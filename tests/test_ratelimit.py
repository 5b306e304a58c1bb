"""The polling ceiling: routine grants evenly spaced, urgent ones let out at once, never more
than the ceiling in any one-second window."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_async._ratelimit import MARGIN, RateLimiter


class FakeClock:
    """The limiter's clock in virtual time: ``RateLimiter(rate, clock=fake.monotonic)``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def most_in_window(stamps: list[float]) -> int:
    """The most grants in any one-second window (one starting at a grant holds the most)."""
    return max((sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps), default=0)


async def test_routine_grants_are_spaced() -> None:
    limiter = RateLimiter(50)
    stamps = []
    async with anyio.create_task_group() as tg:

        async def take() -> None:
            await limiter.acquire()
            stamps.append(time.monotonic())

        for _ in range(20):
            tg.start_soon(take)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.02 - 1e-3
    limiter.pause(0.2)
    start = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - start >= 0.19
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)


def test_urgent_requests_skip_the_spacing_but_not_the_window(clock: FakeClock) -> None:
    limiter = RateLimiter(20, clock=clock.monotonic)
    limiter.take()
    # A routine request waits for the spacing; an urgent one only for a short gap.
    assert limiter.delay() == pytest.approx(MARGIN / 20)
    assert limiter.delay(urgent=True) == pytest.approx(MARGIN / 20 / 4)
    # Urgent requests as fast as they may go: twenty in the window, then the window is full.
    for _ in range(19):
        clock.now += limiter.delay(urgent=True)
        limiter.take()
    assert 0.5 < limiter.delay(urgent=True) < 1.1
    assert limiter.delay() >= limiter.delay(urgent=True)


def test_reserve_keeps_room_for_urgent_requests(clock: FakeClock) -> None:
    limiter = RateLimiter(20, clock=clock.monotonic)
    limiter.reserve = 100  # capped at a quarter of the window
    assert limiter.reserve == 5
    assert limiter.interval == pytest.approx(MARGIN / 15)
    for _ in range(15):
        clock.now += limiter.delay(urgent=True)
        limiter.take()
    # Fifteen in the window: routine requests must wait for the oldest to leave it, the five
    # kept back are for urgent ones.
    assert limiter.delay() > 0.7
    for _ in range(5):
        assert limiter.delay(urgent=True) < 0.02
        clock.now += limiter.delay(urgent=True)
        limiter.take()
    assert limiter.delay(urgent=True) > 0.7
    # Below two grants a window there is nothing to keep.
    slow = RateLimiter(1.5, clock=clock.monotonic)
    slow.reserve = 1
    assert slow.reserve == 0
    assert slow.delay(urgent=True) == 0.0
    slow.take()
    assert slow.delay(urgent=True) == pytest.approx(slow.delay())


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([2.0, 5.0, 7.5, 20.0]),
    reserve=st.integers(0, 5),
    requests=st.lists(st.tuples(st.floats(0.0, 0.3), st.booleans()), min_size=1, max_size=120),
)
def test_property_never_above_the_ceiling(rate: float, reserve: int, requests: list[tuple[float, bool]]) -> None:
    """Whatever the mix of urgent and routine requests and however they arrive, no one-second
    window holds more than ``floor(rate)`` grants, nor more routine grants than the reserve leaves."""
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock.monotonic)
    limiter.reserve = reserve
    granted: list[float] = []
    routine: list[float] = []
    for gap, urgent in requests:
        clock.now += gap
        clock.now += limiter.delay(urgent=urgent)
        assert limiter.delay(urgent=urgent) == 0.0
        limiter.take()
        granted.append(clock.now)
        if not urgent:
            routine.append(clock.now)
    assert most_in_window(granted) <= int(rate)
    assert most_in_window(routine) <= int(rate) - limiter.reserve
    assert limiter.granted == len(requests)


def test_construction_and_import_leave_anyio_synchronisation_unloaded() -> None:
    """A client's limiter makes its lock at the first wait: importing the SDK and building a
    limiter load neither anyio's synchronisation nor its task module (import-time cost)."""
    code = (
        "import sys; from finetune_async._ratelimit import RateLimiter; RateLimiter(5.0); "
        "print(sorted(m for m in ('anyio._core._synchronization', 'anyio._core._tasks') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

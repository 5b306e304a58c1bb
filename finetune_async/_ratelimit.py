"""A request-rate ceiling shared by every waiter of one client, with room kept for urgent requests.

The waiting helpers (:mod:`finetune_async.polling`) send each of their requests only after the
:class:`RateLimiter` lets them. The ceiling is a count: at most ``floor(rate)`` requests in
any one-second window (never a burst above it). Within it:

- routine requests (polls) are spaced evenly, ``1 / rate`` seconds apart, so an idle limiter
  does not then let a crowd of them out at once;
- urgent requests (for a job a webhook announced as ended) need not wait for that spacing,
  only for room in the window and a short gap, so they leave at once unless the ceiling is
  really reached. ``reserve`` of every window's grants can be kept for them: routine requests
  then use only the rest (and are spaced to match).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import anyio

__all__ = ["RateLimiter"]

#: The longest pause a server's Retry-After can impose on all polling (a bad header must not
#: stall every waiter for hours).
MAX_PENALTY = 60.0
#: Every interval is stretched by this much, so that the few milliseconds between a grant and
#: its request leaving never put one request too many in a window.
MARGIN = 1.03
#: The window the ceiling counts in, seconds.
WINDOW = 1.0
#: Urgent requests are kept at least this fraction of the routine spacing apart.
URGENT_GAP = 0.25


class RateLimiter:
    """At most ``rate`` grants per second: ``floor(rate)`` in any one-second window, and
    routine grants evenly spaced.

    :meth:`acquire` waits for the next free instant (waiters queue on one lock, so the memory
    used does not depend on how many wait; a waiter cancelled while queued gives its turn to
    the next one). A single scheduler can instead ask :meth:`delay` and :meth:`take` without
    waiting, to decide what to send once it may. ``rate=math.inf`` (or ``None`` in the client)
    turns the ceiling off. ``clock`` (monotonic seconds; default :func:`time.monotonic`) lets a
    test run the limiter in virtual time.
    """

    __slots__ = ("_clock", "_last", "_lock", "_not_before", "_reserve", "_stamps", "granted", "rate")

    def __init__(self, rate: float, *, clock: Callable[[], float] | None = None) -> None:
        if not rate > 0:
            raise ValueError("the request rate must be > 0")
        self._clock = time.monotonic if clock is None else clock
        self.rate = float(rate)
        #: How many grants were given (for statistics and tests).
        self.granted = 0
        # Made at the first wait: anyio loads its synchronisation module on first use, a cost a
        # client's construction (which builds a limiter) need not pay if it never polls.
        self._lock: anyio.Lock | None = None
        self._last = -math.inf
        self._not_before = -math.inf
        self._reserve = 0
        # The times of the latest grants, as many as the window holds.
        self._stamps: deque[float] = deque(maxlen=self.cap or 1)

    @property
    def cap(self) -> int:
        """Grants in any one-second window, at most (0 when there is no ceiling)."""
        return 0 if math.isinf(self.rate) else max(1, math.floor(self.rate))

    @property
    def interval(self) -> float:
        """Seconds between two routine grants (a hair over ``1 / rate``, longer with a reserve)."""
        if math.isinf(self.rate):
            return 0.0
        share = (self.cap - self._reserve) / self.cap
        return MARGIN / (self.rate * share)

    @property
    def reserve(self) -> int:
        """Grants of every window kept for urgent requests (0 to 1/4 of the window's cap)."""
        return self._reserve

    @reserve.setter
    def reserve(self, grants: int) -> None:
        # Urgent requests jump the spacing only where the window holds a few (rate >= 2).
        self._reserve = max(0, min(grants, self.cap // 4)) if self.cap >= 2 else 0

    def _window_free_at(self, grants: int) -> float:
        """When the window has room for one more grant, with ``grants`` (>= 1) the most it may hold."""
        stamps = self._stamps
        return stamps[-grants] + WINDOW * MARGIN if len(stamps) >= grants else -math.inf

    def delay(self, *, urgent: bool = False) -> float:
        """Seconds until a grant may be taken (0.0: now), for an urgent or a routine request."""
        if math.isinf(self.rate):
            return max(0.0, self._not_before - self._clock())
        cap = self.cap
        if urgent and cap >= 2:
            at = max(self._last + URGENT_GAP * MARGIN / self.rate, self._window_free_at(cap))
        else:
            at = max(self._last + self.interval, self._window_free_at(cap - self._reserve))
        return max(0.0, max(at, self._not_before) - self._clock())

    def take(self) -> None:
        """Record a grant now (after :meth:`delay` said 0.0)."""
        now = self._clock()
        # Measured from the grant itself (not from when it was due), so a late wake-up never
        # lets two requests out closer together than the spacing.
        self._last = now
        if not math.isinf(self.rate):
            self._stamps.append(now)
        self.granted += 1

    async def acquire(self) -> None:
        """Wait until one more routine request may be sent, then return."""
        if math.isinf(self.rate) and self._not_before == -math.inf:
            self.granted += 1
            await anyio.lowlevel.checkpoint()
            return
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            # Asked again after each sleep: another scheduler may have taken a grant meanwhile.
            wait = self.delay()
            while wait > 0:
                await anyio.sleep(wait)
                wait = self.delay()
            self.take()

    def sent(self) -> None:
        """The request of the last grant is leaving only now (it was handed to another task):
        count it from this moment, so the ceiling holds for what goes on the wire."""
        if not math.isinf(self.rate):
            now = self._clock()
            self._last = max(self._last, now)
            if self._stamps:
                self._stamps[-1] = max(self._stamps[-1], now)

    def pause(self, seconds: float) -> None:
        """Let no request out for ``seconds`` (capped at a minute): the server asked us to slow down."""
        if seconds > 0 and math.isfinite(seconds):
            self._not_before = max(self._not_before, self._clock() + min(seconds, MAX_PENALTY))

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, reserve={self._reserve})"

"""A smooth request-rate ceiling shared by every waiter of one client.

The waiting helpers (:mod:`finetune_async.polling`) send each of their requests only after
:meth:`RateLimiter.acquire` lets them. Grants are spaced at least ``1 / rate`` seconds apart
(no burst: a limiter idle for a minute does not then let sixty requests out at once), so in
any one-second window at most ``rate`` polling requests leave the process.
"""

from __future__ import annotations

import math
import time

import anyio

__all__ = ["RateLimiter"]

#: The longest pause a server's Retry-After can impose on all polling (a bad header must not
#: stall every waiter for hours).
MAX_PENALTY = 60.0
MARGIN = 1.03


class RateLimiter:
    """At most ``rate`` grants per second, evenly spaced, first come first served.

    ``acquire()`` waits for the next free instant. Waiters queue on one lock, so the memory
    used does not depend on how many wait; a waiter cancelled while queued gives its turn to
    the next one. ``rate=math.inf`` (or ``None`` in the client) turns the ceiling off.
    """

    __slots__ = ("_last", "_lock", "_not_before", "granted", "rate")

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError("the request rate must be > 0")
        self.rate = float(rate)
        #: How many grants were given (for statistics and tests).
        self.granted = 0
        self._lock = anyio.Lock()
        self._last = -math.inf
        self._not_before = -math.inf

    @property
    def interval(self) -> float:
        """Seconds between two grants: a hair over ``1 / rate``, so that the few milliseconds
        between a grant and its request leaving never put ``rate + 1`` requests in one second."""
        return 0.0 if math.isinf(self.rate) else MARGIN / self.rate

    async def acquire(self) -> None:
        """Wait until one more request may be sent, then return."""
        if math.isinf(self.rate) and self._not_before == -math.inf:
            self.granted += 1
            await anyio.lowlevel.checkpoint()
            return
        async with self._lock:
            # Measured from the previous *grant* (not from when it was due), so a late wake-up
            # never lets two requests out closer together than the interval.
            while True:
                now = time.monotonic()
                at = max(self._last + self.interval, self._not_before)
                if now >= at:
                    break
                await anyio.sleep(at - now)
            self._last = time.monotonic()
            self.granted += 1

    def sent(self) -> None:
        """The request of the last grant is leaving only now (it was handed to another task):
        space the next grant from this moment, so the ceiling holds for what goes on the wire."""
        if not math.isinf(self.rate):
            self._last = max(self._last, time.monotonic())

    def pause(self, seconds: float) -> None:
        """Let no request out for ``seconds`` (capped at a minute): the server asked us to slow down."""
        if seconds > 0 and math.isfinite(seconds):
            self._not_before = max(self._not_before, time.monotonic() + min(seconds, MAX_PENALTY))

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate})"

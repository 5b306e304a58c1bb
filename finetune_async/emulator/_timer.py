"""The one timer that advances jobs: it wakes at the next due phase change of any job.

One timer per emulator (not one task per job) keeps thousands of jobs in flight cheap, and
makes terminal transitions (and their webhooks) happen on time even if nobody is polling.
The timer knows job ids and due times only; what is due is :mod:`.jobs`' business.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable

from ._util import now

__all__ = ["PhaseTimer"]


class PhaseTimer:
    """Calls ``on_due(job_id, t)`` once each scheduled due time has passed (``t`` is the clock
    when it woke), while started on a loop."""

    def __init__(self, on_due: Callable[[str, float], None]) -> None:
        self._on_due = on_due
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin waking on ``loop`` (for what was scheduled before, too)."""
        self._loop = loop
        self._arm()

    def stop(self) -> None:
        """Stop waking; nothing runs after this."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._loop = None

    def schedule(self, job_id: str, due: float | None) -> None:
        """Wake for ``job_id`` at ``due`` (None: not at all), replacing what was scheduled for it."""
        if due is None:
            self._due.pop(job_id, None)
            return
        if self._due.get(job_id) == due:
            return
        self._due[job_id] = due
        heapq.heappush(self._heap, (due, job_id))
        self._arm()

    def _arm(self) -> None:
        if self._loop is None or not self._heap:
            return
        first = self._heap[0][0]
        if self._timer is not None and self._timer_at is not None and self._timer_at <= first:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = first
        self._timer = self._loop.call_later(max(0.0, first - now()), self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._timer_at = None
        t = now()
        while self._heap and self._heap[0][0] <= t:
            due, job_id = heapq.heappop(self._heap)
            if self._due.get(job_id) != due:
                continue  # superseded by a pause, resume or cancel
            del self._due[job_id]
            self._on_due(job_id, t)
        self._arm()

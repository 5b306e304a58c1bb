"""The one retry policy: what is worth trying again, and how long to wait before it.

The transport (one request), the waiting helpers (a poll that failed) and the batch all ask
this module; none has a formula of its own.

* :func:`is_transient` is the one classification: connection failures and timeouts, 408, 409,
  429 and >= 500 are worth another try; every other status is final. A server's
  ``x-should-retry: false`` makes any failure final; ``x-should-retry: true`` makes a 408, 409,
  429 or >= 500 (already transient) or a 4xx other than 400, 401, 403, 404 and 422 worth another
  try. Those five are a mistake in the request or the credentials: sending the same again cannot
  succeed, so they are never retried, whatever the header says.
* :func:`backoff` is the one formula: exponential backoff with *equal jitter*, a random wait
  between half and all of ``min(cap, initial * 2**n)``, so no retry comes back at once and many
  clients that failed together spread out.
* :meth:`RetryPolicy.delay` honours the server's ``retry-after-ms``, then ``retry-after``
  (seconds or an HTTP date), up to ``max_retry_after``: the one place those headers are read.
* :func:`instant_backoff` (or ``FINETUNE_ASYNC_INSTANT_BACKOFF=1`` in the environment, read at
  import) makes every wait of this module zero, so tests about logic do not sleep. The time
  a create is given to settle (:mod:`finetune_async._ledger`) is about time, not backoff, and is
  not affected.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator, Mapping

import attrs

from .errors import APIConnectionError, APIStatusError

__all__ = [
    "NEVER_RETRIED",
    "RETRY_STATUSES",
    "RetryPolicy",
    "backoff",
    "header_value",
    "instant_backoff",
    "is_transient",
    "parse_retry_after",
]

#: Statuses worth another try besides >= 500: the server did not (fully) act, or asked us to come back.
RETRY_STATUSES = frozenset({408, 409, 429})
#: Statuses never retried, whatever ``x-should-retry`` says: the request itself is wrong.
NEVER_RETRIED = frozenset({400, 401, 403, 404, 422})

_instant = os.environ.get("FINETUNE_ASYNC_INSTANT_BACKOFF", "").strip().lower() in ("1", "true", "yes")


@contextlib.contextmanager
def instant_backoff(enabled: bool = True) -> Iterator[None]:
    """Within the block, every backoff and ``Retry-After`` wait of the SDK is zero seconds.

    For tests about logic (which request is sent again, what is reconciled), not for tests
    about time. Process-wide, restored on exit.
    """
    global _instant
    previous, _instant = _instant, enabled
    try:
        yield
    finally:
        _instant = previous


def backoff_is_instant() -> bool:
    """Whether :func:`instant_backoff` (or the environment switch) is in force."""
    return _instant


def backoff(attempt: int, *, initial: float, cap: float) -> float:
    """Seconds to wait before try ``attempt + 1`` after ``attempt`` failures (0-based): equal jitter."""
    if _instant:
        return 0.0
    ceiling = min(cap, initial * 2 ** min(attempt, 32))
    return random.uniform(ceiling / 2, ceiling)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed request is worth trying again later (see the module docstring)."""
    if isinstance(exc, APIStatusError):
        should = header_value(exc.headers, "x-should-retry")
        if should == "false":
            return False
        status = exc.status_code
        if status in RETRY_STATUSES or status >= 500:
            return True
        return should == "true" and status not in NEVER_RETRIED
    return isinstance(exc, APIConnectionError)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the transport retries one request.

    Up to ``max_retries`` more tries after the first, each after :func:`backoff` (``initial``
    seconds doubling up to ``max_backoff``) unless the server said how long to wait
    (``retry-after-ms``, ``retry-after``), which is honoured up to ``max_retry_after`` seconds.
    """

    max_retries: int = 2
    initial: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (0-based), without a server hint."""
        return backoff(retry_number, initial=self.initial, cap=self.max_backoff)

    def delay(self, retry_number: int, error: BaseException | None) -> float:
        """Seconds to wait before the next try after ``error``."""
        hinted = server_delay(error)
        if hinted is not None and hinted <= self.max_retry_after:
            return hinted
        return self.backoff(retry_number)


def server_delay(error: BaseException | None) -> float | None:
    """The pause a failed answer asked for (``retry-after-ms`` / ``retry-after``), if any."""
    if not isinstance(error, APIStatusError):
        return None
    hinted = parse_retry_after(error.headers)
    if hinted is None:
        return None
    return 0.0 if _instant else hinted


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after`` may be a number of seconds or an HTTP date. Returns None when neither
    header is present or parseable.
    """
    raw_ms = header_value(headers, "retry-after-ms")
    if raw_ms is not None:
        with contextlib.suppress(ValueError):
            value = float(raw_ms) / 1000.0
            if value == value and value >= 0:  # not NaN
                return value
    raw = header_value(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    with contextlib.suppress(ValueError):
        value = float(raw)
        if value == value and value >= 0:
            return value
        return None
    # An HTTP date is the rare form: its parser (and the email package) is imported for it.
    import email.utils

    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    when = parsed.timestamp()
    return max(0.0, when - (time.time() if now is None else now))


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by its lower-case name, from aiohttp's case-insensitive headers or a plain dict."""
    value = headers.get(name)
    if value is None:
        # Plain dicts (tests, hooks) may not be case-insensitive.
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value

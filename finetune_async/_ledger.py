"""The create-once ledger: one per client, the memory behind "a retry never creates twice".

A create whose request was sent but whose answer never came (a reset, a dropped connection, a
read deadline that passed) may have been acted on, now or later: a real server validates a
large training file inside ``POST /fine_tuning/jobs`` and can apply the create seconds after
the client gave up. The ledger holds what it takes to settle such a doubt instead of guessing:

* **what this client has handed out** (:meth:`CreateLedger.claim`): an object found while
  settling one create is never handed to a second, identical create of the same client;
* **the uploads it started** (:meth:`CreateLedger.upload_started`): what the file made by a
  completion will look like;
* **which creates are in doubt, and since when** (:attr:`CreateLedger.in_doubt`);
* **how a created object is recognised**: a job by the per-create *marker* this client puts in
  its ``metadata`` (``ft_create``, a random token: exact, so two identical creates from two
  processes are never confused), or, when the marker is off or the metadata has no room
  left, by what the request asked for (:func:`job_matches`); a file by purpose, name, size and
  time (:func:`file_matches`), looking back :attr:`CreateLedger.skew` seconds before the
  attempt began for clock skew between this machine and the server;
* **the settle window** (:class:`SettleWindow`): how long a doubt is given to resolve before
  the create may be sent again, chosen from evidence: at least ``minimum`` seconds, at least
  ``factor`` times as long as the lost attempt ran (a server that held a request that long may
  take as long again to act) and ``factor`` times the slowest create this client saw answered,
  at most ``maximum``. The ledger looks for the object over that window, quickly at first, and
  returns it as soon as it appears.

Resources ask the ledger; the transport only calls the reconciler a resource gave it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs

from .errors import FineTuneError

if TYPE_CHECKING:
    from .models import FileObject, FineTuningJob

__all__ = [
    "MARKER_KEY",
    "CreateLedger",
    "Doubt",
    "Reconciler",
    "SettleWindow",
    "UploadStarted",
    "file_matches",
    "job_matches",
]

T = TypeVar("T")

#: The metadata key of the per-create marker on every job this SDK creates (unless turned off).
MARKER_KEY = "ft_create"
#: The API keeps at most this many metadata pairs; with none left, a create goes unmarked.
MAX_METADATA_PAIRS = 16
#: Seconds a reconciliation looks back before the lost attempt began (clock skew).
DEFAULT_SKEW = 120.0


@attrs.frozen(kw_only=True)
class SettleWindow:
    """How long a create in doubt is given to appear before it may be sent again (seconds).

    The window is ``min(maximum, max(minimum, factor * attempt, factor * slowest))``, where
    ``attempt`` is how long the lost attempt ran and ``slowest`` the slowest answer this client
    has seen to the same kind of create. Looks start ``first_look`` seconds apart and grow by half
    each time up to ``max_look``. A float given where a window is expected is a fixed window.
    """

    minimum: float = 30.0
    factor: float = 2.0
    maximum: float = 600.0
    first_look: float = 0.25
    max_look: float = 5.0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError("a settle window needs 0 <= minimum <= maximum")
        if self.factor < 0 or self.first_look <= 0 or self.max_look < self.first_look:
            raise ValueError("a settle window needs factor >= 0 and 0 < first_look <= max_look")

    @classmethod
    def coerce(cls, value: SettleWindow | float | None) -> SettleWindow:
        """A window from a :class:`SettleWindow`, a fixed number of seconds, or None (the default)."""
        if value is None:
            return cls()
        if isinstance(value, SettleWindow):
            return value
        seconds = float(value)
        return cls(minimum=seconds, factor=0.0, maximum=seconds, first_look=min(0.25, seconds) or 0.25)

    def length(self, attempt_seconds: float, slowest_answer: float) -> float:
        """The window's length for a lost attempt that ran ``attempt_seconds``."""
        wanted = max(self.minimum, self.factor * attempt_seconds, self.factor * slowest_answer)
        return min(self.maximum, wanted)


@attrs.frozen
class UploadStarted:
    """An upload this client started: what the file its completion makes will look like."""

    filename: str
    bytes: int
    purpose: str


@attrs.frozen
class Doubt:
    """A create in doubt: which kind, since when (epoch seconds), and its marker if it has one."""

    what: str
    since: float
    marker: str | None = None


class CreateLedger:
    """What one client (and its ``with_options`` views) knows about its creates.

    ``skew`` is how far a reconciliation looks back before an attempt began; ``settle`` the
    :class:`SettleWindow`; ``mark_creates=False`` leaves jobs without the ``ft_create`` marker
    (recognition then falls back to the request's fields).
    """

    def __init__(
        self,
        *,
        skew: float = DEFAULT_SKEW,
        settle: SettleWindow | float | None = None,
        mark_creates: bool = True,
    ) -> None:
        if skew < 0:
            raise ValueError("skew must be >= 0")
        self.skew = skew
        self.settle_window = SettleWindow.coerce(settle)
        self.mark_creates = mark_creates
        #: Creates whose outcome is being settled right now, by a token of the settling call.
        self.in_doubt: dict[int, Doubt] = {}
        self._handed_out: set[str] = set()
        self._uploads: dict[str, UploadStarted] = {}
        self._slowest: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"CreateLedger(skew={self.skew}, settle={self.settle_window!r}, in_doubt={len(self.in_doubt)})"

    # -- what was handed out -----------------------------------------------------------------

    def claim(self, object_id: str) -> bool:
        """Record ``object_id`` as handed out; False if it already was (then do not hand it out)."""
        if object_id in self._handed_out:
            return False
        self._handed_out.add(object_id)
        return True

    def handed_out(self, object_id: str) -> bool:
        """Whether this client already returned ``object_id`` from a create."""
        return object_id in self._handed_out

    # -- uploads -----------------------------------------------------------------------------

    def upload_started(self, upload_id: str, *, filename: str, size: int, purpose: str) -> None:
        """Remember an upload this client created (or resumed), for reconciling its completion."""
        self._uploads[upload_id] = UploadStarted(filename, size, purpose)

    def upload(self, upload_id: str) -> UploadStarted | None:
        """The upload's details if this client started it."""
        return self._uploads.get(upload_id)

    def upload_ended(self, upload_id: str) -> None:
        """Forget an upload once it completed or was cancelled."""
        self._uploads.pop(upload_id, None)

    # -- markers -----------------------------------------------------------------------------

    def mark(self, metadata: Mapping[str, str] | None) -> tuple[dict[str, str] | None, str | None]:
        """The metadata to send with a job create, and its marker (None when unmarked).

        Unmarked when marking is off, when the caller set ``ft_create`` itself (that value is
        the marker), or when the metadata already holds the API's 16 pairs.
        """
        given = dict(metadata) if metadata is not None else None
        if given is not None and MARKER_KEY in given:
            return given, given[MARKER_KEY]
        if not self.mark_creates or (given is not None and len(given) >= MAX_METADATA_PAIRS):
            return given, None
        marker = secrets.token_urlsafe(12)
        return {**(given or {}), MARKER_KEY: marker}, marker

    # -- settling ----------------------------------------------------------------------------

    def answered(self, what: str, seconds: float) -> None:
        """A create of kind ``what`` was answered after ``seconds``: evidence for the window."""
        if seconds > self._slowest.get(what, 0.0):
            self._slowest[what] = seconds

    def window(self, what: str, attempt_seconds: float) -> float:
        """Seconds a doubt about a create of kind ``what`` is given to resolve."""
        return self.settle_window.length(attempt_seconds, self._slowest.get(what, 0.0))

    async def settle(
        self,
        what: str,
        find: Callable[[float], Awaitable[T | None]],
        *,
        since: float,
        attempt_seconds: float,
        marker: str | None = None,
        window: float | None = None,
    ) -> T | None:
        """Look for the object a create in doubt may have made until it appears or the window ends.

        ``find(since - skew)`` answers the object or None; it is asked at once, then at growing
        intervals. Returns the object, or None once the window passed with the last look
        answered and empty. Raises the last look's error when the window passed without an
        answered look (nothing is known then: the caller must not send the create again).
        """
        length = self.window(what, attempt_seconds) if window is None else window
        deadline = time.monotonic() + length
        interval = self.settle_window.first_look
        token = object()
        self.in_doubt[id(token)] = Doubt(what, since, marker)
        try:
            while True:
                error: FineTuneError | None = None
                try:
                    found = await find(since - self.skew)
                except FineTuneError as exc:
                    error = exc
                else:
                    if found is not None:
                        return found
                left = deadline - time.monotonic()
                if left <= 0:
                    if error is not None:
                        raise error
                    return None
                await anyio.sleep(min(interval, left))
                interval = min(self.settle_window.max_look, interval * 1.5)
        finally:
            del self.in_doubt[id(token)]

    def reconciler(
        self,
        what: str,
        find: Callable[[float], Awaitable[T | None]],
        *,
        marker: str | None = None,
        patient: bool = True,
    ) -> Reconciler[T]:
        """What the transport calls after an ambiguous failure of a create of kind ``what``.

        ``patient=False`` looks once (for state changes such as cancel, where sending again is
        harmless): the settle window is for creates that cost money or leave objects behind.
        """
        return Reconciler(self, what, find, marker, patient)


@attrs.frozen
class Reconciler(Generic[T]):
    """One create's way back from doubt, for the transport: ``answered`` and ``settle``."""

    ledger: CreateLedger
    what: str
    find: Callable[[float], Awaitable[T | None]]
    marker: str | None
    patient: bool

    def answered(self, seconds: float) -> None:
        """The create was answered after ``seconds`` (evidence for later windows)."""
        self.ledger.answered(self.what, seconds)

    async def settle(self, since: float, attempt_seconds: float) -> T | None:
        """The object the lost attempt made, if it appears within the window (see :meth:`CreateLedger.settle`)."""
        return await self.ledger.settle(
            self.what,
            self.find,
            since=since,
            attempt_seconds=attempt_seconds,
            marker=self.marker,
            window=None if self.patient else 0.0,
        )

    def advice(self, *, found_nothing: bool = False) -> str:
        """What the caller can do about a request whose outcome is in doubt, for its error;
        ``found_nothing``: the window passed with a look answered and nothing found."""
        if not self.patient:
            return ("so it was most likely not applied; " if found_nothing else "") + "sending it again is harmless"
        likely = "so it was most likely not created (unless the server acts later still); " if found_nothing else ""
        if self.marker is not None:
            return (
                f"{likely}before creating it again, look for it with "
                f"client.fine_tuning.jobs.list(metadata={{{MARKER_KEY!r}: {self.marker!r}}})"
            )
        return f"{likely}before creating it again, look for {self.what} in client.files.list()"

    def describe(self, since: float) -> str:
        """What was checked, for the error raised when the window passed empty."""
        looked = f"looked for {self.what} created since {time.strftime('%H:%M:%S', time.localtime(since))}"
        if self.marker is not None:
            looked += f" with metadata {MARKER_KEY}={self.marker}"
        return looked


def job_matches(job: FineTuningJob, body: Mapping[str, Any]) -> bool:
    """Whether ``job`` is what the create request ``body`` would have made (the unmarked fallback)."""
    model = body["model"]
    # The API may record a dated snapshot ("gpt-4o-mini" -> "gpt-4o-mini-2024-07-18").
    if job.model != model and not job.model.startswith(model + "-"):
        return False
    if job.training_file != body["training_file"] or job.validation_file != body.get("validation_file"):
        return False
    if "seed" in body and job.seed != body["seed"]:
        return False
    if (job.metadata or None) != (body.get("metadata") or None):
        return False
    suffix = job.model_extra.get("user_provided_suffix")
    if "suffix" in body and suffix is not None and suffix != body["suffix"]:
        return False
    method = body.get("method")
    return not (isinstance(method, Mapping) and job.method is not None and job.method.type != method.get("type"))


def file_matches(file: FileObject, *, purpose: str, filename: str, size: int | None) -> bool:
    """Whether ``file`` is what an upload of ``filename`` (``size`` bytes, when known) would have made."""
    if file.filename != filename or (file.purpose is not None and str(file.purpose) != purpose):
        return False
    return size is None or file.bytes == size

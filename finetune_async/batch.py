"""Many fine-tunes at once, exactly once: :func:`run_batch`.

A batch is a list of :class:`BatchSpec` (training file, model, method, hyperparameters, ...),
each with a stable key. :func:`run_batch` validates and uploads the local files (each distinct
file once), creates the jobs with at most ``max_concurrent`` of them active at a time, waits
for them with the polling helpers, and returns a :class:`BatchReport` with a
:class:`SpecResult` per spec.

Exactly once, across crashes
    Every job carries two metadata pairs, ``ft_batch`` (the batch id) and ``ft_spec`` (the
    spec key), so the server itself can say which specs already have a job. A SQLite journal
    (:mod:`finetune_async._journal`) records an *intent* before each side effect and the id
    the server gave after it. A run starts by listing the server's jobs of the batch
    (``jobs.list(metadata={"ft_batch": id})``) and reconciling the journal with it. A spec whose
    create may have been sent by an earlier run (an intent without an id) is *settled* through
    the client's create-once ledger before anything new is sent for it: its job is looked for
    over the settle window counted from the intent, since a server may apply a create seconds
    after the process that sent it died. A create whose answer is lost is settled the same way by
    the transport. So a run killed at any instant (SIGKILL included) and run again reattaches to
    the jobs that exist and creates only the missing ones.

One job trains per spec, across processes
    Two runs of one batch id that share no journal (two hosts, or ``journal=None``) both see the
    server's listing. After each create, and when a run starts, the spec's jobs (its
    *siblings*, same ``ft_batch`` and ``ft_spec``) are listed: the earliest created one that was
    not cancelled wins (ties: the smaller id), every other sibling still running is cancelled at
    once, before it trains, and named in :attr:`SpecResult.extra_jobs`. Every run applies the
    same rule to what it sees, and the run whose create came last sees every sibling, so one
    job is left. This assumes the listing shows a job once its create has been answered.

Files
    A local file is identified by its SHA-256. It is uploaded once per batch and journal, under a
    name that carries the hash (``train.3f2a9c1b2d4e5f60.jsonl``), so a file whose upload
    answer was lost, or whose id the journal never got, is found in the server's file list
    instead of being uploaded again. A file is validated (:func:`~finetune_async.validate_dataset`)
    for its spec's method before upload; a file with problems fails its specs and is not sent.

Cancellation
    Cancelling the task awaiting :func:`run_batch` stops it at once and leaves the journal
    consistent; the jobs keep running on the server (a later run reattaches), unless
    ``cancel_jobs_on_exit=True``, which cancels every unfinished job of the batch first.

Restarting cancelled specs
    A spec whose job was cancelled has its outcome: a later run reports it as ``cancelled``
    and creates nothing for it. ``restart_cancelled=True`` gives each such spec one new job.
    The journal marks the spec for a restart first (the cancelled job's id kept); from then
    on its cancelled jobs no longer count as its job, and the new create goes through the
    same intent, settle and sibling rules as any other: a run killed anywhere in between,
    run again (with the flag or without), finds or makes exactly one new job.

Progress
    While a job runs, and only when someone watches (``on_update``), the run looks at it now
    and then: its status, its latest step and total steps (from its metrics events, read only
    while it trains) and its ``estimated_finish``. The looks come every 2 to 30 seconds (a
    twentieth of the time left, or less often while the status stays the same), and less
    often when many jobs run, so that they take at most a quarter of the client's polling
    ceiling. The waiting itself is the shared watch's, as without ``on_update``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.abc
import attrs

from ._journal import JournalStore, LeaseLostError, SpecRow, SpecState, open_journal
from ._journal_pg import PostgresJournal
from ._transport import SEND_GUARD
from ._watch_planner import TERMINAL
from .datasets import Problem, validate_dataset
from .errors import APIConnectionError, FineTuneError
from .models import FileObject, FileStatus, FineTuningJob, FineTuningJobEvent, JobStatus, Method
from .models._converter import to_json_param
from .polling import wait_for_job

if TYPE_CHECKING:
    from .client import AsyncClient

__all__ = [
    "BATCH_METADATA_KEY",
    "DEFAULT_MAX_CONCURRENT",
    "SPEC_METADATA_KEY",
    "BatchReport",
    "BatchSpec",
    "PostgresJournal",
    "SpecResult",
    "run_batch",
]

log = logging.getLogger("finetune_async.batch")

_T = TypeVar("_T")

#: The metadata key holding the batch id on every job of a batch.
BATCH_METADATA_KEY: Final = "ft_batch"
#: The metadata key holding the spec key on every job of a batch.
SPEC_METADATA_KEY: Final = "ft_spec"
#: Jobs active at once unless told otherwise (OpenAI admits only a few running jobs per organization).
DEFAULT_MAX_CONCURRENT: Final = 6
#: Uploads in flight at once unless told otherwise.
DEFAULT_MAX_UPLOADS: Final = 4

# The API's metadata limits: 16 pairs, keys up to 64 characters, values up to 512.
_MAX_PAIRS = 16
_MAX_META_KEY = 64
_MAX_META_VALUE = 512
#: A batch runs unattended for hours: its requests get at least this many retries (the
#: transport's one policy, with a larger budget than an interactive call's default).
BATCH_MAX_RETRIES: Final = 8
# Seconds a shielded cleanup (cancelling the batch's jobs) may take before giving up.
_CANCEL_TIMEOUT = 30.0
#: Seconds between looks at a running job's progress while someone watches (``on_update``):
#: at least, and (unless many jobs run) at most.
PROGRESS_SECONDS: Final = 2.0
PROGRESS_MAX_SECONDS: Final = 30.0
# Share of the client's polling ceiling the progress looks may take at most.
_PROGRESS_SHARE = 0.25
# Events read per progress look: the newest metrics event is among them while a job trains.
_PROGRESS_EVENTS = 10

_FILE_ID = re.compile(r"file-[A-Za-z0-9_-]+")
_METHODS = ("supervised", "dpo", "reinforcement")
_SPEC_FIELDS = (
    "training_file",
    "validation_file",
    "model",
    "method",
    "hyperparameters",
    "suffix",
    "seed",
    "metadata",
    "key",
)

FileRef = str | os.PathLike[str]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _ref_text(ref: FileRef | None) -> str | None:
    """A file reference as it enters the fingerprint: a file id, or a normalized path."""
    if ref is None:
        return None
    if _is_file_id(ref):
        return str(ref)
    return os.path.normpath(os.fspath(ref))


def _is_file_id(ref: FileRef, shape: re.Pattern[str] = _FILE_ID) -> bool:
    """A string shaped like a file id (``file-...``, or the provider's ``shape``) that is not an
    existing local path names an uploaded file."""
    return isinstance(ref, str) and shape.fullmatch(ref) is not None and not os.path.exists(ref)


@attrs.frozen(kw_only=True)
class BatchSpec:
    """One fine-tune of a batch.

    ``training_file`` and ``validation_file`` are local paths (validated and uploaded) or ids of
    uploaded files (``file-...``, or the provider's shape: ``capabilities.file_id_pattern``, e.g.
    a Fireworks dataset id), where no local path of that name exists. ``method`` is a method
    name (``"supervised"``, ``"dpo"``, ``"reinforcement"``), a :class:`~finetune_async.Method`
    or a dict shaped like the API's ``method``; ``hyperparameters`` (attrs class or dict) go
    inside it. ``metadata`` is added to
    the job's, next to the batch's two pairs (so at most 14 pairs). ``key`` names the spec for
    good; left out, it is derived from the spec's content (see :attr:`spec_key`).

    Raises :class:`ValueError` for a malformed spec (unknown method, metadata over the limits).
    """

    training_file: FileRef
    model: str
    validation_file: FileRef | None = None
    method: str | Method | Mapping[str, Any] | None = None
    hyperparameters: Any = None
    suffix: str | None = None
    seed: int | None = None
    metadata: Mapping[str, str] | None = None
    key: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.model:
            raise ValueError("a batch spec needs a model")
        if self.method_type not in _METHODS:
            raise ValueError(f"unknown method {self.method_type!r}; expected one of {', '.join(_METHODS)}")
        metadata = dict(self.metadata or {})
        if len(metadata) > _MAX_PAIRS - 2:
            raise ValueError(f"a batch spec takes at most {_MAX_PAIRS - 2} metadata pairs (the batch adds 2)")
        for k, v in metadata.items():
            if k in (BATCH_METADATA_KEY, SPEC_METADATA_KEY):
                raise ValueError(f"metadata key {k!r} is reserved for the batch")
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError("metadata keys and values must be strings")
            if len(k) > _MAX_META_KEY or len(v) > _MAX_META_VALUE:
                raise ValueError(f"metadata {k[:20]!r}: keys up to {_MAX_META_KEY} characters, values up to 512")
        if self.key is not None and not 1 <= len(self.key) <= _MAX_META_VALUE:
            raise ValueError(f"a spec key has 1 to {_MAX_META_VALUE} characters")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchSpec:
        """A spec from plain data (a YAML or JSON object with the field names).

        Raises :class:`ValueError` for unknown or missing fields, and as the constructor does.
        """
        unknown = sorted(set(data) - set(_SPEC_FIELDS))
        if unknown:
            raise ValueError(f"unknown spec field(s): {', '.join(unknown)}")
        missing = [name for name in ("training_file", "model") if not data.get(name)]
        if missing:
            raise ValueError(f"missing spec field(s): {', '.join(missing)}")
        seed = data.get("seed")
        return cls(
            training_file=str(data["training_file"]),
            validation_file=None if data.get("validation_file") is None else str(data["validation_file"]),
            model=str(data["model"]),
            method=data.get("method"),
            hyperparameters=data.get("hyperparameters"),
            suffix=None if data.get("suffix") is None else str(data["suffix"]),
            seed=None if seed is None else int(seed),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            key=None if data.get("key") is None else str(data["key"]),
        )

    @property
    def method_type(self) -> str:
        """``"supervised"`` (the default), ``"dpo"`` or ``"reinforcement"``."""
        method = self.method
        if method is None:
            return "supervised"
        if isinstance(method, str):
            return method
        if isinstance(method, Method):
            return str(method.type)
        return str(method.get("type", "supervised"))

    def method_param(self) -> dict[str, Any]:
        """The ``method`` the job is created with (JSON shape), hyperparameters inside."""
        kind = self.method_type
        if self.method is None or isinstance(self.method, str):
            body: dict[str, Any] = {"type": kind, kind: {}}
        else:
            body = json.loads(_canonical(to_json_param(self.method)))
            body.setdefault(kind, {})
            if body[kind] is None:
                body[kind] = {}
        if self.hyperparameters is not None:
            given = {k: v for k, v in dict(to_json_param(self.hyperparameters)).items() if v is not None}
            if body[kind].get("hyperparameters"):
                raise ValueError("hyperparameters are given twice: in method and in hyperparameters")
            body[kind]["hyperparameters"] = given
        return body

    def fingerprint(self) -> str:
        """A SHA-256 of what the spec asks for (everything but ``key``), as hex."""
        content = {
            "training_file": _ref_text(self.training_file),
            "validation_file": _ref_text(self.validation_file),
            "model": self.model,
            "method": self.method_param(),
            "suffix": self.suffix,
            "seed": self.seed,
            "metadata": dict(self.metadata or {}),
        }
        return hashlib.sha256(_canonical(content).encode()).hexdigest()

    @property
    def spec_key(self) -> str:
        """``key`` if given, else one derived from the content: ``{suffix or 'spec'}-{12 hex}``.

        A derived key changes when any field does (a file by its path or id, not its bytes).
        """
        if self.key is not None:
            return self.key
        return f"{self.suffix or 'spec'}-{self.fingerprint()[:12]}"


@attrs.frozen(kw_only=True)
class SpecResult:
    """Where one spec stands, and in the final report how it ended.

    ``status`` is the job's status (``succeeded``, ``failed``, ``cancelled``, or while running
    ``validating_files``, ``queued``, ``running``, ``paused``) once a job exists; before that a
    step of the batch: ``pending`` (not started), ``validating``, ``uploading``, ``waiting``
    (its files are ready and it waits for one of the ``max_concurrent`` slots), ``creating``;
    and for a spec that got no job, ``invalid`` (its file has ``problems`` or cannot be read)
    or ``error`` (the API refused the create, or it kept failing: ``error`` says why; a later
    run tries again). While a job runs, ``step`` and ``total_steps`` come from its latest
    metrics event and ``estimated_finish`` (epoch seconds) from the job, when the run looks
    at its progress (only with ``on_update``; None otherwise and once it ended).
    ``duration`` is the job's own time from creation to its end (seconds), ``trained_tokens``
    what the API billed. ``extra_jobs`` are the ids of duplicate jobs of this spec (made by
    another run of the same batch, or by a create the server applied late) that this run
    cancelled so that only ``job_id`` trains.
    """

    key: str
    status: str
    job_id: str | None = None
    fine_tuned_model: str | None = None
    error: str | None = None
    problems: tuple[Problem, ...] = ()
    trained_tokens: int | None = None
    duration: float | None = None
    extra_jobs: tuple[str, ...] = ()
    step: int | None = None
    total_steps: int | None = None
    estimated_finish: int | None = None

    @property
    def ok(self) -> bool:
        """True when the spec's job succeeded."""
        return self.status == JobStatus.SUCCEEDED

    @property
    def finished(self) -> bool:
        """True when nothing more will happen to the spec in this run."""
        return self.status in TERMINAL or self.status in ("invalid", "error")

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "key": self.key,
            "status": self.status,
            "job_id": self.job_id,
            "fine_tuned_model": self.fine_tuned_model,
            "error": self.error,
            "problems": [attrs.asdict(p) for p in self.problems],
            "trained_tokens": self.trained_tokens,
            "duration": self.duration,
            "extra_jobs": list(self.extra_jobs),
            "step": self.step,
            "total_steps": self.total_steps,
            "estimated_finish": self.estimated_finish,
        }


@attrs.frozen(kw_only=True)
class BatchReport:
    """What :func:`run_batch` returns: the batch id and one :class:`SpecResult` per spec, in spec order.

    ``reattached`` counts the specs that went on with a job that existed before this run's
    creates (recorded in the journal, found on the server, or a sibling's); ``created`` the jobs
    this run created; ``restarted`` the cancelled specs this run marked for a new job
    (``restart_cancelled=True``; their new jobs are among ``created``, or ``reattached`` when
    an earlier, interrupted run had already made them).
    """

    batch_id: str
    results: tuple[SpecResult, ...]
    created: int = 0
    reattached: int = 0
    restarted: int = 0

    @property
    def ok(self) -> bool:
        """True when every spec's job succeeded."""
        return all(r.ok for r in self.results)

    @property
    def succeeded(self) -> list[SpecResult]:
        """Every spec whose job succeeded."""
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[SpecResult]:
        """Every spec that did not succeed (failed, cancelled, invalid, error)."""
        return [r for r in self.results if not r.ok]

    @property
    def cancelled(self) -> list[SpecResult]:
        """Every spec whose job was cancelled (``restart_cancelled=True`` starts them again)."""
        return [r for r in self.results if r.status == JobStatus.CANCELLED]

    @property
    def extra_jobs(self) -> list[str]:
        """Every duplicate job this run cancelled (see :attr:`SpecResult.extra_jobs`)."""
        return [job_id for r in self.results for job_id in r.extra_jobs]

    def __getitem__(self, key: str) -> SpecResult:
        for result in self.results:
            if result.key == key:
                return result
        raise KeyError(key)

    def __iter__(self) -> Iterator[SpecResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "batch_id": self.batch_id,
            "ok": self.ok,
            "created": self.created,
            "reattached": self.reattached,
            "restarted": self.restarted,
            "extra_jobs": self.extra_jobs,
            "results": [r.as_dict() for r in self.results],
        }


OnUpdate = Callable[[SpecResult], object]


async def run_batch(
    client: AsyncClient,
    specs: Iterable[BatchSpec | Mapping[str, Any]],
    *,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    journal: str | os.PathLike[str] | JournalStore | None = "batch.sqlite",
    batch_id: str | None = None,
    cancel_jobs_on_exit: bool = False,
    max_concurrent_uploads: int = DEFAULT_MAX_UPLOADS,
    poll_interval: float | None = None,
    on_update: OnUpdate | None = None,
    restart_cancelled: bool = False,
) -> BatchReport:
    """Run every spec's fine-tune, at most ``max_concurrent`` jobs at a time; return the report.

    ``specs`` are :class:`BatchSpec` or dicts for :meth:`BatchSpec.from_dict`; their keys must be
    unique. ``journal`` is the SQLite file recording the batch (None: in memory, for one run
    only). Run the same batch again with the same journal after a crash: it reattaches to the
    jobs that exist and creates only the missing ones (see the module docstring). ``batch_id``
    names the batch on the server (the ``ft_batch`` metadata); by default it is the journal's,
    or for a new journal one derived from the spec keys, so the same specs give the same batch.
    To run the same specs again on purpose, pass a new ``batch_id``.

    ``max_concurrent_uploads`` bounds the uploads in flight; ``poll_interval`` fixes the seconds
    between looks at a job (default adaptive; every waiter shares the client's one request-rate
    ceiling, ``AsyncClient(max_poll_requests_per_second=...)``). ``on_update(result)`` is called
    with a :class:`SpecResult` each time a spec changes step or status, and with a running
    job's progress (step, total steps, estimated finish: see the module docstring) as it is
    looked at (an exception it raises ends the batch). A spec's own failure (bad file, refused
    create, failed job) is in its result, never raised.

    A spec whose job was cancelled (by ``cancel_jobs_on_exit``, or by anyone) stays cancelled
    in later runs; ``restart_cancelled=True`` gives each such spec one new job (exactly one,
    across crashes: see the module docstring).

    Raises :class:`ValueError` for malformed or duplicate specs;
    :class:`~finetune_async.UnsupportedByProviderError` where jobs carry no metadata;
    :class:`~finetune_async._journal.JournalBusyError` (a :class:`~finetune_async.FineTuneError`)
    when another process runs the batch; :class:`~finetune_async.FineTuneError` when
    ``batch_id`` differs from the journal's; the transport's errors when the server cannot be
    reached to reconcile at the start. Cancelled, it cancels the batch's unfinished jobs
    first if ``cancel_jobs_on_exit`` (also on any other error), else leaves them running.
    """
    if max_concurrent < 1 or max_concurrent_uploads < 1:
        raise ValueError("max_concurrent and max_concurrent_uploads must be >= 1")
    if not client.provider.capabilities.job_metadata:
        # The batch finds its jobs again by their ft_batch/ft_spec metadata: without it, a
        # crash could start a spec's job twice.
        raise client.provider.refuse("run_batch", "job metadata, by which the batch recognises its jobs")
    items = [s if isinstance(s, BatchSpec) else BatchSpec.from_dict(s) for s in specs]
    keyed: dict[str, BatchSpec] = {}
    for spec in items:
        key = spec.spec_key
        if key in keyed:
            raise ValueError(f"two specs have the key {key!r}")
        keyed[key] = spec
    jr = open_journal(journal)
    try:
        await jr.open()
        recorded = await jr.batch_id()
        if batch_id is not None and recorded is not None and batch_id != recorded:
            raise FineTuneError(f"the journal {jr.location} belongs to batch {recorded!r}, not {batch_id!r}")
        bid = batch_id or recorded or _derive_batch_id(keyed)
        if len(bid) > _MAX_META_VALUE:
            raise ValueError(f"a batch id has at most {_MAX_META_VALUE} characters")
        if recorded is None:
            await jr.set_batch_id(bid)
        await jr.add_specs((key, spec.fingerprint()) for key, spec in keyed.items())
        run = _Run(
            client,
            jr,
            bid,
            keyed,
            max_concurrent=max_concurrent,
            max_uploads=max_concurrent_uploads,
            poll_interval=poll_interval,
            on_update=on_update,
            restart_cancelled=restart_cancelled,
        )
        try:
            return await run.run()
        except BaseException:
            if cancel_jobs_on_exit:
                # Shielded: the batch is being cancelled, yet these requests must still go out.
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_TIMEOUT):
                    await run.cancel_jobs()
            raise
    finally:
        with anyio.CancelScope(shield=True):
            await jr.aclose()


async def _nothing() -> AsyncIterator[FineTuningJob]:
    """An empty async iterator."""
    none: tuple[FineTuningJob, ...] = ()
    for job in none:
        yield job


def _row_result(row: SpecRow) -> SpecResult:
    """A spec's result as its journal row records it."""
    if row.state == SpecState.DONE:
        return SpecResult(
            key=row.key,
            status=row.status or "unknown",
            job_id=row.job_id,
            fine_tuned_model=row.fine_tuned_model,
            error=row.error,
            trained_tokens=row.trained_tokens,
            duration=_duration(row.created_at, row.finished_at),
        )
    if row.state == SpecState.CREATED:
        return SpecResult(key=row.key, status=row.status or "created", job_id=row.job_id)
    return SpecResult(key=row.key, status="pending")


def _shared_result(row: SpecRow, seen: SpecResult | None) -> SpecResult:
    """A spec's result in a shared batch's report, from its row (another worker's work), or
    what this worker saw of a spec that ended here without a job."""
    if row.state != SpecState.DONE:
        if seen is not None and seen.status in ("invalid", "error") and row.error is None:
            return seen
        if row.error is not None:
            return SpecResult(key=row.key, status="error", job_id=row.job_id, error=row.error)
    return _row_result(row)


def _derive_batch_id(specs: Mapping[str, BatchSpec]) -> str:
    digest = hashlib.sha256("\n".join(sorted(specs)).encode()).hexdigest()
    return f"batch-{digest[:16]}"


def _is_upload_of(file: FileObject | None, size: int) -> bool:
    """True when the server's ``file``, found by its tagged name, holds the upload of ``size``
    bytes: its size says so, or, where a listing gives no size (Fireworks' datasets read 0
    bytes), it is processed, so its upload arrived whole."""
    if file is None:
        return False
    return file.bytes == size or (not file.bytes and file.status == FileStatus.PROCESSED)


def _tagged_name(path: str, sha256: str) -> str:
    """The name a file is uploaded under: its own, with the first 16 hex digits of its hash."""
    base = os.path.basename(path)
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem:
        return f"{base}.{sha256[:16]}"
    return f"{stem}.{sha256[:16]}.{ext}"


def _hash_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _job_error(job: FineTuningJob) -> str | None:
    if job.error is not None:
        return f"{job.error.message} (code: {job.error.code})"
    if job.status == JobStatus.CANCELLED:
        return "the job was cancelled"
    return None


def _duration(created_at: float | None, finished_at: float | None) -> float | None:
    if created_at is None or finished_at is None:
        return None
    return max(0.0, float(finished_at) - float(created_at))


def _winner(jobs: list[FineTuningJob]) -> FineTuningJob:
    """The one job a spec keeps among its siblings: the earliest created that was not cancelled
    (ties: the smaller id). Every run computes the same from the same listing. When all were
    cancelled, the latest (a restarted spec's newest outcome); nothing trains either way."""
    live = _not_cancelled(jobs)
    if not live:
        return max(jobs, key=lambda job: (job.created_at, job.id))
    return min(live, key=lambda job: (job.created_at, job.id))


def _next_look(interval: float, job: FineTuningJob, *, changed: bool) -> float:
    """Seconds until the next progress look: a twentieth of the time left when the job has an
    estimated finish, else ``interval`` grown by half while the status stays the same (a job
    queued for hours is looked at rarely); always within ``PROGRESS_SECONDS`` and
    ``PROGRESS_MAX_SECONDS``."""
    if job.estimated_finish is not None:
        wanted = (job.estimated_finish - time.time()) / 20
    elif changed:
        wanted = PROGRESS_SECONDS
    else:
        wanted = interval * 1.5
    return min(PROGRESS_MAX_SECONDS, max(PROGRESS_SECONDS, wanted))


def _not_cancelled(jobs: list[FineTuningJob]) -> list[FineTuningJob]:
    return [job for job in jobs if job.status != JobStatus.CANCELLED]


def _number(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _metrics_step(events: list[FineTuningJobEvent]) -> tuple[int | None, int | None]:
    """(step, total_steps) of the newest metrics event in a newest-first page, or (None, None)."""
    for event in events:
        if event.type == "metrics" and event.data:
            step = _number(event.data.get("step"))
            if step is not None:
                return step, _number(event.data.get("total_steps"))
    return None, None


class _SpecFailed(Exception):
    """A spec cannot get a job in this run; carries its final result."""

    def __init__(self, result: SpecResult) -> None:
        super().__init__(result.error)
        self.result = result


class _ComputedOnce:
    """A value computed once for everyone asking (an upload, a validation), in-process."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: Any = None
        self.error: BaseException | None = None


@attrs.define
class _Work:
    spec: BatchSpec
    key: str
    job_id: str | None = None
    training_file: str | None = None
    validation_file: str | None = None


class _Run:
    """One run of a batch: reconcile, prepare, create, wait. Holds O(1) state per spec."""

    def __init__(
        self,
        client: AsyncClient,
        journal: JournalStore,
        batch_id: str,
        specs: Mapping[str, BatchSpec],
        *,
        max_concurrent: int,
        max_uploads: int,
        poll_interval: float | None,
        on_update: OnUpdate | None,
        restart_cancelled: bool = False,
    ) -> None:
        # One retry policy: the transport's, with a batch's larger budget.
        self.client = client.with_options(max_retries=max(client.max_retries, BATCH_MAX_RETRIES))
        self.journal = journal
        self.batch_id = batch_id
        self.specs = specs
        self.max_concurrent = max_concurrent
        self.max_uploads = max_uploads
        self.upload_limiter = anyio.CapacityLimiter(max_uploads)
        self.poll_interval = poll_interval
        self.on_update = on_update
        self.results: dict[str, SpecResult] = {}
        self._hashes: dict[str, _ComputedOnce] = {}
        self._validations: dict[tuple[str, str], _ComputedOnce] = {}
        self._uploads: dict[str, _ComputedOnce] = {}
        self._given_files: dict[str, _ComputedOnce] = {}
        self._server_files: dict[str, FileObject] | None = None
        self._server_files_lock = anyio.Lock()
        self._extras: dict[str, tuple[str, ...]] = {}
        # The ft_spec values the provider keeps, to the spec keys (built on first use).
        self._kept_keys: dict[str, str] | None = None
        self.restart_cancelled = restart_cancelled
        self.created = 0
        self.reattached = 0
        self.restarted = 0
        # Running jobs whose progress is being looked at (it sets how often: see _progress).
        self._followed = 0
        # A shared journal: the specs this worker saw to their end under its own lease, and
        # the cancel scope of each spec it works on (the heartbeat cancels a lost one's).
        self._settled: set[str] = set()
        self._scopes: dict[str, anyio.CancelScope] = {}

    # -- results -----------------------------------------------------------------------------

    def _set(self, result: SpecResult) -> None:
        extras = self._extras.get(result.key)
        if extras:
            result = attrs.evolve(result, extra_jobs=extras)
        self.results[result.key] = result
        if self.on_update is not None:
            self.on_update(result)

    async def _record_job(self, key: str, job: FineTuningJob) -> None:
        """Journal and report a job found or created for ``key``."""
        if job.status in TERMINAL:
            await self.journal.job_finished(
                key,
                job_id=job.id,
                status=str(job.status),
                fine_tuned_model=job.fine_tuned_model,
                error=_job_error(job),
                trained_tokens=job.trained_tokens,
                created_at=job.created_at,
                finished_at=job.finished_at,
            )
            self._set(
                SpecResult(
                    key=key,
                    status=str(job.status),
                    job_id=job.id,
                    fine_tuned_model=job.fine_tuned_model,
                    error=_job_error(job),
                    trained_tokens=job.trained_tokens,
                    duration=_duration(job.created_at, job.finished_at),
                )
            )
        else:
            await self.journal.job_created(key, job.id, str(job.status), job.created_at)
            self._set(SpecResult(key=key, status=str(job.status), job_id=job.id))

    # -- the run -----------------------------------------------------------------------------

    async def run(self) -> BatchReport:
        if self.journal.shared:
            return await self._run_shared()
        rows = await self.journal.specs()
        for key, spec in self.specs.items():
            if rows[key].fingerprint != spec.fingerprint():
                log.warning("spec %r changed since the journal recorded it; its recorded job is kept", key)
        await self._reconcile(rows)
        rows = await self.journal.specs()
        running: list[_Work] = []
        todo: list[_Work] = []
        for key, spec in self.specs.items():
            row = rows[key]
            if self.restart_cancelled and await self.journal.job_restart(key):
                log.info("batch %s: spec %r (job %s was cancelled) gets a new job", self.batch_id, key, row.job_id)
                self.restarted += 1
                row = await self.journal.spec(key) or row
            self._set(_row_result(row))
            if row.state == SpecState.CREATED:
                self.reattached += 1
                running.append(_Work(spec=spec, key=key, job_id=row.job_id))
            elif row.state == SpecState.DONE:
                self.reattached += 1
            else:
                todo.append(_Work(spec=spec, key=key))
        del rows
        await self._drive(running, todo)
        return BatchReport(
            batch_id=self.batch_id,
            results=tuple(self.results[key] for key in self.specs),
            created=self.created,
            reattached=self.reattached,
            restarted=self.restarted,
        )

    # -- many workers (a shared journal) ------------------------------------------------------

    async def _run_shared(self) -> BatchReport:
        """One worker of a batch many workers run: claim specs one at a time (at most
        ``max_concurrent`` held at once), run each under its lease, and help until no spec is
        left that anyone could still finish; the report covers every spec of the batch."""
        rows = await self.journal.specs()
        for key, spec in self.specs.items():
            if rows[key].fingerprint != spec.fingerprint():
                log.warning("spec %r changed since the journal recorded it; its recorded job is kept", key)
            self._set(_row_result(rows[key]))
        del rows
        if self.restart_cancelled:
            self.restarted = await self.journal.restart_cancelled()
        # Specs this worker gave up on in this run (a refused create, a bad file): another
        # worker may try them; this one does not claim them again.
        gave_up: set[str] = set()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat)
            async with anyio.create_task_group() as slots:
                for _ in range(self.max_concurrent):
                    slots.start_soon(self._slot, gave_up)
            tg.cancel_scope.cancel()
        rows = await self.journal.specs()
        for key in self.specs:
            if key not in self._settled:
                self.results[key] = _shared_result(rows[key], self.results.get(key))
        return BatchReport(
            batch_id=self.batch_id,
            results=tuple(self.results[key] for key in self.specs),
            created=self.created,
            reattached=self.reattached,
            restarted=self.restarted,
        )

    async def _heartbeat(self) -> None:
        """Extend this worker's leases every third of a lease; stop the work on any spec lost."""
        while True:
            await anyio.sleep(self.journal.lease_seconds / 3)
            try:
                lost = await self.journal.heartbeat()
            except FineTuneError as exc:
                # The database is away: the leases lapse unless it is back in time, and then
                # every write for a lost spec is refused anyway.
                log.warning("batch %s: heartbeat failed: %s", self.batch_id, exc)
                continue
            for key in lost:
                log.warning("batch %s: lost the lease on spec %r; another worker takes it over", self.batch_id, key)
                scope = self._scopes.get(key)
                if scope is not None:
                    scope.cancel()

    async def _slot(self, gave_up: set[str]) -> None:
        """One of ``max_concurrent`` slots: claim a spec, see it through, again; return when no
        spec is claimable and no other worker holds one (nothing could come back)."""
        idle = min(5.0, max(0.2, self.journal.lease_seconds / 4))
        while True:
            # Never a spec a slot of this worker is still on (its lease may have lapsed meanwhile).
            claimed = await self.journal.claim(1, exclude=gave_up | self._scopes.keys())
            if not claimed:
                if not await self.journal.others_active():
                    return
                await anyio.sleep(idle)
                continue
            await self._take(claimed[0], gave_up)

    async def _take(self, row: SpecRow, gave_up: set[str]) -> None:
        key = row.key
        spec = self.specs.get(key)
        if spec is None:
            # A spec of this batch this worker's list does not have (another worker's spec file).
            gave_up.add(key)
            await self.journal.release(key)
            return
        work = _Work(spec=spec, key=key)
        lost = False
        with anyio.CancelScope() as scope:
            self._scopes[key] = scope
            try:
                self._set(_row_result(row))
                if row.state == SpecState.CREATED and row.job_id is not None:
                    # Taken over (or resumed) with its job running: follow it.
                    self.reattached += 1
                    work.job_id = row.job_id
                else:
                    try:
                        await self._prepare(work)
                    except _SpecFailed as failed:
                        self._set(failed.result)
                if not self.results[key].finished:
                    await self._run_job(work)
            except LeaseLostError as exc:
                log.warning("batch %s: %s", self.batch_id, exc)
                lost = True
            finally:
                del self._scopes[key]
        if lost or scope.cancelled_caught:
            return  # another worker holds it now: its outcome is that worker's to record
        self._settled.add(key)
        if key in self.journal.held():
            # It did not end here (a bad file, a refused create, a wait that kept failing):
            # give it back for another worker to try; this one does not claim it again.
            gave_up.add(key)
            with contextlib.suppress(FineTuneError):
                await self.journal.release(key)

    async def _reconcile(self, rows: Mapping[str, SpecRow]) -> None:
        """Bring the journal in line with the server's jobs of this batch, before creating anything.

        A spec with several jobs keeps one (see the module docstring) and the others are
        cancelled. A ``creating`` row with no job yet is left as it is: :meth:`_create` settles it.
        """
        found: dict[str, list[FineTuningJob]] = {}
        async for job in self.client.fine_tuning.jobs.list(limit=100, metadata={BATCH_METADATA_KEY: self.batch_id}):
            key = self._spec_of(job)
            if key is None:
                continue  # a spec dropped from the batch since: not this run's business
            found.setdefault(key, []).append(job)
        for key, jobs in found.items():
            row = rows[key]
            if row.restarting:
                # The cancelled jobs are what the restart replaces: only a new one counts.
                jobs = _not_cancelled(jobs)
                if not jobs:
                    continue
            server_job = await self._keep_one(key, jobs)
            unchanged = row.job_id == server_job.id and (
                row.state == SpecState.DONE or (row.state == SpecState.CREATED and server_job.status not in TERMINAL)
            )
            if not unchanged:
                await self._record_job(key, server_job)

    def _spec_of(self, job: FineTuningJob) -> str | None:
        """The key of the spec of this batch ``job`` was made for (None: not one of its specs).

        Read from its ``ft_spec`` metadata as the provider keeps it (a digest, on some)."""
        kept = (job.metadata or {}).get(SPEC_METADATA_KEY)
        if kept is None:
            return None
        if self._kept_keys is None:
            keep = self.client.provider.kept_metadata
            self._kept_keys = {keep({SPEC_METADATA_KEY: key})[SPEC_METADATA_KEY]: key for key in self.specs}
        return self._kept_keys.get(kept)

    async def _siblings(self, key: str) -> list[FineTuningJob]:
        """Every job of this batch for ``key`` on the server (normally none or one)."""
        metadata = {BATCH_METADATA_KEY: self.batch_id, SPEC_METADATA_KEY: key}
        return [job async for job in self.client.fine_tuning.jobs.list(limit=100, metadata=metadata)]

    async def _keep_one(self, key: str, jobs: list[FineTuningJob]) -> FineTuningJob:
        """The sibling ``key`` keeps (:func:`_winner`); every other one still running is cancelled now."""
        winner = _winner(jobs)
        extras = [job for job in jobs if job.id != winner.id and job.status not in TERMINAL]
        for extra in extras:
            log.warning(
                "batch %s: spec %r has a second job %s; keeping %s and cancelling it",
                self.batch_id,
                key,
                extra.id,
                winner.id,
            )
            try:
                await self.client.fine_tuning.jobs.cancel(extra.id)
            except FineTuneError as exc:
                # Another run of the batch may have cancelled it first (the API refuses a second
                # cancel); any other failure leaves it to the next look.
                log.warning("could not cancel the extra job %s of spec %r: %s", extra.id, key, exc)
        if extras:
            self._extras[key] = tuple(dict.fromkeys((*self._extras.get(key, ()), *(e.id for e in extras))))
        return winner

    async def _drive(self, running: list[_Work], todo: list[_Work]) -> None:
        send, receive = anyio.create_memory_object_stream[_Work](0)
        # Jobs already running hold their slots first, so new creates never push the number of
        # active jobs past max_concurrent.
        running_handed = anyio.Event()
        pending = iter(todo)

        async def feed_running() -> None:
            async with send:
                for work in running:
                    await send.send(work)
                running_handed.set()

        async def prepare_worker(out: anyio.abc.ObjectSendStream[_Work]) -> None:
            async with out:
                for work in pending:
                    try:
                        await self._prepare(work)
                    except _SpecFailed as failed:
                        self._set(failed.result)
                        continue
                    # Ready: from here it waits for a job worker, one of max_concurrent slots.
                    self._set(SpecResult(key=work.key, status="waiting"))
                    await running_handed.wait()
                    await out.send(work)

        async def job_worker(inbox: anyio.abc.ObjectReceiveStream[_Work]) -> None:
            async with inbox:
                async for work in inbox:
                    await self._run_job(work)

        async with anyio.create_task_group() as tg:
            for _ in range(min(self.max_concurrent, max(1, len(running) + len(todo)))):
                tg.start_soon(job_worker, receive.clone())
            for _ in range(min(self.max_uploads, max(1, len(todo)))):
                tg.start_soon(prepare_worker, send.clone())
            tg.start_soon(feed_running)
            receive.close()

    # -- preparing: validate and upload ------------------------------------------------------

    async def _prepare(self, work: _Work) -> None:
        spec = work.spec
        if not self._is_file_id(spec.training_file) or (
            spec.validation_file is not None and not self._is_file_id(spec.validation_file)
        ):
            self._set(SpecResult(key=work.key, status="validating"))
        work.training_file = await self._file_id(work, spec.training_file)
        if spec.validation_file is not None:
            work.validation_file = await self._file_id(work, spec.validation_file)

    def _is_file_id(self, ref: FileRef) -> bool:
        """Whether ``ref`` is the id of an uploaded file, as the client's provider shapes ids."""
        return _is_file_id(ref, re.compile(self.client.provider.capabilities.file_id_pattern))

    async def _file_id(self, work: _Work, ref: FileRef) -> str:
        if self._is_file_id(ref):
            given = str(ref)
            if not self.client.provider.capabilities.files_must_be_processed:
                return given
            # Where a job may only use a processed file, an id given as it is is waited for
            # too (once, for every spec naming it), as the files this batch uploads are.
            try:
                found: FileObject = await self._once(
                    self._given_files, given, lambda: self.client.files.wait_for_processing(given)
                )
                return self._processed(given, found)
            except FineTuneError as exc:
                raise _SpecFailed(SpecResult(key=work.key, status="error", error=f"file {given}: {exc}")) from None
        path = os.fspath(ref)
        try:
            sha, size = await self._once(self._hashes, path, lambda: anyio.to_thread.run_sync(_hash_file, path))
        except OSError as exc:
            raise _SpecFailed(
                SpecResult(key=work.key, status="invalid", error=f"cannot read {path}: {exc.strerror or exc}")
            ) from None
        method = work.spec.method_type

        async def validate() -> list[Problem]:
            report = await anyio.to_thread.run_sync(lambda: validate_dataset(path, method=method, provider=self.client))
            return list(report.problems) if not report.ok else []

        try:
            problems: list[Problem] = await self._once(self._validations, (sha, method), validate)
        except OSError as exc:
            raise _SpecFailed(
                SpecResult(key=work.key, status="invalid", error=f"cannot read {path}: {exc.strerror or exc}")
            ) from None
        if problems:
            shown = "; ".join(str(p) for p in problems[:3])
            raise _SpecFailed(
                SpecResult(
                    key=work.key,
                    status="invalid",
                    error=f"{path}: {len(problems)} problem(s) for {method}: {shown}",
                    problems=tuple(problems),
                )
            )
        self._set(SpecResult(key=work.key, status="uploading"))
        try:
            file_id: str = await self._once(self._uploads, sha, lambda: self._upload(path, sha, size))
        except (FineTuneError, OSError) as exc:
            raise _SpecFailed(SpecResult(key=work.key, status="error", error=f"upload of {path}: {exc}")) from None
        return file_id

    async def _once(self, table: dict[Any, _ComputedOnce], key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``key`` for everyone asking; its value (or its error) for all."""
        entry = table.get(key)
        if entry is None:
            entry = table[key] = _ComputedOnce()
            try:
                entry.value = await compute()
            except Exception as exc:
                entry.error = exc
            finally:
                entry.done.set()
        else:
            await entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return entry.value

    async def _upload(self, path: str, sha: str, size: int) -> str:
        """The id of the server's copy of this file: the journal's, a found one, or a new upload."""
        purpose = "fine-tune"
        row = await self.journal.file(sha, purpose)
        # Where a job may only use a processed file (the provider's capabilities), a file from
        # the journal or found on the server is waited for too: its run may have ended first.
        must_process = self.client.provider.capabilities.files_must_be_processed
        if row is not None and row.file_id is not None:
            if must_process:
                return self._processed(path, await self.client.files.wait_for_processing(row.file_id))
            return row.file_id
        name = _tagged_name(path, sha)
        async with self.upload_limiter:
            existing = (await self._server_file_index()).get(name)
            if not _is_upload_of(existing, size) and row is not None:
                # An earlier run sent this upload and died before recording its id: the server
                # may still be storing it. Settle that before sending it again.
                existing = await self._settle(lambda: self._find_file(name, size), row.updated_at, "a file")
            if existing is not None and _is_upload_of(existing, size):
                await self.journal.file_uploaded(sha, purpose, name, size, existing.id)
                if must_process and existing.status not in (FileStatus.PROCESSED, None):
                    return self._processed(path, await self.client.files.wait_for_processing(existing.id))
                return existing.id
            await self.journal.file_intent(sha, purpose, name, size)
            # The transport retries it, and settles a lost answer through the client's ledger.
            uploaded = await self.client.files.create(file=path, filename=name, purpose=purpose)
            await self.journal.file_uploaded(sha, purpose, name, size, uploaded.id)
        if uploaded.status not in (FileStatus.PROCESSED, None):
            uploaded = await self.client.files.wait_for_processing(uploaded.id)
        return self._processed(path, uploaded)

    @staticmethod
    def _processed(path: str, file: FileObject) -> str:
        """``file``'s id; raises :class:`FineTuneError` when the server could not process it."""
        if file.status == FileStatus.ERROR:
            raise FineTuneError(f"the server could not process {path} ({file.id})")
        return file.id

    async def _server_file_index(self) -> dict[str, FileObject]:
        """The server's fine-tune files that carry a content hash in their name, by name (listed once)."""
        async with self._server_files_lock:
            if self._server_files is None:
                index: dict[str, FileObject] = {}
                tagged = re.compile(r".*\.[0-9a-f]{16}(\.[^.]*)?")
                async for file in self.client.files.list(purpose="fine-tune"):
                    if tagged.fullmatch(file.filename) and file.status != FileStatus.ERROR:
                        index.setdefault(file.filename, file)
                self._server_files = index
            return self._server_files

    async def _find_file(self, name: str, size: int) -> FileObject | None:
        """The server's file of this tagged name and size, if one exists now."""
        async for file in self.client.files.list(purpose="fine-tune", order="desc"):
            if file.filename == name and _is_upload_of(file, size) and file.status != FileStatus.ERROR:
                return file
        return None

    async def _settle(self, find: Callable[[], Awaitable[_T | None]], intent_at: float | None, what: str) -> _T | None:
        """What an earlier run's side effect made, looked for until the settle window since its
        intent (``intent_at``) has passed; None when it passed with nothing found."""
        ledger = self.client.ledger
        elapsed = time.time() - (intent_at or 0.0)
        left = max(0.0, ledger.window(what, 0.0) - elapsed)

        async def look(_since: float) -> _T | None:
            return await find()

        return await ledger.settle(what, look, since=intent_at or 0.0, attempt_seconds=0.0, window=left)

    # -- creating and waiting ----------------------------------------------------------------

    async def _run_job(self, work: _Work) -> None:
        if work.job_id is None:
            job = await self._create(work)
            if job is None:
                return
            if job.status in TERMINAL:
                return
            work.job_id = job.id
        try:
            while True:
                job = await self._wait(work.key, work.job_id)
                if job.status != JobStatus.CANCELLED:
                    break
                # Another run of this batch may have cancelled it as the extra of a job it saw
                # first (created in the same second, say): then that job is the spec's.
                siblings = await self._siblings(work.key)
                kept = _winner(siblings) if siblings else job
                if kept.id == job.id or kept.status == JobStatus.CANCELLED:
                    break
                log.info(
                    "batch %s: job %s of spec %r was cancelled as an extra; following %s",
                    self.batch_id,
                    job.id,
                    work.key,
                    kept.id,
                )
                await self._record_job(work.key, kept)
                work.job_id = kept.id
        except LeaseLostError:
            raise  # another worker holds the spec now: nothing of this one's to record
        except FineTuneError as exc:
            # The journal keeps the job as created: a later run looks at it again.
            self._set(SpecResult(key=work.key, status="error", job_id=work.job_id, error=str(exc)))
            return
        await self._record_job(work.key, job)

    async def _wait(self, key: str, job_id: str) -> FineTuningJob:
        """The job once it ended (the shared watch's wait); meanwhile, when someone watches,
        its progress goes to ``on_update``. Raises what :func:`wait_for_job` raises."""
        if self.on_update is None:
            return await wait_for_job(self.client, job_id, raise_on_failure=False, poll_interval=self.poll_interval)
        failure: FineTuneError | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._progress, key, job_id)
            try:
                job = await wait_for_job(self.client, job_id, raise_on_failure=False, poll_interval=self.poll_interval)
            except FineTuneError as exc:
                # Raised after the task group, so that it is not wrapped in an exception group.
                failure = exc
            tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return job

    async def _progress(self, key: str, job_id: str) -> None:
        """Look at a running job now and then until cancelled: its status, step and estimated
        finish, for ``on_update`` (see :func:`_next_look`). Only for the display: a look that
        fails is skipped, and a job that ended is left to the wait that reports it."""
        watch = self.client._watch
        jobs = watch.poll_client(self.client).fine_tuning.jobs
        self._followed += 1
        step: int | None = None
        total: int | None = None
        status: str | None = None
        interval = PROGRESS_SECONDS
        try:
            has_events = self.client.provider.capabilities.events
            while True:
                # Two requests per look and job, within a share of the one polling ceiling.
                budget = watch.limiter.rate * _PROGRESS_SHARE
                await anyio.sleep(max(interval, 2 * self._followed / budget if budget > 0 else 0.0))
                try:
                    await watch.acquire()
                    job = await jobs.retrieve(job_id)
                    if job.status in TERMINAL:
                        return
                    if job.status == JobStatus.RUNNING and has_events:
                        # Steps exist only while it trains: no events request before (and none
                        # where jobs have no events list: Fireworks).
                        await watch.acquire()
                        page = await jobs.list_events(job_id, limit=_PROGRESS_EVENTS)
                        found_step, found_total = _metrics_step(page.data)
                        if found_step is not None:
                            step, total = found_step, found_total or total
                except FineTuneError as exc:
                    watch.penalize(exc)
                    continue
                interval = _next_look(interval, job, changed=str(job.status) != status)
                status = str(job.status)
                current = self.results.get(key)
                if current is None or current.job_id != job_id or current.finished:
                    return
                self._set(
                    SpecResult(
                        key=key,
                        status=status,
                        job_id=job_id,
                        step=step,
                        total_steps=total,
                        estimated_finish=job.estimated_finish,
                    )
                )
        finally:
            self._followed -= 1

    async def _create(self, work: _Work) -> FineTuningJob | None:
        """Create the spec's job (or find the one an earlier try made); None when it got no job."""
        spec, key = work.spec, work.key
        assert work.training_file is not None
        self._set(SpecResult(key=key, status="creating"))
        metadata = {**(spec.metadata or {}), BATCH_METADATA_KEY: self.batch_id, SPEC_METADATA_KEY: key}
        row = await self.journal.spec(key)
        try:
            if row is not None and row.attempts > 0:
                # A create may have been sent by an earlier run, and a server may apply it late:
                # settle that through the ledger before sending anything (one look when the
                # earlier create was provably refused, or its window has passed).
                restarting = row.restarting

                async def find() -> FineTuningJob | None:
                    jobs = await self._siblings(key)
                    if restarting:
                        jobs = _not_cancelled(jobs)
                    return await self._keep_one(key, jobs) if jobs else None

                intent_at = row.updated_at if row.state == SpecState.CREATING else 0.0
                job = await self._settle(find, intent_at, "a job")
                if job is not None:
                    self.reattached += 1
                    await self._record_job(key, job)
                    return job
            await self.journal.job_intent(key)
            # A shared journal: the lease must surely hold as the create leaves (a worker that
            # was stopped past it between the intent and here sends nothing), checked here and
            # again at the last moment, once the request's connection is made (SEND_GUARD).
            self.journal.check_lease(key)
            guard = SEND_GUARD.set(functools.partial(self.journal.check_lease, key)) if self.journal.shared else None
            try:
                job = await self.client.fine_tuning.jobs.create(
                    model=spec.model,
                    training_file=work.training_file,
                    validation_file=work.validation_file,
                    method=spec.method_param(),
                    suffix=spec.suffix,
                    seed=spec.seed,
                    metadata=metadata,
                )
            except LeaseLostError:
                raise  # stopped before it was sent: another worker holds the spec now
            except APIConnectionError as exc:
                if not exc.maybe_sent:
                    await self.journal.job_not_created(key, str(exc))
                # Else the outcome is unknown: the journal keeps the intent, the next run settles it.
                self._set(SpecResult(key=key, status="error", error=str(exc)))
                return None
            except FineTuneError as exc:
                # Refused by the server: provably no job; a later run may try again.
                await self.journal.job_not_created(key, str(exc))
                self._set(SpecResult(key=key, status="error", error=str(exc)))
                return None
            finally:
                if guard is not None:
                    SEND_GUARD.reset(guard)
            self.created += 1
            # Another run of this batch may have created the same spec: one of them trains.
            siblings = await self._siblings(key)
            if any(sibling.id != job.id for sibling in siblings):
                kept = await self._keep_one(key, [job, *(s for s in siblings if s.id != job.id)])
                if kept.id != job.id:
                    self.reattached += 1
                job = kept
            await self._record_job(key, job)
            return job
        except LeaseLostError:
            raise  # another worker holds the spec now: nothing of this one's to record
        except FineTuneError as exc:
            # The server could not be asked (to settle, or for the siblings): the journal keeps
            # the intent, so the next run looks again before creating.
            self._set(SpecResult(key=key, status="error", error=str(exc)))
            return None

    # -- cancelling --------------------------------------------------------------------------

    async def cancel_jobs(self) -> None:
        """Cancel every unfinished job of this batch (the journal's and the server's), recording
        each; with a shared journal only the jobs of the specs this worker holds (the other
        workers' go on)."""
        rows = await self.journal.specs()
        keys = {row.job_id: key for key, row in rows.items() if row.state == SpecState.CREATED and row.job_id}
        if self.journal.shared:
            held = self.journal.held()
            keys = {job_id: key for job_id, key in keys.items() if key in held}
        # (A shared batch's listing holds every worker's jobs: not this worker's to cancel.)
        with contextlib.suppress(FineTuneError):
            listing = self.client.fine_tuning.jobs.list(limit=100, metadata={BATCH_METADATA_KEY: self.batch_id})
            async for job in listing if not self.journal.shared else _nothing():
                spec_key = self._spec_of(job)
                if spec_key is not None and job.status not in TERMINAL:
                    keys[job.id] = spec_key

        async def cancel(job_id: str, key: str) -> None:
            try:
                job = await self.client.fine_tuning.jobs.cancel(job_id)
            except FineTuneError as exc:
                log.warning("could not cancel job %s of spec %r: %s", job_id, key, exc)
                return
            with contextlib.suppress(LeaseLostError):
                await self._record_job(key, job)

        async with anyio.create_task_group() as tg:
            for job_id, key in keys.items():
                tg.start_soon(cancel, job_id, key)

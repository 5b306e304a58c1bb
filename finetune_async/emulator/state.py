"""The emulator's behaviour: files, uploads, fine-tuning jobs and their lifecycle, models, permissions.

Everything here is plain synchronous logic over a :class:`~.store.Store`, raising
:class:`~._util.APIError` for the answers the API gives as errors; :mod:`.app` only turns HTTP
into calls on :class:`EmulatorState` and back.

The lifecycle is a function of the wall clock. A job's schedule is fixed when it is created
(validating 10% of ``job_seconds``, queued 10%, running 80%), and :meth:`EmulatorState.advance`
materialises whatever is due (status changes, events, checkpoints, the result file) whenever
the job is read. One timer per emulator (not one task per job) wakes for the next phase change
so that terminal transitions (and their webhooks) happen on time even if nobody is polling.
That is what keeps thousands of jobs in flight cheap.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import heapq
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_async.datasets import MAX_LINE_BYTES
from finetune_async.datasets._reader import LongLine, read_lines

from . import graders
from ._catalog import BASE_MODELS, BaseModel, resolve_base
from ._util import APIError, bad_request, new_id, not_found, now, short_id
from .store import FileRecord, JobRecord, PartRecord, Store, UploadRecord

__all__ = ["TERMINAL", "EmulatorState"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision")
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024
MAX_PART_BYTES = 64 * 1024 * 1024
#: The parts of an upload may hold at most this many times its declared ``bytes``: room for
#: every part to be sent again after its answer was lost, and a bound on the disk it takes.
MAX_HELD_FACTOR = 2
UPLOAD_TTL = 3600
MIN_EXAMPLES = 10
MAX_SEED = 2147483647
_METRIC_EVENTS_PER_JOB = 100

# Share of job_seconds spent in each phase before running.
_VALIDATING_SHARE = 0.1
_QUEUED_SHARE = 0.1


_CheckKey = tuple[str, str, bool, bool]


@dataclass(frozen=True, slots=True)
class DatasetCheck:
    """What validating a training or validation file found."""

    n_examples: int
    total_tokens: int
    problem: str | None


# -- small validators -----------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# C0 controls, DEL and C1 controls: a line break in a name would break every header it is
# sent in (Content-Disposition), an escape would reach whoever prints it. Lone surrogates are
# what invalid UTF-8 in a multipart header decodes to.
_BAD_FILENAME_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_filename(name: str, param: str) -> str:
    """``name`` when it can be a file's name; 400 when it holds a control character or is not
    valid UTF-8."""
    bad = _BAD_FILENAME_CHAR.search(name)
    if bad is not None:
        char = bad.group()
        what = "is not valid UTF-8" if "\ud800" <= char <= "\udfff" else "contains a control character"
        raise bad_request(
            f"Invalid '{param}': the filename {what} ({char!r} at position {bad.start()}).", param, "invalid_filename"
        )
    return name


def parse_limit(raw: str | None, default: int, maximum: int | None = None) -> int:
    """A ``limit`` query value; 400 when it is not a positive integer (or above ``maximum``)."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Invalid 'limit': expected an integer, got {raw!r}.", "limit") from None
    if value < 1 or (maximum is not None and value > maximum):
        bound = f" and {maximum}" if maximum is not None else ""
        raise bad_request(f"Invalid 'limit': must be between 1{bound}.", "limit")
    return value


_HP_RULES: dict[str, Callable[[Any], bool]] = {
    "batch_size": lambda v: _is_int(v) and 1 <= v <= 256,
    "learning_rate_multiplier": lambda v: _is_number(v) and v > 0,
    "n_epochs": lambda v: _is_int(v) and 1 <= v <= 50,
    "beta": lambda v: _is_number(v) and 0 < v <= 2,
    "compute_multiplier": lambda v: _is_number(v) and 0.00001 < v <= 10,
    "eval_interval": lambda v: _is_int(v) and v >= 1,
    "eval_samples": lambda v: _is_int(v) and v >= 1,
}
_HP_KEYS: dict[str, tuple[str, ...]] = {
    "supervised": ("batch_size", "learning_rate_multiplier", "n_epochs"),
    "dpo": ("batch_size", "learning_rate_multiplier", "n_epochs", "beta"),
    "reinforcement": (
        "batch_size", "learning_rate_multiplier", "n_epochs", "reasoning_effort",
        "compute_multiplier", "eval_interval", "eval_samples",
    ),
}  # fmt: skip
_REASONING = ("default", "low", "medium", "high")


def _check_hyperparameters(hp: Any, method: str, param: str) -> dict[str, Any]:
    if hp is None:
        return {}
    if not isinstance(hp, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param)
    for key, value in hp.items():
        if key not in _HP_KEYS[method]:
            raise bad_request(f"Unrecognized hyperparameter '{key}' for method '{method}'.", f"{param}.{key}")
        if key == "reasoning_effort":
            if value not in _REASONING:
                raise bad_request(f"Invalid value for '{param}.{key}': {value!r}.", f"{param}.{key}")
        elif value != "auto" and not _HP_RULES[key](value):
            raise bad_request(
                f"Invalid value for '{param}.{key}': {value!r} is out of range or not a valid type.",
                f"{param}.{key}",
            )
    return dict(hp)


def _auto_epochs(n: int) -> int:
    # n_epochs="auto" as OpenAI's data-preparation cookbook gives it: target 3; more for tiny sets, fewer for huge ones.
    if n * 3 < 100:
        return min(25, 100 // max(n, 1))
    if n * 3 > 25_000:
        return max(1, 25_000 // n)
    return 3


def _auto_batch_size(n: int) -> int:
    # About 0.2% of the examples, capped at 256, as the API's "auto" behaves.
    return max(1, min(256, math.ceil(n * 0.002)))


def _noise(seed: int, step: int, salt: int) -> float:
    # A cheap deterministic hash in [0, 1): the same job and step always give the same metrics.
    h = (seed * 2654435761 + step * 40503 + salt * 97531) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 2246822519) & 0xFFFFFFFF
    h ^= h >> 13
    return h / 2**32


# -- datasets ---------------------------------------------------------------------------------


def _check_legacy(path: Path) -> DatasetCheck:
    """babbage-002 / davinci-002 lines: ``{"prompt": str, "completion": str}``.

    Read as the validator reads chat files (CR, LF and CRLF end a line; a line past
    ``MAX_LINE_BYTES`` is refused on its line, never held), so line numbers agree with it.
    """
    n = 0
    tokens = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(read_lines(fh, MAX_LINE_BYTES), 1):
            if isinstance(raw, LongLine):
                return DatasetCheck(n, tokens, f"line {lineno}: longer than {MAX_LINE_BYTES:,} bytes")
            if raw.isspace() or not raw:
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a line
                return DatasetCheck(n, tokens, f"line {lineno}: not valid JSON")
            if (
                not isinstance(obj, dict)
                or not isinstance(obj.get("prompt"), str)
                or not isinstance(obj.get("completion"), str)
            ):
                return DatasetCheck(n, tokens, f'line {lineno}: expected {{"prompt": str, "completion": str}}')
            n += 1
            tokens += (len(obj["prompt"]) + len(obj["completion"])) // 4 + 2
    return DatasetCheck(n, tokens, None)


def check_dataset(path: Path, method: str, *, legacy: bool = False, validation: bool = False) -> DatasetCheck:
    """Validate a training (or, with ``validation=True``, validation) file.

    Uses :func:`finetune_async.datasets.validate_dataset` (or the legacy prompt/completion check
    for babbage-002 and davinci-002). Returns the example count, the approximate tokens, and the
    first problem as a readable sentence naming its line (None when the file is usable). A
    validation file needs one example, a training file :data:`MIN_EXAMPLES`.
    """
    minimum = 1 if validation else MIN_EXAMPLES
    if legacy:
        result = _check_legacy(path)
    else:
        # Imported lazily: only job validation needs the datasets package.
        from finetune_async.datasets import validate_dataset

        report = validate_dataset(path, method=method)
        problems = [p for p in report.problems if not (validation and p.code == "too_few_examples")]
        problem: str | None = None
        if problems:
            first = problems[0]
            where = f"line {first.line}: " if first.line is not None else ""
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            problem = f"{where}{first.message} [{first.code}]{more}"
        result = DatasetCheck(int(report.n_examples), int(report.stats.total_tokens), problem)
    if result.problem is None and result.n_examples < minimum:
        problem = f"the file has {result.n_examples} example(s), but must have at least {minimum}"
        result = DatasetCheck(result.n_examples, result.total_tokens, problem)
    return result


# -- the state ---------------------------------------------------------------------------------


class EmulatorState:
    """All API behaviour over one :class:`Store`.

    ``on_terminal(job)`` is called once when a job reaches ``succeeded``, ``failed`` or
    ``cancelled`` (the webhook sender listens there).
    """

    def __init__(
        self,
        store: Store,
        *,
        job_seconds: float = 10.0,
        organization: str = "emulator",
        on_terminal: Callable[[JobRecord], None] | None = None,
        training_available: bool = True,
    ) -> None:
        self.store = store
        # False plays the platform's wind-down: every new job is refused with 403
        # training_not_available (settable while the emulator runs).
        self.training_available = training_available
        self.job_seconds = max(0.0, float(job_seconds))
        self.org_slug = organization
        self.organization_id = f"org-{organization}"
        self.on_terminal = on_terminal
        # A check in flight or done, per (file id, method, legacy, validation): every create
        # naming the file waits on the same one. Dropped when the file is deleted.
        self._dataset_cache: dict[_CheckKey, asyncio.Future[DatasetCheck]] = {}
        #: How many times a training or validation file was read and checked (for tests and
        #: benchmarks: each file is checked once per method, however many jobs name it).
        self.dataset_checks = 0
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._models: dict[str, str] = {}  # fine-tuned model name -> job id
        self._ckpt_models: dict[str, dict[str, Any]] = {}  # checkpoint model name -> checkpoint
        for job in store.jobs.values():
            self._index_job(job)

    def _index_job(self, job: JobRecord) -> None:
        if job.status == "succeeded" and job.fine_tuned_model:
            self._models[job.fine_tuned_model] = job.id
        for ck in self.store.checkpoints.get(job.id, ()):
            self._ckpt_models[ck["fine_tuned_model_checkpoint"]] = ck

    # -- scheduler -------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin waking for due phase changes (also those of jobs loaded from disk)."""
        self._loop = loop
        t = now()
        for job in list(self.store.jobs.values()):
            self.advance(job, t)
            self._schedule(job)

    def stop(self) -> None:
        """Stop the timer; nothing runs after this."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._loop = None

    @staticmethod
    def _next_due(job: JobRecord) -> float | None:
        if job.status == "validating_files":
            return job.t_validated
        if job.status == "queued":
            return job.t_started
        if job.status == "running" and job.run_resumed_at is not None:
            return job.run_resumed_at + job.run_seconds - job.run_offset
        return None

    def _schedule(self, job: JobRecord) -> None:
        due = self._next_due(job)
        if due is None:
            self._due.pop(job.id, None)
            return
        if self._due.get(job.id) == due:
            return
        self._due[job.id] = due
        heapq.heappush(self._heap, (due, job.id))
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
        self._timer = self._loop.call_later(max(0.0, first - now()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        t = now()
        while self._heap and self._heap[0][0] <= t:
            due, job_id = heapq.heappop(self._heap)
            if self._due.get(job_id) != due:
                continue  # superseded by a pause, resume or cancel
            del self._due[job_id]
            job = self.store.jobs.get(job_id)
            if job is not None:
                self.advance(job, t)
                self._schedule(job)
        self._arm()

    # -- files -----------------------------------------------------------------------------

    def new_blob(self) -> tuple[str, Path]:
        """A fresh blob name and its path, for streaming an upload to disk."""
        name = new_id("blob-", 20)
        return name, self.store.blob_path(name)

    def add_file(
        self, *, filename: str, purpose: str, blob: str, size: int, expires_after: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Register bytes already written to ``blob`` as a file; the ``OpenAIFile`` JSON."""
        created = int(now())
        expires_at = None
        if expires_after is not None:
            expires_at = created + int(expires_after["seconds"])
        rec = FileRecord(
            id=new_id("file-", 22),
            filename=filename,
            purpose=purpose,
            bytes=size,
            created_at=created,
            path=blob,
            expires_at=expires_at,
        )
        self.store.put_file(rec)
        return rec.to_api()

    def get_file_record(self, file_id: str) -> FileRecord:
        """The file, or 404."""
        rec = self.store.files.get(file_id)
        if rec is None:
            raise not_found(f"No such File object: {file_id}", "id")
        return rec

    def list_files(self, *, purpose: str | None, limit: int, order: str, after: str | None) -> dict[str, Any]:
        """``GET /files``: filtered by purpose, ordered by creation, paged by ``after``."""
        if order not in ("asc", "desc"):
            raise bad_request("Invalid 'order': expected 'asc' or 'desc'.", "order")
        items: Iterable[FileRecord] = self.store.files.values()
        if order == "desc":
            items = reversed(list(items))
        seq = [f for f in items if purpose is None or f.purpose == purpose]
        start = 0
        if after is not None:
            idx = next((i for i, f in enumerate(seq) if f.id == after), None)
            if idx is None:
                raise bad_request(f"Invalid 'after': no file {after!r} in this listing.", "after")
            start = idx + 1
        page = seq[start : start + limit]
        data = [f.to_api() for f in page]
        return {
            "object": "list",
            "data": data,
            # The spec types these as strings (not nullable), so an empty page carries "".
            "first_id": page[0].id if page else "",
            "last_id": page[-1].id if page else "",
            "has_more": start + limit < len(seq),
        }

    def delete_file(self, file_id: str) -> dict[str, Any]:
        """``DELETE /files/{id}``."""
        self.get_file_record(file_id)
        self.store.delete_file(file_id)
        self._dataset_cache = {k: v for k, v in self._dataset_cache.items() if k[0] != file_id}
        return {"id": file_id, "object": "file", "deleted": True}

    # -- uploads ---------------------------------------------------------------------------

    def _upload_api(self, up: UploadRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": up.id,
            "object": "upload",
            "bytes": up.bytes,
            "created_at": up.created_at,
            "filename": up.filename,
            "purpose": up.purpose,
            "status": up.status,
            "expires_at": up.expires_at,
            "file": None,
        }
        if up.file_id is not None and up.file_id in self.store.files:
            out["file"] = self.store.files[up.file_id].to_api()
        return out

    def create_upload(self, body: Any) -> dict[str, Any]:
        """``POST /uploads``."""
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object body.")
        for key in ("filename", "purpose", "bytes", "mime_type"):
            if key not in body:
                raise bad_request(f"Missing required parameter: '{key}'.", key)
        if not isinstance(body["filename"], str) or not body["filename"]:
            raise bad_request("Invalid 'filename': expected a non-empty string.", "filename")
        check_filename(body["filename"], "filename")
        if body["purpose"] not in UPLOAD_PURPOSES:
            raise bad_request(f"Invalid 'purpose': expected one of {list(UPLOAD_PURPOSES)}.", "purpose")
        if not _is_int(body["bytes"]) or not 0 < body["bytes"] <= MAX_UPLOAD_BYTES:
            raise bad_request("Invalid 'bytes': must be between 1 and 8 GB.", "bytes")
        if not isinstance(body["mime_type"], str):
            raise bad_request("Invalid 'mime_type': expected a string.", "mime_type")
        expires = check_expires_after(body.get("expires_after"))
        created = int(now())
        up = UploadRecord(
            id=new_id("upload_", 24),
            filename=body["filename"],
            purpose=body["purpose"],
            bytes=body["bytes"],
            mime_type=body["mime_type"],
            created_at=created,
            expires_at=created + UPLOAD_TTL,
            file_expires_seconds=expires["seconds"] if expires is not None else None,
        )
        self.store.put_upload(up)
        return self._upload_api(up)

    def pending_upload(self, upload_id: str) -> UploadRecord:
        """The upload if parts can still be added to it; 404 or 400 otherwise."""
        up = self.store.uploads.get(upload_id)
        if up is None:
            raise not_found(f"No such Upload object: {upload_id}", "upload_id")
        if up.status == "pending" and now() > up.expires_at:
            up.status = "expired"
            self.store.put_upload(up)
            self.store.drop_part_blobs(up)
        if up.status != "pending":
            raise bad_request(f"Upload {upload_id} is {up.status}; no parts can be added.", "upload_id")
        return up

    def part_room(self, upload_id: str) -> int:
        """How many bytes the next part of a pending upload may hold: at most 64 MB, at most the
        upload's ``bytes``, and at most what keeps its parts within :data:`MAX_HELD_FACTOR`
        times its ``bytes`` (404 or 400 as :meth:`pending_upload`)."""
        up = self.pending_upload(upload_id)
        held = self._held(up)
        return max(0, min(MAX_PART_BYTES, up.bytes, MAX_HELD_FACTOR * up.bytes - held))

    def _held(self, up: UploadRecord) -> int:
        return sum(self.store.parts[pid].size for pid in up.part_ids if pid in self.store.parts)

    def part_too_large(self, upload_id: str, size: int) -> APIError:
        """The 400 for a part of ``size`` bytes (or more) that does not fit ``upload_id``."""
        up = self.pending_upload(upload_id)
        if size > MAX_PART_BYTES:
            return bad_request(f"An upload part is larger than the maximum of {MAX_PART_BYTES >> 20} MB.", "data")
        if size > up.bytes:
            return bad_request(
                f"The part is larger than the whole upload, which was created with bytes={up.bytes}.", "data"
            )
        return bad_request(
            f"The parts of upload {upload_id} already hold {self._held(up)} bytes; with this part they would hold "
            f"more than {MAX_HELD_FACTOR * up.bytes} bytes, {MAX_HELD_FACTOR} times the bytes={up.bytes} it was "
            "created with.",
            "data",
        )

    def add_part(self, upload_id: str, blob: str, size: int) -> dict[str, Any]:
        """Register a streamed part; the ``UploadPart`` JSON. 400 when it does not fit (parts
        streamed at the same time are each checked again here, one at a time)."""
        up = self.pending_upload(upload_id)
        if size > min(MAX_PART_BYTES, up.bytes, MAX_HELD_FACTOR * up.bytes - self._held(up)):
            raise self.part_too_large(upload_id, size)
        part = PartRecord(id=new_id("part_", 24), upload_id=upload_id, created_at=int(now()), path=blob, size=size)
        up.part_ids.append(part.id)
        with self.store.transaction():
            self.store.put_part(part)
            self.store.put_upload(up)
        return {"id": part.id, "object": "upload.part", "created_at": part.created_at, "upload_id": upload_id}

    async def complete_upload(self, upload_id: str, body: Any) -> dict[str, Any]:
        """``POST /uploads/{id}/complete``: concatenate parts in the given order into a file."""
        up = self.pending_upload(upload_id)
        if not isinstance(body, dict) or not isinstance(body.get("part_ids"), list):
            raise bad_request("Missing required parameter: 'part_ids'.", "part_ids")
        part_ids = body["part_ids"]
        md5 = body.get("md5")
        if md5 is not None and not isinstance(md5, str):
            raise bad_request("Invalid 'md5': expected a string.", "md5")
        if len(set(map(str, part_ids))) != len(part_ids):
            raise bad_request("Invalid 'part_ids': a part is listed twice.", "part_ids")
        parts: list[PartRecord] = []
        for pid in part_ids:
            part = self.store.parts.get(pid) if isinstance(pid, str) else None
            if part is None or part.upload_id != upload_id:
                raise bad_request(f"Invalid 'part_ids': {pid!r} is not a part of {upload_id}.", "part_ids")
            parts.append(part)
        total = sum(p.size for p in parts)
        if total != up.bytes:
            raise bad_request(
                f"The upload was created with bytes={up.bytes}, but the listed parts hold {total} bytes.", "bytes"
            )
        blob, path = self.new_blob()
        sources = [self.store.blob_path(p.path) for p in parts]
        # Concatenating may touch gigabytes: do it off the event loop.
        digest = await asyncio.to_thread(_concat, sources, path)
        if md5 is not None and md5.lower() != digest:
            path.unlink(missing_ok=True)
            raise bad_request("The md5 checksum does not match the uploaded bytes.", "md5")
        if up.status != "pending":  # cancelled while we were concatenating
            path.unlink(missing_ok=True)
            raise bad_request(f"Upload {upload_id} is {up.status}.", "upload_id")
        expires = None
        if up.file_expires_seconds is not None:
            expires = {"anchor": "created_at", "seconds": up.file_expires_seconds}
        with self.store.transaction():
            file_obj = self.add_file(
                filename=up.filename, purpose=up.purpose, blob=blob, size=total, expires_after=expires
            )
            up.status = "completed"
            up.file_id = file_obj["id"]
            self.store.put_upload(up)
        # After the commit: a kill in between leaves the parts' bytes unnamed (swept at start).
        self.store.drop_part_blobs(up)
        return self._upload_api(up)

    def cancel_upload(self, upload_id: str) -> dict[str, Any]:
        """``POST /uploads/{id}/cancel``."""
        up = self.pending_upload(upload_id)
        up.status = "cancelled"
        self.store.put_upload(up)
        self.store.drop_part_blobs(up)
        return self._upload_api(up)

    # -- jobs: create ----------------------------------------------------------------------

    def _fine_tune_file(self, file_id: Any, param: str) -> FileRecord:
        if not isinstance(file_id, str) or not file_id:
            raise bad_request(f"Invalid type for '{param}': expected a file id string.", param)
        rec = self.store.files.get(file_id)
        if rec is None:
            raise bad_request(f"Invalid file ID '{file_id}' for {param}: no such file.", param, f"invalid_{param}")
        if rec.purpose != "fine-tune":
            raise bad_request(
                f"File {file_id} has purpose '{rec.purpose}'; {param} must be uploaded with purpose 'fine-tune'.",
                param,
                f"invalid_{param}",
            )
        return rec

    def _resolve_model(self, name: Any) -> BaseModel:
        if not isinstance(name, str) or not name:
            raise bad_request("Missing required parameter: 'model'.", "model")
        base = resolve_base(name)
        if base is None and name in self._models and name not in self.store.deleted_models:
            # Continued fine-tuning of one of our own fine-tuned models.
            base = BASE_MODELS[self.store.jobs[self._models[name]].base_model]
        if base is None:
            raise bad_request(
                f"Model {name} is not available for fine-tuning or does not exist.", "model", "model_not_available"
            )
        return base

    async def _dataset(self, rec: FileRecord, method: str, legacy: bool, validation: bool = False) -> DatasetCheck:
        key = (rec.id, method, legacy, validation)
        check = self._dataset_cache.get(key)
        if check is None:
            self.dataset_checks += 1
            # Off the event loop (a large file must not stall other requests), and once however
            # many creates name the file at the same moment: they all wait on this future.
            path = self.store.blob_path(rec.path)
            run = functools.partial(check_dataset, path, method, legacy=legacy, validation=validation)
            check = asyncio.get_running_loop().run_in_executor(None, run)
            self._dataset_cache[key] = check
            check.add_done_callback(functools.partial(self._forget_failed_check, key))
        if check.done():
            return check.result()
        # Shielded: a create whose client hangs up (and whose handler is cancelled) does not
        # cancel the check the others wait on.
        return await asyncio.shield(check)

    def _forget_failed_check(self, key: _CheckKey, check: asyncio.Future[DatasetCheck]) -> None:
        # A check that raised (the blob unreadable, a bug) is not kept: the next create tries
        # again. Asking for the exception also marks it seen when every waiter has gone.
        if (check.cancelled() or check.exception() is not None) and self._dataset_cache.get(key) is check:
            del self._dataset_cache[key]

    async def create_job(self, body: Any) -> dict[str, Any]:
        """``POST /fine_tuning/jobs``: check everything the API checks up front, then start the clock."""
        if not self.training_available:
            raise APIError(
                403,
                "Fine-tuning is no longer available for this organization on this platform.",
                code="training_not_available",
            )
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object body.")
        if "model" not in body:
            raise bad_request("Missing required parameter: 'model'.", "model")
        if "training_file" not in body:
            raise bad_request("Missing required parameter: 'training_file'.", "training_file")
        method_in = body.get("method")
        method_type: str
        if method_in is None:
            method_type = "supervised"
            method_in = {"type": "supervised"}
        elif not isinstance(method_in, dict):
            raise bad_request("Invalid type for 'method': expected an object.", "method")
        else:
            if not isinstance(method_in.get("type"), str) or method_in["type"] not in _HP_KEYS:
                raise bad_request(
                    "Invalid 'method.type': expected 'supervised', 'dpo' or 'reinforcement'.", "method.type"
                )
            method_type = str(method_in["type"])
        base = self._resolve_model(body["model"])
        if method_type not in base.methods:
            raise bad_request(
                f"Model {body['model']} does not support the '{method_type}' fine-tuning method "
                f"(supported: {', '.join(base.methods)}).",
                "method.type",
                "invalid_method",
            )
        sub = method_in.get(method_type)
        if sub is not None and not isinstance(sub, dict):
            raise bad_request(f"Invalid type for 'method.{method_type}': expected an object.", f"method.{method_type}")
        sub = sub or {}
        hp = _check_hyperparameters(body.get("hyperparameters"), "supervised", "hyperparameters")
        if hp and method_type != "supervised":
            raise bad_request(
                "The top-level 'hyperparameters' only apply to supervised jobs; use 'method' instead.",
                "hyperparameters",
            )
        hp.update(
            _check_hyperparameters(sub.get("hyperparameters"), method_type, f"method.{method_type}.hyperparameters")
        )
        grader = None
        if method_type == "reinforcement":
            if sub.get("grader") is None:
                raise bad_request("Reinforcement fine-tuning requires a grader.", "method.reinforcement.grader")
            # Off the loop: checking a python grader waits on its compile child (up to 2 s).
            grader = await graders.validate_grader_async(sub["grader"], "method.reinforcement.grader")
            if body.get("validation_file") is None:
                raise bad_request("Reinforcement fine-tuning requires a validation_file.", "validation_file")
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
            raise bad_request("Invalid 'suffix': must be a string of 1 to 64 characters.", "suffix")
        seed = body.get("seed")
        if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
            raise bad_request(f"Invalid 'seed': must be an integer between 0 and {MAX_SEED}.", "seed")
        metadata = _check_metadata(body.get("metadata"))
        integrations = _check_integrations(body.get("integrations"))
        train = self._fine_tune_file(body["training_file"], "training_file")
        valid = None
        if body.get("validation_file") is not None:
            valid = self._fine_tune_file(body["validation_file"], "validation_file")

        check = await self._dataset(train, method_type, base.legacy_completions)
        invalid = None
        if check.problem is not None:
            invalid = {
                "code": "invalid_training_file",
                "message": f"Invalid training file {train.id}: {check.problem}.",
                "param": "training_file",
            }
        elif valid is not None:
            vcheck = await self._dataset(valid, method_type, base.legacy_completions, validation=True)
            if vcheck.problem is not None:
                invalid = {
                    "code": "invalid_validation_file",
                    "message": f"Invalid validation file {valid.id}: {vcheck.problem}.",
                    "param": "validation_file",
                }

        n = max(check.n_examples, 1)
        resolved: dict[str, Any] = {
            "batch_size": _auto_batch_size(n),
            "learning_rate_multiplier": 1.8,
            "n_epochs": _auto_epochs(n),
        }
        if method_type == "dpo":
            resolved["beta"] = 0.1
        if method_type == "reinforcement":
            resolved.update(reasoning_effort="medium", compute_multiplier=1.0, eval_interval=1, eval_samples=1)
        resolved.update({k: v for k, v in hp.items() if v != "auto"})
        steps_per_epoch = math.ceil(n / resolved["batch_size"])
        total_steps = max(1, steps_per_epoch * resolved["n_epochs"])

        created = now()
        j = self.job_seconds
        method_out: dict[str, Any] = {"type": method_type, method_type: {"hyperparameters": hp}}
        if grader is not None:
            method_out[method_type]["grader"] = grader
        job = JobRecord(
            id=new_id("ftjob-", 24),
            created_at=created,
            model=base.id if resolve_base(body["model"]) is not None else body["model"],
            base_model=base.id,
            training_file=train.id,
            validation_file=valid.id if valid is not None else None,
            method_type=method_type,
            method=method_out,
            hp_requested=hp,
            hp_resolved=resolved,
            suffix=suffix,
            seed=seed if seed is not None else int(_noise(int(created * 1000), 1, 2) * MAX_SEED),
            metadata=metadata,
            integrations=integrations,
            organization_id=self.organization_id,
            org_slug=self.org_slug,
            short=short_id(),
            n_examples=check.n_examples,
            total_tokens=check.total_tokens,
            invalid=invalid,
            t_validated=created + j * _VALIDATING_SHARE,
            t_started=created + j * (_VALIDATING_SHARE + _QUEUED_SHARE),
            run_seconds=j * (1 - _VALIDATING_SHARE - _QUEUED_SHARE),
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )
        files_msg = f"Validating training file: {train.id}"
        if valid is not None:
            files_msg += f" and validation file: {valid.id}"
        self.store.put_job(
            job, [self._event(f"Created fine-tuning job: {job.id}", created), self._event(files_msg, created)]
        )
        self._schedule(job)
        # Answered as created (validating_files) even when job_seconds is 0, like the API.
        return self.job_api(job)

    # -- jobs: lifecycle -------------------------------------------------------------------

    @staticmethod
    def _event(
        message: str, at: float, *, level: str = "info", type_: str = "message", data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.event",
            "id": new_id("ftevent-", 24),
            "created_at": int(at),
            "level": level,
            "message": message,
            "type": type_,
            "data": data or {},
        }

    def _metrics(self, job: JobRecord, step: int) -> dict[str, float]:
        p = step / job.total_steps
        start, floor = (0.69, 0.05) if job.method_type == "dpo" else (2.2, 0.12)
        decay = math.exp(-4.0 * p)
        train_loss = floor + (start - floor) * decay + 0.12 * (_noise(job.seed, step, 1) - 0.5) * (1 - 0.5 * p)
        acc = 0.35 + 0.6 * (1 - decay) + 0.05 * (_noise(job.seed, step, 2) - 0.5)
        out = {
            "step": step,
            "train_loss": round(max(0.0, train_loss), 5),
            "train_mean_token_accuracy": round(min(0.999, max(0.0, acc)), 5),
        }
        if job.validation_file is not None:
            out["valid_loss"] = round(max(0.0, train_loss * 1.07 + 0.05 * _noise(job.seed, step, 3)), 5)
            out["valid_mean_token_accuracy"] = round(min(0.999, max(0.0, acc - 0.03 * _noise(job.seed, step, 4))), 5)
        return out

    def _model_name(self, job: JobRecord) -> str:
        return f"ft:{job.base_model}:{job.org_slug}:{job.suffix or ''}:{job.short}"

    def advance(self, job: JobRecord, t: float) -> None:
        """Materialise everything due for ``job`` up to wall time ``t`` (idempotent)."""
        if job.status in TERMINAL or job.status == "paused":
            return
        events: list[dict[str, Any]] = []
        ckpts: list[dict[str, Any]] = []
        files: list[FileRecord] = []
        changed = False
        if job.status == "validating_files":
            if t < job.t_validated:
                return
            changed = True
            if job.invalid is not None:
                events.append(self._event(job.invalid["message"], job.t_validated, level="error"))
                events.append(self._event("The job failed due to an invalid file.", job.t_validated, level="error"))
                job.status = "failed"
                job.error = dict(job.invalid)
                job.finished_at = job.t_validated
            else:
                events.append(self._event("Files validated, moving job to queued state", job.t_validated))
                job.status = "queued"
        if job.status == "queued" and t >= job.t_started:
            changed = True
            events.append(self._event("Fine-tuning job started", job.t_started))
            job.status = "running"
            job.run_resumed_at = job.t_started
        if job.status == "running" and job.run_resumed_at is not None:
            elapsed = job.run_offset + (t - job.run_resumed_at)
            total = job.total_steps
            target = total if elapsed >= job.run_seconds else min(total, int(elapsed * total / job.run_seconds))
            if target > job.emitted_step:
                changed = True
                stride = max(1, total // _METRIC_EVENTS_PER_JOB)
                epochs = job.hp_resolved["n_epochs"]
                first_ckpt_epoch = max(1, epochs - 2)
                for s in range(job.emitted_step + 1, target + 1):
                    at = job.run_resumed_at + (s * job.run_seconds / total - job.run_offset)
                    if s == 1 or s % stride == 0 or s == total:
                        m = self._metrics(job, s)
                        msg = f"Step {s}/{total}: training loss={m['train_loss']:.2f}"
                        if "valid_loss" in m:
                            msg += f", validation loss={m['valid_loss']:.2f}"
                        events.append(self._event(msg, at, type_="metrics", data={"total_steps": total, **m}))
                    if s % job.steps_per_epoch == 0 and s // job.steps_per_epoch >= first_ckpt_epoch:
                        ck = self._checkpoint(job, s, at)
                        ckpts.append(ck)
                        events.append(
                            self._event(
                                f"Checkpoint created at step {s} with Snapshot ID: {ck['fine_tuned_model_checkpoint']}",
                                at,
                            )
                        )
                job.emitted_step = target
            if elapsed >= job.run_seconds:
                changed = True
                files.append(self._succeed(job, job.run_resumed_at + job.run_seconds - job.run_offset, events))
        if not changed:
            return
        # One transaction: a restart finds the job as it was before this step or after it,
        # never ahead of its events.
        self.store.put_job(job, events, checkpoints=ckpts, files=files)
        for ck in ckpts:
            self._ckpt_models[ck["fine_tuned_model_checkpoint"]] = ck
        if job.status in TERMINAL:
            self._terminal(job)

    def _checkpoint(self, job: JobRecord, step: int, at: float) -> dict[str, Any]:
        m = self._metrics(job, step)
        metrics: dict[str, float] = dict(m)
        if job.validation_file is not None:
            metrics["full_valid_loss"] = round(m["valid_loss"] * 0.98, 5)
            metrics["full_valid_mean_token_accuracy"] = m["valid_mean_token_accuracy"]
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": new_id("ftckpt-", 24),
            "created_at": int(at),
            "fine_tuned_model_checkpoint": f"{self._model_name(job)}:ckpt-step-{step}",
            "fine_tuning_job_id": job.id,
            "metrics": metrics,
            "step_number": step,
        }

    def _succeed(self, job: JobRecord, at: float, events: list[dict[str, Any]]) -> FileRecord:
        """Mark ``job`` succeeded at ``at``, adding its final events; its results file, to store."""
        name = self._model_name(job)
        job.status = "succeeded"
        job.fine_tuned_model = name
        job.finished_at = at
        job.trained_tokens = job.hp_resolved["n_epochs"] * job.total_tokens
        job.run_resumed_at = None
        results = self._results_file(job, at)
        job.result_files = [results.id]
        self._models[name] = job.id
        events.append(self._event(f"New fine-tuned model created: {name}", at))
        events.append(self._event("Evaluating model against our usage policies", at))
        events.append(self._event("Usage policy evaluations completed, model is now enabled for sampling", at))
        events.append(self._event("The job has successfully completed", at))
        return results

    def results_csv(self, job: JobRecord) -> bytes:
        """The bytes of ``job``'s step-metrics results file."""
        lines = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"]
        for s in range(1, job.total_steps + 1):
            m = self._metrics(job, s)
            vl = m.get("valid_loss", "")
            va = m.get("valid_mean_token_accuracy", "")
            lines.append(f"{s},{m['train_loss']},{m['train_mean_token_accuracy']},{vl},{va}\n")
        return "".join(lines).encode()

    def _results_file(self, job: JobRecord, at: float) -> FileRecord:
        # Made from the job when read, not written now: creating a file costs a few hundred
        # microseconds here, and a hundred jobs ending together must not stall every request.
        return FileRecord(
            id=new_id("file-", 22),
            filename="step_metrics.csv",
            purpose="fine-tune-results",
            bytes=len(self.results_csv(job)),
            created_at=int(at),
            path="",
            results_of=job.id,
        )

    def _terminal(self, job: JobRecord) -> None:
        self._due.pop(job.id, None)
        if self.on_terminal is not None:
            self.on_terminal(job)

    def get_job(self, job_id: str) -> JobRecord:
        """The job brought up to date, or 404."""
        job = self.store.jobs.get(job_id)
        if job is None:
            raise not_found(f"Could not find fine-tune: {job_id}", "fine_tuning_job_id", "fine_tune_not_found")
        self.advance(job, now())
        return job

    def job_api(self, job: JobRecord) -> dict[str, Any]:
        """The ``FineTuningJob`` JSON."""
        shown = job.hp_requested if job.status == "validating_files" or job.invalid else job.hp_resolved
        hp_all = {k: shown.get(k, "auto") for k in _HP_KEYS[job.method_type]}
        if job.method_type == "reinforcement" and hp_all.get("reasoning_effort") == "auto":
            hp_all["reasoning_effort"] = "default"
        method = {"type": job.method_type, job.method_type: {**job.method[job.method_type], "hyperparameters": hp_all}}
        estimated = None
        if job.status == "running" and job.run_resumed_at is not None:
            estimated = int(job.run_resumed_at + job.run_seconds - job.run_offset)
        return {
            "object": "fine_tuning.job",
            "id": job.id,
            "created_at": int(job.created_at),
            "model": job.model,
            "organization_id": job.organization_id,
            "status": job.status,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "hyperparameters": {k: hp_all[k] for k in ("batch_size", "learning_rate_multiplier", "n_epochs")},
            "method": method,
            "fine_tuned_model": job.fine_tuned_model,
            "finished_at": int(job.finished_at) if job.finished_at is not None else None,
            "estimated_finish": estimated,
            "result_files": list(job.result_files),
            "trained_tokens": job.trained_tokens,
            "error": job.error,
            "seed": job.seed,
            "integrations": job.integrations,
            "metadata": job.metadata,
            "user_provided_suffix": job.suffix,
        }

    def list_jobs(
        self, *, limit: int, after: str | None, metadata: dict[str, str] | None, no_metadata: bool
    ) -> dict[str, Any]:
        """``GET /fine_tuning/jobs``: newest first, filtered by metadata."""
        jobs = list(reversed(self.store.jobs.values()))
        if no_metadata:
            jobs = [j for j in jobs if not j.metadata]
        elif metadata:
            jobs = [j for j in jobs if j.metadata and all(j.metadata.get(k) == v for k, v in metadata.items())]
        start = 0
        if after is not None:
            idx = next((i for i, j in enumerate(jobs) if j.id == after), None)
            if idx is None:
                raise bad_request(f"Invalid 'after': no fine-tuning job {after!r} in this listing.", "after")
            start = idx + 1
        page = jobs[start : start + limit]
        t = now()
        for j in page:
            self.advance(j, t)
        return {"object": "list", "data": [self.job_api(j) for j in page], "has_more": start + limit < len(jobs)}

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """``POST …/cancel``; 400 once the job has finished."""
        job = self.get_job(job_id)
        if job.status in TERMINAL:
            raise bad_request(f"Job {job_id} has already {job.status}; it cannot be cancelled.", "fine_tuning_job_id")
        t = now()
        job.status = "cancelled"
        job.finished_at = t
        job.run_resumed_at = None
        job.paused_at = None
        self.store.put_job(job, [self._event("Fine-tuning job cancelled", t)])
        self._terminal(job)
        return self.job_api(job)

    def pause_job(self, job_id: str) -> dict[str, Any]:
        """``POST …/pause``; 400 unless the job is running."""
        job = self.get_job(job_id)
        if job.status != "running" or job.run_resumed_at is None:
            raise bad_request(f"Job {job_id} is {job.status}; only a running job can be paused.", "fine_tuning_job_id")
        t = now()
        job.run_offset += t - job.run_resumed_at
        job.run_resumed_at = None
        job.paused_at = t
        job.status = "paused"
        self.store.put_job(job, [self._event("Fine-tuning job paused", t)])
        self._schedule(job)
        return self.job_api(job)

    def resume_job(self, job_id: str) -> dict[str, Any]:
        """``POST …/resume``; 400 unless the job is paused."""
        job = self.get_job(job_id)
        if job.status != "paused":
            raise bad_request(f"Job {job_id} is {job.status}; only a paused job can be resumed.", "fine_tuning_job_id")
        t = now()
        job.run_resumed_at = t
        job.paused_at = None
        job.status = "running"
        self.store.put_job(job, [self._event("Fine-tuning job resumed", t)])
        self._schedule(job)
        return self.job_api(job)

    def list_events(self, job_id: str, *, limit: int, after: str | None) -> str:
        """``GET …/events``: newest first; ``after`` = an event id, giving the events older than it.

        The JSON text of the answer, put together from the events' own (the store keeps them so).
        """
        job = self.get_job(job_id)
        events = self.store.events.get(job.id, [])
        end = len(events)
        if after is not None:
            idx = self.store.event_index.get(job.id, {}).get(after)
            if idx is None:
                raise bad_request(f"Invalid 'after': no event {after!r} for job {job_id}.", "after")
            end = idx
        start = max(0, end - limit)
        data = ",".join(reversed(events[start:end]))
        return f'{{"object":"list","data":[{data}],"has_more":{"true" if start > 0 else "false"}}}'

    def list_checkpoints(self, job_id: str, *, limit: int, after: str | None) -> dict[str, Any]:
        """``GET …/checkpoints``: newest first, paged by ``after``."""
        job = self.get_job(job_id)
        ckpts = self.store.checkpoints.get(job.id, [])
        end = len(ckpts)
        if after is not None:
            idx = next((i for i, c in enumerate(ckpts) if c["id"] == after), None)
            if idx is None:
                raise bad_request(f"Invalid 'after': no checkpoint {after!r} for job {job_id}.", "after")
            end = idx
        start = max(0, end - limit)
        data = ckpts[start:end][::-1]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": start > 0,
        }

    # -- checkpoint permissions ------------------------------------------------------------

    def _permission_target(self, checkpoint: str) -> str:
        if checkpoint in self._ckpt_models or (
            checkpoint in self._models and checkpoint not in self.store.deleted_models
        ):
            return checkpoint
        raise not_found(f"Fine-tuned model checkpoint {checkpoint} not found.", "fine_tuned_model_checkpoint")

    def create_permissions(self, checkpoint: str, body: Any) -> dict[str, Any]:
        """``POST …/permissions``: one permission per project id."""
        target = self._permission_target(checkpoint)
        ids = body.get("project_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(p, str) and p for p in ids):
            raise bad_request("Invalid 'project_ids': expected a non-empty list of project ids.", "project_ids")
        existing = {p["project_id"]: p for p in self.store.permissions.get(target, [])}
        out = []
        for pid in ids:
            perm = existing.get(pid)
            if perm is None:
                perm = {
                    "object": "checkpoint.permission",
                    "id": new_id("cp_", 24),
                    "created_at": int(now()),
                    "project_id": pid,
                }
                self.store.add_permission(target, perm)
                existing[pid] = perm
            out.append(perm)
        return {
            "object": "list",
            "data": out,
            "first_id": out[0]["id"],
            "last_id": out[-1]["id"],
            "has_more": False,
        }

    def list_permissions(
        self, checkpoint: str, *, project_id: str | None, after: str | None, limit: int, order: str
    ) -> dict[str, Any]:
        """``GET …/permissions``."""
        target = self._permission_target(checkpoint)
        if order not in ("ascending", "descending"):
            raise bad_request("Invalid 'order': expected 'ascending' or 'descending'.", "order")
        perms = list(self.store.permissions.get(target, []))
        if order == "descending":
            perms.reverse()
        if project_id is not None:
            perms = [p for p in perms if p["project_id"] == project_id]
        start = 0
        if after is not None:
            idx = next((i for i, p in enumerate(perms) if p["id"] == after), None)
            if idx is None:
                raise bad_request(f"Invalid 'after': no permission {after!r}.", "after")
            start = idx + 1
        page = perms[start : start + limit]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + limit < len(perms),
        }

    def delete_permission(self, checkpoint: str, permission_id: str) -> dict[str, Any]:
        """``DELETE …/permissions/{id}``."""
        target = self._permission_target(checkpoint)
        if not self.store.delete_permission(target, permission_id):
            raise not_found(f"No such permission: {permission_id}", "permission_id")
        return {"object": "checkpoint.permission", "id": permission_id, "deleted": True}

    # -- models ----------------------------------------------------------------------------

    def _model_api(self, model_id: str) -> dict[str, Any] | None:
        base = BASE_MODELS.get(model_id)
        if base is not None:
            return {
                "id": base.id,
                "object": "model",
                "created": base.created,
                "owned_by": base.owned_by,
                # Not in the spec's Model; lets tools see what each base model can be tuned with.
                "fine_tuning_methods": list(base.methods),
            }
        if model_id in self.store.deleted_models:
            return None
        job_id = self._models.get(model_id)
        if job_id is not None:
            job = self.store.jobs[job_id]
            return {
                "id": model_id,
                "object": "model",
                "created": int(job.finished_at or job.created_at),
                "owned_by": job.organization_id,
            }
        ck = self._ckpt_models.get(model_id)
        if ck is not None:
            return {"id": model_id, "object": "model", "created": ck["created_at"], "owned_by": self.organization_id}
        return None

    def list_models(self) -> dict[str, Any]:
        """``GET /models``: the fine-tunable base models and our fine-tuned models."""
        ids = list(BASE_MODELS) + [m for m in self._models if m not in self.store.deleted_models]
        return {"object": "list", "data": [m for i in ids if (m := self._model_api(i)) is not None]}

    def get_model(self, model_id: str) -> dict[str, Any]:
        """``GET /models/{model}``; 404 for unknown or deleted models."""
        out = self._model_api(model_id)
        if out is None:
            raise not_found(f"The model '{model_id}' does not exist", "model", "model_not_found")
        return out

    def delete_model(self, model_id: str) -> dict[str, Any]:
        """``DELETE /models/{model}``: fine-tuned models only (403 for a base model)."""
        if model_id in BASE_MODELS:
            raise APIError(
                403, f"You do not have permission to delete the model '{model_id}'.", code="model_not_deletable"
            )
        if model_id not in self._models or model_id in self.store.deleted_models:
            raise not_found(f"The model '{model_id}' does not exist", "model", "model_not_found")
        self.store.delete_model(model_id)
        return {"id": model_id, "object": "model", "deleted": True}

    def jobs_in_flight(self) -> int:
        """How many jobs have not reached a terminal status (for tests and benchmarks)."""
        return sum(1 for j in self.store.jobs.values() if j.status not in TERMINAL)


def _concat(sources: list[Path], dest: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with dest.open("wb") as out:
        for src in sources:
            with src.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    return digest.hexdigest()


def check_expires_after(value: Any, param: str = "expires_after") -> dict[str, Any] | None:
    """Validate an ``expires_after`` object (``{"anchor": "created_at", "seconds": 3600..2592000}``)."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("anchor") != "created_at" or not _is_int(value.get("seconds")):
        raise bad_request(f"Invalid '{param}': expected {{'anchor': 'created_at', 'seconds': int}}.", param)
    if not 3600 <= value["seconds"] <= 2592000:
        raise bad_request(f"Invalid '{param}.seconds': must be between 3600 and 2592000.", f"{param}.seconds")
    return {"anchor": "created_at", "seconds": value["seconds"]}


def _check_metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("Invalid type for 'metadata': expected an object.", "metadata")
    if len(value) > 16:
        raise bad_request("Invalid 'metadata': at most 16 key-value pairs.", "metadata")
    for k, v in value.items():
        if len(k) > 64:
            raise bad_request(f"Invalid 'metadata': key {k[:20]!r}… is longer than 64 characters.", "metadata")
        if not isinstance(v, str):
            raise bad_request(f"Invalid 'metadata': the value of {k!r} must be a string.", "metadata")
        if len(v) > 512:
            raise bad_request(f"Invalid 'metadata': the value of {k!r} is longer than 512 characters.", "metadata")
    return dict(value)


def _check_integrations(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 5:
        raise bad_request("Invalid 'integrations': expected a list of at most 5 integrations.", "integrations")
    for i, item in enumerate(value):
        wandb = item.get("wandb") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type") != "wandb" or not isinstance(wandb, dict):
            raise bad_request(f"Invalid 'integrations[{i}]': only type 'wandb' is supported.", f"integrations[{i}]")
        if not isinstance(wandb.get("project"), str):
            raise bad_request(f"Missing 'integrations[{i}].wandb.project'.", f"integrations[{i}].wandb.project")
    return value


def validate_metadata_filter(query: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, bool]:
    """Parse ``metadata[k]=v`` pairs (deepObject) and ``metadata=null`` from a query string."""
    pairs: dict[str, str] = {}
    no_metadata = False
    for key, value in query:
        if key == "metadata":
            if value == "null":
                no_metadata = True
        elif key.startswith("metadata[") and key.endswith("]"):
            pairs[key[len("metadata[") : -1]] = value
    return (pairs or None), no_metadata

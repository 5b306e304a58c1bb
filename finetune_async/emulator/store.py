"""Where the emulator keeps its objects: in memory, optionally written through to SQLite.

Reads always come from the in-memory dicts (that is what makes thousands of polls per second
cheap); with a ``data_dir`` every change is also written to ``DIR/emulator.sqlite3`` and file
bytes live under ``DIR/files``, so a restarted emulator loads the same files, uploads, jobs,
events, checkpoints and permissions. Without one, bytes go to a temporary directory removed
on :meth:`Store.close`.

The store knows nothing about the lifecycle: the resources (:mod:`.state`) decide, the store remembers.
What changes together is written together: :meth:`Store.transaction` makes the writes inside
it one SQLite transaction, so a process killed at any instant leaves each change whole or not
at all (a job's row and the events of the same step, a file and the upload it completes).
Bytes are written before the row that names them and removed after it, so a kill can leave
an unnamed blob, never a row without its bytes; unnamed blobs are removed at start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FileRecord", "JobRecord", "PartRecord", "Store", "UploadRecord"]

_log = logging.getLogger("finetune_async.emulator")


@dataclass(slots=True)
class FileRecord:
    """A stored file; ``path`` is relative to the store's blob directory.

    ``results_of`` names the job whose step-metrics file this is: its bytes are made from
    the job when read (they are a function of it), not stored, and ``path`` is empty.
    """

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    path: str
    expires_at: int | None = None
    status: str = "processed"
    results_of: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The ``OpenAIFile`` JSON object."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
        }
        # The spec types expires_at (and status_details) as non-nullable, so absent values are
        # left out rather than sent as null.
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at
        return out


@dataclass(slots=True)
class UploadRecord:
    """An Upload (``upload_…``) and the ids of the parts added to it, in arrival order."""

    id: str
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    created_at: int
    expires_at: int
    status: str = "pending"
    file_id: str | None = None
    file_expires_seconds: int | None = None
    part_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PartRecord:
    """One part (``part_…``) of an Upload; its bytes are in a blob file."""

    id: str
    upload_id: str
    created_at: int
    path: str
    size: int


@dataclass(slots=True)
class JobRecord:
    """Everything needed to answer for a fine-tuning job at any instant.

    The schedule fields (``t_validated``, ``t_started``, ``run_seconds``, ``run_offset``,
    ``run_resumed_at``) are wall-clock based: progress is computed from them on read, so no
    per-job task is needed and a restart carries on where the clock is.
    """

    id: str
    created_at: float
    model: str
    base_model: str
    training_file: str
    validation_file: str | None
    method_type: str
    method: dict[str, Any]
    hp_requested: dict[str, Any]
    hp_resolved: dict[str, Any]
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    integrations: list[Any] | None
    organization_id: str
    org_slug: str
    short: str
    n_examples: int
    total_tokens: int
    invalid: dict[str, Any] | None
    t_validated: float
    t_started: float
    run_seconds: float
    total_steps: int
    steps_per_epoch: int
    status: str = "validating_files"
    run_offset: float = 0.0
    run_resumed_at: float | None = None
    paused_at: float | None = None
    emitted_step: int = 0
    finished_at: float | None = None
    fine_tuned_model: str | None = None
    result_files: list[str] = field(default_factory=list)
    trained_tokens: int | None = None
    error: dict[str, Any] | None = None
    #: What a provider's dialect keeps with the job beyond OpenAI's fields (Nebius' absolute
    #: hyperparameters, its method and tags), keyed by the provider's name; None for most jobs.
    extra: dict[str, Any] | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS objects_seq ON objects (kind, seq);
"""


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Store:
    """The emulator's objects, indexed for the API's reads.

    ``events``, ``checkpoints`` and ``permissions`` are kept oldest first (append order); the
    ``*_index`` dicts map an id to its position so ``after=`` cursors are O(1). Events are kept
    as their JSON text: they are only ever served, and ten thousand jobs' worth of event dicts
    would make every full garbage collection of the server pause it for tens of milliseconds.
    """

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self.files: dict[str, FileRecord] = {}
        self.uploads: dict[str, UploadRecord] = {}
        self.parts: dict[str, PartRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.events: dict[str, list[str]] = {}
        self.event_index: dict[str, dict[str, int]] = {}
        self.checkpoints: dict[str, list[dict[str, Any]]] = {}
        self.permissions: dict[str, list[dict[str, Any]]] = {}
        self.deleted_models: set[str] = set()
        self._seq = 0
        self._depth = 0
        self._db: sqlite3.Connection | None = None
        self._tmp: str | None = None
        if data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="finetune-emulator-")
            self.blob_dir = Path(self._tmp)
        else:
            root = Path(data_dir)
            self.blob_dir = root / "files"
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: the store is only touched from the event loop thread, but
            # sqlite3 objects must also be closable from whichever thread runs shutdown.
            self._db = sqlite3.connect(root / "emulator.sqlite3", check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._load()
            self._sweep_blobs()

    @property
    def persistent(self) -> bool:
        """Whether changes survive a restart."""
        return self._db is not None

    def blob_path(self, name: str) -> Path:
        """Absolute path of a blob file."""
        return self.blob_dir / name

    # -- persistence -----------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every write inside the block one transaction: committed at its end, rolled back
        if it raises. Blocks nest (only the outermost commits); without a database it does nothing.
        """
        if self._db is None or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        db = self._db
        db.execute("BEGIN")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            db.execute("ROLLBACK")
            raise
        self._depth = 0
        db.execute("COMMIT")

    def _write(self, kind: str, id_: str, data: Any) -> None:
        if self._db is None:
            return
        if dataclasses.is_dataclass(data) and not isinstance(data, type):
            data = dataclasses.asdict(data)
        self._seq += 1
        self._db.execute(
            "INSERT INTO objects (kind, id, seq, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(kind, id) DO UPDATE SET data = excluded.data",
            (kind, id_, self._seq, json.dumps(data)),
        )

    def _write_many(self, kind: str, rows: list[tuple[str, Any]]) -> None:
        # Callers build rows cheaply; in memory nothing is serialised at all.
        if self._db is None or not rows:
            return
        params = []
        for id_, data in rows:
            self._seq += 1
            params.append((kind, id_, self._seq, json.dumps(data)))
        with self.transaction():
            self._db.executemany(
                "INSERT INTO objects (kind, id, seq, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(kind, id) DO UPDATE SET data = excluded.data",
                params,
            )

    def _remove(self, kind: str, id_: str) -> None:
        if self._db is not None:
            self._db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, id_))

    def _load(self) -> None:
        assert self._db is not None
        row = self._db.execute("SELECT MAX(seq) FROM objects").fetchone()
        self._seq = int(row[0] or 0)
        for kind, id_, data in self._db.execute("SELECT kind, id, data FROM objects ORDER BY seq"):
            obj = json.loads(data)
            if kind == "file":
                self.files[id_] = FileRecord(**obj)
            elif kind == "upload":
                self.uploads[id_] = UploadRecord(**obj)
            elif kind == "part":
                self.parts[id_] = PartRecord(**obj)
            elif kind == "job":
                self.jobs[id_] = JobRecord(**obj)
            elif kind == "event":
                self._append_event(obj["job_id"], obj["event"]["id"], _compact(obj["event"]))
            elif kind == "checkpoint":
                self.checkpoints.setdefault(obj["fine_tuning_job_id"], []).append(obj)
            elif kind == "permission":
                self.permissions.setdefault(obj["checkpoint"], []).append(obj["permission"])
            elif kind == "deleted_model":
                self.deleted_models.add(id_)
        # An upsert keeps its row's first seq, so this load order is creation order, which is
        # what the dicts' insertion order (and so every listing) relies on.

    def _sweep_blobs(self) -> None:
        # What a kill leaves behind: an upload streamed half-way, a concatenation cut short, the
        # parts of an upload completed or cancelled just before their bytes were removed. Only
        # files and the parts of pending uploads are still to be read.
        wanted = {rec.path for rec in self.files.values() if rec.path}
        for part in self.parts.values():
            upload = self.uploads.get(part.upload_id)
            if upload is not None and upload.status == "pending":
                wanted.add(part.path)
        removed = 0
        size = 0
        for entry in self.blob_dir.iterdir():
            if entry.name in wanted or not entry.is_file():
                continue
            with contextlib.suppress(OSError):
                size += entry.stat().st_size
                entry.unlink()
                removed += 1
        if removed:
            _log.info("removed %d blob(s) (%d bytes) that no file or pending upload names", removed, size)

    # -- writes ----------------------------------------------------------------------

    def put_file(self, rec: FileRecord) -> None:
        """Add or replace a file."""
        self.files[rec.id] = rec
        self._write("file", rec.id, rec)

    def delete_file(self, file_id: str) -> None:
        """Forget a file and remove its bytes."""
        rec = self.files.pop(file_id, None)
        if rec is not None:
            # The row first: a kill in between leaves an unnamed blob (swept at start), not a
            # file whose bytes are gone.
            self._remove("file", file_id)
            if rec.path:
                self.blob_path(rec.path).unlink(missing_ok=True)

    def put_upload(self, rec: UploadRecord) -> None:
        """Add or replace an upload."""
        self.uploads[rec.id] = rec
        self._write("upload", rec.id, rec)

    def put_part(self, rec: PartRecord) -> None:
        """Add an upload part."""
        self.parts[rec.id] = rec
        self._write("part", rec.id, rec)

    def drop_part_blobs(self, upload: UploadRecord) -> None:
        """Delete the bytes of every part of an upload (after complete or cancel)."""
        for pid in upload.part_ids:
            part = self.parts.get(pid)
            if part is not None:
                self.blob_path(part.path).unlink(missing_ok=True)

    def put_job(
        self,
        rec: JobRecord,
        events: list[dict[str, Any]] | None = None,
        *,
        checkpoints: list[dict[str, Any]] | None = None,
        files: list[FileRecord] | None = None,
    ) -> None:
        """Add or replace a job (called after every change to it), with what the same change
        made: its new events (oldest first), checkpoints and files, all in one transaction."""
        with self.transaction():
            for file in files or ():
                self.put_file(file)
            self.jobs[rec.id] = rec
            self._write("job", rec.id, rec)
            if checkpoints:
                self.add_checkpoints(rec.id, checkpoints)
            if events:
                self.add_events(rec.id, events)

    def delete_job(self, job_id: str) -> None:
        """Forget a job with its events and checkpoints (its results file stays a file)."""
        with self.transaction():
            self.jobs.pop(job_id, None)
            self._remove("job", job_id)
            for text in self.events.pop(job_id, []):
                self._remove("event", json.loads(text)["id"])
            self.event_index.pop(job_id, None)
            for ckpt in self.checkpoints.pop(job_id, []):
                self._remove("checkpoint", ckpt["id"])

    def _append_event(self, job_id: str, event_id: str, text: str) -> None:
        lst = self.events.setdefault(job_id, [])
        self.event_index.setdefault(job_id, {})[event_id] = len(lst)
        lst.append(text)

    def add_events(self, job_id: str, events: list[dict[str, Any]]) -> None:
        """Append events (oldest first) to a job's log."""
        for ev in events:
            self._append_event(job_id, ev["id"], _compact(ev))
        if self._db is not None:
            self._write_many("event", [(ev["id"], {"job_id": job_id, "event": ev}) for ev in events])

    def add_checkpoints(self, job_id: str, ckpts: list[dict[str, Any]]) -> None:
        """Append checkpoints (oldest first) to a job."""
        self.checkpoints.setdefault(job_id, []).extend(ckpts)
        self._write_many("checkpoint", [(c["id"], c) for c in ckpts])

    def add_permission(self, checkpoint: str, perm: dict[str, Any]) -> None:
        """Grant a permission on a checkpoint or fine-tuned model."""
        self.permissions.setdefault(checkpoint, []).append(perm)
        self._write("permission", perm["id"], {"checkpoint": checkpoint, "permission": perm})

    def delete_permission(self, checkpoint: str, permission_id: str) -> bool:
        """Revoke a permission; False when there was none with that id."""
        lst = self.permissions.get(checkpoint, [])
        for i, perm in enumerate(lst):
            if perm["id"] == permission_id:
                del lst[i]
                self._remove("permission", permission_id)
                return True
        return False

    def delete_model(self, model: str) -> None:
        """Remember that a fine-tuned model was deleted."""
        self.deleted_models.add(model)
        self._write("deleted_model", model, {})

    def close(self) -> None:
        """Close the database; remove the temporary blob directory when in memory."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

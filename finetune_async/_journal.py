"""The batch journal: what :func:`finetune_async.run_batch` did, before and after each side effect.

One interface, :class:`JournalStore` (async), and two stores: :class:`SqliteStore` here (the
embedded default: one file, one run at a time) and
:class:`~finetune_async._journal_pg.PostgresJournal` (many workers on many machines, one
batch; imported only when a ``postgresql://`` journal is asked for). :func:`open_journal`
picks the store from what the caller passed.

The SQLite store: one file (stdlib ``sqlite3``), written through :class:`Journal`. Every
write is its own committed transaction, made
*before* a side effect (an intent) and *after* it (the id the server gave), so a process
killed at any instant leaves a journal that says, for every file and job, one of: nothing
happened yet, it may have happened (intent without an id), or it happened (id recorded).

Durability: WAL with ``synchronous=FULL`` fsyncs the log on every commit, so a commit survives
SIGKILL (the OS has the bytes) and a power loss too. A journal is written by one run at a
time: ``locking_mode=EXCLUSIVE`` keeps the database locked from the first write until the
connection closes or the process dies (the OS drops its locks then), so a second run of the
same batch fails fast instead of interleaving creates with the first.

Schema (``user_version`` 1)::

    meta  (name TEXT PRIMARY KEY, value TEXT NOT NULL)           -- batch_id
    files (sha256 TEXT, purpose TEXT, filename TEXT, size INT,
           file_id TEXT NULL,                                    -- NULL: intent only
           updated_at REAL, PRIMARY KEY (sha256, purpose))
    specs (key TEXT PRIMARY KEY, fingerprint TEXT, state TEXT,   -- see SpecState
           job_id TEXT NULL, status TEXT NULL, fine_tuned_model TEXT NULL,
           error TEXT NULL, trained_tokens INT NULL, created_at REAL NULL,
           finished_at REAL NULL, attempts INT NOT NULL DEFAULT 0, updated_at REAL)
"""

from __future__ import annotations

import abc
import os
import sqlite3
import time
from collections.abc import Iterable
from typing import Final

import attrs

from .errors import FineTuneError

__all__ = [
    "FileRow",
    "Journal",
    "JournalBusyError",
    "JournalStore",
    "LeaseLostError",
    "SpecRow",
    "SpecState",
    "SqliteStore",
    "open_journal",
]

SCHEMA_VERSION: Final = 1


class SpecState:
    """The states of a spec's row (strings, so the file is readable with the sqlite3 shell).

    A ``pending`` or ``creating`` row that still holds a ``job_id`` is a *restart*: that job was
    cancelled, and the spec is to get one new job (see :meth:`Journal.job_restart`).
    """

    #: Nothing sent for this spec yet (or a create the server provably refused: ``error`` says why).
    PENDING: Final = "pending"
    #: Intent recorded, create maybe sent: the job may exist. Reconcile with the server first.
    CREATING: Final = "creating"
    #: The job exists (``job_id``) and had not ended when last seen.
    CREATED: Final = "created"
    #: The job ended (``status`` succeeded, failed or cancelled).
    DONE: Final = "done"


class JournalBusyError(FineTuneError):
    """Another process is running this batch (it holds the journal's lock)."""


class LeaseLostError(FineTuneError):
    """This worker no longer holds the spec (its lease lapsed and another worker took it over):
    nothing more may be done or written for it here. Raised by a shared store's writes."""


@attrs.frozen(kw_only=True)
class SpecRow:
    """One spec's row."""

    key: str
    fingerprint: str
    state: str
    job_id: str | None = None
    status: str | None = None
    fine_tuned_model: str | None = None
    error: str | None = None
    trained_tokens: int | None = None
    created_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    #: When the row was last written (epoch seconds): for a ``creating`` row, when the intent was.
    updated_at: float | None = None
    #: Shared stores only: the worker that holds (or last held) the spec, its fencing token (a
    #: counter raised by every claim) and the seconds its lease has left (negative: lapsed).
    owner: str | None = None
    fence: int = 0
    lease_left: float | None = None

    @property
    def restarting(self) -> bool:
        """True for a restart of the cancelled ``job_id`` whose new job is not recorded yet."""
        return self.state in (SpecState.PENDING, SpecState.CREATING) and self.job_id is not None


@attrs.frozen(kw_only=True)
class FileRow:
    """One local file's upload: ``file_id`` is None while only the intent is recorded."""

    sha256: str
    purpose: str
    filename: str
    size: int
    file_id: str | None
    #: When the row was last written (epoch seconds): for an intent, when the upload was sent.
    updated_at: float | None = None


_SPEC_COLUMNS = (
    "key, fingerprint, state, job_id, status, fine_tuned_model, error, trained_tokens,"
    " created_at, finished_at, attempts, updated_at"
)


class Journal:
    """The journal of one batch. Not thread-safe: one run, one event loop, one connection.

    Raises :class:`JournalBusyError` when another process has the journal open for writing,
    and :class:`~finetune_async.FineTuneError` when the file is not a journal of this version.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 1.0) -> None:
        self.path = os.fspath(path)
        # isolation_level=None: no implicit transactions; each write below is one explicit
        # BEGIN IMMEDIATE ... COMMIT, so "written" means "committed".
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise FineTuneError(f"cannot open the batch journal {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # Take the lock now (a write transaction), not at the first intent minutes later.
            self._db.execute("BEGIN IMMEDIATE")
            self._create_schema()
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise JournalBusyError(
                    f"the batch journal {self.path} is in use by another process (is this batch already running?)"
                ) from None
            raise FineTuneError(f"cannot use the batch journal {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise FineTuneError(f"{self.path} is not a batch journal: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    def _create_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise FineTuneError(f"{self.path}: a batch journal of an unknown version ({version})")
        statements = (
            "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS files ("
            " sha256 TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL, size INTEGER NOT NULL,"
            " file_id TEXT, updated_at REAL NOT NULL, PRIMARY KEY (sha256, purpose))",
            "CREATE TABLE IF NOT EXISTS specs ("
            " key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL,"
            " job_id TEXT, status TEXT, fine_tuned_model TEXT, error TEXT, trained_tokens INTEGER,"
            " created_at REAL, finished_at REAL, attempts INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL)",
            f"PRAGMA user_version = {SCHEMA_VERSION}",
        )
        # One by one inside the caller's transaction (executescript would commit it first).
        for statement in statements:
            self._db.execute(statement)

    def close(self) -> None:
        """Close the connection (releasing the lock). Idempotent."""
        self._db.close()

    def _write(self, sql: str, params: Iterable[object] = ()) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(sql, tuple(params))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- the batch ---------------------------------------------------------------------------

    def batch_id(self) -> str | None:
        """The batch id recorded by the first run, if any."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'batch_id'").fetchone()
        return None if row is None else str(row[0])

    def set_batch_id(self, batch_id: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (name, value) VALUES ('batch_id', ?)", (batch_id,))

    # -- specs -------------------------------------------------------------------------------

    def specs(self) -> dict[str, SpecRow]:
        """Every spec row, by key."""
        rows = self._db.execute(f"SELECT {_SPEC_COLUMNS} FROM specs").fetchall()
        return {row[0]: _spec_row(row) for row in rows}

    def spec(self, key: str) -> SpecRow | None:
        row = self._db.execute(f"SELECT {_SPEC_COLUMNS} FROM specs WHERE key = ?", (key,)).fetchone()
        return None if row is None else _spec_row(row)

    def add_specs(self, items: Iterable[tuple[str, str]]) -> None:
        """Insert a ``pending`` row for each new ``(key, fingerprint)``; existing rows are kept."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO specs (key, fingerprint, state, updated_at) VALUES (?, ?, 'pending', ?)",
                [(key, fp, now) for key, fp in items],
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def job_intent(self, key: str) -> None:
        """Before a create is sent: from here on the job may exist."""
        self._write(
            "UPDATE specs SET state = 'creating', error = NULL, attempts = attempts + 1, updated_at = ? WHERE key = ?",
            (time.time(), key),
        )

    def job_created(self, key: str, job_id: str, status: str, created_at: float | None) -> None:
        """The job exists (created now, or found on the server)."""
        self._write(
            "UPDATE specs SET state = 'created', job_id = ?, status = ?, created_at = ?, error = NULL, updated_at = ?"
            " WHERE key = ?",
            (job_id, status, created_at, time.time(), key),
        )

    def job_restart(self, key: str) -> bool:
        """Mark a spec whose job was cancelled for one new job; False (nothing written) unless
        the row says ``done`` and ``cancelled``.

        The row goes back to ``pending`` and keeps the cancelled ``job_id``: while it does, that
        job and the spec's other cancelled jobs no longer count as the spec's job, so the next
        create (by this run or, after a crash, by any later one) is the restart's. Recording
        the new job (:meth:`job_created`, :meth:`job_finished`) ends the restart;
        :meth:`job_not_created` (the create refused) drops it.
        """
        before = self._db.total_changes
        self._write(
            "UPDATE specs SET state = 'pending', status = NULL, fine_tuned_model = NULL, error = NULL,"
            " trained_tokens = NULL, created_at = NULL, finished_at = NULL, updated_at = ?"
            " WHERE key = ? AND state = 'done' AND status = 'cancelled'",
            (time.time(), key),
        )
        return self._db.total_changes > before

    def job_not_created(self, key: str, error: str | None) -> None:
        """No job exists for the spec (the create was refused, or reconciliation found none)."""
        self._write(
            "UPDATE specs SET state = 'pending', job_id = NULL, status = NULL, error = ?, updated_at = ? WHERE key = ?",
            (error, time.time(), key),
        )

    def job_finished(
        self,
        key: str,
        *,
        job_id: str,
        status: str,
        fine_tuned_model: str | None,
        error: str | None,
        trained_tokens: int | None,
        created_at: float | None,
        finished_at: float | None,
    ) -> None:
        """The job ended."""
        self._write(
            "UPDATE specs SET state = 'done', job_id = ?, status = ?, fine_tuned_model = ?, error = ?,"
            " trained_tokens = ?, created_at = ?, finished_at = ?, updated_at = ? WHERE key = ?",
            (job_id, status, fine_tuned_model, error, trained_tokens, created_at, finished_at, time.time(), key),
        )

    # -- files -------------------------------------------------------------------------------

    def file(self, sha256: str, purpose: str) -> FileRow | None:
        row = self._db.execute(
            "SELECT sha256, purpose, filename, size, file_id, updated_at FROM files WHERE sha256 = ? AND purpose = ?",
            (sha256, purpose),
        ).fetchone()
        if row is None:
            return None
        return FileRow(sha256=row[0], purpose=row[1], filename=row[2], size=row[3], file_id=row[4], updated_at=row[5])

    def file_intent(self, sha256: str, purpose: str, filename: str, size: int) -> None:
        """Before an upload is sent: a file with this name may exist from here on."""
        self._write(
            "INSERT OR REPLACE INTO files (sha256, purpose, filename, size, file_id, updated_at)"
            " VALUES (?, ?, ?, ?, NULL, ?)",
            (sha256, purpose, filename, size, time.time()),
        )

    def file_uploaded(self, sha256: str, purpose: str, filename: str, size: int, file_id: str) -> None:
        """The file exists on the server as ``file_id``."""
        self._write(
            "INSERT OR REPLACE INTO files (sha256, purpose, filename, size, file_id, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (sha256, purpose, filename, size, file_id, time.time()),
        )


def _spec_row(row: tuple[object, ...]) -> SpecRow:
    key, fingerprint, state, job_id, status, model, error, tokens, created, finished, attempts, updated = row
    return SpecRow(
        key=str(key),
        fingerprint=str(fingerprint),
        state=str(state),
        job_id=None if job_id is None else str(job_id),
        status=None if status is None else str(status),
        fine_tuned_model=None if model is None else str(model),
        error=None if error is None else str(error),
        trained_tokens=None if tokens is None else int(tokens),  # type: ignore[call-overload]
        created_at=None if created is None else float(created),  # type: ignore[arg-type]
        finished_at=None if finished is None else float(finished),  # type: ignore[arg-type]
        attempts=int(attempts),  # type: ignore[call-overload]
        updated_at=None if updated is None else float(updated),  # type: ignore[arg-type]
    )


class JournalStore(abc.ABC):
    """What :func:`~finetune_async.run_batch` asks of a journal, whichever store holds it.

    Every write is durable when it returns. A *shared* store (:attr:`shared`) serves many
    workers of one batch at once: a worker acts only on specs it has claimed
    (:meth:`claim`), under a lease it keeps alive (:meth:`heartbeat`), and every write it makes
    for a spec carries the fencing token of its claim, so a write for a spec it lost raises
    :class:`LeaseLostError` instead of landing. A store that is not shared belongs to one run
    (the SQLite store's file lock): its claim methods are not called.
    """

    #: True when many workers share the batch (claims, leases, fencing).
    shared: bool = False
    #: Where the journal is, for messages (never a password).
    location: str = ""
    #: Database round trips made so far (the shared store counts them; for the benchmarks).
    round_trips: int = 0

    async def open(self) -> None:  # noqa: B027 - a store with nothing to open keeps this default
        """Connect, check the schema (migrating it where the store does). Raises
        :class:`~finetune_async.FineTuneError` when it cannot."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the store (releasing what it holds). Idempotent."""

    # -- the batch ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def batch_id(self) -> str | None:
        """The batch id this journal is bound to, if any (a shared store holds many batches: None)."""

    @abc.abstractmethod
    async def set_batch_id(self, batch_id: str) -> None:
        """Bind the journal to ``batch_id`` (a shared store: select that batch, creating it)."""

    # -- specs -------------------------------------------------------------------------------

    @abc.abstractmethod
    async def specs(self) -> dict[str, SpecRow]:
        """Every spec row of the batch, by key."""

    @abc.abstractmethod
    async def spec(self, key: str) -> SpecRow | None:
        """One spec's row, if it has one."""

    @abc.abstractmethod
    async def add_specs(self, items: Iterable[tuple[str, str]]) -> None:
        """Insert a ``pending`` row for each new ``(key, fingerprint)``; existing rows are kept."""

    @abc.abstractmethod
    async def job_intent(self, key: str) -> None:
        """Before a create is sent: from here on the job may exist."""

    @abc.abstractmethod
    async def job_created(self, key: str, job_id: str, status: str, created_at: float | None) -> None:
        """The job exists (created now, or found on the server)."""

    @abc.abstractmethod
    async def job_restart(self, key: str) -> bool:
        """Mark a cancelled spec for one new job (see :meth:`Journal.job_restart`)."""

    @abc.abstractmethod
    async def job_not_created(self, key: str, error: str | None) -> None:
        """No job exists for the spec (the create was refused, or reconciliation found none)."""

    @abc.abstractmethod
    async def job_finished(
        self,
        key: str,
        *,
        job_id: str,
        status: str,
        fine_tuned_model: str | None,
        error: str | None,
        trained_tokens: int | None,
        created_at: float | None,
        finished_at: float | None,
    ) -> None:
        """The job ended."""

    # -- files -------------------------------------------------------------------------------

    @abc.abstractmethod
    async def file(self, sha256: str, purpose: str) -> FileRow | None:
        """A local file's upload row, if any."""

    @abc.abstractmethod
    async def file_intent(self, sha256: str, purpose: str, filename: str, size: int) -> None:
        """Before an upload is sent: a file with this name may exist from here on."""

    @abc.abstractmethod
    async def file_uploaded(self, sha256: str, purpose: str, filename: str, size: int, file_id: str) -> None:
        """The file exists on the server as ``file_id``."""

    # -- many workers (shared stores only) ---------------------------------------------------

    def check_lease(self, key: str) -> None:  # noqa: B027 - one run holds everything: nothing to check
        """Raise :class:`LeaseLostError` unless this worker's lease on ``key`` surely holds
        now (by the local clock, with a margin): called right before a side effect."""

    #: Seconds a claim lasts without a heartbeat (shared stores).
    lease_seconds: float = 0.0

    async def claim(self, limit: int, exclude: Iterable[str] = ()) -> list[SpecRow]:
        """Claim up to ``limit`` specs that are not done and that nobody holds (or whose holder's
        lease lapsed), skipping ``exclude``; their rows as claimed."""
        raise NotImplementedError

    async def heartbeat(self) -> set[str]:
        """Extend the leases this worker holds; the keys it found it had lost."""
        raise NotImplementedError

    async def release(self, key: str) -> None:
        """Give a held spec back (unfinished, for another worker to try)."""
        raise NotImplementedError

    async def others_active(self) -> bool:
        """True while another worker holds an unfinished spec of the batch under a live lease."""
        raise NotImplementedError

    def held(self) -> set[str]:
        """The keys this worker holds now."""
        return set()

    async def restart_cancelled(self) -> int:
        """Mark every cancelled spec of the batch for one new job (one statement); how many."""
        raise NotImplementedError


class SqliteStore(JournalStore):
    """The embedded store: one SQLite :class:`Journal`, one run at a time (its file lock)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.journal = Journal(path)
        self.location = self.journal.path

    async def aclose(self) -> None:
        self.journal.close()

    # Each call below is a local, fsync'd write of a few hundred bytes: done on the loop, as
    # before the interface was async (a thread hop would cost more than the write).

    async def batch_id(self) -> str | None:
        return self.journal.batch_id()

    async def set_batch_id(self, batch_id: str) -> None:
        self.journal.set_batch_id(batch_id)

    async def specs(self) -> dict[str, SpecRow]:
        return self.journal.specs()

    async def spec(self, key: str) -> SpecRow | None:
        return self.journal.spec(key)

    async def add_specs(self, items: Iterable[tuple[str, str]]) -> None:
        self.journal.add_specs(items)

    async def job_intent(self, key: str) -> None:
        self.journal.job_intent(key)

    async def job_created(self, key: str, job_id: str, status: str, created_at: float | None) -> None:
        self.journal.job_created(key, job_id, status, created_at)

    async def job_restart(self, key: str) -> bool:
        return self.journal.job_restart(key)

    async def job_not_created(self, key: str, error: str | None) -> None:
        self.journal.job_not_created(key, error)

    async def job_finished(
        self,
        key: str,
        *,
        job_id: str,
        status: str,
        fine_tuned_model: str | None,
        error: str | None,
        trained_tokens: int | None,
        created_at: float | None,
        finished_at: float | None,
    ) -> None:
        self.journal.job_finished(
            key,
            job_id=job_id,
            status=status,
            fine_tuned_model=fine_tuned_model,
            error=error,
            trained_tokens=trained_tokens,
            created_at=created_at,
            finished_at=finished_at,
        )

    async def file(self, sha256: str, purpose: str) -> FileRow | None:
        return self.journal.file(sha256, purpose)

    async def file_intent(self, sha256: str, purpose: str, filename: str, size: int) -> None:
        self.journal.file_intent(sha256, purpose, filename, size)

    async def file_uploaded(self, sha256: str, purpose: str, filename: str, size: int, file_id: str) -> None:
        self.journal.file_uploaded(sha256, purpose, filename, size, file_id)


def read_sqlite(path: str | os.PathLike[str]) -> tuple[str | None, list[SpecRow]]:
    """A SQLite journal's batch id and spec rows, read-only (``finetune-async batch status``).

    Raises :class:`JournalBusyError` while a run holds the journal (its exclusive lock), and
    :class:`~finetune_async.FineTuneError` for a missing file or one that is not a journal.
    """
    location = os.fspath(path)
    if not os.path.isfile(location):
        raise FineTuneError(f"no batch journal at {location}")
    try:
        db = sqlite3.connect(f"file:{location}?mode=ro", uri=True, timeout=0.2)
    except sqlite3.Error as exc:
        raise FineTuneError(f"cannot open the batch journal {location}: {exc}") from exc
    try:
        meta = db.execute("SELECT value FROM meta WHERE name = 'batch_id'").fetchone()
        rows = [_spec_row(r) for r in db.execute(f"SELECT {_SPEC_COLUMNS} FROM specs ORDER BY key")]
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise JournalBusyError(
                f"the batch journal {location} is held by a running batch (SQLite journals are read once it ends;"
                " a postgresql:// journal can be read while workers run)"
            ) from None
        raise FineTuneError(f"{location} is not a batch journal: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise FineTuneError(f"{location} is not a batch journal: {exc}") from exc
    finally:
        db.close()
    return (None if meta is None else str(meta[0])), rows


#: The URL schemes that name a PostgreSQL journal.
POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")


def is_postgres(target: object) -> bool:
    """True when ``target`` is a PostgreSQL connection URL."""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def open_journal(target: str | os.PathLike[str] | JournalStore | None) -> JournalStore:
    """The store for ``target``: a :class:`JournalStore` as given, a ``postgresql://`` URL's
    :class:`~finetune_async._journal_pg.PostgresJournal` (needs the ``postgres`` extra), a path's
    SQLite file, or (None) an in-memory SQLite journal for one run. Not opened yet (call
    :meth:`JournalStore.open`), except SQLite's, which is opened (and locked) here.

    Raises :class:`JournalBusyError` and :class:`~finetune_async.FineTuneError` as
    :class:`Journal` does, and :class:`~finetune_async.FineTuneError` when psycopg is missing.
    """
    if isinstance(target, JournalStore):
        return target
    if is_postgres(target):
        from ._journal_pg import PostgresJournal

        return PostgresJournal(str(target))
    return SqliteStore(":memory:" if target is None else target)

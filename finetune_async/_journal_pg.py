"""The PostgreSQL journal: one batch run by many workers on many machines (the ``postgres`` extra).

:class:`PostgresJournal` is the shared :class:`~finetune_async._journal.JournalStore`: psycopg 3
(async) through a small ``psycopg_pool`` pool, each statement committed on its own
(autocommit), so "written" means "committed", as with the SQLite store. One database holds
any number of batches, each row keyed by its batch id.

Many workers, one batch
    A worker acts on a spec only while it holds it. :meth:`PostgresJournal.claim` takes specs
    that are not done and that nobody holds, or whose holder's lease lapsed, in one statement
    (``SELECT ... FOR UPDATE SKIP LOCKED`` inside an ``UPDATE``, so two workers never claim the
    same row and never wait on each other), stamps them with this worker's id and a lease
    (``lease_until``, the database's clock), and raises each row's ``fence``: the fencing
    token of the claim. Every write the worker makes for a spec names the token it claimed it
    with (``WHERE owner = me AND fence = token``); a write that matches no row means the spec
    was taken over, and raises :class:`~finetune_async._journal.LeaseLostError`. The intent
    before a create also requires a live lease, and :meth:`PostgresJournal.check_lease` asks
    the local monotonic clock before the create is sent and again at the last moment, as each
    attempt's bytes are about to be written (``_transport.SEND_GUARD``), so a worker that was
    stopped (SIGSTOP, a VM paused) past its lease and wakes up sends nothing for specs it lost.
    :meth:`PostgresJournal.heartbeat` extends every lease the worker holds in one statement
    and says which it lost. A dead worker's specs are claimed again once its lease lapses,
    and the next holder settles a create the dead one may have sent through the client's
    create-once ledger before sending anything (:mod:`finetune_async.batch`).

Schema
    Versioned migrations (:data:`MIGRATIONS`), applied at :meth:`PostgresJournal.open` under a
    transaction-scoped advisory lock, so workers starting together migrate once; a database
    of a newer version than this code knows is refused. Tables (version 1)::

        finetune_async_schema_version (version INT PRIMARY KEY, applied_at TIMESTAMPTZ)
        finetune_async_batches (batch_id TEXT PRIMARY KEY, created_at TIMESTAMPTZ)
        finetune_async_specs   (batch_id, key, fingerprint, state, job_id, status,
                                fine_tuned_model, error, trained_tokens, created_at,
                                finished_at, attempts, updated_at,           -- as in SQLite
                                owner TEXT NULL, fence BIGINT, lease_until TIMESTAMPTZ NULL,
                                PRIMARY KEY (batch_id, key))
        finetune_async_files   (batch_id, sha256, purpose, filename, size, file_id NULL,
                                updated_at, PRIMARY KEY (batch_id, sha256, purpose))
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from ._journal import FileRow, JournalStore, LeaseLostError, SpecRow
from .errors import FineTuneError

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["DEFAULT_LEASE_SECONDS", "MIGRATIONS", "JournalDatabaseError", "PostgresJournal"]

#: Seconds a claim lasts without a heartbeat unless told otherwise.
DEFAULT_LEASE_SECONDS: Final = 30.0
# The advisory lock key the migrations are applied under (any fixed 64-bit number).
_MIGRATION_LOCK: Final = 0x66745F6A6F75726E

#: The schema's versions, oldest first: ``(version, statements)``. Append, never edit.
MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (
        1,
        (
            "CREATE TABLE finetune_async_batches ("
            " batch_id TEXT PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            "CREATE TABLE finetune_async_specs ("
            " batch_id TEXT NOT NULL REFERENCES finetune_async_batches (batch_id) ON DELETE CASCADE,"
            " key TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,"
            " job_id TEXT, status TEXT, fine_tuned_model TEXT, error TEXT, trained_tokens BIGINT,"
            " created_at DOUBLE PRECISION, finished_at DOUBLE PRECISION,"
            " attempts INTEGER NOT NULL DEFAULT 0, updated_at DOUBLE PRECISION NOT NULL,"
            " owner TEXT, fence BIGINT NOT NULL DEFAULT 0, lease_until TIMESTAMPTZ,"
            " PRIMARY KEY (batch_id, key))",
            # The claim's scan: the unfinished specs of one batch.
            "CREATE INDEX finetune_async_specs_open ON finetune_async_specs (batch_id, key) WHERE state <> 'done'",
            "CREATE TABLE finetune_async_files ("
            " batch_id TEXT NOT NULL REFERENCES finetune_async_batches (batch_id) ON DELETE CASCADE,"
            " sha256 TEXT NOT NULL, purpose TEXT NOT NULL, filename TEXT NOT NULL, size BIGINT NOT NULL,"
            " file_id TEXT, updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (batch_id, sha256, purpose))",
        ),
    ),
)
SCHEMA_VERSION: Final = MIGRATIONS[-1][0]

_SPEC_COLUMNS = (
    "key, fingerprint, state, job_id, status, fine_tuned_model, error, trained_tokens, created_at,"
    " finished_at, attempts, updated_at, owner, fence, extract(epoch FROM lease_until - now())"
)
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
#: libpq also takes the password as a query parameter.
_PASSWORD_PARAM = re.compile(r"([?&]password=)[^&\s]*", re.IGNORECASE)


class JournalDatabaseError(FineTuneError):
    """The journal's database could not be reached, or refused a statement."""


def _redacted(dsn: str) -> str:
    """The DSN without its password (for messages)."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1***@", dsn))


class PostgresJournal(JournalStore):
    """A batch journal in PostgreSQL, shared by every worker of the batch.

    ``dsn`` is a libpq URL (``postgresql://user@host:5432/db``; a password in it never appears
    in a message). ``lease_seconds`` is how long a claim lasts without a heartbeat (sent every
    third of it); a dead worker's specs are taken over that long after it died. ``worker_id``
    names this worker in the table and in ``finetune-async batch status`` (default: host, pid
    and a random suffix). Use one instance for one run of one batch.

    Raises :class:`~finetune_async.FineTuneError` when psycopg is not installed (the
    ``postgres`` extra), and (from :meth:`open`) :class:`JournalDatabaseError` when the database
    cannot be reached or holds a newer schema.
    """

    shared = True

    #: A DSN without its password, for messages.
    redact = staticmethod(_redacted)

    def __init__(
        self,
        dsn: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        worker_id: str | None = None,
        pool_size: int = 4,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be > 0")
        try:
            import psycopg  # noqa: F401 - checked here, used in open()
            import psycopg_pool  # noqa: F401
        except ImportError:
            raise FineTuneError(
                "a PostgreSQL journal needs psycopg 3 and psycopg_pool: pip install 'finetune-async[postgres]'"
            ) from None
        self._dsn = dsn
        self.location = _redacted(dsn)
        self.lease_seconds = float(lease_seconds)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._pool_size = max(1, pool_size)
        self._pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]] | None = None
        self._batch: str | None = None
        # key -> the fence of this worker's claim, and the local monotonic instant until which
        # the lease surely holds (counted from before the statement that set it, less a margin).
        self._fences: dict[str, int] = {}
        self._deadlines: dict[str, float] = {}
        self.round_trips = 0

    # -- connection and schema -----------------------------------------------------------------

    async def open(self) -> None:
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        # One connection first, for the migrations: a database that cannot be reached fails
        # here at once, with the driver's reason (a pool would retry until its timeout).
        try:
            conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise JournalDatabaseError(
                f"cannot connect to the batch journal {self.location}: {_redacted(str(exc))}"
            ) from None
        try:
            await self._migrate(conn)
        finally:
            await conn.close()
        pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
            self._dsn, min_size=1, max_size=self._pool_size, kwargs={"autocommit": True}, open=False, timeout=30.0
        )
        try:
            await pool.open(wait=True, timeout=30.0)
        except Exception as exc:
            await pool.close()
            raise JournalDatabaseError(f"cannot connect to the batch journal {self.location}: {exc}") from None
        self._pool = pool

    async def _migrate(self, conn: AsyncConnection[tuple[Any, ...]]) -> None:
        import psycopg

        self.round_trips += 1  # the connection's setup
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS finetune_async_schema_version ("
                    " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                cur = await conn.execute("SELECT coalesce(max(version), 0) FROM finetune_async_schema_version")
                row = await cur.fetchone()
                current = int(row[0]) if row else 0
                self.round_trips += 5  # BEGIN, the lock, the table, the version, COMMIT
                if current > SCHEMA_VERSION:
                    raise JournalDatabaseError(
                        f"the batch journal {self.location} has schema version {current}; this"
                        f" finetune-async knows up to {SCHEMA_VERSION} (upgrade it)"
                    )
                for version, statements in MIGRATIONS:
                    if version <= current:
                        continue
                    for statement in statements:
                        await conn.execute(statement)  # constant SQL
                    await conn.execute("INSERT INTO finetune_async_schema_version (version) VALUES (%s)", (version,))
                    self.round_trips += len(statements) + 1
        except psycopg.Error as exc:
            raise JournalDatabaseError(f"cannot set up the batch journal {self.location}: {exc}") from None

    def _connection(self) -> Any:
        if self._pool is None:
            raise FineTuneError("the PostgreSQL journal is not open")
        return self._pool.connection()

    async def _run(self, sql: str, params: Sequence[Any] = (), *, fetch: bool = False) -> tuple[int, list[Any]]:
        """One statement, committed: ``(rows affected, rows returned if fetch)``."""
        import psycopg

        self.round_trips += 1
        try:
            async with self._connection() as conn:
                cur = await conn.execute(sql, params)  # SQL built from constants
                rows = await cur.fetchall() if fetch else []
                return cur.rowcount, rows
        except psycopg.Error as exc:
            raise JournalDatabaseError(f"the batch journal {self.location}: {exc}") from None

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- the batch -----------------------------------------------------------------------------

    @property
    def _bid(self) -> str:
        if self._batch is None:
            raise FineTuneError("no batch selected in the PostgreSQL journal (set_batch_id first)")
        return self._batch

    async def batch_id(self) -> str | None:
        # A database holds many batches: the caller names one (or derives it from the specs).
        return None

    async def set_batch_id(self, batch_id: str) -> None:
        self._batch = batch_id
        await self._run("INSERT INTO finetune_async_batches (batch_id) VALUES (%s) ON CONFLICT DO NOTHING", (batch_id,))

    async def batches(self) -> list[tuple[str, float]]:
        """Every batch in the database: ``(batch_id, created_at epoch seconds)``, oldest first."""
        _, rows = await self._run(
            "SELECT batch_id, extract(epoch FROM created_at) FROM finetune_async_batches ORDER BY created_at",
            fetch=True,
        )
        return [(str(r[0]), float(r[1])) for r in rows]

    def select(self, batch_id: str) -> None:
        """Look at ``batch_id`` without creating it (``finetune-async batch status``)."""
        self._batch = batch_id

    # -- specs -------------------------------------------------------------------------------

    async def specs(self) -> dict[str, SpecRow]:
        _, rows = await self._run(
            f"SELECT {_SPEC_COLUMNS} FROM finetune_async_specs WHERE batch_id = %s ORDER BY key",
            (self._bid,),
            fetch=True,
        )
        return {str(r[0]): _spec_row(r) for r in rows}

    async def spec(self, key: str) -> SpecRow | None:
        _, rows = await self._run(
            f"SELECT {_SPEC_COLUMNS} FROM finetune_async_specs WHERE batch_id = %s AND key = %s",
            (self._bid, key),
            fetch=True,
        )
        return _spec_row(rows[0]) if rows else None

    async def add_specs(self, items: Iterable[tuple[str, str]]) -> None:
        pairs = list(items)
        # One statement for any number of specs (every worker of a batch sends the same).
        await self._run(
            "INSERT INTO finetune_async_specs (batch_id, key, fingerprint, state, updated_at)"
            " SELECT %s, k, f, 'pending', %s FROM unnest(%s::text[], %s::text[]) AS t (k, f)"
            " ON CONFLICT DO NOTHING",
            (self._bid, time.time(), [k for k, _ in pairs], [f for _, f in pairs]),
        )

    async def _fenced(self, key: str, assignments: str, params: Sequence[Any], *, live: bool = False) -> None:
        """``UPDATE ... SET assignments`` on ``key``'s row if this worker still holds it under the
        token of its claim (and, with ``live``, before its lease's end); renews the lease.
        Raises :class:`LeaseLostError` when the row says otherwise."""
        fence = self._fences.get(key)
        if fence is None:
            raise LeaseLostError(f"spec {key!r} is not held by this worker")
        started = time.monotonic()
        condition = " AND lease_until > now()" if live else ""
        count, _ = await self._run(
            f"UPDATE finetune_async_specs SET {assignments}, lease_until = now() + %s * interval '1 second'"
            f" WHERE batch_id = %s AND key = %s AND owner = %s AND fence = %s{condition}",
            (*params, self.lease_seconds, self._bid, key, self.worker_id, fence),
        )
        if count != 1:
            self._drop(key)
            raise LeaseLostError(f"spec {key!r}: this worker's lease lapsed and another worker may hold it")
        self._deadlines[key] = self._deadline(started)

    def _deadline(self, started: float) -> float:
        # The database set lease_until after `started`: this instant is earlier, and the margin
        # keeps a create from being sent in the lease's last moments.
        return started + self.lease_seconds - max(0.5, self.lease_seconds / 5)

    def _drop(self, key: str) -> None:
        self._fences.pop(key, None)
        self._deadlines.pop(key, None)

    async def job_intent(self, key: str) -> None:
        await self._fenced(
            key, "state = 'creating', error = NULL, attempts = attempts + 1, updated_at = %s", (time.time(),), live=True
        )

    async def job_created(self, key: str, job_id: str, status: str, created_at: float | None) -> None:
        await self._fenced(
            key,
            "state = 'created', job_id = %s, status = %s, created_at = %s, error = NULL, updated_at = %s",
            (job_id, status, created_at, time.time()),
        )

    async def job_restart(self, key: str) -> bool:
        count, _ = await self._run(
            "UPDATE finetune_async_specs SET state = 'pending', status = NULL, fine_tuned_model = NULL,"
            " error = NULL, trained_tokens = NULL, created_at = NULL, finished_at = NULL, updated_at = %s,"
            # Claimable at once: the worker that finished it holds nothing of it any more.
            " owner = NULL, lease_until = NULL"
            " WHERE batch_id = %s AND key = %s AND state = 'done' AND status = 'cancelled'",
            (time.time(), self._bid, key),
        )
        return count == 1

    async def restart_cancelled(self) -> int:
        count, _ = await self._run(
            "UPDATE finetune_async_specs SET state = 'pending', status = NULL, fine_tuned_model = NULL,"
            " error = NULL, trained_tokens = NULL, created_at = NULL, finished_at = NULL, updated_at = %s,"
            # Claimable at once: the worker that finished it holds nothing of it any more.
            " owner = NULL, lease_until = NULL"
            " WHERE batch_id = %s AND state = 'done' AND status = 'cancelled'",
            (time.time(), self._bid),
        )
        return max(0, count)

    async def job_not_created(self, key: str, error: str | None) -> None:
        await self._fenced(
            key, "state = 'pending', job_id = NULL, status = NULL, error = %s, updated_at = %s", (error, time.time())
        )

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
        await self._fenced(
            key,
            "state = 'done', job_id = %s, status = %s, fine_tuned_model = %s, error = %s, trained_tokens = %s,"
            " created_at = %s, finished_at = %s, updated_at = %s",
            (job_id, status, fine_tuned_model, error, trained_tokens, created_at, finished_at, time.time()),
        )
        # Done: the row keeps its owner (who finished it) but nobody holds it any more.
        self._drop(key)

    # -- files -------------------------------------------------------------------------------
    # A file row is a fact about the server (this content was sent, under this name; it has this
    # id), the same whoever writes it: not fenced. Two workers may upload one file at once; the
    # batch's jobs are what must exist once.

    async def file(self, sha256: str, purpose: str) -> FileRow | None:
        _, rows = await self._run(
            "SELECT sha256, purpose, filename, size, file_id, updated_at FROM finetune_async_files"
            " WHERE batch_id = %s AND sha256 = %s AND purpose = %s",
            (self._bid, sha256, purpose),
            fetch=True,
        )
        if not rows:
            return None
        r = rows[0]
        return FileRow(sha256=r[0], purpose=r[1], filename=r[2], size=int(r[3]), file_id=r[4], updated_at=r[5])

    async def file_intent(self, sha256: str, purpose: str, filename: str, size: int) -> None:
        # An intent never overwrites a recorded id (another worker's upload finished first).
        await self._run(
            "INSERT INTO finetune_async_files (batch_id, sha256, purpose, filename, size, file_id, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, NULL, %s) ON CONFLICT (batch_id, sha256, purpose) DO UPDATE"
            " SET filename = excluded.filename, size = excluded.size, updated_at = excluded.updated_at"
            " WHERE finetune_async_files.file_id IS NULL",
            (self._bid, sha256, purpose, filename, size, time.time()),
        )

    async def file_uploaded(self, sha256: str, purpose: str, filename: str, size: int, file_id: str) -> None:
        await self._run(
            "INSERT INTO finetune_async_files (batch_id, sha256, purpose, filename, size, file_id, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (batch_id, sha256, purpose) DO UPDATE"
            " SET filename = excluded.filename, size = excluded.size, file_id = excluded.file_id,"
            " updated_at = excluded.updated_at",
            (self._bid, sha256, purpose, filename, size, file_id, time.time()),
        )

    # -- many workers ------------------------------------------------------------------------

    def check_lease(self, key: str) -> None:
        deadline = self._deadlines.get(key)
        if deadline is None or time.monotonic() >= deadline:
            self._drop(key)
            raise LeaseLostError(f"spec {key!r}: this worker's lease may have lapsed; it sends nothing for it")

    def held(self) -> set[str]:
        return set(self._fences)

    async def claim(self, limit: int, exclude: Iterable[str] = ()) -> list[SpecRow]:
        started = time.monotonic()
        _, rows = await self._run(
            "WITH c AS (SELECT key FROM finetune_async_specs"
            " WHERE batch_id = %s AND state <> 'done' AND (owner IS NULL OR lease_until <= now())"
            " AND NOT (key = ANY(%s::text[])) ORDER BY key LIMIT %s FOR UPDATE SKIP LOCKED)"
            " UPDATE finetune_async_specs s SET owner = %s, fence = s.fence + 1,"
            " lease_until = now() + %s * interval '1 second'"
            f" FROM c WHERE s.batch_id = %s AND s.key = c.key RETURNING {_qualified('s')}",
            (self._bid, list(exclude), limit, self.worker_id, self.lease_seconds, self._bid),
            fetch=True,
        )
        claimed = [_spec_row(r) for r in rows]
        for row in claimed:
            self._fences[row.key] = row.fence
            self._deadlines[row.key] = self._deadline(started)
        return claimed

    async def heartbeat(self) -> set[str]:
        held = dict(self._fences)
        if not held:
            return set()
        started = time.monotonic()
        # Done rows are matched too (not extended): a spec that finished while this statement
        # ran is not lost, merely no longer held.
        _, rows = await self._run(
            "UPDATE finetune_async_specs SET lease_until = CASE WHEN state = 'done' THEN lease_until"
            " ELSE now() + %s * interval '1 second' END"
            " WHERE batch_id = %s AND owner = %s AND key = ANY(%s::text[]) RETURNING key, fence",
            (self.lease_seconds, self._bid, self.worker_id, list(held)),
            fetch=True,
        )
        kept = {str(r[0]) for r in rows if held.get(str(r[0])) == int(r[1])}
        # Lost: held before and after the statement under the same claim, yet not matched (a
        # spec released or finished meanwhile is simply gone from what this worker holds).
        lost = {key for key in held if key not in kept and self._fences.get(key) == held[key]}
        for key in kept:
            if key in self._fences:
                self._deadlines[key] = self._deadline(started)
        for key in lost:
            self._drop(key)
        return lost

    async def release(self, key: str) -> None:
        fence = self._fences.get(key)
        self._drop(key)
        if fence is None:
            return
        await self._run(
            "UPDATE finetune_async_specs SET owner = NULL, lease_until = NULL"
            " WHERE batch_id = %s AND key = %s AND owner = %s AND fence = %s",
            (self._bid, key, self.worker_id, fence),
        )

    async def others_active(self) -> bool:
        _, rows = await self._run(
            # Held by anyone but this run: another worker, or an earlier run under this name
            # (its specs come back when its leases lapse).
            "SELECT EXISTS (SELECT 1 FROM finetune_async_specs WHERE batch_id = %s AND state <> 'done'"
            " AND owner IS NOT NULL AND lease_until > now() AND NOT (key = ANY(%s::text[])))",
            (self._bid, list(self._fences)),
            fetch=True,
        )
        return bool(rows[0][0])


def _qualified(alias: str) -> str:
    """The spec columns of the claim's ``RETURNING``, read from the updated row ``alias``."""
    plain = [c.strip() for c in _SPEC_COLUMNS.split(",")]
    plain[-1] = f"extract(epoch FROM {alias}.lease_until - now())"
    return ", ".join(c if c.startswith("extract") else f"{alias}.{c}" for c in plain)


def _spec_row(r: Sequence[Any]) -> SpecRow:
    return SpecRow(
        key=str(r[0]),
        fingerprint=str(r[1]),
        state=str(r[2]),
        job_id=r[3],
        status=r[4],
        fine_tuned_model=r[5],
        error=r[6],
        trained_tokens=None if r[7] is None else int(r[7]),
        created_at=None if r[8] is None else float(r[8]),
        finished_at=None if r[9] is None else float(r[9]),
        attempts=int(r[10]),
        updated_at=None if r[11] is None else float(r[11]),
        owner=r[12],
        fence=int(r[13]),
        lease_left=None if r[14] is None else float(r[14]),
    )

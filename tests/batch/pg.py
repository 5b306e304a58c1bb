"""A real PostgreSQL for the PostgreSQL-journal tests, and the batch command as a worker that
stops or kills itself at a chosen journal write.

The server: ``$FINETUNE_ASYNC_TEST_PG`` (a DSN; ``.ci/postgres start`` prints one) if set, else
one started for the test session by ``.ci/postgres`` itself in a temporary directory and
stopped at the end. Tests skip only when no PostgreSQL server binaries exist at all. Each test
gets a database of its own (:func:`pg_dsn`).

As a program (``python -m tests.batch.pg SPECS ...``) this runs ``finetune-async batch`` with
``BATCH_STOP=method:n`` in its environment: right after the n-th call of that
:class:`~finetune_async._journal_pg.PostgresJournal` method returns, the process sends
itself SIGSTOP (a worker frozen past its lease, as a paused VM or a long GC pause would).
"""

from __future__ import annotations

import functools
import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = "FINETUNE_ASYNC_TEST_PG"


def _have_binaries() -> bool:
    return shutil.which("pg_ctl") is not None or bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DSN of a PostgreSQL server's maintenance database (``postgres``) for this session."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    if not _have_binaries():
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql, or set " + ENV)
    state = tmp_path_factory.mktemp("pg-state")
    env = {**os.environ, "PG_STATE": str(state)}
    script = str(ROOT / ".ci" / "postgres")
    done = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f".ci/postgres start failed: {done.stderr[-2000:]}")
    try:
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=60, check=False)


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"ft_test_{secrets.token_hex(6)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]  # a generated name
    base, _, _db = pg_server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def _install(point: str) -> None:
    from finetune_async import _journal_pg

    method, n = point.split(":")
    target = int(n)
    original = getattr(_journal_pg.PostgresJournal, method)
    calls = [0]

    @functools.wraps(original)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == target:
            print(f"stopping after {method} #{n}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
        return result

    setattr(_journal_pg.PostgresJournal, method, wrapper)


def main() -> int:
    from finetune_async.cli._batch import batch

    point = os.environ.get("BATCH_STOP")
    if point:
        _install(point)
    result = batch.main(args=sys.argv[1:], prog_name="finetune-async batch", standalone_mode=False)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())

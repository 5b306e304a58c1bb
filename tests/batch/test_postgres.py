"""A batch on PostgreSQL, run by many workers at once: claims, leases, fencing, takeover.

A real PostgreSQL (tests/batch/pg.py: ``$FINETUNE_ASYNC_TEST_PG`` or one started by
``.ci/postgres``), the emulator in its own process (so it outlives every worker), and the
workers as child processes running ``finetune-async batch --journal postgresql://...``. What
is counted is the emulator's jobs: one per spec, whatever was killed or stopped when.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import yaml

import finetune_async as ft
from finetune_async._journal import LeaseLostError
from finetune_async._journal_pg import MIGRATIONS, JournalDatabaseError, PostgresJournal
from finetune_async.cli._batch import batch
from tests.dialects import OPENAI

from .conftest import ROOT, EmulatorProcess, child_env, write_datasets
from .pg import pg_dsn, pg_server

__all__ = ["pg_dsn", "pg_server"]  # fixtures, used by name

LEASE = 3.0


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path / "emu", job_seconds=1.0, dialect=OPENAI)
    yield process
    process.stop()


def write_specs(directory: Path, n: int, batch_id: str | None = None) -> Path:
    trains, _valid = write_datasets(directory / "data", n_train=2)
    specs = [{"key": f"s{i:03d}", "training_file": f"data/{trains[i % 2].name}", "suffix": f"s{i}"} for i in range(n)]
    doc: dict[str, object] = {"defaults": {"model": OPENAI.model}, "specs": specs}
    if batch_id is not None:
        doc["batch_id"] = batch_id
    path = directory / f"specs-{batch_id or 'x'}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def worker(
    specs: Path, dsn: str, emu: EmulatorProcess, *, name: str, stop: str | None = None, concurrent: int = 6
) -> subprocess.Popen[str]:
    env = child_env(emu.base_url)
    if stop:
        env["BATCH_STOP"] = stop
    argv = [sys.executable, "-m", "tests.batch.pg", str(specs), "--journal", dsn, "--lease", str(LEASE)]
    argv += ["--worker", name, "--max-concurrent", str(concurrent), "--json"]
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def jobs_by_spec(emu: EmulatorProcess, batch_id: str) -> dict[str, list[ft.FineTuningJob]]:
    async def listing() -> list[ft.FineTuningJob]:
        async with emu.dialect.client(emu.base_url, api_key="sk-batch-test") as client:
            return [j async for j in client.fine_tuning.jobs.list(limit=100, metadata={"ft_batch": batch_id})]

    found: dict[str, list[ft.FineTuningJob]] = {}
    for job in anyio.run(listing):
        found.setdefault((job.metadata or {})["ft_spec"], []).append(job)
    return found


def status(dsn: str, *args: str) -> dict[str, object]:
    from click.testing import CliRunner

    result = CliRunner().invoke(batch, ["status", "--journal", dsn, "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def assert_one_job_each(emu: EmulatorProcess, batch_id: str, n: int) -> None:
    found = jobs_by_spec(emu, batch_id)
    counts = {key: len(jobs) for key, jobs in found.items()}
    assert counts == {f"s{i:03d}": 1 for i in range(n)}, sorted(c for c in counts.items() if c[1] != 1)
    assert all(jobs[0].status == "succeeded" for jobs in found.values())


# -- the store on its own ---------------------------------------------------------------------


async def test_the_schema_is_migrated_once_and_a_newer_one_is_refused(pg_dsn: str) -> None:
    import psycopg

    for _ in range(2):  # the second open finds version 1 and changes nothing
        store = PostgresJournal(pg_dsn)
        await store.open()
        await store.aclose()
    with psycopg.connect(pg_dsn) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM finetune_async_schema_version")]
        assert versions == [v for v, _ in MIGRATIONS]
        conn.execute("INSERT INTO finetune_async_schema_version (version) VALUES (999)")
    store = PostgresJournal(pg_dsn)
    with pytest.raises(JournalDatabaseError, match="schema version 999"):
        await store.open()


async def test_a_password_never_appears_in_messages() -> None:
    store = PostgresJournal("postgresql://me:s3cret-pw@127.0.0.1:1/nowhere")
    assert "s3cret-pw" not in store.location
    with pytest.raises(JournalDatabaseError) as caught:
        await PostgresJournal("postgresql://me:s3cret-pw@127.0.0.1:1/nowhere", lease_seconds=1).open()
    assert "s3cret-pw" not in str(caught.value)


async def test_a_password_as_a_query_parameter_is_hidden_too() -> None:
    store = PostgresJournal("postgresql://me@127.0.0.1:1/nowhere?sslmode=disable&password=s3cret-pw")
    assert "s3cret-pw" not in store.location
    assert "sslmode=disable" in store.location


async def test_a_run_under_the_name_of_an_earlier_one_waits_for_its_leases(pg_dsn: str) -> None:
    # The same --worker name started again while the earlier run's leases hold: those specs
    # are someone else's until they lapse, not a reason to stop with them undone.
    earlier, again = (PostgresJournal(pg_dsn, lease_seconds=1.0, worker_id="w1") for _ in range(2))
    await earlier.open()
    await again.open()
    try:
        for store in (earlier, again):
            await store.set_batch_id("same-name")
            await store.add_specs([("k1", "f1")])
        assert [r.key for r in await earlier.claim(10)] == ["k1"]
        assert await again.claim(10) == []
        assert await again.others_active()
        await anyio.sleep(1.5)
        assert [r.key for r in await again.claim(10)] == ["k1"]
        assert not await again.others_active()  # this run's own hold
    finally:
        await earlier.aclose()
        await again.aclose()


async def test_a_worker_that_lost_its_lease_can_write_nothing(pg_dsn: str) -> None:
    a, b = PostgresJournal(pg_dsn, lease_seconds=1.0, worker_id="a"), PostgresJournal(pg_dsn, worker_id="b")
    await a.open()
    await b.open()
    try:
        for store in (a, b):
            await store.set_batch_id("fence")
            await store.add_specs([("k1", "f1"), ("k2", "f2")])
        claimed = await a.claim(10)
        assert [r.key for r in claimed] == ["k1", "k2"]
        assert {r.fence for r in claimed} == {1}
        # Held under a live lease: nobody else can claim them, and A may write.
        assert await b.claim(10) == []
        assert await b.others_active()
        await a.job_intent("k1")
        a.check_lease("k1")
        await anyio.sleep(1.5)  # past A's lease (the database's clock decides)
        taken = await b.claim(10)
        assert [(r.key, r.fence, r.owner, r.attempts) for r in taken] == [("k1", 2, "b", 1), ("k2", 2, "b", 0)]
        # A's write for a spec it lost lands nowhere; its heartbeat says what it lost.
        with pytest.raises(LeaseLostError):
            await a.job_created("k1", "ftjob-x", "running", None)
        assert await a.heartbeat() == {"k2"}
        assert a.held() == set()
        with pytest.raises(LeaseLostError):
            a.check_lease("k2")  # by the local clock alone: no create goes out
        row = await b.spec("k1")
        assert row is not None
        assert (row.state, row.job_id, row.owner) == ("creating", None, "b")
        await b.job_created("k1", "ftjob-b", "running", 1.0)
        await b.job_finished(
            "k1",
            job_id="ftjob-b",
            status="succeeded",
            fine_tuned_model="m",
            error=None,
            trained_tokens=5,
            created_at=1.0,
            finished_at=2.0,
        )
        assert b.held() == {"k2"}
        assert await b.heartbeat() == set()
        await b.release("k2")
        assert [r.key for r in await a.claim(10)] == ["k2"]  # done specs are never claimed
    finally:
        await a.aclose()
        await b.aclose()


# -- many workers against the emulator --------------------------------------------------------


def test_three_workers_sigkilled_at_random_and_restarted_train_one_job_per_spec(tmp_path: Path, pg_dsn: str) -> None:
    # Jobs of 2 s, 4 at a time per worker: the batch lasts long enough for every kill to land.
    emu = EmulatorProcess(tmp_path / "emu", job_seconds=2.0, dialect=OPENAI)
    try:
        _kill_and_restart(tmp_path, pg_dsn, emu)
    finally:
        emu.stop()


def _kill_and_restart(tmp_path: Path, pg_dsn: str, emu: EmulatorProcess) -> None:
    n = 60
    specs = write_specs(tmp_path, n, batch_id="sweep")
    seed = int(os.environ.get("PG_KILL_SEED", "19"))
    rng = random.Random(seed)
    live: dict[int, subprocess.Popen[str]] = {}
    started = 0

    def start(slot: int) -> None:
        nonlocal started
        started += 1
        live[slot] = worker(specs, dsn=pg_dsn, emu=emu, name=f"w{slot}-{started}", concurrent=4)

    for slot in range(3):
        start(slot)
    kills = 0
    reports: list[dict[str, object]] = []
    deadline = time.monotonic() + 240  # a fail-safe, not a timing assertion
    while live and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 1.5))
        if kills < 6:
            slot = rng.choice(sorted(live))
            if live[slot].poll() is None:
                live[slot].kill()
                kills += 1
        for slot, proc in list(live.items()):
            code = proc.poll()
            if code is None:
                continue
            out, err = proc.communicate()
            if code == -signal.SIGKILL:
                start(slot)  # killed: a new worker in its place
            else:
                assert code == 0, f"worker failed ({code}), seed {seed}: {err[-3000:]}"
                reports.append(json.loads(out))
                del live[slot]
    assert not live, f"workers still running at the fail-safe, seed {seed}"
    assert kills == 6
    assert_one_job_each(emu, "sweep", n)
    # Every worker that ended reports the whole batch, every spec succeeded.
    assert reports
    assert all(r["ok"] and len(r["results"]) == n for r in reports)
    state = status(pg_dsn)
    assert state["batch_id"] == "sweep"
    assert state["counts"] == {"done/succeeded": n}
    assert state["workers"] == {}


def test_a_worker_stopped_past_its_lease_creates_nothing_for_the_specs_it_lost(
    tmp_path: Path, pg_dsn: str, emu: EmulatorProcess
) -> None:
    n = 12
    specs = write_specs(tmp_path, n, batch_id="stopped")
    # A stops itself right after its third create intent is committed, its create not sent yet.
    a = worker(specs, pg_dsn, emu, name="a", stop="job_intent:3", concurrent=4)
    deadline = time.monotonic() + 60
    while _proc_state(a.pid) != "T":
        assert a.poll() is None, a.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "worker a never stopped"
        time.sleep(0.1)
    held = status(pg_dsn)
    assert held["workers"] == {"a": 4}
    from click.testing import CliRunner

    shown = CliRunner().invoke(batch, ["status", "--journal", pg_dsn, "--limit", "3"], catch_exceptions=False)
    assert "a holds 4" in shown.output
    assert "and 9 more" in shown.output
    # B waits out A's lease, takes A's specs over (settling A's intents first), and ends the batch.
    code, out, err = finish(worker(specs, pg_dsn, emu, name="b"))
    assert code == 0, err[-3000:]
    assert json.loads(out)["ok"]
    a.send_signal(signal.SIGCONT)
    code, out, err = finish(a)
    assert code == 0, err[-3000:]
    assert "lease" in err
    assert_one_job_each(emu, "stopped", n)
    report = json.loads(out)
    assert report["ok"]
    assert len(report["results"]) == n
    # A sent at most the creates whose intents came before its stop, and B recorded every spec.
    assert report["created"] <= 2
    rows = status(pg_dsn)["specs"]
    assert isinstance(rows, list)
    assert {(r["state"], r["status"]) for r in rows} == {("done", "succeeded")}
    assert Counter(r["worker"] for r in rows)["b"] >= n - report["created"]


def _proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def test_two_batches_on_one_database_do_not_touch_each_other(tmp_path: Path, pg_dsn: str, emu: EmulatorProcess) -> None:
    n = 8
    # The same spec keys and files in both: only the batch id tells them apart.
    alpha = write_specs(tmp_path / "a", n, batch_id="alpha")
    beta = write_specs(tmp_path / "b", n, batch_id="beta")
    procs = [
        worker(path, pg_dsn, emu, name=f"{path.parent.name}{i}", concurrent=3)
        for path in (alpha, beta)
        for i in range(2)
    ]
    for proc in procs:
        code, out, err = finish(proc)
        assert code == 0, err[-3000:]
        report = json.loads(out)
        assert report["ok"]
        assert len(report["results"]) == n
    for batch_id in ("alpha", "beta"):
        assert_one_job_each(emu, batch_id, n)
        state = status(pg_dsn, "--batch-id", batch_id)
        assert state["counts"] == {"done/succeeded": n}
        rows = state["specs"]
        assert isinstance(rows, list)
        owners = {r["worker"] for r in rows}
        assert owners <= {f"{batch_id[0]}{i}" for i in range(2)}
    from click.testing import CliRunner

    ambiguous = CliRunner().invoke(batch, ["status", "--journal", pg_dsn])
    assert ambiguous.exit_code != 0
    assert "2 batches" in ambiguous.output


def test_status_reads_a_sqlite_journal_and_says_when_a_run_holds_it(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from finetune_async._journal import Journal

    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    journal.set_batch_id("local")
    journal.add_specs([("k1", "f1"), ("k2", "f2")])
    journal.job_intent("k1")
    journal.job_created("k1", "ftjob-1", "running", 1.0)
    busy = CliRunner().invoke(batch, ["status", "--journal", str(path)])
    assert busy.exit_code != 0
    assert "held by a running batch" in busy.output
    journal.close()
    shown = CliRunner().invoke(batch, ["status", "--journal", str(path)], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "batch local: 2 spec(s): 1 created, 1 pending" in shown.output
    assert "ftjob-1" in shown.output
    data = json.loads(CliRunner().invoke(batch, ["status", "--journal", str(path), "--json"]).output)
    assert data["counts"] == {"created": 1, "pending": 1}
    assert [r["key"] for r in data["specs"]] == ["k1", "k2"]

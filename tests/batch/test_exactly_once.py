"""One job trains per spec when the server acts late, the process dies, and two runs race.

The emulator runs in its own process (it outlives every client) with ``late`` faults: a job
create is applied seconds after it arrived. Clients are ``tests/batch/runner.py`` processes
(the ``batch`` command, killed with SIGKILL at a chosen instant), or two ``run_batch`` calls
with their own clients in this process, as two hosts would be.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import anyio
import yaml

import finetune_async as ft
from tests.dialects import Dialect, batch_route_each

from .conftest import ROOT, EmulatorProcess, child_env, write_datasets

LATE_CREATES = "rate=1,kinds=late,late=2.5,routes=POST:/v1/fine_tuning/jobs"
KEYS6 = [f"s{i}" for i in range(6)]
KEYS8 = [f"s{i}" for i in range(8)]


def write_specs(directory: Path, n: int, batch_id: str, model: str) -> Path:
    trains, _valid = write_datasets(directory / "data", n_train=2)
    specs = [
        {"key": f"s{i}", "training_file": f"data/{trains[i % 2].name}", "hyperparameters": {"n_epochs": 1 + i % 3}}
        for i in range(n)
    ]
    path = directory / f"{batch_id}.yaml"
    path.write_text(yaml.safe_dump({"batch_id": batch_id, "defaults": {"model": model}, "specs": specs}))
    return path


def start_client(
    specs: Path, journal: Path, emu: EmulatorProcess, kill: str | None, *, settle: str = "8"
) -> subprocess.Popen[str]:
    env = child_env(emu.base_url, emu.dialect)
    env["FINETUNE_ASYNC_SETTLE_SECONDS"] = settle
    if kill:
        env["BATCH_KILL"] = kill
    argv = [sys.executable, "-m", "tests.batch.runner", str(specs), "--journal", str(journal)]
    argv += ["--max-concurrent", "16", "--json"]
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


async def jobs_by_spec(
    base_url: str, batch_id: str, dialect: Dialect, keys: Iterable[str]
) -> dict[str, list[ft.FineTuningJob]]:
    """The batch's jobs by the spec they name (of ``keys``; a digest where the provider keeps
    one: an ``ft_spec`` none of ``keys`` makes is reported as it reads)."""
    spec_of = dialect.spec_keys(keys)
    found: dict[str, list[ft.FineTuningJob]] = defaultdict(list)
    async with dialect.client(base_url, api_key="sk-batch-test") as client:
        async for job in client.fine_tuning.jobs.list(limit=100, metadata={"ft_batch": batch_id}):
            kept = (job.metadata or {})["ft_spec"]
            found[spec_of.get(kept, kept)].append(job)
    return found


def training(jobs: list[ft.FineTuningJob]) -> list[ft.FineTuningJob]:
    return [job for job in jobs if job.status != "cancelled"]


@batch_route_each
async def test_sigkill_while_late_creates_are_in_flight_then_rerun(tmp_path: Path, dialect: Dialect) -> None:
    """Rounds (two per dialect, six in all): every create is applied 2.5 s late, the batch dies
    1 s after its first intent, and the re-run, started at once, finds nothing yet. It settles
    the intents, and creates nothing."""
    emu = EmulatorProcess(tmp_path / "emu", job_seconds=1.5, faults=LATE_CREATES, dialect=dialect)
    try:
        for round_no in range(2):
            batch_id = f"late-kill-{round_no}"
            specs = write_specs(tmp_path / batch_id, 6, batch_id, dialect.model)
            journal = tmp_path / batch_id / "journal.sqlite"
            code, _, err = finish(start_client(specs, journal, emu, "delay:job_intent:1:1.0"))
            assert code == -signal.SIGKILL, err[-2000:]
            assert await jobs_by_spec(emu.base_url, batch_id, dialect, KEYS6) == {}, (
                "the creates were to land after the kill"
            )
            code, out, err = finish(start_client(specs, journal, emu, None))
            assert code == 0, err[-2000:]
            report = json.loads(out)
            assert (report["created"], report["reattached"]) == (0, 6), report
            found = await jobs_by_spec(emu.base_url, batch_id, dialect, KEYS6)
            assert sorted(found) == [f"s{i}" for i in range(6)]
            assert all(len(jobs) == 1 and jobs[0].status == "succeeded" for jobs in found.values()), found
    finally:
        emu.stop()


@batch_route_each
async def test_two_processes_with_their_own_journals_train_one_job_per_spec(tmp_path: Path, dialect: Dialect) -> None:
    """Two hosts run the same batch id at once, each with its own journal: every spec ends with
    one job trained, the extras cancelled before they train and reported."""
    faults = "rate=0.5,kinds=late,late=0.7,routes=POST:/v1/fine_tuning/jobs,seed=3"
    emu = EmulatorProcess(tmp_path / "emu", job_seconds=3.0, faults=faults, dialect=dialect)
    try:
        specs = write_specs(tmp_path / "twin", 8, "twin", dialect.model)
        procs = [start_client(specs, tmp_path / f"host{i}.sqlite", emu, None) for i in range(2)]
        reports = []
        for proc in procs:
            code, out, err = finish(proc)
            assert code == 0, err[-2000:]
            reports.append(json.loads(out))
        found = await jobs_by_spec(emu.base_url, "twin", dialect, KEYS8)
        assert sorted(found) == [f"s{i}" for i in range(8)]
        extras = {job_id for report in reports for job_id in report["extra_jobs"]}
        for key, jobs in found.items():
            kept = training(jobs)
            assert len(kept) == 1, (key, [(j.id, j.status) for j in jobs])
            assert kept[0].status == "succeeded"
            # Both hosts report the one job that trained.
            assert {r["job_id"] for report in reports for r in report["results"] if r["key"] == key} == {kept[0].id}
            for job in jobs:
                if job.id != kept[0].id:
                    assert job.id in extras
                    assert job.trained_tokens is None
                    assert job.fine_tuned_model is None
        # Every job either host made is the spec's one job or a reported extra.
        total = sum(len(jobs) for jobs in found.values())
        assert total == sum(report["created"] for report in reports) == 8 + len(extras)
    finally:
        emu.stop()


async def test_two_runs_without_journals_in_one_process_train_one_job_per_spec(
    tmp_path: Path, dialect: Dialect
) -> None:
    trains, _ = write_datasets(tmp_path / "data", n_train=2)
    specs = [ft.BatchSpec(training_file=trains[i % 2], model=dialect.model, key=f"k{i}") for i in range(6)]
    async with dialect.emulator(job_seconds=2.0) as emu:
        emu.faults.configure("rate=0.5,kinds=late,late=0.5,routes=POST:/v1/fine_tuning/jobs,seed=5")
        reports: list[ft.BatchReport] = []

        async def host() -> None:
            async with dialect.client(emu.base_url, settle_window=3.0) as client:
                reports.append(await ft.run_batch(client, specs, journal=None, batch_id="no-journal"))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(host)
                tg.start_soon(host)
        found = await jobs_by_spec(emu.base_url, "no-journal", dialect, [f"k{i}" for i in range(6)])
    assert sorted(found) == [f"k{i}" for i in range(6)]
    assert all(len(training(jobs)) == 1 for jobs in found.values()), found
    assert all(report.ok for report in reports)
    cancelled = {job.id for jobs in found.values() for job in jobs if job.status == "cancelled"}
    assert cancelled == {job_id for report in reports for job_id in report.extra_jobs}


@batch_route_each
async def test_random_sigkills_end_with_one_training_job_per_spec(tmp_path: Path, dialect: Dialect) -> None:
    """Runs killed at random instants on a late, lossy server (eight per dialect, each dialect
    with its own instants: twenty-four in all), then one run to the end."""
    faults = "rate=0.4,kinds=late+lost,late=1.5,routes=POST:/v1/fine_tuning/jobs+POST:/v1/files,seed=9"
    # Jobs long enough to be still running through most of the eight rounds (about 2 s each),
    # even when the machine is busy (the suite runs on several workers): a run after the jobs
    # ended is not killed. Not longer: the last run waits for them.
    emu = EmulatorProcess(tmp_path / "emu", job_seconds=20.0, faults=faults, dialect=dialect)
    rng = random.Random(f"20261201-{dialect.id}")
    try:
        specs = write_specs(tmp_path / "chaos", 8, "chaos", dialect.model)
        journal = tmp_path / "chaos" / "journal.sqlite"
        kills = 0
        for _ in range(8):
            code, _, err = finish(start_client(specs, journal, emu, f"after:{rng.uniform(0.3, 1.8):.2f}"))
            assert code in (0, -signal.SIGKILL), err[-2000:]
            kills += code == -signal.SIGKILL
        assert kills >= 3
        code, out, err = finish(start_client(specs, journal, emu, None))
        assert code == 0, err[-2000:]
        found = await jobs_by_spec(emu.base_url, "chaos", dialect, KEYS8)
        assert sorted(found) == [f"s{i}" for i in range(8)]
        for key, jobs in found.items():
            kept = training(jobs)
            assert len(kept) == 1, (key, [(j.id, j.status) for j in jobs])
            assert kept[0].status == "succeeded"
        assert {r["job_id"] for r in json.loads(out)["results"]} == {training(j)[0].id for j in found.values()}
    finally:
        emu.stop()

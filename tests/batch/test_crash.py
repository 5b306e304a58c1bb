"""A batch of 30, SIGKILLed again and again, run again each time: one job per spec, all succeeded.

The emulator runs in its own process with a data dir, so it outlives every client. The client
is ``tests/batch/runner.py``: the ``batch`` command in a child process that kills itself at a
chosen journal write (see its docstring), the instants where a crash could duplicate or lose
work. Each kill is checked to have happened (exit by SIGKILL), then the batch is run to the end.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import yaml

import finetune_async as ft
from tests.dialects import Dialect, batch_route_each

from .conftest import ROOT, EmulatorProcess, child_env, write_datasets

N_SPECS = 30
KEYS = [f"sweep-{i:02d}" for i in range(N_SPECS)]
MAX_CONCURRENT = 10

#: (kill point, what it tests). Every point must be reached in its run.
KILL_POINTS = [
    # The second upload reached the server, its id never reached the journal: found, not re-sent.
    ("file_uploaded:2:before", "during upload"),
    # The intent is recorded, the create not sent: the restart finds no job and creates it.
    ("job_intent:3:after", "between intent and create"),
    # The job exists on the server, the journal only has the intent: the restart adopts it.
    ("job_created:2:before", "right after create"),
    # A second after the first job was recorded: jobs running, some still to be created.
    ("delay:job_created:1:1.0", "while waiting"),
    # While results come in (finished jobs, recorded during reconciliation or the wait).
    ("job_finished:4:after", "while recording results"),
    # One result short of the end.
    ("done:29", "near the end"),
]


def write_specs(directory: Path, dialect: Dialect) -> Path:
    trains, _valid = write_datasets(directory / "data")
    specs = [
        {
            "key": f"sweep-{i:02d}",
            "training_file": f"data/{trains[i % len(trains)].name}",
            "hyperparameters": {"n_epochs": 1 + i % 4, **dialect.learning_rate([0.5, 1.0, 2.0][i % 3])},
            "suffix": f"s{i}",
        }
        for i in range(N_SPECS)
    ]
    doc = {"defaults": {"model": dialect.model, "validation_file": "data/valid.jsonl"}, "specs": specs}
    path = directory / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def run_client(specs: Path, journal: Path, emu: EmulatorProcess, kill: str | None) -> subprocess.CompletedProcess[str]:
    env = child_env(emu.base_url, emu.dialect)
    if kill:
        env["BATCH_KILL"] = kill
    argv = [sys.executable, "-m", "tests.batch.runner", str(specs), "--journal", str(journal)]
    argv += ["--max-concurrent", str(MAX_CONCURRENT), "--json"]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


async def server_state(emu: EmulatorProcess) -> tuple[list[ft.FineTuningJob], list[ft.FileObject]]:
    async with emu.dialect.client(emu.base_url, api_key="sk-batch-test") as client:
        jobs = [job async for job in client.fine_tuning.jobs.list(limit=100)]
        files = [f async for f in client.files.list(purpose="fine-tune")]
    return jobs, files


async def crash_and_finish(tmp_path: Path, emu: EmulatorProcess, points: list[tuple[str, str]]) -> None:
    specs = write_specs(tmp_path, emu.dialect)
    journal = tmp_path / "sweep.batch.sqlite"
    for point, what in points:
        done = run_client(specs, journal, emu, point)
        assert done.returncode == -signal.SIGKILL, f"kill point {point} ({what}) not reached: {done.stderr[-2000:]}"
    final = run_client(specs, journal, emu, None)
    assert final.returncode == 0, final.stderr[-2000:]
    report = json.loads(final.stdout)
    assert report["ok"]
    assert len(report["results"]) == N_SPECS

    jobs, files = await server_state(emu)
    # Exactly one job per spec, every one succeeded, and the report names those jobs.
    spec_of = emu.dialect.spec_keys(KEYS)
    per_spec = Counter(spec_of.get(kept, kept) for kept in ((job.metadata or {}).get("ft_spec") for job in jobs))
    assert len(jobs) == N_SPECS, sorted(per_spec.items())
    assert set(per_spec) == set(KEYS)
    assert all(job.status == "succeeded" for job in jobs)
    assert {job.metadata["ft_batch"] for job in jobs if job.metadata} == {
        emu.dialect.kept("ft_batch", report["batch_id"])
    }
    assert {r["job_id"] for r in report["results"]} == {job.id for job in jobs}
    # Four distinct local files (3 training, 1 validation): each uploaded once. Where an upload
    # is several requests (Fireworks: the dataset, then its content), a kill between them leaves
    # an empty dataset, never processed and never used: only such a one may be there besides.
    ours = [f for f in files if f.filename.endswith(".jsonl")]
    uploaded = Counter(f.filename for f in ours if f.status == ft.FileStatus.PROCESSED)
    assert len(uploaded) == 4
    assert all(n == 1 for n in uploaded.values()), uploaded
    empty = [f for f in ours if f.status != ft.FileStatus.PROCESSED]
    assert not empty or emu.dialect.uploads_in_several_requests, empty
    assert {f.filename for f in empty} <= set(uploaded)

    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT state, status, job_id FROM specs").fetchall()
    db.close()
    assert len(rows) == N_SPECS
    assert {(state, status) for state, status, _ in rows} == {("done", "succeeded")}


@batch_route_each
async def test_sigkill_at_six_points_then_rerun(tmp_path: Path, emulator_process: EmulatorProcess) -> None:
    with anyio.fail_after(120):
        await crash_and_finish(tmp_path, emulator_process, KILL_POINTS)


@batch_route_each
async def test_sigkill_with_lost_answers(tmp_path: Path, dialect: Dialect) -> None:
    # Creates and uploads are applied by the server, then their answers are dropped.
    faults = "rate=0.3,kinds=lost,routes=POST:/v1/fine_tuning/jobs+POST:/v1/files,seed=11"
    emu = EmulatorProcess(tmp_path / "emu", job_seconds=1.0, faults=faults, dialect=dialect)
    try:
        with anyio.fail_after(120):
            await crash_and_finish(
                tmp_path,
                emu,
                [
                    ("file_uploaded:1:before", "during upload"),
                    ("job_intent:4:after", "between intent and create"),
                    ("job_created:3:before", "right after create"),
                    ("delay:job_created:1:1.0", "while waiting"),
                    ("done:28", "near the end"),
                ],
            )
    finally:
        emu.stop()


@batch_route_each
async def test_sigkill_while_restarting_cancelled_specs(tmp_path: Path, emulator_process: EmulatorProcess) -> None:
    """``--restart-cancelled`` killed after the restart is journaled, after the new create's
    intent, and right after the create: the runs after it (with the flag or without) end
    with exactly one new job per cancelled spec, next to the cancelled one."""
    from finetune_async.cli._batch import load_specs

    trains, _valid = write_datasets(tmp_path / "data", n_train=1)
    path = tmp_path / "restart.yaml"
    model = emulator_process.dialect.model
    doc = {"batch_id": "restart-kill", "defaults": {"model": model, "training_file": f"data/{trains[0].name}"}}
    path.write_text(yaml.safe_dump({**doc, "specs": [{"key": "r0"}, {"key": "r1", "suffix": "r1"}]}))
    journal = tmp_path / "restart.batch.sqlite"
    base_url = emulator_process.base_url
    dialect = emulator_process.dialect

    # The batch is cancelled with both jobs created (as Ctrl-C with --cancel-on-interrupt does).
    specs, batch_id = load_specs(path)
    with anyio.fail_after(60):
        async with dialect.client(base_url, api_key="sk-batch-test") as client:
            created = anyio.Event()
            jobs: dict[str, str] = {}

            def update(result: ft.SpecResult) -> None:
                if result.job_id is not None:
                    jobs[result.key] = result.job_id
                if len(jobs) == 2:
                    created.set()

            async with anyio.create_task_group() as tg:

                async def go() -> None:
                    await ft.run_batch(
                        client, specs, journal=journal, batch_id=batch_id, cancel_jobs_on_exit=True, on_update=update
                    )

                tg.start_soon(go)
                await created.wait()
                tg.cancel_scope.cancel()
        listed, _ = await server_state(emulator_process)
        assert sorted(job.status for job in listed) == ["cancelled", "cancelled"]

        def run(kill: str | None, *flags: str) -> subprocess.CompletedProcess[str]:
            env = child_env(base_url, dialect)
            if kill:
                env["BATCH_KILL"] = kill
            argv = [sys.executable, "-m", "tests.batch.runner", str(path), "--journal", str(journal), "--json", *flags]
            return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

        for kill, flags in [
            ("job_restart:1:after", ("--restart-cancelled",)),  # one spec restarted, nothing sent
            ("job_intent:1:after", ("--restart-cancelled",)),  # a restart's create about to be sent
            ("job_created:1:before", ()),  # a restart's job exists, its id not journaled; no flag
        ]:
            done = run(kill, *flags)
            assert done.returncode == -signal.SIGKILL, f"kill point {kill} not reached: {done.stderr[-2000:]}"
        final = run(None)
        assert final.returncode == 0, final.stderr[-2000:]
        report = json.loads(final.stdout)
        assert [r["status"] for r in report["results"]] == ["succeeded", "succeeded"]

        listed, _ = await server_state(emulator_process)
        per_spec: dict[str, list[str]] = {}
        spec_of = dialect.spec_keys(["r0", "r1"])
        for job in listed:
            kept = (job.metadata or {})["ft_spec"]
            per_spec.setdefault(spec_of.get(kept, kept), []).append(str(job.status))
        assert {key: sorted(statuses) for key, statuses in per_spec.items()} == {
            "r0": ["cancelled", "succeeded"],
            "r1": ["cancelled", "succeeded"],
        }
        assert {r["job_id"] for r in report["results"]} == {job.id for job in listed if job.status == "succeeded"}
        assert all(jobs[key] not in {r["job_id"] for r in report["results"]} for key in jobs)

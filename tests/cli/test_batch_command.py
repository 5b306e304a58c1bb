"""``finetune-async batch`` as a person runs it: the live table on a terminal, Ctrl-C with
``--cancel-on-interrupt``, the re-run that says what it found, and ``--restart-cancelled``.

The ``batch`` emulator's ``state.job_seconds`` is set by each test to what its runs need (a
job created afterwards takes that long)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

from finetune_async.emulator import Emulator
from tests.cli.conftest import API_KEY, EmulatorThread, Terminal, cli_env, run_cli


def write_specs(directory: Path, train: Path, batch_id: str) -> Path:
    doc = {
        "batch_id": batch_id,
        "defaults": {"model": "gpt-4o-mini", "training_file": str(train)},
        "specs": [{"key": "a", "suffix": "a"}, {"key": "b", "suffix": "b"}],
    }
    path = directory / f"{batch_id}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def jobs_by_spec(emu: Emulator, batch_id: str) -> dict[str, list[tuple[str, str]]]:
    """``{spec key: [(job id, status), ...]}`` for the batch, as the emulator holds them, oldest first."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for job in sorted(emu.state.store.jobs.values(), key=lambda j: (j.created_at, j.id)):
        meta = job.metadata or {}
        if meta.get("ft_batch") == batch_id:
            found[meta["ft_spec"]].append((job.id, job.status))
    return dict(found)


def until(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_live_table_shows_what_each_spec_is_doing(
    tmp_path: Path, emulators: EmulatorThread, datasets: dict[str, Path], terminal: list[Terminal]
) -> None:
    emu = emulators.emulators["batch"]
    emu.state.job_seconds = 8.0
    specs = write_specs(tmp_path, datasets["train"], "live-table")
    term = Terminal(["batch", str(specs), "--max-concurrent", "1", "--cancel-on-interrupt"], cli_env(emu.base_url))
    terminal.append(term)
    # One job runs; the other spec, its file uploaded, waits for the one slot.
    term.expect(r"waiting for a slot")
    # The running job as the watch sees it: its real status, step/total and time left.
    term.expect(r"running\W+ftjob-\w+\W+\d+/\d+\W+\d+s\b")
    term.ctrl_c()
    code = term.finish()
    out = term.output
    assert code == 130, out
    assert "Traceback" not in out
    assert API_KEY not in out
    assert "Unfinished jobs were cancelled" in out
    assert f"finetune-async batch {specs} --restart-cancelled" in out
    assert "uploading" not in out.split("waiting for a slot")[-1]  # a waiting spec is not shown as uploading
    jobs = jobs_by_spec(emu, "live-table")
    assert [status for spec in jobs.values() for _, status in spec] == ["cancelled"]


def test_a_rerun_after_cancel_on_interrupt_and_restart_cancelled(
    tmp_path: Path, emulators: EmulatorThread, datasets: dict[str, Path]
) -> None:
    emu = emulators.emulators["batch"]
    emu.state.job_seconds = 60.0
    specs = write_specs(tmp_path, datasets["train"], "restart")
    env = cli_env(emu.base_url)

    # Ctrl-C (SIGINT) once both jobs exist: they are cancelled, and the note says how to restart.
    proc = subprocess.Popen(
        [sys.executable, "-m", "finetune_async", "batch", str(specs), "--cancel-on-interrupt"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        until(lambda: sum(len(v) for v in jobs_by_spec(emu, "restart").values()) == 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Unfinished jobs were cancelled" in err
    assert "--restart-cancelled" in err
    first = jobs_by_spec(emu, "restart")
    assert {spec: [s for _, s in jobs] for spec, jobs in first.items()} == {"a": ["cancelled"], "b": ["cancelled"]}

    # Run again: nothing is created, and the cancelled specs say how to start them again.
    rerun = run_cli("batch", str(specs), base_url=emu.base_url)
    assert rerun.returncode == 1, rerun.stderr
    assert "reattached 2, created 0" in rerun.stdout
    assert f"2 cancelled: `finetune-async batch {specs} --restart-cancelled` starts them again" in rerun.stdout
    assert jobs_by_spec(emu, "restart") == first

    # --restart-cancelled: one new job per cancelled spec, followed to the end.
    emu.state.job_seconds = 1.0
    restarted = run_cli("batch", str(specs), "--restart-cancelled", "--json", base_url=emu.base_url)
    assert restarted.returncode == 0, restarted.stderr
    report = json.loads(restarted.stdout)
    assert (report["created"], report["reattached"], report["restarted"]) == (2, 0, 2)
    assert [r["status"] for r in report["results"]] == ["succeeded", "succeeded"]
    after = jobs_by_spec(emu, "restart")
    for key in ("a", "b"):
        assert [s for _, s in after[key]] == ["cancelled", "succeeded"]
        assert after[key][0] == first[key][0]
    assert [r["job_id"] for r in report["results"]] == [after["a"][1][0], after["b"][1][0]]

    # The flag again: nothing is cancelled any more, so nothing is created.
    again = run_cli("batch", str(specs), "--restart-cancelled", base_url=emu.base_url)
    assert again.returncode == 0, again.stderr
    assert "reattached 2, created 0" in again.stdout
    assert "--restart-cancelled" not in again.stdout
    assert jobs_by_spec(emu, "restart") == after

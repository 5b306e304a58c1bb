"""Shared pieces of the batch tests: datasets on disk, specs, and an emulator in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.data import jsonl, supervised_rows

MODEL = "gpt-4o-mini-2024-07-18"
ROOT = Path(__file__).resolve().parents[2]


def write_datasets(directory: Path, n_train: int = 3) -> tuple[list[Path], Path]:
    """``n_train`` distinct training files and one validation file, each a few hundred bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    trains = []
    for i in range(n_train):
        rows = supervised_rows(10 + i)
        path = directory / f"train{i}.jsonl"
        path.write_bytes(jsonl(rows))
        trains.append(path)
    valid = directory / "valid.jsonl"
    valid.write_bytes(jsonl(supervised_rows(10)[::-1]))
    return trains, valid


class EmulatorProcess:
    """``python -m finetune_async.emulator`` with a data dir: it outlives every client process."""

    def __init__(self, data_dir: Path, *, job_seconds: float, faults: str | None = None) -> None:
        argv = [sys.executable, "-m", "finetune_async.emulator", "--port", "0", "--data-dir", str(data_dir)]
        argv += ["--job-seconds", str(job_seconds)]
        if faults:
            argv += ["--faults", faults]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(
                f"the emulator did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.base_url = line.split("listening on", 1)[1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when the emulator hangs
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def child_env(base_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # A create an earlier (killed) run may have sent is given 3 s to appear before it is sent again.
    env.update(
        OPENAI_API_KEY="sk-batch-test",
        OPENAI_BASE_URL=base_url,
        PYTHONPATH=str(ROOT),
        FINETUNE_ASYNC_SETTLE_SECONDS="3",
    )
    env.pop("BATCH_KILL", None)
    return env


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(tmp_path / "emu", job_seconds=2.0)
    yield emu
    emu.stop()

"""Shared pieces of the batch tests: datasets on disk, specs, and an emulator in its own process.

``run_batch`` is one of the helpers that runs on every dialect (tests/dialects.py): ``dialect``
is parametrized here, and the in-process ``emulator``/``client`` fixtures, the emulator process
(``--provider``) and the child processes' environment (each provider's variables) follow it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.data import jsonl, supervised_rows
from tests.dialects import BATCH_DIALECT_IDS, BY_ID, OPENAI, Dialect

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

    def __init__(
        self, data_dir: Path, *, job_seconds: float, faults: str | None = None, dialect: Dialect = OPENAI
    ) -> None:
        self.dialect = dialect
        argv = [sys.executable, "-m", "finetune_async.emulator", "--port", "0", "--data-dir", str(data_dir)]
        argv += ["--job-seconds", str(job_seconds), "--provider", dialect.provider]
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


def child_env(base_url: str, dialect: Dialect = OPENAI) -> dict[str, str]:
    """The environment of a child process that runs the CLI against the emulator at ``base_url``
    (its OpenAI-shaped base): the dialect's provider and variables, nobody else's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "NEBIUS_")) and k != "FINETUNE_ASYNC_PROVIDER"
    }
    # A create an earlier (killed) run may have sent is given 3 s to appear before it is sent again.
    env.update(dialect.env(base_url, "sk-batch-test"), PYTHONPATH=str(ROOT), FINETUNE_ASYNC_SETTLE_SECONDS="3")
    env.pop("BATCH_KILL", None)
    return env


@pytest.fixture(params=list(BATCH_DIALECT_IDS))
def dialect(request: pytest.FixtureRequest) -> Dialect:
    """Each provider in turn (tests/dialects.py: BATCH_DIALECT_IDS), Azure on its v1 route: the dated route's
    differences (201 + Location, pending first, -1 as auto) are the waiting helpers' and the
    Azure tests' to cover (tests/polling, tests/providers/test_azure.py, tests/cli); a batch
    test that wants it too says ``@pytest.mark.parametrize("dialect", [...], indirect=True)``."""
    return BY_ID[request.param]


@pytest.fixture
def emulator_process(tmp_path: Path, dialect: Dialect) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(tmp_path / "emu", job_seconds=1.0, dialect=dialect)
    yield emu
    emu.stop()

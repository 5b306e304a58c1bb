"""The waiting examples run end to end against their embedded emulator (small sizes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("rate", ["20", "5"])
def test_wait_many(rate: str) -> None:
    out = run("examples/wait_many.py", "--jobs", "12", "--job-seconds", "1", "--rate", rate)
    assert "all 12 jobs ended" in out
    assert "12 succeeded" in out


def test_web_service() -> None:
    out = run("examples/web_service.py", "--smoke", "--port", "0", "--job-seconds", "2")
    assert "result: succeeded" in out

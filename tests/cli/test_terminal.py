"""On a real (pseudo-)terminal: the live display of ``wait``, and Ctrl-C while watching.

Ctrl-C is what the terminal does with it: SIGINT to the foreground process group (the
command runs in its own session, as a shell's job would).
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

import pytest

from tests.cli.conftest import (
    API_KEY,
    EmulatorThread,
    cli_env,
    create_job,
    run_json,
    strip_ansi,
    wait_for_status,
)


class Terminal:
    """A command running on a pseudo-terminal, 160 columns wide; ``output`` is all it wrote."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.master = master
        self.raw = b""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finetune_async", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)

    @property
    def output(self) -> str:
        return strip_ansi(self.raw.decode("utf-8", errors="replace"))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the command exited and the terminal closed
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            if not self._read(0.1) and self.proc.poll() is not None:
                break
        raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self._read(0.1) or self.proc.poll() is None):
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


def test_wait_shows_a_live_progress_bar(
    emulators: EmulatorThread, files: dict[str, dict[str, str]], terminal: list[Terminal]
) -> None:
    url = emulators.url("medium")
    job_id = create_job(emulators, files, "medium")
    term = Terminal(["wait", job_id], cli_env(url))
    terminal.append(term)
    term.expect(r"step \d+/\d+")
    term.expect(r"ETA \d+s")
    code = term.finish()
    out = term.output
    assert code == 0, out
    assert "\x1b[" in term.raw.decode(errors="replace")  # colours and cursor movement: a live display
    assert "━" in out  # the bar
    assert re.search(r"train loss \d\.\d{3}\s+valid loss \d\.\d{3}", out)
    assert "Fine-tuning job started" in out
    assert f"Job {job_id} succeeded" in out
    assert "Traceback" not in out
    assert API_KEY not in out


@pytest.mark.parametrize("command", [["wait"], ["events", "--follow"]], ids=["wait", "events-follow"])
def test_ctrl_c_stops_watching_and_the_job_keeps_running(
    command: list[str],
    emulators: EmulatorThread,
    slow_jobs: dict[str, str],
    terminal: list[Terminal],
) -> None:
    url = emulators.url("slow")
    job_id = slow_jobs["interrupt"]
    assert wait_for_status(url, job_id, {"running"})["status"] == "running"
    term = Terminal([*command, job_id], cli_env(url))
    terminal.append(term)
    term.expect(r"Fine-tuning job started")
    time.sleep(0.5)
    term.ctrl_c()
    code = term.finish()
    out = term.output
    assert code == 130, out
    assert "Traceback" not in out
    assert "KeyboardInterrupt" not in out
    assert f"Job {job_id} is still running" in out
    assert run_json("retrieve", job_id, base_url=url)["status"] == "running"


def test_demo_with_a_key_asks_first_and_no_sends_nothing(emulators: EmulatorThread, terminal: list[Terminal]) -> None:
    url = emulators.url("fast")
    before = len(emulators.emulators["fast"].state.store.files)
    term = Terminal(["demo"], cli_env(url))
    terminal.append(term)
    term.expect(r"billed training tokens")
    term.expect(r"Start it\? \[y/N\]")
    term.type("n\r")
    code = term.finish()
    assert code == 0, term.output
    assert "Nothing was sent." in term.output
    assert len(emulators.emulators["fast"].state.store.files) == before

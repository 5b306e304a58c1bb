"""Ctrl-C in a terminal during ``jobs.wait`` or a stream: the script ends at once, the job runs on.

The script runs in a pseudo-terminal of its own, as in a shell: the test types Ctrl-C (``\\x03``)
into the terminal, whose line discipline sends SIGINT to the script. Each wait polls every 30 s,
so a wait that only noticed the interrupt at its next poll would take that long: the script
must be gone well before.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.models import JobStatus
from tests.sync.conftest import MODEL, child_env, dataset

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal"),
    # Long jobs: each is still running when the script is interrupted.
    pytest.mark.finetune_emulator(job_seconds=120),
]

POLL_SECONDS = 30.0

SCRIPT = textwrap.dedent(
    f"""
    import sys

    import finetune_async as ft

    base_url, job_id, mode = sys.argv[1:]
    client = ft.Client(api_key="sk-test", base_url=base_url)
    if mode == "wait":
        print("waiting", flush=True)
        client.fine_tuning.jobs.wait(job_id, poll_interval={POLL_SECONDS})
    else:
        for event in client.fine_tuning.jobs.stream_events(job_id, poll_interval={POLL_SECONDS}):
            print("waiting", flush=True)
    print("not interrupted", flush=True)
    """
)

# Made the terminal's controlling process (a new session opening its tty), then the script.
CONTROLLING = (
    "import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
    "os.execv(sys.executable, [sys.executable, '-W', 'error', *sys.argv[1:]])"
)


def _read_until(fd: int, marker: bytes, seconds: float) -> bytes:
    seen = b""
    end = time.monotonic() + seconds
    while marker not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the child is gone
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize("mode", ["wait", "stream"])
def test_ctrl_c_ends_the_script_at_once_and_leaves_the_job_running(
    mode: str, finetune_emulator_sync: Emulator, tmp_path: Path
) -> None:
    with ft.Client(api_key="sk-test", base_url=finetune_emulator_sync.base_url) as client:
        file = client.files.create(file=("train.jsonl", dataset()))
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
        script = tmp_path / "script.py"
        script.write_text(SCRIPT)
        master, slave = os.openpty()
        child = subprocess.Popen(
            [sys.executable, "-c", CONTROLLING, str(script), finetune_emulator_sync.base_url, job.id, mode],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=child_env(),
            start_new_session=True,
        )
        os.close(slave)
        try:
            out = _read_until(master, b"waiting", 60)
            assert b"waiting" in out, out.decode(errors="replace")
            os.write(master, b"\x03")
            started = time.monotonic()
            # Well under the 30 s poll interval: the wait did not sleep until its next poll.
            child.wait(timeout=POLL_SECONDS / 3)
            elapsed = time.monotonic() - started
            out += _read_until(master, b"\0", 1)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            os.close(master)
        text = out.decode(errors="replace")
        # Killed by its SIGINT, as Python ends on an uncaught KeyboardInterrupt: a shell's $? is 130.
        assert child.returncode == -signal.SIGINT, text
        assert 128 - child.returncode == 130
        assert "KeyboardInterrupt" in text
        assert "not interrupted" not in text
        # Nothing printed besides the traceback: no warning, no "Exception ignored" at exit.
        assert "Warning" not in text
        assert "Exception ignored" not in text, text
        print(f"{mode}: ended {elapsed:.3f} s after Ctrl-C")
        after = client.fine_tuning.jobs.retrieve(job.id)
        assert after.status not in (JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.SUCCEEDED)

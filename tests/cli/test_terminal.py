"""On a real (pseudo-)terminal: the live display of ``wait``, and Ctrl-C while watching.

Ctrl-C is what the terminal does with it: SIGINT to the foreground process group (the
command runs in its own session, as a shell's job would).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.cli.conftest import (
    API_KEY,
    EmulatorThread,
    ParkedJobs,
    Terminal,
    cli_env,
    create_job,
    run_json,
)


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
    slow_jobs: ParkedJobs,
    terminal: list[Terminal],
) -> None:
    url = emulators.url("slow")
    job_id = slow_jobs.resume(f"interrupt-{command[0]}")
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


def test_demo_live_asks_first_and_no_sends_nothing(emulators: EmulatorThread, terminal: list[Terminal]) -> None:
    url = emulators.url("fast")
    before = len(emulators.emulators["fast"].state.store.files)
    term = Terminal(["demo", "--live"], cli_env(url))
    terminal.append(term)
    term.expect(r"billed training tokens")
    term.expect(r"Start it\? \[y/N\]")
    term.type("n\r")
    code = term.finish()
    assert code == 0, term.output
    assert "Nothing was sent." in term.output
    assert len(emulators.emulators["fast"].state.store.files) == before

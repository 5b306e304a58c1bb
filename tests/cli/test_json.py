"""``--json``: every command that prints data prints the API's own shapes on stdout, and with
``--json`` an error is one JSON object on stderr, shaped like the API's error body."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune_async.cli import main
from tests.cli.conftest import API_KEY, EmulatorThread, ParkedJobs, cli_emulator, cli_env, run_cli, run_json


def json_error(proc: subprocess.CompletedProcess[str], code: int) -> dict[str, Any]:
    """The error object of a failed ``--json`` run: nothing on stdout, one JSON line on stderr."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    body = json.loads(proc.stderr)
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) >= {"message", "type", "code", "param", "status", "request_id"}
    assert error["message"]
    return error


def test_lists_are_the_apis_list_objects(finished_job: str, emulators: EmulatorThread) -> None:
    url = emulators.url("fast")
    listed = run_json("list", "--limit", "100", base_url=url)
    assert listed["object"] == "list"
    assert listed["has_more"] is False
    assert finished_job in [job["id"] for job in listed["data"]]

    events = run_json("events", finished_job, "--limit", "3", base_url=url)
    assert set(events) == {"object", "data", "has_more"}
    assert events["object"] == "list"
    assert events["has_more"] is True  # the job has more than three events
    # Oldest first, as the command prints them: the last one is the job's end.
    assert [e["object"] for e in events["data"]] == ["fine_tuning.job.event"] * 3
    assert events["data"][-1]["message"] == "The job has successfully completed"
    # (checkpoints --json: test_commands.py::test_checkpoints_table_and_json.)


def test_api_errors_are_json_on_stderr(emulators: EmulatorThread) -> None:
    missing = json_error(run_cli("retrieve", "ftjob-missing", "--json", base_url=emulators.url("fast")), 1)
    assert missing["status"] == 404
    assert missing["type"] == "invalid_request_error"
    assert "ftjob-missing" in missing["message"]
    assert missing["request_id"].startswith("req_")


def run_main(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    base_url: str | None = None,
    api_key: str | None = API_KEY,
) -> subprocess.CompletedProcess[str]:
    """The command line's entry point in this process (as the console script calls it): the
    many error paths below cost no interpreter start each."""
    for name, value in cli_env(base_url, api_key=api_key).items():
        monkeypatch.setenv(name, value)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        if name not in cli_env(base_url, api_key=api_key):
            monkeypatch.delenv(name, raising=False)
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert API_KEY not in out + err
    return subprocess.CompletedProcess(list(args), code, out, err)


def test_every_kind_of_error_is_json_on_stderr(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emulators: EmulatorThread,
    datasets: dict[str, Path],
    slow_jobs: ParkedJobs,
) -> None:
    url = emulators.url("fast")

    def error(code: int, *args: str, **kwargs: str | None) -> dict[str, Any]:
        return json_error(run_main(capsys, monkeypatch, *args, "--json", **kwargs), code)

    refused = error(1, "create", "--model", "gpt-4o-mini", "--training-file", "file-nope", base_url=url)
    assert (refused["status"], refused["param"]) == (400, "training_file")

    unreachable = error(1, "list", base_url="http://127.0.0.1:9/v1")
    assert (unreachable["type"], unreachable["status"]) == ("connection_error", None)
    assert "http://127.0.0.1:9/v1" in unreachable["message"]

    usage = error(2, "list", "--limit", "0", base_url=url)
    assert (usage["type"], usage["param"]) == ("usage_error", "--limit")
    unknown = error(2, "list", "--bogus", base_url=url)
    assert (unknown["type"], unknown["param"]) == ("usage_error", "--bogus")

    no_key = error(2, "list", base_url=url, api_key=None)
    assert (no_key["type"], no_key["code"]) == ("usage_error", "missing_api_key")
    assert "OPENAI_API_KEY" in no_key["message"]

    not_uploaded = error(1, "upload", str(datasets["tiny"]), base_url=url)
    assert (not_uploaded["type"], not_uploaded["code"], not_uploaded["param"]) == (
        "invalid_file",
        "validation_failed",
        "FILE",
    )
    assert "too_few_examples" in {p["code"] for p in not_uploaded["problems"]}

    job_id = slow_jobs.parked("timeout")
    timed_out = error(1, "wait", job_id, "--timeout", "0.2", base_url=emulators.url("slow"))
    assert (timed_out["type"], timed_out["param"]) == ("timeout", "--timeout")
    assert job_id in timed_out["message"]

    faults = error(2, "emulator", "--port", "0", "--faults", "rate=7")
    assert (faults["type"], faults["param"]) == ("usage_error", "--faults")

    # Without --json the same failures stay one plain line.
    plain = run_main(capsys, monkeypatch, "list", "--bogus", base_url=url)
    assert plain.returncode == 2
    assert "No such option '--bogus'" in plain.stderr
    assert not plain.stderr.startswith("{")


def test_every_command_that_prints_data_takes_json() -> None:
    from finetune_async.cli._app import cli

    commands = cli.commands
    assert {"batch", "emulator", "demo", "events", "checkpoints"} <= set(commands)
    import click

    def leaves(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
        # A group's subcommands are the commands (``batch run``, ``batch status``).
        out: dict[str, click.Command] = {}
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                out.update(leaves(command, f"{prefix}{name} "))
            else:
                out[prefix + name] = command
        return out

    every = leaves(cli)
    assert {"batch run", "batch status"} <= set(every)
    without = [name for name, command in every.items() if "as_json" not in {p.name for p in command.params}]
    assert without == []


def test_emulator_json_says_where_it_listens() -> None:
    with cli_emulator("--job-seconds", "1", "--json") as served:
        ready = json.loads(served.first_line)
        assert ready["object"] == "emulator"
        assert ready["pid"] == served.proc.pid
        assert ready["base_url"] == f"http://127.0.0.1:{ready['port']}/v1"
        assert ready["azure_endpoint"] == f"http://127.0.0.1:{ready['port']}"
        assert run_json("list", base_url=ready["base_url"])["data"] == []
    assert served.returncode == 0, served.err
    assert served.out == ""  # one line, nothing else
    assert "Traceback" not in served.err


def test_ctrl_c_with_json_is_one_json_line(emulators: EmulatorThread, slow_jobs: ParkedJobs) -> None:
    job_id = slow_jobs.resume("interrupt-json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "finetune_async", "events", job_id, "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(emulators.url("slow")),
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # following: the loop runs
        assert first["object"] == "fine_tuning.job.event"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    interrupted = json_error(subprocess.CompletedProcess([], proc.returncode, "", err), 130)
    assert interrupted["type"] == "interrupted"
    assert f"Job {job_id} is still running" in interrupted["message"]

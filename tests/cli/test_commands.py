"""Every command, run as ``python -m finetune_async ...`` against the emulators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import (
    API_KEY,
    EmulatorThread,
    ParkedJobs,
    cli_emulator,
    run_cli,
    run_json,
    write_jsonl,
)

COMMANDS = [
    "validate",
    "upload",
    "create",
    "list",
    "retrieve",
    "events",
    "checkpoints",
    "cancel",
    "pause",
    "resume",
    "wait",
    "metrics",
    "emulator",
    "demo",
]


def test_help_names_every_command_with_its_docstring() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in COMMANDS:
        assert f"  {command} " in proc.stdout
    assert "OPENAI_API_KEY" in proc.stdout
    wait_help = run_cli("wait", "--help")
    assert "estimated finish" in wait_help.stdout
    assert "--json" in wait_help.stdout


def test_version_and_usage_errors_exit_2() -> None:
    assert run_cli("--version").returncode == 0
    bad = run_cli("retrieve")
    assert bad.returncode == 2
    assert "Missing argument 'JOB'" in bad.stderr
    assert run_cli("no-such-command").returncode == 2
    assert run_cli("list", "--limit", "0").returncode == 2


def test_without_click_one_line_says_what_to_install() -> None:
    code = "import sys; sys.modules['click'] = None; from finetune_async.cli import main; sys.exit(main(['list']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "pip install 'finetune-async[cli]'" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- validate and upload --------------------------------------------------------------------


def test_validate_prints_statistics(datasets: dict[str, Path]) -> None:
    proc = run_cli("validate", str(datasets["train"]))
    assert proc.returncode == 0
    assert "12 examples, no problems" in proc.stdout
    assert "billed tokens (estimate)" in proc.stdout
    report = run_json("validate", str(datasets["train"]), base_url="unused")
    assert report["ok"] is True
    assert report["stats"]["n_examples"] == 12
    assert report["stats"]["epochs"] >= 1


def test_validate_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    lines = [
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}',
        "{not json",
        '{"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]}',
    ]
    bad = write_jsonl(tmp_path / "bad.jsonl", lines)
    proc = run_cli("validate", str(bad), "--method", "supervised")
    assert proc.returncode == 1
    assert "line 2: [invalid_json]" in proc.stdout
    assert "line 3: [unknown_role]" in proc.stdout
    assert "file: [too_few_examples]" in proc.stdout
    report = run_json("validate", str(bad), base_url="unused", expect=1)
    assert {(p["line"], p["code"]) for p in report["problems"]} >= {(2, "invalid_json"), (3, "unknown_role")}


def test_validate_recognises_a_dpo_file_and_names_a_wrong_method(tmp_path: Path) -> None:
    from tests.data import dpo_rows

    dpo = tmp_path / "dpo.jsonl"
    dpo.write_bytes(b"".join(json.dumps(row).encode() + b"\n" for row in dpo_rows(60)))
    proc = run_cli("validate", str(dpo))
    assert proc.returncode == 0, proc.stdout
    assert "method not given: assumed dpo, from the shape of line 1" in proc.stdout
    assert "60 examples, no problems (dpo)" in proc.stdout
    wrong = run_cli("validate", str(dpo), "--method", "supervised")
    assert wrong.returncode == 1
    assert "unknown key" not in wrong.stdout
    assert "file: [method_mismatch] every line looks like a dpo example" in wrong.stdout
    assert "method='dpo'" in wrong.stdout
    assert wrong.stdout.count("\n") < 10, wrong.stdout  # one problem, not sixty
    report = run_json("validate", str(dpo), base_url="unused")
    assert (report["method"], report["method_detected"]) == ("dpo", True)


def test_upload_validates_first_then_uploads(emulators: EmulatorThread, datasets: dict[str, Path]) -> None:
    url = emulators.url("fast")
    proc = run_cli("upload", str(datasets["valid"]), base_url=url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("file-")
    assert "no problems" in proc.stderr

    refused = run_cli("upload", str(datasets["tiny"]), base_url=url)
    assert refused.returncode == 1
    assert "too_few_examples" in refused.stderr
    assert "Not uploaded" in refused.stderr
    assert refused.stdout == ""

    uploaded = run_json("upload", str(datasets["tiny"]), "--no-validate", base_url=url)
    assert uploaded["id"].startswith("file-")
    assert uploaded["purpose"] == "fine-tune"
    assert uploaded["filename"] == "tiny.jsonl"


# -- jobs -----------------------------------------------------------------------------------


def test_create_list_retrieve(emulators: EmulatorThread, files: dict[str, dict[str, str]]) -> None:
    url = emulators.url("fast")
    job = run_json(
        "create",
        "--model",
        "gpt-4o-mini",
        "--training-file",
        files["fast"]["train"],
        "--suffix",
        "listed",
        "--seed",
        "7",
        "--n-epochs",
        "2",
        "--metadata",
        "team=cli",
        "--metadata",
        "run=list",
        base_url=url,
    )
    assert job["status"] in ("validating_files", "queued")
    assert job["seed"] == 7
    # The SDK's per-create marker (ft_create) sits next to the user's pairs.
    assert {k: v for k, v in job["metadata"].items() if k != "ft_create"} == {"team": "cli", "run": "list"}
    assert job["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2

    listed = run_json("list", "--metadata", "run=list", base_url=url)
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    table = run_cli("list", "--limit", "100", base_url=url)
    assert table.returncode == 0
    assert job["id"] in table.stdout
    assert "fine-tuned model" in table.stdout

    shown = run_cli("retrieve", job["id"], base_url=url)
    assert shown.returncode == 0
    assert f"Fine-tuning job {job['id']}" in shown.stdout
    assert "team=cli, run=list" in shown.stdout
    assert run_json("retrieve", job["id"], base_url=url)["id"] == job["id"]


def test_create_refuses_bad_options_before_sending(emulators: EmulatorThread) -> None:
    url = emulators.url("fast")
    base = ("create", "--model", "gpt-4o-mini", "--training-file", "file-x")
    assert run_cli(*base, "--metadata", "novalue", base_url=url).returncode == 2
    assert run_cli(*base, "--n-epochs", "many", base_url=url).returncode == 2
    no_grader = run_cli(*base, "--method", "reinforcement", base_url=url)
    assert no_grader.returncode == 2
    assert "--grader" in no_grader.stderr
    assert run_cli(*base, "--beta", "0.1", base_url=url).returncode == 2


def test_create_with_a_bad_file_is_a_400_line(emulators: EmulatorThread) -> None:
    proc = run_cli("create", "--model", "gpt-4o-mini", "--training-file", "file-nope", base_url=emulators.url("fast"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: 400 Bad Request: ")
    assert "request id: req_" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_wait_prints_progress_lines_and_the_model(finished_job: str, emulators: EmulatorThread) -> None:
    url = emulators.url("fast")
    # Watching a finished job replays its events and ends at once.
    proc = run_cli("wait", finished_job, base_url=url)
    assert proc.returncode == 0
    assert proc.stdout.startswith("ft:gpt-4o-mini-2024-07-18:")
    assert ":cli-test:" in proc.stdout
    assert "Fine-tuning job started" in proc.stderr
    assert "train loss" in proc.stderr
    assert "valid loss" in proc.stderr
    assert "100%" in proc.stderr
    assert f"Job {finished_job} succeeded" in proc.stderr
    final = run_json("wait", finished_job, base_url=url)
    assert final["status"] == "succeeded"


def test_events_and_follow(finished_job: str, emulators: EmulatorThread) -> None:
    url = emulators.url("fast")
    proc = run_cli("events", finished_job, "--limit", "1000", base_url=url)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert "Created fine-tuning job" in lines[0] or "Validating" in lines[0]
    assert lines[-1].endswith("The job has successfully completed")
    # (--json without --follow: tests/cli/test_json.py.)

    followed = run_cli("events", finished_job, "--follow", "--json", base_url=url)
    assert followed.returncode == 0
    stream = [json.loads(line) for line in followed.stdout.splitlines()]
    assert stream[0]["message"].startswith("Created fine-tuning job")
    assert stream[-1]["message"] == "The job has successfully completed"
    assert len({e["id"] for e in stream}) == len(stream)
    assert any(e["type"] == "metrics" for e in stream)


def test_checkpoints_table_and_json(finished_job: str, emulators: EmulatorThread) -> None:
    url = emulators.url("fast")
    listed = run_json("checkpoints", finished_job, base_url=url)
    assert (listed["object"], listed["has_more"]) == ("list", False)
    found = listed["data"]
    assert len(found) == 3
    table = run_cli("checkpoints", finished_job, base_url=url)
    assert table.returncode == 0
    for ck in found:
        assert ck["fine_tuned_model_checkpoint"] in table.stdout
    assert "valid loss" in table.stdout


def test_metrics_chart_from_the_result_file(finished_job: str, emulators: EmulatorThread) -> None:
    url = emulators.url("fast")
    proc = run_cli("metrics", finished_job, base_url=url)
    assert proc.returncode == 0
    assert "from result file file-" in proc.stdout
    for series in ("train loss", "valid loss", "train accuracy", "valid accuracy"):
        assert series in proc.stdout
    assert any(block in proc.stdout for block in "▁▂▃▄▅▆▇█")
    data = run_json("metrics", finished_job, base_url=url)
    assert data["source"] == "result_file"
    assert data["steps"] == len(data["rows"]) > 0
    assert data["final"]["train_loss"] < data["rows"][0]["train_loss"]
    assert data["final"]["valid_loss"] is not None


def test_metrics_while_running_come_from_events(emulators: EmulatorThread, slow_jobs: ParkedJobs) -> None:
    url = emulators.url("slow")
    job_id = slow_jobs.resume("metrics")
    wait_for_metrics = run_json("metrics", job_id, base_url=url)
    assert wait_for_metrics["source"] == "events"


def test_pause_resume_cancel(emulators: EmulatorThread, slow_jobs: ParkedJobs) -> None:
    url = emulators.url("slow")
    job_id = slow_jobs.resume("steer")
    timed_out = run_cli("wait", job_id, "--timeout", "0.5", base_url=url)
    assert timed_out.returncode == 1
    assert f"error: job {job_id} did not end within 0.5s; it keeps running." in timed_out.stderr
    paused = run_cli("pause", job_id, base_url=url)
    assert paused.returncode == 0
    assert paused.stdout.strip() == f"{job_id}: paused"
    assert run_json("resume", job_id, base_url=url)["status"] == "running"
    assert run_json("cancel", job_id, base_url=url)["status"] == "cancelled"

    again = run_cli("cancel", job_id, base_url=url)
    assert again.returncode == 1
    assert again.stderr.startswith("error: 400 Bad Request: ")
    assert "request id: req_" in again.stderr
    # Watching a cancelled job ends at once, exit 1.
    watched = run_cli("wait", job_id, base_url=url)
    assert watched.returncode == 1
    assert "cancelled" in watched.stderr


def test_a_failed_job_exits_1(emulators: EmulatorThread, datasets: dict[str, Path]) -> None:
    url = emulators.url("fast")
    tiny = run_json("upload", str(datasets["tiny"]), "--no-validate", base_url=url)["id"]
    proc = run_cli("create", "--model", "gpt-4o-mini", "--training-file", tiny, "--wait", base_url=url)
    assert proc.returncode == 1
    assert "failed" in proc.stderr
    assert "invalid_training_file" in proc.stderr or "examples" in proc.stderr


# -- errors ---------------------------------------------------------------------------------


def test_404_is_one_line_with_status_and_request_id(emulators: EmulatorThread) -> None:
    for args in (("retrieve", "ftjob-missing"), ("wait", "ftjob-missing"), ("events", "ftjob-missing", "--follow")):
        proc = run_cli(*args, base_url=emulators.url("fast"))
        assert proc.returncode == 1
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("error: 404 Not Found: ")
        assert "ftjob-missing" in proc.stderr
        assert "request id: req_" in proc.stderr


def test_401_never_shows_the_key(emulators: EmulatorThread) -> None:
    proc = run_cli("list", "--api-key", API_KEY, base_url=emulators.url("locked"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: 401 Unauthorized: ")
    assert proc.stderr.count("\n") == 1
    ok = run_cli("--api-key", "sk-the-only-good-key", "list", "--json", base_url=emulators.url("locked"))
    assert ok.returncode == 0, ok.stderr


def test_no_key_and_no_server(emulators: EmulatorThread) -> None:
    no_key = run_cli("list", base_url=emulators.url("fast"), api_key=None)
    assert no_key.returncode == 2
    assert "OPENAI_API_KEY" in no_key.stderr
    unreachable = run_cli("--base-url", "http://127.0.0.1:9/v1", "list")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: could not reach the API")
    assert unreachable.stderr.count("\n") == 1


# -- emulator -------------------------------------------------------------------------------


def test_emulator_command_serves_until_interrupted() -> None:
    with cli_emulator("--job-seconds", "1") as served:
        assert "listening on http://127.0.0.1:" in served.first_line
        base_url = served.first_line.rsplit(" ", 1)[-1].strip()
        listed = run_json("list", base_url=base_url)
        assert listed == {"object": "list", "data": [], "has_more": False}
    assert served.returncode == 0, served.err
    assert "Traceback" not in served.err


def test_emulator_command_rejects_a_bad_fault_spec() -> None:
    proc = run_cli("emulator", "--port", "0", "--faults", "rate=7")
    assert proc.returncode == 2
    assert "--faults" in proc.stderr

"""``finetune-async emulator``'s options reach the emulator it serves."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from tests.cli.conftest import cli_env, run_cli


def test_no_training_refuses_new_jobs_with_403() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "finetune_async", "emulator", "--port", "0", "--no-training", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(None),
    )
    try:
        assert proc.stdout is not None
        base_url = json.loads(proc.stdout.readline())["base_url"]
        refused = run_cli(
            "create", "--model", "gpt-4o-mini", "--training-file", "file-abc", "--json", base_url=base_url
        )
        assert refused.returncode == 1, refused.stderr
        error = json.loads(refused.stderr)["error"]
        assert error["status"] == 403, error
        assert error["code"] == "training_not_available", error
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err

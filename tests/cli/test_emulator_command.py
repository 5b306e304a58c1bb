"""``finetune-async emulator``'s options reach the emulator it serves."""

from __future__ import annotations

import json

from tests.cli.conftest import cli_emulator, run_cli


def test_no_training_refuses_new_jobs_with_403() -> None:
    with cli_emulator("--no-training", "--json") as served:
        base_url = json.loads(served.first_line)["base_url"]
        refused = run_cli(
            "create", "--model", "gpt-4o-mini", "--training-file", "file-abc", "--json", base_url=base_url
        )
        assert refused.returncode == 1, refused.stderr
        error = json.loads(refused.stderr)["error"]
        assert error["status"] == 403, error
        assert error["code"] == "training_not_available", error
    assert served.returncode == 0, served.err
    assert "Traceback" not in served.err

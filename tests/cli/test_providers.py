"""The command line on each provider: ``--provider openai|azure|nebius|together|fireworks`` with that provider's
environment variables (Azure's endpoint and key, and a dated ``OPENAI_API_VERSION`` for its
dated route; Nebius' base URL and key), a whole lifecycle against the emulator's dialect:
upload, create, wait, events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_async.cli._context import PROVIDERS
from tests.cli.conftest import API_KEY, EmulatorThread, cli_env, run_cli
from tests.dialects import DIALECTS, Dialect


@pytest.fixture(scope="module")
def dialect_emulators() -> Iterator[EmulatorThread]:
    """One emulator per dialect (Azure's v1 and dated routes share one), jobs of a second."""
    thread = EmulatorThread(**{name: {"job_seconds": 1.0, "provider": name} for name in PROVIDERS})
    thread.start()
    yield thread
    thread.stop()


def run(dialect: Dialect, env: dict[str, str], *args: str) -> Any:
    # --provider on the command line; the URL and key from the provider's own variables.
    proc = run_cli("--provider", dialect.provider, *args, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("dialect", DIALECTS, ids=str)
def test_upload_create_wait_events(
    dialect: Dialect, dialect_emulators: EmulatorThread, datasets: dict[str, Path]
) -> None:
    variables = dialect.env(dialect_emulators.url(dialect.provider), API_KEY)
    del variables["FINETUNE_ASYNC_PROVIDER"]  # --provider says it
    # No OPENAI_API_KEY / OPENAI_BASE_URL: only the provider's own variables.
    env = cli_env(None, api_key=None, **variables)
    assert ("OPENAI_API_KEY" in env) == (dialect.provider == "openai")

    file = run(dialect, env, "upload", str(datasets["train"]))
    assert file["id"]
    # On Azure the file is still being processed here: create waits for it (capabilities).
    job = run(dialect, env, "create", "--model", dialect.model, "--training-file", file["id"], "--suffix", "cli")
    assert job["model"] == dialect.model
    assert job["status"] in ("pending", "validating_files", "queued")
    if dialect.api_version is not None:
        assert job["status"] == "pending"  # the dated route's first answer
    final = run(dialect, env, "wait", job["id"], "--timeout", "30")
    assert final["status"] == "succeeded"
    assert final["fine_tuned_model"]
    if dialect.provider == "nebius":
        assert final["hyperparameters"]["lora_r"] == 8  # Nebius' own hyperparameters, as answered
    events = run(dialect, env, "events", job["id"], "--limit", "1000")
    messages = [e["message"] for e in events["data"]]
    assert messages
    if not dialect.capabilities.events:
        # No events list (Fireworks): the events stream_events makes from the job, as it is now.
        assert [e["data"] for e in events["data"]] == [
            {"status": "succeeded", "provider_status": final["provider_status"]},
            {"percent": 100, "epoch": final["jobProgress"]["epoch"]},
        ]
        assert messages[0].startswith("Job succeeded")
        assert events["has_more"] is False
    elif dialect.job_error_codes:  # OpenAI's event texts (Together's are its own)
        assert messages[-1] == "The job has successfully completed"
        assert any(m.startswith("Created fine-tuning job") for m in messages)


@pytest.mark.parametrize("dialect", DIALECTS, ids=str)
def test_metrics_of_a_finished_job(
    dialect: Dialect, dialect_emulators: EmulatorThread, datasets: dict[str, Path]
) -> None:
    """``metrics`` reads what the provider keeps: the result file, else its metrics endpoint
    (Together), else its metrics events; where there is none of them (Fireworks) it says so."""
    env = cli_env(None, api_key=None, **dialect.env(dialect_emulators.url(dialect.provider), API_KEY))
    file = run(dialect, env, "upload", str(datasets["train"]))
    job = run(dialect, env, "create", "--model", dialect.model, "--training-file", file["id"])
    final = run(dialect, env, "wait", job["id"], "--timeout", "30")
    metrics = run(dialect, env, "metrics", job["id"])
    caps = dialect.capabilities
    if final["result_files"]:
        assert metrics["source"] == "result_file"
    elif caps.metrics_endpoint:
        assert metrics["source"] == "endpoint"
    else:
        assert metrics["source"] == ("events" if caps.events else "none")
    if metrics["source"] == "none":
        assert metrics["rows"] == []
        text = run_cli("metrics", job["id"], env=env)
        assert text.returncode == 0, text.stderr
        assert "neither a metrics endpoint nor an events list" in " ".join(text.stdout.split())
        return
    assert metrics["steps"] > 0
    steps = [row["step"] for row in metrics["rows"]]
    assert steps == sorted(set(steps))
    assert metrics["final"]["train_loss"] is not None

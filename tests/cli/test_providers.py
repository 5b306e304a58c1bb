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
    if not dialect.capabilities.events:
        return  # Fireworks: no events list (the CLI's `events` says so; stream_events makes them)
    events = run(dialect, env, "events", job["id"], "--limit", "1000")
    messages = [e["message"] for e in events["data"]]
    assert messages
    if dialect.job_error_codes:  # OpenAI's event texts (Together's are its own)
        assert messages[-1] == "The job has successfully completed"
        assert any(m.startswith("Created fine-tuning job") for m in messages)

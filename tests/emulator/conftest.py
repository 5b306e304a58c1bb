"""Shared pieces for the emulator's tests: sample datasets and a spec-checking OpenAI client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from finetune_async.emulator import Emulator
from tests.data import jsonl
from tests.spec import SPEC_AVAILABLE, match_path, validate_response


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[str, list[dict[str, Any]]], Path]:
    def write(name: str, rows: list[dict[str, Any]]) -> Path:
        path = tmp_path / name
        path.write_bytes(jsonl(rows))
        return path

    return write


class SpecChecker:
    """Validates every JSON 200 answer a client receives against the OpenAPI spec."""

    def __init__(self) -> None:
        self.checked = 0
        self.errors: list[str] = []

    async def hook(self, response: Any) -> None:
        request = response.request
        if response.status_code != 200 or "application/json" not in response.headers.get("content-type", ""):
            return
        template = match_path(request.method, request.url.path)
        if template is None:
            self.errors.append(f"{request.method} {request.url.path}: not in the spec")
            return
        await response.aread()
        body = json.loads(response.content)
        # The spec's job status enum has no value for a paused job (API.md: expect `paused`).
        for job in [body, *body.get("data", [])] if isinstance(body, dict) else []:
            if isinstance(job, dict) and job.get("object") == "fine_tuning.job" and job.get("status") == "paused":
                job["status"] = "running"
        try:
            validate_response(request.method, template, 200, body)
        except Exception as exc:
            self.errors.append(f"{request.method} {request.url.path}: {exc}")
        self.checked += 1

    def assert_clean(self) -> None:
        assert not self.errors, "\n".join(self.errors)


@pytest.fixture
def spec_checker() -> SpecChecker:
    if not SPEC_AVAILABLE:
        pytest.skip("OpenAPI spec not found (set FINETUNE_ASYNC_SPEC_DIR); cannot validate responses")
    return SpecChecker()


OpenAIClient = Callable[..., Any]


@pytest.fixture
async def openai_client() -> AsyncIterator[OpenAIClient]:
    """A factory of ``openai.AsyncOpenAI`` clients (closed after the test).

    ``openai_client(base_url, checker=None, **kwargs)``; with a :class:`SpecChecker` every JSON
    answer is validated against the spec.
    """
    import openai

    made: list[Any] = []

    def make(base_url: str, checker: SpecChecker | None = None, **kwargs: Any) -> Any:
        hooks = {"response": [checker.hook]} if checker is not None else {}
        client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=kwargs.pop("api_key", "sk-test"),
            max_retries=kwargs.pop("max_retries", 0),
            http_client=openai.DefaultAsyncHttpxClient(event_hooks=hooks),
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator whose jobs finish in a fifth of a second: the tests that take it are about
    what the emulator answers, not about time (those that are start their own, at their own pace)."""
    async with Emulator(job_seconds=0.2) as emu:
        yield emu

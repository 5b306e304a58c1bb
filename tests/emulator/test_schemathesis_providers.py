"""Schemathesis: Together's and Fireworks' published specs, fuzzed against the emulator's
``together`` and ``fireworks`` dialects (bounded for CI).

The same checks as for OpenAI's spec (tests/emulator/test_schemathesis.py): no 5xx, every
documented answer fits its schema, headers as documented, invalid input refused. Left out on
purpose, besides what that module says:

- ``negative_data_rejection`` on Fireworks: its spec types ``pageSize`` and the like as
  ``int32`` strings-or-numbers loosely and documents no 4xx at all (every operation answers
  ``200`` only), so "rejected" cannot be told from "accepted" by the schema.
- Operations the emulator does not serve (Together's ``/models`` and ``/finetune/download``,
  Fireworks' models, evaluators and reinforcement jobs) answer 404: no 5xx is all that is checked
  there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.spec import FIREWORKS_SPEC, TOGETHER_SPEC

if not (TOGETHER_SPEC.available and FIREWORKS_SPEC.available):
    pytest.skip(TOGETHER_SPEC.skip_reason or FIREWORKS_SPEC.skip_reason, allow_module_level=True)

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
)

from finetune_async.emulator import Emulator

HEADERS = {"Authorization": "Bearer sk-schemathesis"}
together_schema = schemathesis.openapi.from_path(TOGETHER_SPEC.path)
fireworks_schema = schemathesis.openapi.from_path(FIREWORKS_SPEC.path)


def _serve(provider: str) -> Iterator[str]:
    """An emulator speaking ``provider``, served from a background thread (schemathesis tests
    are synchronous); yields its origin (``http://HOST:PORT``)."""
    ready = threading.Event()
    info: dict[str, Any] = {}

    async def run() -> None:
        stop = asyncio.Event()
        info["loop"], info["stop"] = asyncio.get_running_loop(), stop
        async with Emulator(job_seconds=1.0, provider=provider) as emu:
            info["url"] = emu.base_url.removesuffix("/v1")
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10), "emulator did not start"
    yield info["url"]
    info["loop"].call_soon_threadsafe(info["stop"].set)
    thread.join(10)


@pytest.fixture(scope="module")
def together_url() -> Iterator[str]:
    yield from _serve("together")


@pytest.fixture(scope="module")
def fireworks_url() -> Iterator[str]:
    yield from _serve("fireworks")


_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@together_schema.parametrize()
@_SETTINGS
def test_together_conformance(case: Any, together_url: str) -> None:
    checks = [not_a_server_error, response_schema_conformance, response_headers_conformance, negative_data_rejection]
    if case.operation.path != "/files/{id}/content":
        checks.append(content_type_conformance)
    case.call_and_validate(base_url=together_url + "/v1", headers=HEADERS, checks=checks, timeout=10)


@fireworks_schema.parametrize()
@_SETTINGS
def test_fireworks_conformance(case: Any, fireworks_url: str) -> None:
    checks = [not_a_server_error, response_schema_conformance, response_headers_conformance, content_type_conformance]
    case.call_and_validate(base_url=fireworks_url, headers=HEADERS, checks=checks, timeout=10)

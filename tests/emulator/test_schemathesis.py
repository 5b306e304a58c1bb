"""Schemathesis: the published spec, fuzzed against a running emulator (bounded for CI).

Checks: no 5xx (``not_a_server_error``), every documented answer fits its schema
(``response_schema_conformance``), content types and headers as documented, and invalid input
is refused (``negative_data_rejection``). Left out on purpose:

- ``status_code_conformance`` and ``positive_data_acceptance``: the spec documents only the
  200 answers, while the API (and so the emulator) also answers 400/401/404 for requests that
  are schema-valid but name things that do not exist (``ftjob-abc`` of a random string) or
  break rules the schema cannot express (a training file's purpose, a model's methods).
- ``content_type_conformance`` for ``GET /files/{file_id}/content``: the spec says
  ``application/json`` with a string schema, but the content of a file is its raw bytes
  (``application/octet-stream``), as the real API sends it.
- ``use_after_free`` / ``ensure_resource_availability`` / ``ignored_auth`` are stateful-run checks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.spec import SKIP_REASON, SPEC_AVAILABLE, SPEC_FILE

if not SPEC_AVAILABLE:
    pytest.skip(SKIP_REASON, allow_module_level=True)

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

schema = schemathesis.openapi.from_path(SPEC_FILE)
HEADERS = {"Authorization": "Bearer sk-schemathesis"}


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """An emulator served from a background thread: schemathesis tests are synchronous."""
    ready = threading.Event()
    info: dict[str, Any] = {}

    async def run() -> None:
        stop = asyncio.Event()
        info["loop"], info["stop"] = asyncio.get_running_loop(), stop
        async with Emulator(job_seconds=1.0) as emu:
            info["url"] = emu.base_url
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10), "emulator did not start"
    yield info["url"]
    info["loop"].call_soon_threadsafe(info["stop"].set)
    thread.join(10)


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_spec_conformance(case: Any, emulator_url: str) -> None:
    checks = [not_a_server_error, response_schema_conformance, response_headers_conformance, negative_data_rejection]
    if case.operation.path != "/files/{file_id}/content":
        checks.append(content_type_conformance)
    case.call_and_validate(base_url=emulator_url, headers=HEADERS, checks=checks, timeout=10)

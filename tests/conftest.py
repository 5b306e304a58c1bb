"""Fixtures shared by the SDK's tests: an emulator on loopback and a client whose every
request body is checked against the OpenAPI spec before it is sent."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.dialects import BY_ID, OPENAI, Dialect
from tests.ids import holds_a_set, stable_repr
from tests.spec import OPENAI_SPEC, OpenAPISpec

# Tests are about logic: the SDK's backoff and Retry-After waits are zero (finetune_async._retry).
# Child processes (the CLI, batch runners) read the switch from the environment; a test about
# time opts out with @pytest.mark.real_backoff. FINETUNE_ASYNC_INSTANT_BACKOFF=0 runs the whole
# suite on real backoff (to measure what the switch saves).
os.environ.setdefault("FINETUNE_ASYNC_INSTANT_BACKOFF", "1")
INSTANT = os.environ["FINETUNE_ASYNC_INSTANT_BACKOFF"] != "0"

# Each child process the tests start (the CLI, batch runners, emulators, pytest-xdist's workers) is
# a new interpreter: where the environment says not to write bytecode beside the sources, each
# one would compile the package again (about 0.25 s a start), and each worker would rewrite the
# assertions of every test module and plugin again (seconds). They keep it in a cache outside
# the tree instead, shared by every process of the run and kept for the next (a file there is
# used only while its source's size and mtime match, so a stale one is never read).
if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), f"finetune-async-pycache-{os.getuid()}")


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    # Each pytest-xdist worker collects the tests itself and they must agree on every id; a set's
    # order changes with the process's hash seed, so a parameter holding one gets a sorted repr.
    return stable_repr(val) if holds_a_set(val) else None


@pytest.fixture(autouse=True)
def _instant_backoff(request: pytest.FixtureRequest) -> Iterator[None]:
    with ft.instant_backoff(INSTANT and request.node.get_closest_marker("real_backoff") is None):
        yield


@attrs.define
class SpecChecker:
    """A request hook: validates each request against a spec: its path is an operation, its
    JSON or multipart body fits the request schema, and (with ``check_query``) each query
    parameter is one the operation declares, with a value that fits.

    ``operations`` records which spec operations were exercised, so a test can prove coverage.
    A path the spec lacks passes only when it is one of the spec's ``off_spec`` operations (its
    provider's SDK's own flows: tests.spec.OffSpecOperation), whose body is validated against
    the schema written for it; those go in ``off_spec`` instead.
    """

    operations: set[tuple[str, str]] = attrs.field(factory=set)
    #: The requests to signed URLs seen (method and URL without its query): not checked.
    signed: list[str] = attrs.field(factory=list)
    #: The off-spec operations exercised (method and template).
    off_spec: set[tuple[str, str]] = attrs.field(factory=set)
    #: What a body goes through before it is checked: a dialect's fields OpenAI's spec cannot
    #: know taken out (Nebius': tests.dialects.openai_shaped); None checks it as sent.
    shape: Callable[[Any], Any] | None = None
    #: The spec requests are checked against (Together's and Fireworks' for their dialects).
    spec: OpenAPISpec = OPENAI_SPEC
    #: Check the query parameters too (the providers' specs declare every one our clients send;
    #: OpenAI's requests also carry the client's own, such as Azure's api-version).
    check_query: bool = False

    def __call__(self, info: ft.RequestInfo) -> None:
        if info.signed:
            # A signed URL the provider handed out (an object store's): no operation of the spec.
            self.signed.append(f"{info.method} {info.url}")
            return
        spec = self.spec
        path = info.path
        if spec is OPENAI_SPEC and path.startswith("/v1"):
            path = path[len("/v1") :]
        template = spec.match_path(info.method, path) if spec.available else path
        if template is None and spec.off_spec:
            extra = spec.match_off_spec(info.method, path)
            if extra is not None:
                self.off_spec.add((extra.method, extra.template))
                fields: dict[str, Any] | None = None
                if info.form is not None or info.files:
                    fields = {**{name: "<binary>" for name in info.files}, **(info.form or {})}
                spec.validate_off_spec(extra, json_body=info.json, form=fields)
                return
        assert template is not None, f"{info.method} {path} is not an operation of {spec.what}"
        self.operations.add((info.method, template))
        if not spec.available:
            return
        if self.check_query:
            spec.validate_query(info.method, template, info.params)
        if info.json is not None:
            # Round-trip through JSON so the validator sees exactly what goes on the wire.
            body = json.loads(json.dumps(info.json))
            spec.validate_request_body(info.method, template, self.shape(body) if self.shape is not None else body)
        elif info.form is not None or info.files:
            fields: dict[str, Any] = {name: "<binary>" for name in info.files}
            for key, value in (info.form or {}).items():
                if key.startswith("expires_after["):
                    fields.setdefault("expires_after", {})[key[len("expires_after[") : -1]] = (
                        int(value) if value.isdigit() else value
                    )
                else:
                    fields[key] = value
            spec.validate_request_body(info.method, template, fields, content_type="multipart/form-data")


@pytest.fixture
def anyio_backend() -> str:
    # aiohttp, and so the SDK and the emulator, run on asyncio only: never on trio, even
    # where trio is installed (anyio's plugin would otherwise run every test on both).
    return "asyncio"


@pytest.fixture
def dialect(request: pytest.FixtureRequest) -> Dialect:
    """The emulator's dialect and the client for it (tests/dialects.py): OpenAI here; the
    helpers' directories (tests/polling, tests/batch) parametrize it over every dialect, and a
    test may pick some with ``@pytest.mark.parametrize("dialect", ["azure"], indirect=True)``."""
    return BY_ID[request.param] if hasattr(request, "param") else OPENAI


@pytest.fixture
def model(dialect: Dialect) -> str:
    """A base model the dialect's jobs can name."""
    return dialect.model


@pytest.fixture
def spec_checker(dialect: Dialect) -> SpecChecker:
    spec = dialect.spec
    # The providers' own specs declare every query parameter their clients send.
    return SpecChecker(shape=dialect.shape, spec=spec, check_query=spec is not OPENAI_SPEC)


@pytest.fixture
async def emulator(dialect: Dialect) -> AsyncIterator[Emulator]:
    """A fresh emulator speaking the dialect, whose jobs finish in about a second."""
    async with dialect.emulator(job_seconds=1.0) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator, spec_checker: SpecChecker, dialect: Dialect) -> AsyncIterator[ft.AsyncClient]:
    """The dialect's client of the emulator; every request it sends is validated against the spec.

    A create whose answer was lost is given 1 s (not 30) to appear before it is sent again: the
    emulator acts at once unless a test makes it late, and tests of the window make their own.
    """
    async with dialect.client(
        emulator.base_url,
        api_key="sk-test-fixture",
        request_hooks=[spec_checker],
        settle_window=ft.SettleWindow(minimum=1.0),
    ) as c:
        yield c

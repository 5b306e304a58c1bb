"""pytest plugin (registered as the ``finetune_async_emulator`` entry point): the emulator fixtures.

::

    @pytest.mark.asyncio          # pytest-asyncio strict mode; nothing in auto mode; or anyio's mark
    async def test_my_code(finetune_emulator):
        async with finetune_async.AsyncClient(base_url=finetune_emulator.base_url, api_key="sk-test") as client:
            ...

    def test_my_sync_code(finetune_emulator_sync):
        client = openai.OpenAI(base_url=finetune_emulator_sync.base_url, api_key="sk-test")

Both fixtures serve a fresh :class:`~finetune_async.emulator.Emulator` for each test from a
background thread (:class:`~finetune_async.emulator.threaded.EmulatorThread`), on an event loop
that thread keeps running. Why a thread, for the async fixture too: an async fixture runs on
the loop of whichever plugin drives it (anyio's runner, pytest-asyncio's, in strict or auto
mode), and when that is not the loop the test awaits on, a server on it never answers. A
server on its own thread answers whatever the test runs on: pytest-asyncio in either mode, the
anyio plugin (asyncio or trio), or no plugin at all; the client reaches it over loopback HTTP.
Starting one costs a few milliseconds.

Jobs take ``job_seconds`` (default 1.0); change it with ``@pytest.mark.finetune_emulator(job_seconds=3,
faults="...")`` on a test, class or module, whose keyword arguments go to the Emulator.

The provider whose dialect is served (``"openai"``, ``"azure"``, ``"nebius"``, ``"together"``,
``"fireworks"``), most specific first:

- indirect parametrization, to run a test once per provider::

      @pytest.mark.parametrize("finetune_emulator", ["openai", "azure", "nebius"], indirect=True)
      async def test_on_each(finetune_emulator): ...

- the marker: ``@pytest.mark.finetune_emulator(provider="azure")``;
- the ini option ``finetune_emulator_provider = azure`` (default ``openai``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .server import Emulator
from .threaded import EmulatorThread

__all__ = ["finetune_emulator", "finetune_emulator_sync"]

DEFAULT_JOB_SECONDS = 1.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "finetune_emulator_provider",
        "the provider whose dialect the finetune_emulator fixtures serve "
        "(openai, azure, nebius, together or fireworks)",
        default="openai",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "finetune_emulator(**kwargs): keyword arguments for the Emulator of the finetune_emulator fixtures",
    )


def _served(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    kwargs: dict[str, Any] = {
        "job_seconds": DEFAULT_JOB_SECONDS,
        "provider": str(request.config.getini("finetune_emulator_provider") or "openai"),
    }
    marker = request.node.get_closest_marker("finetune_emulator")
    if marker is not None:
        kwargs.update(marker.kwargs)
    # Indirect parametrization names the provider: parametrize("finetune_emulator", [...], indirect=True).
    param = getattr(request, "param", None)
    if isinstance(param, str):
        kwargs["provider"] = param
    with EmulatorThread(**kwargs) as emu:
        yield emu


@pytest.fixture
def finetune_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A fresh fine-tuning API emulator for an async test: ``AsyncClient(base_url=finetune_emulator.base_url)``.
    Served from a background thread, it answers on whatever event loop the test runs:
    pytest-asyncio (strict mode with ``@pytest.mark.asyncio``, or auto mode) or the anyio plugin.
    Jobs take 1 s; ``@pytest.mark.finetune_emulator(job_seconds=..., faults=...)`` changes it.

    The value is the :class:`~finetune_async.emulator.Emulator`: ``.base_url``,
    ``.azure_endpoint``, ``.faults`` (change it any time), ``.state`` (read it; it belongs to
    the server's thread). Any client works: ``finetune_async.AsyncClient``, ``openai.AsyncOpenAI``.
    """
    yield from _served(request)


@pytest.fixture
def finetune_emulator_sync(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A fresh fine-tuning API emulator for a synchronous test: ``OpenAI(base_url=finetune_emulator_sync.base_url)``.
    Served from a background thread, so a plain ``def test_...`` needs no async plugin (``openai.OpenAI``,
    ``httpx``, ``urllib``). Jobs take 1 s; ``@pytest.mark.finetune_emulator(job_seconds=...)`` changes it.

    The same emulator as ``finetune_emulator``: ``.base_url``, ``.azure_endpoint``, ``.faults``,
    ``.state``.
    """
    yield from _served(request)

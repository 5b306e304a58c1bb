"""pytest plugin (registered as the ``finetune_async_emulator`` entry point): the ``finetune_emulator`` fixture.

::

    async def test_my_code(finetune_emulator):
        client = openai.AsyncOpenAI(base_url=finetune_emulator.base_url, api_key="sk-test")

The fixture is async, so the test must run under the anyio plugin (``anyio_mode = "auto"`` or
``@pytest.mark.anyio``) on the asyncio backend. Jobs take ``job_seconds`` (default 1.0); change
it for a module with ``@pytest.mark.finetune_emulator(job_seconds=3, faults="...")``, whose
keyword arguments go to :class:`~finetune_async.emulator.Emulator`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .server import Emulator

__all__ = ["finetune_emulator"]

DEFAULT_JOB_SECONDS = 1.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "finetune_emulator(**kwargs): keyword arguments for the finetune_emulator fixture's Emulator"
    )


@pytest.fixture
async def finetune_emulator(request: pytest.FixtureRequest, anyio_backend: Any) -> AsyncIterator[Emulator]:
    """A running :class:`~finetune_async.emulator.Emulator` on a free loopback port, closed after the test."""
    backend = anyio_backend if isinstance(anyio_backend, str) else anyio_backend[0]
    if backend != "asyncio":
        pytest.skip("the emulator runs on aiohttp, which needs the asyncio backend")
    kwargs: dict[str, Any] = {"job_seconds": DEFAULT_JOB_SECONDS}
    marker = request.node.get_closest_marker("finetune_emulator")
    if marker is not None:
        kwargs.update(marker.kwargs)
    async with Emulator(**kwargs) as emu:
        yield emu

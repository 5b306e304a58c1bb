"""Running the emulator: :class:`Emulator` (an async context manager) and :func:`serve`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .app import create_app
from .dialects import PROVIDERS
from .faults import Faults
from .state import EmulatorState
from .store import JobRecord, Store
from .webhooks import WebhookSender

__all__ = ["Emulator", "serve"]


class Emulator:
    """A local fine-tuning API on loopback, for as long as the ``async with`` block lasts.

    ``async with Emulator(job_seconds=2) as emu:`` then point a client at ``emu.base_url``
    (``http://127.0.0.1:PORT/v1``) or, for Azure OpenAI clients, ``emu.azure_endpoint``.
    ``emu.faults`` can be changed while it runs; ``emu.state`` is the live state for tests
    to inspect (``emu.state.store.jobs``, ``emu.state.jobs_in_flight()``).

    Arguments:
        host, port: where to listen (``port=0`` picks a free port).
        job_seconds: how long a whole job takes, validating through succeeded.
        faults: a :class:`~.faults.Faults`, a spec string, or None (no faults).
        data_dir: keep state in SQLite and files under this directory (survives restarts).
        webhook_url, webhook_secret: send signed ``fine_tuning.job.*`` webhooks there.
        webhook_retry_delays: seconds between delivery attempts after a failure.
        api_keys: accept only these keys (default: any non-empty key).
        organization: the org slug in fine-tuned model names (``org-<slug>`` is the org id).
        training_available: False refuses every new job with 403 ``training_not_available``,
            as OpenAI's platform does after its fine-tuning wind-down (``emu.state`` can flip it).
        provider: the dialect served, one of :data:`~.dialects.PROVIDERS` (ValueError for
            another): ``"openai"`` (the default: ``/v1``, and OpenAI's shapes under Azure's
            ``/openai`` paths), ``"azure"`` (Azure OpenAI's v1 and dated routes as Azure answers
            them), ``"nebius"`` (Nebius Token Factory's ``/v1``), ``"together"`` (Together AI's
            ``/v1``: ``/fine-tunes`` and its file upload flow) or ``"fireworks"`` (Fireworks AI's
            ``/v1/accounts/{account_id}/...``: datasets, supervised and DPO jobs). One state
            underneath.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        job_seconds: float = 10.0,
        faults: Faults | str | None = None,
        data_dir: str | Path | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_retry_delays: Sequence[float] = (0.5, 2.0, 5.0),
        api_keys: Collection[str] | None = None,
        organization: str = "emulator",
        training_available: bool = True,
        provider: str = "openai",
    ) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
        self.provider = provider
        self.host = host
        self.port = port
        self.job_seconds = job_seconds
        self.faults = faults if isinstance(faults, Faults) else Faults.parse(faults)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.webhooks = (
            WebhookSender(webhook_url, webhook_secret, retry_delays=webhook_retry_delays) if webhook_url else None
        )
        self.api_keys = api_keys
        self.organization = organization
        self.training_available = training_available
        self._state: EmulatorState | None = None
        self._runner: web.AppRunner | None = None

    @property
    def state(self) -> EmulatorState:
        """The live state (raises RuntimeError before start)."""
        if self._state is None:
            raise RuntimeError("the emulator is not running")
        return self._state

    @property
    def base_url(self) -> str:
        """The base URL an OpenAI-shaped client takes: ``http://HOST:PORT/v1`` (OpenAI, Nebius;
        Fireworks' paths are under it, ``/v1/accounts/{id}/...``), or Azure's v1 route
        ``http://HOST:PORT/openai/v1`` under ``provider="azure"``."""
        path = "/openai/v1" if self.provider == "azure" else "/v1"
        return f"http://{self._url_host}:{self.port}{path}"

    @property
    def azure_endpoint(self) -> str:
        """``http://HOST:PORT``, the endpoint an Azure OpenAI client takes (it adds ``/openai``)."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def _on_terminal(self, job: JobRecord) -> None:
        if self.webhooks is not None:
            self.webhooks.notify(f"fine_tuning.job.{job.status}", job.id)

    async def start(self) -> None:
        """Open the store, bind the port and start serving."""
        store = Store(self.data_dir)
        state = EmulatorState(
            store,
            job_seconds=self.job_seconds,
            organization=self.organization,
            on_terminal=self._on_terminal,
            training_available=self.training_available,
        )
        app = create_app(state, self.faults, api_keys=self.api_keys, provider=self.provider)
        # A short shutdown timeout: a test's teardown should not wait on a client's idle keep-alive.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            store.close()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        self._state = state
        state.start(asyncio.get_running_loop())

    async def close(self) -> None:
        """Stop serving, cancel webhook deliveries, close the store (idempotent)."""
        state, runner = self._state, self._runner
        self._state = self._runner = None
        if state is not None:
            state.stop()
        if runner is not None:
            await runner.cleanup()
        if self.webhooks is not None:
            await self.webhooks.aclose()
        if state is not None:
            state.store.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


@asynccontextmanager
async def serve(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    job_seconds: float = 10.0,
    faults: Faults | str | None = None,
    data_dir: str | Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    **kwargs: Any,
) -> AsyncIterator[str]:
    """Run an :class:`Emulator` for the block and yield its base URL (``http://127.0.0.1:PORT/v1``;
    ``…/openai/v1`` with ``provider="azure"``).

    Extra keyword arguments go to :class:`Emulator` (``provider``, ``api_keys``, ``organization``, …).
    """
    async with Emulator(
        host=host,
        port=port,
        job_seconds=job_seconds,
        faults=faults,
        data_dir=data_dir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        **kwargs,
    ) as emu:
        yield emu.base_url

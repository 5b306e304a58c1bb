"""``AsyncClient``: configuration, the session's lifetime, and the resource namespaces."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import attrs

from ._auth import Auth, TokenProvider
from ._ledger import CreateLedger, SettleWindow
from ._options import Timeout
from ._retry import RetryPolicy
from ._transport import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    RequestHook,
    ResponseHook,
    Transport,
)
from ._watch import WatchState
from .models._converter import prepare_decoders
from .providers import Provider
from .providers import azure as azure_provider
from .providers import fireworks as fireworks_provider
from .providers import nebius as nebius_provider
from .providers import openai as openai_provider
from .providers import together as together_provider
from .providers.openai import DEFAULT_BASE_URL
from .resources import Files, FineTuning, Models, Uploads
from .resources._response import ResponseView

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]


class AsyncClient:
    """An async client for the fine-tuning, files, uploads and models APIs.

    Use it as ``async with AsyncClient() as client: ...`` (or call ``await client.close()``).
    ``max_poll_requests_per_second`` caps the requests of the waiting helpers (``wait_for_job``,
    ``stream_events``, ...) all together, however many jobs they watch: never more than that
    many (rounded down) in any one-second window (``None``: no cap).
    One aiohttp session per client, opened on the first request, with a connection pool
    sized for hundreds of concurrent requests. The API key never appears in ``repr``, logs
    or exceptions.

    ``settle_window`` is how long a create whose answer was lost is given to appear before it
    may be sent again (a :class:`SettleWindow`, or fixed seconds; default: at least 30 s, more
    for slow requests, or ``FINETUNE_ASYNC_SETTLE_SECONDS`` as the minimum); ``mark_creates=False``
    leaves jobs without the ``ft_create`` metadata marker that recognises them exactly (see
    :attr:`ledger` and the README's "Retries and duplicate creates").

    ``max_response_bytes`` caps every answer's body, counted after decompression (default
    64 MiB), and ``max_file_bytes`` the bytes ``files.content`` returns (default 1 GiB); past
    its cap an answer raises :class:`~finetune_async.ResponseTooLargeError` (``None``: no cap).
    Redirects are followed only within the base URL's origin, never to another one: see
    :class:`~finetune_async.RedirectError`.

    Defaults come from ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID`` and
    ``OPENAI_PROJECT_ID``. Raises :class:`~finetune_async.FineTuneError` at construction
    when no API key is given or found.
    """

    files: Files
    uploads: Uploads
    fine_tuning: FineTuning
    models: Models

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float | Timeout | None = 600.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        connection_limit: int = 512,
        request_hooks: Iterable[RequestHook] = (),
        response_hooks: Iterable[ResponseHook] = (),
        max_poll_requests_per_second: float | None = 20.0,
        settle_window: SettleWindow | float | None = None,
        mark_creates: bool = True,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
        _auth: Auth | None = None,
        _provider: Provider | None = None,
    ) -> None:
        if _provider is None:
            _provider = openai_provider.configure(api_key=api_key, base_url=base_url, auth=_auth)
        self._provider = _provider
        self.base_url = _provider.base_url
        self.organization = organization if organization is not None else os.environ.get("OPENAI_ORG_ID")
        self.project = project if project is not None else os.environ.get("OPENAI_PROJECT_ID")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        headers: dict[str, str] = {}
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        headers.update(_provider.default_headers)
        headers.update(default_headers or {})
        self._transport = Transport(
            base_url=self.base_url,
            auth=_provider.auth,
            default_headers=headers,
            default_query={**_provider.default_query, **(default_query or {})},
            timeout=Timeout.coerce(timeout),
            retry=RetryPolicy(max_retries=max_retries),
            connection_limit=connection_limit,
            request_hooks=request_hooks,
            response_hooks=response_hooks,
            max_response_bytes=max_response_bytes,
            max_file_bytes=max_file_bytes,
            request_id_headers=_provider.request_id_headers,
            make_error=_provider.status_error,
        )
        if settle_window is None and os.environ.get("FINETUNE_ASYNC_SETTLE_SECONDS"):
            settle_window = SettleWindow(minimum=float(os.environ["FINETUNE_ASYNC_SETTLE_SECONDS"]))
        #: The create-once ledger (``finetune_async._ledger``), shared with every with_options() view.
        self.ledger = CreateLedger(settle=settle_window, mark_creates=mark_creates)
        # A provider's own flows (a lost upload of create_file) settle through the same ledger.
        _provider.ledger = self.ledger
        # Shared by every waiter of this client and its with_options() views (polling.py): the
        # one request-rate ceiling of all polling (None: no ceiling) and the attached webhook hubs.
        self._watch = WatchState(
            max_poll_requests_per_second, list_pages=_provider.capabilities.jobs_listed_newest_first
        )
        # The response models' decoders, generated now (about 14 ms, once per process) rather
        # than by the first answer of each type, inside the caller's first burst of requests.
        prepare_decoders()
        # Likewise the HTTP stack (aiohttp, yarl, multidict: about 150-200 ms of CPU, once per
        # process): loaded by building a client, not by `import finetune_async` (a script that
        # validates a file or prints --help never needs it) and not by the first request, where
        # it would hold up every request of the first burst (measured: 4,000 concurrent first
        # retrieves paid 40-50 us more each).
        from . import _session  # noqa: F401

        self._init_resources()

    def _init_resources(self) -> None:
        self.files = Files(self)
        self.uploads = Uploads(self)
        self.fine_tuning = FineTuning(self)
        self.models = Models(self)

    @classmethod
    def azure(
        cls,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        azure_ad_token_provider: TokenProvider | None = None,
        api_version: str | None = None,
        timeout: float | Timeout | None = 600.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        connection_limit: int = 512,
        request_hooks: Iterable[RequestHook] = (),
        response_hooks: Iterable[ResponseHook] = (),
        max_poll_requests_per_second: float | None = 20.0,
        settle_window: SettleWindow | float | None = None,
        mark_creates: bool = True,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
    ) -> AsyncClient:
        """A client for Azure OpenAI, which serves the same fine-tuning API.

        ``endpoint`` (``AZURE_OPENAI_ENDPOINT``) is the resource URL, e.g.
        ``https://my-resource.openai.azure.com``. Without ``api_version`` (nor
        ``OPENAI_API_VERSION``) requests go to Azure's v1 route ``{endpoint}/openai/v1/...``;
        with a dated one (``2024-10-21``, ``2025-04-01-preview``) to ``{endpoint}/openai/...``
        with ``?api-version=`` (``v1`` or ``preview`` keep the v1 route and send it). What Azure
        can do (pause, checkpoint copy, no Uploads API on the v1 route, files that must be
        ``processed`` before a job uses them, ...) is ``client.provider.capabilities``; a call it
        cannot do raises :class:`~finetune_async.UnsupportedByProviderError` before sending.
        Authenticates with ``api_key``
        (``AZURE_OPENAI_API_KEY``, sent as the ``api-key`` header) or with
        ``azure_ad_token_provider``, an async callable returning a Microsoft Entra ID token
        (a string, or an object with ``token`` and ``expires_on``), fetched again when it
        expires. ``max_response_bytes`` and ``max_file_bytes`` are as for the constructor.
        Raises :class:`~finetune_async.FineTuneError` when the endpoint or credentials are missing.
        """
        provider = azure_provider.configure(
            endpoint=endpoint, api_key=api_key, azure_ad_token_provider=azure_ad_token_provider, api_version=api_version
        )
        return cls(
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            connection_limit=connection_limit,
            request_hooks=request_hooks,
            response_hooks=response_hooks,
            max_poll_requests_per_second=max_poll_requests_per_second,
            settle_window=settle_window,
            mark_creates=mark_creates,
            max_response_bytes=max_response_bytes,
            max_file_bytes=max_file_bytes,
            _provider=provider,
        )

    @classmethod
    def nebius(
        cls,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        ai_project_id: str | None = None,
        timeout: float | Timeout | None = 600.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        connection_limit: int = 512,
        request_hooks: Iterable[RequestHook] = (),
        response_hooks: Iterable[ResponseHook] = (),
        max_poll_requests_per_second: float | None = 20.0,
        settle_window: SettleWindow | float | None = None,
        mark_creates: bool = True,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
    ) -> AsyncClient:
        """A client for Nebius Token Factory's fine-tuning API (OpenAI's paths and shapes).

        ``api_key`` defaults to ``NEBIUS_API_KEY`` (sent as a bearer token), ``base_url`` to
        ``NEBIUS_BASE_URL``, else ``https://api.tokenfactory.nebius.com/v1``; ``ai_project_id``
        is sent as ``?ai_project_id=`` on every request. Jobs take Nebius' absolute
        hyperparameters (``learning_rate``, ``lora``, ``lora_r``, ``context_length``, ...: plain
        dicts or :class:`~finetune_async.providers.NebiusHyperparameters`), checked before
        sending; ``tags``, ``from_checkpoint`` go in ``extra_body``; ``metadata`` travels as
        ``key=value`` tags. What Nebius cannot do (DPO, reinforcement, pause, Uploads API,
        webhooks, ...) is ``client.provider.capabilities``, and raises
        :class:`~finetune_async.UnsupportedByProviderError` before sending. The other options
        are the constructor's. Raises :class:`~finetune_async.FineTuneError` when no API key is
        given or found.
        """
        provider = nebius_provider.configure(api_key=api_key, base_url=base_url, ai_project_id=ai_project_id)
        return cls(
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            default_query=default_query,
            connection_limit=connection_limit,
            request_hooks=request_hooks,
            response_hooks=response_hooks,
            max_poll_requests_per_second=max_poll_requests_per_second,
            settle_window=settle_window,
            mark_creates=mark_creates,
            max_response_bytes=max_response_bytes,
            max_file_bytes=max_file_bytes,
            _provider=provider,
        )

    @classmethod
    def together(
        cls,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | Timeout | None = 600.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        connection_limit: int = 512,
        request_hooks: Iterable[RequestHook] = (),
        response_hooks: Iterable[ResponseHook] = (),
        max_poll_requests_per_second: float | None = 20.0,
        settle_window: SettleWindow | float | None = None,
        mark_creates: bool = True,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
        upload_sizes: together_provider.TogetherUploadSizes | None = None,
    ) -> AsyncClient:
        """A client for Together AI's fine-tuning API, behind OpenAI's calls.

        ``api_key`` defaults to ``TOGETHER_API_KEY`` (sent as a bearer token), ``base_url`` to
        ``TOGETHER_BASE_URL``, else ``https://api.together.xyz/v1``. Every call is mapped to
        Together's wire (``/fine-tunes``, ``/files/upload``) and its answers back to OpenAI's
        shapes, Together's raw status in ``job.provider_status``. Jobs take absolute
        hyperparameters (``n_epochs``, ``batch_size``, ``learning_rate``, ...) and Together's own
        fields (``training_type``, ``lr_scheduler``, ``wandb_*``, ...) through ``extra_body``,
        checked before sending; ``metadata`` (and the create-once marker) rides in
        ``wandb_name``. ``client.fine_tuning.jobs.metrics(job_id)`` reads a job's training
        metrics. What Together cannot do (reinforcement, ``learning_rate_multiplier``, pause,
        Uploads API, webhooks, ...) is ``client.provider.capabilities`` and raises
        :class:`~finetune_async.UnsupportedByProviderError` or
        :class:`~finetune_async.ProviderParameterError` before sending
        (:mod:`finetune_async.providers.together`). ``upload_sizes``
        (:class:`~finetune_async.providers.together.TogetherUploadSizes`) sets which upload flow a
        file takes (the spec's one request up to 512 MiB, Together's SDK's redirect flow up to
        5 GiB, its multipart flow beyond) and the part sizes. The other options are the
        constructor's. Raises :class:`~finetune_async.FineTuneError` when no API key is given or found.
        """
        provider = together_provider.configure(api_key=api_key, base_url=base_url, upload_sizes=upload_sizes)
        return cls(
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            default_query=default_query,
            connection_limit=connection_limit,
            request_hooks=request_hooks,
            response_hooks=response_hooks,
            max_poll_requests_per_second=max_poll_requests_per_second,
            settle_window=settle_window,
            mark_creates=mark_creates,
            max_response_bytes=max_response_bytes,
            max_file_bytes=max_file_bytes,
            _provider=provider,
        )

    @classmethod
    def fireworks(
        cls,
        api_key: str | None = None,
        account_id: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | Timeout | None = 600.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        connection_limit: int = 512,
        request_hooks: Iterable[RequestHook] = (),
        response_hooks: Iterable[ResponseHook] = (),
        max_poll_requests_per_second: float | None = 20.0,
        settle_window: SettleWindow | float | None = None,
        mark_creates: bool = True,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
    ) -> AsyncClient:
        """A client for Fireworks AI's fine-tuning API behind OpenAI's calls.

        ``api_key`` defaults to ``FIREWORKS_API_KEY`` (sent as a bearer token), ``account_id``
        (the account every path names) to ``FIREWORKS_ACCOUNT_ID``, ``base_url`` (the API's
        origin) to ``FIREWORKS_BASE_URL``, else ``https://api.fireworks.ai``. Files are
        datasets (``files.create`` makes one and uploads it: in one request up to 150 MB, through
        a signed URL beyond); ``supervised``, ``dpo`` and ``reinforcement`` jobs (the last with
        ``extra_body={"evaluator": ...}``) are ``supervisedFineTuningJobs``, ``dpoJobs`` and
        ``reinforcementFineTuningJobs``, with absolute
        learning rates and Fireworks' own settings in ``extra_body``; each create chooses its
        job id, so it is made once however often it is sent; ``metadata`` (this SDK's markers)
        rides in the job's ``displayName``. There is no events list: ``stream_events`` yields
        the job's state and progress changes; ``jobs.metrics`` reads the job's metrics file. What
        Fireworks cannot do (pause, Uploads API, webhooks, ...) is ``client.provider.capabilities``, and raises
        :class:`~finetune_async.UnsupportedByProviderError` before sending
        (:mod:`finetune_async.providers.fireworks` has the whole mapping). The other options
        are the constructor's. Raises :class:`~finetune_async.FineTuneError` when no API key
        or account is given or found.
        """
        provider = fireworks_provider.configure(api_key=api_key, account_id=account_id, base_url=base_url)
        return cls(
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            default_query=default_query,
            connection_limit=connection_limit,
            request_hooks=request_hooks,
            response_hooks=response_hooks,
            max_poll_requests_per_second=max_poll_requests_per_second,
            settle_window=settle_window,
            mark_creates=mark_creates,
            max_response_bytes=max_response_bytes,
            max_file_bytes=max_file_bytes,
            _provider=provider,
        )

    def with_options(
        self, *, max_retries: int | None = None, timeout: float | Timeout | Any | None = ...
    ) -> AsyncClient:
        """A view of this client with other retry or timeout settings, for one call or a few.

        ``await client.with_options(max_retries=5).fine_tuning.jobs.create(...)``. The view
        shares this client's session; closing this client closes it.
        """
        clone = object.__new__(AsyncClient)
        clone.__dict__.update(self.__dict__)
        retry = None
        if max_retries is not None:
            if max_retries < 0:
                raise ValueError("max_retries must be >= 0")
            retry = attrs.evolve(self._transport.retry, max_retries=max_retries)
        clone._transport = self._transport.with_settings(
            retry=retry, timeout=None if timeout is ... else Timeout.coerce(timeout)
        )
        clone._init_resources()
        return clone

    @property
    def with_raw_response(self) -> Any:
        """Every API call answering a :class:`~finetune_async.RawResponse`, as on each resource:
        ``await client.with_raw_response.fine_tuning.jobs.retrieve(job_id)``."""
        return ResponseView(self, "raw")

    @property
    def with_streaming_response(self) -> Any:
        """Every API call as an ``async with`` block giving a :class:`~finetune_async.StreamedResponse`."""
        return ResponseView(self, "streaming")

    @property
    def provider(self) -> Provider:
        """The provider this client talks to (read-only): its ``name``, ``base_url`` and
        ``capabilities`` (what it can do), shared with every :meth:`with_options` view."""
        return self._provider

    @property
    def max_retries(self) -> int:
        """How many times a failed request is tried again."""
        return self._transport.retry.max_retries

    @property
    def timeout(self) -> Timeout:
        """The request deadlines."""
        return self._transport.timeout

    @property
    def connections_in_use(self) -> int:
        """How many of the client's connections carry a request or an answer not yet read
        (a streamed ``files.content`` holds one until it is closed), counted now.

        Idle connections kept open for the next request are not counted: ``0`` means nothing
        is in flight. ``0`` before the first request (no connection is opened before it) and
        after :meth:`close`; a view from :meth:`with_options` counts the shared pool.
        """
        return self._transport.connections_in_use()

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._transport.closed

    async def close(self) -> None:
        """Close the HTTP session. Idempotent; a view from :meth:`with_options` leaves it open."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={value!r}"
            for name, value in (("organization", self.organization), ("project", self.project))
            if value
        )
        return f"AsyncClient(base_url={self.base_url!r}{extra})"

"""The one place that does HTTP.

Resources hand the :class:`Transport` "METHOD this path with this body" and get a
:class:`Response` back. It owns the client's session (opened on the first request, one per
client, shared by its views), applies the call's :class:`~finetune_async._options.RequestOptions`,
asks the :class:`~finetune_async._auth.Auth` for credentials, runs the hooks, and retries per
the one policy of :mod:`finetune_async._retry`, settling a create in doubt with the
:mod:`finetune_async._ledger`. Its parts:

* :mod:`finetune_async._session`: the aiohttp half, imported when a client is built (so
  ``import finetune_async`` loads no aiohttp, and the first requests do not wait for it): the
  session, one attempt of a request with its redirects, capped reads,
  :class:`~finetune_async._session.StreamedBody` and the mapping of aiohttp's failures to this
  package's errors;
* :mod:`finetune_async._auth` (keys, Entra ID tokens), :mod:`finetune_async._bodies` (JSON and
  multipart bodies, upload progress) and :mod:`finetune_async._options` (per-call options,
  :class:`~finetune_async.Timeout`): no I/O, no aiohttp.

Retry rule (see README, "Retries and duplicate creates"): what is worth another try, and the
wait before it, is the one policy of :mod:`finetune_async._retry`. A request that *creates*
something is sent again freely only when the server provably did not act on it (the connection
was never made, or it answered an error status). When it was sent and the answer was lost, the
transport hands the doubt to the request's :class:`~finetune_async._ledger.Reconciler`, which
looks for the object over a settle window and returns it as soon as it appears; only when the
window passed with nothing found may the create be sent again. A create with no reconciler is
never sent again after an ambiguous failure.

Redirect rule (README, "Errors"): aiohttp's own following is off. The transport follows a
301, 302, 303, 307 or 308 itself, only within the base URL's origin (scheme, host and port),
at most :data:`MAX_REDIRECTS` hops: a 307/308 re-sends the same method and body, a 301/302/303
is followed only for GET and HEAD (a create is never turned into a GET). Anything else raises
:class:`~finetune_async.RedirectError` before a byte goes to the Location, so no credential
(``Authorization``, ``api-key``, ``OpenAI-Organization``, ``OpenAI-Project``, an Entra token)
ever reaches another origin.

Size rule: a body is read in chunks, counted after decompression, and reading stops past the
cap (:data:`DEFAULT_MAX_RESPONSE_BYTES` for JSON answers, :data:`DEFAULT_MAX_FILE_BYTES` for
file contents, :data:`ERROR_BODY_LIMIT` at most for error answers), so a gzip bomb costs at most
the cap in memory. No exception raised here keeps an aiohttp exception in its ``__context__``
(some hold the request's headers): each is raised outside the ``except`` that mapped it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
import orjson

from ._auth import ApiKeyAuth, Auth, TokenProvider, TokenProviderAuth
from ._bodies import FilePart, starting_positions
from ._callbacks import call_maybe_async
from ._ledger import Reconciler
from ._lifetime import close_when_dropped
from ._options import NO_OPTIONS, RequestOptions, Timeout
from ._retry import RetryPolicy, header_value, is_transient
from .errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    FineTuneError,
)

if TYPE_CHECKING:
    import aiohttp
    from tenacity import RetryCallState
    from yarl import URL

    from ._session import Session, StreamedBody

# Besides its own names, the names of the transport's parts that the rest of the package
# imported from here before they had modules of their own (_auth, _bodies, _options, _retry).
__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ERROR_BODY_LIMIT",
    "MAX_REDIRECTS",
    "NO_OPTIONS",
    "ApiKeyAuth",
    "Auth",
    "FilePart",
    "RequestHook",
    "RequestInfo",
    "RequestOptions",
    "Response",
    "ResponseHook",
    "RetryPolicy",
    "Timeout",
    "TokenProvider",
    "TokenProviderAuth",
    "Transport",
    "header_value",
]

log = logging.getLogger("finetune_async")

T = TypeVar("T")

#: The cap on a JSON answer's body, after decompression: the largest page the API sends is a
#: few megabytes, so this only ever stops a hostile or broken answer.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: The cap on ``files.content``, after decompression. The Files API takes files up to 512 MB
#: and ``files.content`` returns them whole, in memory; past this, raise the cap.
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
#: The most of an error answer's body that is read (less when the client's cap is lower): an
#: error's JSON is a few hundred bytes, and a 500 with a huge body must not cost its size.
ERROR_BODY_LIMIT = 1024 * 1024
#: Same-origin redirects followed for one request before giving up.
MAX_REDIRECTS = 5


@attrs.define
class Response:
    """A 2xx answer, read whole: status, headers, body bytes and the request id; the method
    and the URL that answered; for a streamed request, the unread ``stream`` (``content`` is
    then empty).

    Internal, made once per request and only read after: not frozen and built positionally,
    which makes it four times cheaper to create.
    """

    status: int
    headers: Mapping[str, str]
    content: bytes
    request_id: str | None
    method: str = "GET"
    url: URL | None = None
    stream: StreamedBody | None = None

    def json(self) -> Any:
        """The body decoded as JSON (orjson: several times faster than the stdlib on pages)."""
        return orjson.loads(self.content)


@attrs.frozen(kw_only=True)
class RequestInfo:
    """What a request hook sees: never headers, so never credentials."""

    method: str
    url: str
    path: str
    params: Mapping[str, str]
    json: Any = None
    form: Mapping[str, str] | None = None
    files: Sequence[str] = ()
    attempt: int = 1
    #: A request to a signed URL (:meth:`Transport.request_signed`): sent with no credentials,
    #: to an address the provider gave; ``url`` and ``path`` are shown without its query.
    signed: bool = False


@attrs.frozen(kw_only=True)
class SignedBody:
    """What a request to a signed URL sends beyond the URL: its body (one file part, sent as
    the whole body), its size when known (sent as ``Content-Length``: object stores refuse a
    chunked PUT) and the headers the URL was signed with. Internal to the transport."""

    #: The whole URL, signature included: never logged or shown.
    url: str = attrs.field(repr=False)
    body: FilePart | None = None
    size: int | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)


#: A check run at the last moment before a request is written to its connection, once the
#: connection is made (after any wait for one, or for its TCP and TLS handshakes): raising
#: there stops the request with nothing sent. ``run_batch`` on a shared journal sets it around
#: a create, so a worker stopped past its lease while its create waited sends nothing on waking.
SEND_GUARD: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "finetune_async_send_guard", default=None
)

RequestHook = Callable[[RequestInfo], Awaitable[None] | None]
ResponseHook = Callable[[RequestInfo, int, str | None], Awaitable[None] | None]


class _Ambiguous(Exception):
    """Internal: the request may have been acted on, and it must not be sent again."""

    def __init__(self, error: APIConnectionError) -> None:
        super().__init__(str(error))
        self.error = error


@attrs.define(kw_only=True)
class _Call(Generic[T]):
    """One request and the state of its tries (internal to the transport)."""

    method: str
    path: str
    query: Mapping[str, str]
    json_body: Any
    form: Mapping[str, str] | None
    files: Sequence[FilePart]
    starts: Mapping[int, int | None]
    info: RequestInfo | None
    idempotent: bool
    reconcile: Reconciler[T] | None
    file_content: bool
    options: RequestOptions
    stream: bool
    attempt: int = 1
    started: float
    refreshed_auth: bool = False
    #: A request to a signed URL (``path`` is then the whole URL): see request_signed.
    signed: SignedBody | None = None
    #: A 3xx answer is the response (see request).
    answer_redirects: bool = False


class Transport:
    """Sends requests for one client. Not used directly by users."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        timeout: Timeout,
        retry: RetryPolicy,
        connection_limit: int = 512,
        request_hooks: Iterable[RequestHook] = (),
        response_hooks: Iterable[ResponseHook] = (),
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
        request_id_headers: Sequence[str] = ("x-request-id",),
        make_error: Callable[..., APIStatusError] | None = None,
    ) -> None:
        for name, cap in (("max_response_bytes", max_response_bytes), ("max_file_bytes", max_file_bytes)):
            if cap is not None and cap <= 0:
                raise ValueError(f"{name} must be a positive number of bytes, or None for no cap")
        self.base_url = base_url.rstrip("/")
        #: Caps on an answer's decompressed body: JSON answers, and ``files.content``.
        self.max_response_bytes = max_response_bytes
        self.max_file_bytes = max_file_bytes
        self._auth = auth
        # The session's prebuilt headers start from these (after its User-Agent and Accept).
        self._headers = {**(default_headers or {}), **auth.static_headers()}
        self._query = dict(default_query or {})
        self.timeout = timeout
        # aiohttp's form of self.timeout, made on the first request.
        self._client_timeout: aiohttp.ClientTimeout | None = None
        self.retry = retry
        self._connection_limit = connection_limit
        #: The session (finetune_async._session), opened on the first request; None before.
        self._session: Session | None = None
        self._closed = False
        # A view made by with_settings() borrows the session of the transport it came from.
        self._owner: Transport | None = None
        self.request_hooks = list(request_hooks)
        self.response_hooks = list(response_hooks)
        # The provider's request-id headers and error mapping, handed to the session.
        self._request_id_headers = tuple(request_id_headers)
        self._make_error = make_error

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, auth={self._auth!r})"

    @property
    def closed(self) -> bool:
        return self._owner.closed if self._owner is not None else self._closed

    def connections_in_use(self) -> int:
        """Connections of the shared session carrying a request or an unread answer now: 0
        before the first request and after :meth:`close`."""
        owner = self._owner or self
        session = owner._session
        return 0 if session is None else session.connections_in_use()

    def with_settings(self, *, retry: RetryPolicy | None = None, timeout: Timeout | None = None) -> Transport:
        """A view sharing this transport's session, with other retry or timeout settings."""
        view = object.__new__(Transport)
        view.__dict__.update(self.__dict__)
        view._owner = self._owner or self
        view._session = None
        if retry is not None:
            view.retry = retry
        if timeout is not None:
            view.timeout = timeout
            view._client_timeout = None
        return view

    def _get_session(self) -> Session:
        """The session, opened on the first call (its module is already imported by the client).

        Raises :class:`RuntimeError` once the client is closed.
        """
        if self._owner is not None:
            return self._owner._get_session()
        if self._closed:
            raise RuntimeError("this client is closed")
        if self._session is None:
            from ._session import Session

            self._session = Session(
                base_url=self.base_url,
                headers=self._headers,
                connection_limit=self._connection_limit,
                timeout=self.timeout,
                request_id_headers=self._request_id_headers,
                **({"make_error": self._make_error} if self._make_error is not None else {}),
            )
            # Never closed: closed quietly when this transport is collected or at exit (_lifetime).
            self._finalizer = close_when_dropped(self, self._session.client, asyncio.get_running_loop())
        return self._session

    async def close(self) -> None:
        """Close the session and its connections. Idempotent; a view leaves its owner open."""
        if self._owner is not None:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            self._finalizer.detach()
            await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Sequence[FilePart] = (),
        idempotent: bool | None = None,
        reconcile: Reconciler[T] | None = None,
        max_retries: int | None = None,
        file_content: bool = False,
        options: RequestOptions | None = None,
        stream: bool = False,
        answer_redirects: bool = False,
    ) -> Response | T:
        """Send one request, retrying per the policy; return the 2xx :class:`Response`.

        When ``reconcile`` is given and a try fails ambiguously (sent, no answer), returns the
        object its settle found instead of sending again; see the module docstring.
        ``file_content`` says the answer is a file's bytes, capped by ``max_file_bytes``
        instead of ``max_response_bytes``. ``options`` are the call's per-call options
        (:class:`RequestOptions`: timeout, extra headers, query and body). With ``stream``, a
        2xx answer's body is not read: the :class:`Response` carries it as ``stream``, which the
        caller must close. With ``answer_redirects``, a 3xx answer is returned as the response,
        neither followed nor raised (a provider's flow reads its ``Location``).

        Raises :class:`APIStatusError` subclasses for non-2xx answers (a
        :class:`~finetune_async.RedirectError` for a redirect not followed),
        :class:`APIConnectionError` / :class:`APITimeoutError` when no answer came, and
        :class:`~finetune_async.ResponseTooLargeError` for a 2xx body past its cap.
        """
        opts = NO_OPTIONS if options is None else options
        if opts is not NO_OPTIONS:
            query = self._query_params(params, opts.query)
            if opts.body is not None:
                if files or form is not None:
                    form = opts.merge_form(form or {}, (f.name for f in files))
                elif method not in ("GET", "HEAD"):
                    # As the official SDK: a GET carries no body, so extra_body is not sent with one.
                    json_body = opts.merge_json(json_body)
        else:
            query = self._query_params(params) if params or self._query else _NO_QUERY
        info = (
            RequestInfo(
                method=method,
                url=self.base_url + path,
                path=path,
                params=query,
                json=json_body,
                form=form,
                files=tuple(f.name for f in files),
            )
            if self.request_hooks or self.response_hooks
            else None
        )
        # File objects are rewound to where they stood for every attempt.
        starts = starting_positions(files)
        started = time.time() if reconcile is not None else 0.0
        # The first try is a plain call: most requests succeed at once, and that path should
        # cost no more than the request itself. Everything else is in _recover.
        try:
            response = await self._send(
                method,
                path,
                query,
                json_body,
                form,
                files,
                starts,
                info,
                1,
                file_content,
                opts,
                stream,
                answer_redirects=answer_redirects,
            )
        except (APIStatusError, APIConnectionError) as exc:
            error = exc
        else:
            if reconcile is not None:
                reconcile.answered(time.time() - started)
            return response
        call = _Call(
            method=method,
            path=path,
            query=query,
            json_body=json_body,
            form=form,
            files=files,
            starts=starts,
            info=info,
            idempotent=method in _IDEMPOTENT_METHODS if idempotent is None else idempotent,
            reconcile=reconcile,
            file_content=file_content,
            options=opts,
            stream=stream,
            started=started,
            answer_redirects=answer_redirects,
        )
        return await self._recover(call, error, self.retry.max_retries if max_retries is None else max_retries)

    async def _recover(self, call: _Call[T], error: APIStatusError | APIConnectionError, retries: int) -> Response | T:
        """After a failed first try: finish that attempt, then retry per the policy."""
        try:
            return await self._finish_attempt(call, error)
        except _Ambiguous as amb:
            # Raised below, outside the handler, so the internal _Ambiguous is not its context.
            ambiguous: APIConnectionError | None = amb.error
        except (APIStatusError, APIConnectionError) as exc:
            if retries <= 0 or not is_transient(exc):
                raise
            first_error, ambiguous = exc, None
        if ambiguous is not None:
            raise ambiguous
        # Only a failed request gets here: tenacity is imported when one first does.
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            return self.retry.delay(state.attempt_number, exc)

        def before_sleep(state: RetryCallState) -> None:
            # Only called when another try follows: never a "retrying" line after the last one.
            exc = state.outcome.exception() if state.outcome is not None else None
            seconds = state.next_action.sleep if state.next_action is not None else 0.0
            log.info("%s %s failed (%s); retrying in %.2fs", call.method, call.path, _describe(exc), seconds)

        seconds = self.retry.delay(0, first_error)
        log.info("%s %s failed (%s); retrying in %.2fs", call.method, call.path, _describe(first_error), seconds)
        await anyio.sleep(seconds)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(retries),
            wait=wait,
            retry=retry_if_exception(is_transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return await retrying(self._retry_once, call)
        except _Ambiguous as amb:
            ambiguous = amb.error
        raise ambiguous

    async def _retry_once(self, call: _Call[T]) -> Response | T:
        """One more try of the request."""
        call.attempt += 1
        call.started = time.time()
        try:
            response = await self._send_call(call)
        except (APIStatusError, APIConnectionError) as exc:
            return await self._finish_attempt(call, exc)
        if call.reconcile is not None:
            call.reconcile.answered(time.time() - call.started)
        return response

    async def _finish_attempt(self, call: _Call[T], error: APIStatusError | APIConnectionError) -> Response | T:
        """A try failed with ``error``: resend once with fresh credentials, settle a doubt, or raise.

        Returns the object a create in doubt turned out to have made. Raises ``_Ambiguous``
        when the create may have been acted on and must not be sent again, else ``error``
        (which the policy may retry).
        """
        if isinstance(error, AuthenticationError) and not call.refreshed_auth and self._auth.invalidate():
            # A cached token can be revoked before it expires: fetch a fresh one, once.
            call.refreshed_auth = True
            try:
                return await self._send_call(call)
            except (APIStatusError, APIConnectionError) as exc:
                error = exc
        if not (isinstance(error, APIConnectionError) and error.maybe_sent and not call.idempotent):
            raise error
        if call.reconcile is None:
            raise _Ambiguous(error) from None
        attempt_seconds = max(0.0, time.time() - call.started)
        try:
            found = await call.reconcile.settle(call.started, attempt_seconds)
        except FineTuneError as exc:
            # Nobody could tell whether it was acted on: sending again could make a second one.
            raise _Ambiguous(
                APIConnectionError(
                    f"{error.message}; the outcome is unknown: {call.reconcile.describe(call.started)} "
                    f"but could not list them ({exc}); {call.reconcile.advice()}.",
                    method=error.method,
                    url=error.url,
                    maybe_sent=True,
                )
            ) from None
        if found is not None:
            log.info("%s %s: the answer was lost; found what it created, not sending again", call.method, call.path)
            return found
        # The window passed with an answered look and nothing: the server did not act on it.
        raise type(error)(
            f"{error.message}; {call.reconcile.describe(call.started)} and found nothing, "
            f"{call.reconcile.advice(found_nothing=True)}",
            method=error.method,
            url=error.url,
            maybe_sent=True,
        ) from None

    def _query_params(
        self, params: Mapping[str, Any] | None, extra: Sequence[tuple[str, str | None]] = ()
    ) -> Mapping[str, str]:
        """The client's default query, then the method's parameters (None left out), then a
        call's ``extra_query`` pairs (None removes the name; a name given twice is repeated)."""
        query = dict(self._query)
        if params:
            for key, value in params.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    query[key] = "true" if value else "false"
                else:
                    query[key] = str(value)
        if not extra:
            return query
        replaced: set[str] = set()
        repeated: list[tuple[str, str]] = []
        for key, text in extra:
            if text is None:
                query.pop(key, None)
                replaced.discard(key)
            elif key in replaced:
                repeated.append((key, text))
            else:
                query[key] = text
                replaced.add(key)
        if not repeated:
            return query
        from multidict import MultiDict  # loaded with aiohttp, which building a client imports

        multi = MultiDict(query)
        for key, text in repeated:
            multi.add(key, text)
        return multi

    async def request_signed(
        self,
        method: str,
        url: str,
        *,
        body: FilePart | None = None,
        size: int | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        file_content: bool = False,
        max_retries: int | None = None,
    ) -> Response:
        """Send one request to a signed URL a provider handed out (an upload's PUT, a metrics
        file's GET), retrying per the policy; return the 2xx :class:`Response`.

        Nothing of the client's goes with it: no credential, no default header or query, no
        call option; only ``User-Agent``, ``headers`` (those the URL was signed with) and the
        body (``body`` streamed as the whole request body, ``size`` sent as its length). The
        URL must be ``https``, or ``http`` where the base URL is (a local emulator), and carry
        no userinfo; a redirect answer is never followed. Hooks see it with ``signed=True`` and
        the URL without its query, which is the signature. ``file_content`` caps the answer by
        ``max_file_bytes``.

        Raises :class:`ValueError` for a URL that breaks those rules (before anything is sent),
        and what :meth:`request` raises otherwise.
        """
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        allowed = ("https", "http") if self.base_url.startswith("http://") else ("https",)
        if parts.scheme not in allowed or not parts.hostname or parts.username is not None or parts.password:
            shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
            raise ValueError(
                f"a signed URL the provider gave is not used: {shown!r} must be an {' or '.join(allowed)} URL "
                "with a host and no userinfo"
            )
        shown_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        info = (
            RequestInfo(
                method=method,
                url=shown_url,
                path=parts.path,
                params=_NO_QUERY,
                files=(body.name,) if body is not None else (),
                signed=True,
            )
            if self.request_hooks or self.response_hooks
            else None
        )
        signed = SignedBody(url=url, body=body, size=size, headers=dict(headers or {}))
        files = (body,) if body is not None else ()
        starts = starting_positions(files)
        try:
            return await self._send(
                method, shown_url, _NO_QUERY, None, None, (), starts, info, 1, file_content, signed=signed
            )
        except (APIStatusError, APIConnectionError) as exc:
            error = exc
        call: _Call[Any] = _Call(
            method=method,
            # What retry log lines show; the signed URL itself travels in ``signed``.
            path=shown_url,
            query=_NO_QUERY,
            json_body=None,
            form=None,
            files=(),
            starts=starts,
            info=info,
            idempotent=method in _IDEMPOTENT_METHODS if idempotent is None else idempotent,
            reconcile=None,
            file_content=file_content,
            options=NO_OPTIONS,
            stream=False,
            started=0.0,
            signed=signed,
        )
        result = await self._recover(call, error, self.retry.max_retries if max_retries is None else max_retries)
        assert isinstance(result, Response)  # no reconciler: only an answer comes back
        return result

    def _send_call(self, call: _Call[Any]) -> Awaitable[Response]:
        c = call
        return self._send(
            c.method,
            c.path,
            c.query,
            c.json_body,
            c.form,
            c.files,
            c.starts,
            c.info,
            c.attempt,
            c.file_content,
            c.options,
            c.stream,
            signed=c.signed,
            answer_redirects=c.answer_redirects,
        )

    async def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        json_body: Any,
        form: Mapping[str, str] | None,
        files: Sequence[FilePart],
        starts: Mapping[int, int | None],
        info: RequestInfo | None,
        attempt: int,
        file_content: bool,
        options: RequestOptions = NO_OPTIONS,
        stream: bool = False,
        *,
        signed: SignedBody | None = None,
        answer_redirects: bool = False,
    ) -> Response:
        """One try of the request over the session (:meth:`finetune_async._session.Session.send`),
        with this transport's credentials, deadlines, caps and hooks; with ``signed``, the
        request goes to its URL and no credential goes with it."""
        session = self._get_session()
        # A static key is in the session's prebuilt headers; only tokens are fetched per request.
        auth_headers = await self._auth.headers() if self._auth.dynamic and signed is None else None
        if options.timeout is not None:
            timeout = session.client_timeout(options.timeout)
        elif self._client_timeout is not None:
            timeout = self._client_timeout
        else:
            timeout = self._client_timeout = session.client_timeout(self.timeout)
        if self.request_hooks and info is not None:
            await _run_hooks(self.request_hooks, attrs.evolve(info, attempt=attempt))
        on_answer: Callable[[int, str | None], Awaitable[None]] | None = None
        if self.response_hooks and info is not None:
            on_answer = functools.partial(_run_hooks, self.response_hooks, info)
        return await session.send(
            method,
            signed.url if signed is not None else self.base_url + path,
            query,
            json_body,
            form,
            files,
            starts,
            auth_headers=auth_headers,
            extra_headers=options.headers,
            timeout=timeout,
            limit=self.max_file_bytes if file_content else self.max_response_bytes,
            file_content=file_content,
            stream=stream,
            on_answer=on_answer,
            signed=signed,
            answer_redirects=answer_redirects,
        )


# Shared by many requests (and shown to request hooks): read-only.
_NO_QUERY: Mapping[str, str] = types.MappingProxyType({})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "PUT"})


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__ if exc is not None else "?"


async def _run_hooks(hooks: Iterable[Callable[..., Any]], *args: Any) -> None:
    for hook in hooks:
        await call_maybe_async(hook, *args)

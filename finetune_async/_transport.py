"""The one place that does HTTP.

Owns the aiohttp session (opened lazily, one per client), authentication headers,
timeouts, the retry policy, error mapping, request ids, and redaction of credentials.
Resources hand it "METHOD this path with this body" and get a :class:`Response` back.

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
import base64
import binascii
import io
import logging
import os
import platform
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import IO, Any, Generic, TypeVar

import aiohttp
import anyio
import attrs
import orjson
from multidict import CIMultiDict, MultiDict
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from yarl import URL

from ._callbacks import call_maybe_async
from ._ledger import Reconciler
from ._lifetime import close_when_dropped
from ._retry import RetryPolicy, header_value, is_transient
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    FineTuneError,
    RedirectError,
    ResponseTooLargeError,
    status_error,
)

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ERROR_BODY_LIMIT",
    "MAX_REDIRECTS",
    "NO_OPTIONS",
    "FilePart",
    "RequestInfo",
    "RequestOptions",
    "Response",
    "RetryPolicy",
    "StreamedBody",
    "Timeout",
    "Transport",
    "header_value",
]

log = logging.getLogger("finetune_async")

T = TypeVar("T")

USER_AGENT = f"finetune-async/{__version__} (Python {platform.python_version()}; aiohttp {aiohttp.__version__})"

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


_NO_FIELD = object()


@attrs.frozen(kw_only=True)
class Timeout:
    """Request deadlines in seconds: ``total`` for the whole request, ``connect`` to get a
    connection, ``read`` between two reads of the answer. ``None`` means no limit."""

    total: float | None = 600.0
    connect: float | None = None
    read: float | None = None

    @classmethod
    def coerce(cls, value: float | Timeout | Any | None) -> Timeout:
        """A :class:`Timeout` from seconds, an existing Timeout, None (no deadline), or the
        official SDK's ``openai.Timeout`` / an ``httpx.Timeout``.

        Those have no deadline for the whole request: their ``connect`` and ``read`` carry over
        and ``total`` is None (their ``write`` and ``pool`` have no counterpart here). Raises
        :class:`TypeError` for anything else.
        """
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(total=float(value))
        phases: list[Any] = [getattr(value, "connect", _NO_FIELD), getattr(value, "read", _NO_FIELD)]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in phases):
            connect, read = (None if v is None else float(v) for v in phases)
            return cls(total=None, connect=connect, read=read)
        raise TypeError(
            f"timeout must be seconds, None, a finetune_async.Timeout or an httpx-style Timeout, "
            f"not {type(value).__name__}"
        )

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.total, sock_connect=self.connect, sock_read=self.read)


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
class FilePart:
    """A file field of a multipart request.

    ``source`` is a path (streamed from disk, never read whole), bytes, a binary file object
    (streamed from its current position, rewound for a retry when seekable), or a factory
    giving a fresh async iterator of chunks for each attempt.
    """

    name: str
    filename: str
    source: str | os.PathLike[str] | bytes | IO[bytes] | Callable[[], AsyncIterator[bytes]]
    content_type: str = "application/octet-stream"
    #: ``on_progress(bytes_sent, total)`` as a path source is read for sending.
    on_progress: Callable[[int, int], object] | None = None


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


def _omitted(value: object) -> bool:
    """Whether ``value`` is the official SDK's ``openai.omit`` (an ``Omit`` instance).

    Recognised by its class, so that a script ported from ``openai`` works unchanged without
    this package importing ``openai``.
    """
    kind = type(value)
    return kind.__name__ == "Omit" and kind.__module__.split(".", 1)[0] == "openai"


# RFC 9110 token characters: what a header name may be made of.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OPTION_NAMES = ("timeout", "extra_headers", "extra_query", "extra_body")


@attrs.frozen(kw_only=True, repr=False)
class RequestOptions:
    """The per-call options of one resource call, as the transport applies them.

    Built once per call by :meth:`of` from the official SDK's four keywords, and handed to
    :meth:`Transport.request` (a paginator keeps it for every page it fetches):

    * ``timeout``: the :class:`Timeout` of each attempt of this call, instead of the client's
      (None: the client's). Retries each get it afresh, as in the official SDK.
    * ``headers``: ``extra_headers`` as (name, value) pairs, applied last, case-insensitively,
      over the client's headers and credentials; a value of None removes that header.
    * ``query``: ``extra_query`` flattened to (name, value) pairs (nested mappings as
      ``name[key]``, lists as repeated names), applied over the method's parameters and the
      client's default query; a value of None removes that parameter.
    * ``body``: ``extra_body``, merged into a JSON body (an ``openai.omit`` value removes a key,
      None is sent as null) or added to a multipart body as form fields; not sent with a GET.

    Its repr shows header names, never their values: an ``extra_headers`` credential is
    redacted like the client's own.
    """

    timeout: Timeout | None = None
    headers: tuple[tuple[str, str | None], ...] = ()
    query: tuple[tuple[str, str | None], ...] = ()
    body: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> RequestOptions:
        """The options from a resource method's keywords (``timeout``, ``extra_headers``,
        ``extra_query``, ``extra_body``); :data:`NO_OPTIONS` when there are none.

        Raises :class:`TypeError` for an unknown keyword or an option of the wrong type, and
        :class:`ValueError` for a header name that is not a token or a value with a line break
        (named, never quoted: it may be a credential).
        """
        if not given:
            return NO_OPTIONS
        unknown = [name for name in given if name not in _OPTION_NAMES]
        if unknown:
            raise TypeError(
                f"unexpected keyword argument {unknown[0]!r} (besides its own parameters, a resource method "
                f"takes {', '.join(n + '=' for n in _OPTION_NAMES)})"
            )
        timeout = given.get("timeout", _NO_FIELD)
        return cls(
            timeout=None if timeout is _NO_FIELD else Timeout.coerce(timeout),
            headers=_header_pairs(given.get("extra_headers")),
            query=_query_pairs(given.get("extra_query")),
            body=_body_mapping(given.get("extra_body")),
        )

    def __repr__(self) -> str:
        headers = {name: "<redacted>" if value is not None else None for name, value in self.headers}
        return (
            f"RequestOptions(timeout={self.timeout!r}, extra_headers={headers!r}, "
            f"extra_query={dict(self.query)!r}, extra_body={self.body!r})"
        )

    def without_body(self) -> RequestOptions:
        """These options without ``extra_body``: for a request whose body already has it merged
        (a create merges it first, to recognise what it sent), and for the lookups that settle a
        lost create, which go with the same headers and query (the same project) but never
        carry another request's body."""
        return self if self.body is None else attrs.evolve(self, body=None)

    def merge_json(self, body: Any) -> Any:
        """``body`` (a JSON object, or None) with ``extra_body`` merged over it, last wins."""
        if self.body is None:
            return body
        if body is not None and not isinstance(body, Mapping):
            raise TypeError(f"extra_body cannot be merged into a JSON body of type {type(body).__name__}")
        merged = dict(body or {})
        for key, value in self.body.items():
            if _omitted(value):
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    def merge_form(self, form: Mapping[str, str], file_fields: Iterable[str] = ()) -> dict[str, str]:
        """``form`` with ``extra_body`` added as multipart fields, as the official SDK sends them:
        a nested mapping as ``name[key]`` fields, ``True``/``False`` as ``true``/``false``, a
        None skipped, an ``openai.omit`` removing the field (and its ``name[...]`` fields).

        Raises :class:`ValueError` when a key names a file part, :class:`TypeError` for a
        list (no endpoint with a multipart body takes one) or another non-scalar value.
        """
        merged = dict(form)
        if self.body is None:
            return merged
        files = set(file_fields)
        for key, value in self.body.items():
            if key in files:
                raise ValueError(f"extra_body cannot replace the file part {key!r} of this multipart request")
            for existing in [k for k in merged if k == key or k.startswith(key + "[")]:
                del merged[existing]
            if not _omitted(value):
                merged.update(_flatten(key, value, "extra_body", allow_lists=False))
        return merged


#: The options of a call that was given none (shared: frozen).
NO_OPTIONS = RequestOptions()


def _header_pairs(value: object) -> tuple[tuple[str, str | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise TypeError(f"extra_headers must be a mapping of header names to values, not {type(value).__name__}")
    pairs: list[tuple[str, str | None]] = []
    for name, text in value.items():
        if not isinstance(name, str):
            raise TypeError(f"extra_headers: a header name must be a str, not {type(name).__name__}")
        if not name or not _TOKEN_CHARS.issuperset(name):
            raise ValueError(f"extra_headers: {name[:80]!r} is not a valid header name")
        if text is None or _omitted(text):
            pairs.append((name, None))
            continue
        if not isinstance(text, str):
            raise TypeError(
                f"extra_headers: the value of {name!r} must be a str (None removes the header), "
                f"not {type(text).__name__}"
            )
        if any(ch in text for ch in "\r\n\x00"):
            raise ValueError(f"extra_headers: the value of {name!r} holds a line break or a NUL, and was not sent")
        pairs.append((name, text))
    return tuple(pairs)


def _query_pairs(value: object) -> tuple[tuple[str, str | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise TypeError(f"extra_query must be a mapping of parameter names to values, not {type(value).__name__}")
    pairs: list[tuple[str, str | None]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"extra_query: a parameter name must be a str, not {type(key).__name__}")
        if item is None or _omitted(item):
            pairs.append((key, None))
        else:
            pairs.extend(_flatten(key, item, "extra_query", allow_lists=True))
    return tuple(pairs)


def _flatten(key: str, value: object, option: str, *, allow_lists: bool) -> list[tuple[str, str]]:
    """``value`` under ``key`` as the official SDK's query string writes it (nested mappings in
    brackets, lists as repeated keys, booleans as true/false, None left out)."""
    if value is None or _omitted(value):
        return []
    if isinstance(value, bool):
        return [(key, "true" if value else "false")]
    if isinstance(value, (str, int, float)):
        return [(key, str(value))]
    if isinstance(value, Mapping):
        return [
            pair
            for sub, item in value.items()
            for pair in _flatten(f"{key}[{sub}]", item, option, allow_lists=allow_lists)
        ]
    if allow_lists and isinstance(value, (list, tuple)):
        return [pair for item in value for pair in _flatten(key, item, option, allow_lists=False)]
    raise TypeError(
        f"{option}: {key!r} must be a str, number, bool, None or a mapping of those, not {type(value).__name__}"
    )


def _body_mapping(value: object) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"extra_body must be a mapping with str keys, not {type(value).__name__}")
    try:
        orjson.dumps({k: v for k, v in value.items() if not _omitted(v)})
    except TypeError as exc:
        raise TypeError(f"extra_body must hold JSON values: {exc}") from None
    return dict(value)


RequestHook = Callable[[RequestInfo], Awaitable[None] | None]
ResponseHook = Callable[[RequestInfo, int, str | None], Awaitable[None] | None]


class Auth:
    """Produces the authentication headers of one request. Never shows its secret.

    A ``dynamic`` auth is asked for headers on every request; a static one gives its headers
    once, for the session's defaults.
    """

    dynamic = True

    def static_headers(self) -> dict[str, str]:
        """Headers set once on the session (none for a dynamic auth)."""
        return {}

    async def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def invalidate(self) -> bool:
        """Forget a cached credential after a 401; True if a fresh one can be fetched."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"


class ApiKeyAuth(Auth):
    """A static API key, sent as a bearer token (OpenAI) or in the ``api-key`` header (Azure)."""

    __slots__ = ("_header", "_value")

    dynamic = False

    def __init__(self, api_key: str, *, azure: bool = False) -> None:
        if azure:
            self._header, self._value = "api-key", api_key
        else:
            self._header, self._value = "Authorization", f"Bearer {api_key}"

    def static_headers(self) -> dict[str, str]:
        return {self._header: self._value}

    async def headers(self) -> dict[str, str]:
        return self.static_headers()


TokenProvider = Callable[[], Awaitable[Any]]


class TokenProviderAuth(Auth):
    """A bearer token from an async provider (Microsoft Entra ID), cached until it expires.

    The provider may return a string (a JWT's ``exp`` claim gives its expiry; an opaque
    string is fetched again for every request) or an object with ``token`` and
    ``expires_on`` (epoch seconds), like ``azure.core.credentials.AccessToken``.
    """

    __slots__ = ("_expires_at", "_provider", "_token")

    # Refresh this long before expiry so a token never expires in flight.
    REFRESH_MARGIN = 60.0

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider
        self._token: str | None = None
        self._expires_at = 0.0

    async def headers(self) -> dict[str, str]:
        if self._token is None or time.time() >= self._expires_at - self.REFRESH_MARGIN:
            value = await self._provider()
            token, expires = _split_token(value)
            self._token, self._expires_at = token, expires
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        self._token = None
        return True


def _split_token(value: Any) -> tuple[str, float]:
    if isinstance(value, str):
        return value, _jwt_expiry(value)
    token = getattr(value, "token", None)
    expires = getattr(value, "expires_on", None)
    if isinstance(token, str) and isinstance(expires, (int, float)):
        return token, float(expires)
    raise TypeError("azure_ad_token_provider must return a str or an object with .token and .expires_on")


def _jwt_expiry(token: str) -> float:
    """The ``exp`` claim of a JWT, or 0 (fetch again next time) when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return 0.0
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = orjson.loads(base64.urlsafe_b64decode(padded))
    except (orjson.JSONDecodeError, binascii.Error, ValueError):
        return 0.0
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else 0.0


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
    ) -> None:
        for name, cap in (("max_response_bytes", max_response_bytes), ("max_file_bytes", max_file_bytes)):
            if cap is not None and cap <= 0:
                raise ValueError(f"{name} must be a positive number of bytes, or None for no cap")
        self.base_url = base_url.rstrip("/")
        # Redirects are followed only to this origin (scheme, host, port): see _redirect_target.
        self._origin = _origin_of(URL(self.base_url))
        #: Caps on an answer's decompressed body: JSON answers, and ``files.content``.
        self.max_response_bytes = max_response_bytes
        self.max_file_bytes = max_file_bytes
        self._auth = auth
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self._headers.update(default_headers or {})
        # Sent with every request rather than set on the session, so that a call's extra_headers
        # can also remove one (aiohttp cannot unset a session default for one request). Built
        # once as multidicts, which aiohttp takes without converting them.
        self._request_headers = CIMultiDict({**self._headers, **auth.static_headers()})
        self._json_headers = CIMultiDict({**self._request_headers, "Content-Type": "application/json"})
        self._query = dict(default_query or {})
        self.timeout = timeout
        self._aiohttp_timeout = timeout.to_aiohttp()
        self.retry = retry
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # A view made by with_settings() borrows the session of the transport it came from.
        self._owner: Transport | None = None
        self._proxy: str | None = None
        self.request_hooks = list(request_hooks)
        self.response_hooks = list(response_hooks)

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, auth={self._auth!r})"

    @property
    def closed(self) -> bool:
        return self._owner.closed if self._owner is not None else self._closed

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
            view._aiohttp_timeout = timeout.to_aiohttp()
        return view

    def _get_session(self) -> aiohttp.ClientSession:
        if self._owner is not None:
            return self._owner._get_session()
        if self._closed:
            raise RuntimeError("this client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._connection_limit,
                limit_per_host=self._connection_limit,
                ttl_dns_cache=300,
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout.to_aiohttp(),
                # We decode bodies ourselves and raise our own errors.
                raise_for_status=False,
                auto_decompress=True,
                # trust_env would look proxies up again for every request (in a thread):
                # the environment's proxy for our one base URL is looked up once, below.
                trust_env=False,
            )
            self._proxy = _env_proxy(self.base_url)
            # Never closed: closed quietly when this transport is collected or at exit (_lifetime).
            self._finalizer = close_when_dropped(self, self._session, asyncio.get_running_loop())
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
    ) -> Response | T:
        """Send one request, retrying per the policy; return the 2xx :class:`Response`.

        When ``reconcile`` is given and a try fails ambiguously (sent, no answer), returns the
        object its settle found instead of sending again; see the module docstring.
        ``file_content`` says the answer is a file's bytes, capped by ``max_file_bytes``
        instead of ``max_response_bytes``. ``options`` are the call's per-call options
        (:class:`RequestOptions`: timeout, extra headers, query and body). With ``stream``, a
        2xx answer's body is not read: the :class:`Response` carries it as ``stream``, which the
        caller must close.

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
        starts = {id(f.source): _tell(f.source) for f in files} if files else _NO_STARTS
        started = time.time() if reconcile is not None else 0.0
        # The first try is a plain call: most requests succeed at once, and that path should
        # cost no more than the request itself. Everything else is in _recover.
        try:
            response = await self._send(
                method, path, query, json_body, form, files, starts, info, 1, file_content, opts, stream
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
        multi = MultiDict(query)
        for key, text in repeated:
            multi.add(key, text)
        return multi

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
    ) -> Response:
        session = self._get_session()
        limit = self.max_file_bytes if file_content else self.max_response_bytes
        url = self.base_url + path
        data: Any = None
        headers: Mapping[str, str] = self._request_headers
        if files or form is not None:
            data = _build_form(form or {}, files, starts)
        elif json_body is not None:
            data = orjson.dumps(json_body)
            headers = self._json_headers
        if self._auth.dynamic:
            # A static key is in the prebuilt headers; only tokens are fetched per request.
            headers = CIMultiDict({**headers, **await self._auth.headers()})
        skip: frozenset[str] | None = None
        if options.headers:
            headers, skip = _with_extra_headers(headers, options.headers)
        timeout = self._aiohttp_timeout if options.timeout is None else options.timeout.to_aiohttp()
        if self.request_hooks and info is not None:
            await _run_hooks(self.request_hooks, attrs.evolve(info, attempt=attempt))
        proxy = self._owner._proxy if self._owner is not None else self._proxy
        target: str | URL = url
        params: Mapping[str, str] | None = query or None
        visited: list[str] = []
        while True:
            sent = False
            failure: APIConnectionError | None = None
            body: bytes | None = None
            resp: aiohttp.ClientResponse | None = None
            kept: aiohttp.ClientResponse | None = None
            try:
                resp = await session.request(
                    method,
                    target,
                    params=params,
                    headers=headers,
                    skip_auto_headers=skip,
                    data=data,
                    # Per request, so a with_settings() view's or a call's deadlines apply on the
                    # shared session.
                    timeout=timeout,
                    proxy=proxy,
                    # aiohttp would carry api-key and the session's headers to any origin: we follow
                    # redirects ourselves (_redirect_target).
                    allow_redirects=False,
                )
                sent = True
                status = resp.status
                resp_headers = resp.headers
                answered = resp.url
                if status in _REDIRECT_STATUSES:
                    here = answered
                elif stream and 200 <= status < 300:
                    kept = resp
                else:
                    # Error bodies are read only so far: the status is what matters.
                    cap = limit if status < 300 else _error_cap(limit)
                    body = await _read_capped(resp, cap)
            # Each failure is raised below, outside its handler: aiohttp's exception (some hold the
            # request's headers, so its credentials) must not be reachable as our __context__.
            except aiohttp.ClientConnectorError as exc:
                # The TCP/TLS connection was never made: the server cannot have acted.
                failure = APIConnectionError(
                    f"Could not connect to {_origin(url)}: {exc.os_error or exc}",
                    method=method,
                    url=url,
                    maybe_sent=False,
                )
            except aiohttp.ConnectionTimeoutError:
                failure = APITimeoutError(
                    f"Timed out connecting to {_origin(url)}", method=method, url=url, maybe_sent=False
                )
            except (TimeoutError, aiohttp.ServerTimeoutError):
                failure = APITimeoutError(
                    f"{method} {_path_of(url)} timed out waiting for the answer",
                    method=method,
                    url=url,
                    maybe_sent=True,
                )
            except (aiohttp.ClientError, OSError) as exc:
                failure = APIConnectionError(
                    f"{method} {_path_of(url)}: the connection failed"
                    f"{' after the request was sent' if sent else ''}: {type(exc).__name__}: {exc}",
                    method=method,
                    url=url,
                    maybe_sent=True,
                )
            finally:
                # What ``async with`` would do, except for a streamed answer handed to the caller.
                if resp is not None and kept is None:
                    await resp.wait_for_close()
            if failure is not None:
                raise failure
            if status not in _REDIRECT_STATUSES:
                break
            target = self._redirect_target(method, url, here, status, resp_headers, files, visited)
            # The Location carries its own query; a replayed body is built afresh (a path reopened).
            params = None
            if files or form is not None:
                data = _build_form(form or {}, files, starts)
        request_id = resp_headers.get("x-request-id")
        if self.response_hooks and info is not None:
            try:
                await _run_hooks(self.response_hooks, info, status, request_id)
            except BaseException:
                if kept is not None:
                    kept.close()
                raise
        log.debug("%s %s -> %s (request id %s)", method, url, status, request_id)
        if 200 <= status < 300:
            if kept is not None:
                setting = "max_file_bytes" if file_content else "max_response_bytes"
                streamed = StreamedBody(kept, limit, setting, method, url)
                return Response(status, resp_headers, b"", request_id, method, answered, streamed)
            if body is None:
                assert limit is not None
                setting = "max_file_bytes" if file_content else "max_response_bytes"
                raise ResponseTooLargeError(
                    f"{method} {_path_of(url)}: the answer passed the {limit:,}-byte cap, counted after "
                    f"decompression, and was not read further (AsyncClient({setting}=...) sets it)",
                    limit=limit,
                    method=method,
                    url=url,
                )
            return Response(status, resp_headers, body, request_id, method, answered)
        raise status_error(
            status,
            _decode_error_body(body)
            if body is not None
            else f"HTTP {status}; the error body passed the {_error_cap(limit):,}-byte cap and was not read",
            request_id=request_id,
            headers=dict(resp_headers),
            method=method,
            url=url,
        )

    def _redirect_target(
        self,
        method: str,
        url: str,
        here: URL,
        status: int,
        headers: Mapping[str, str],
        files: Sequence[FilePart],
        visited: list[str],
    ) -> URL:
        """The URL a redirect answer may be followed to, or :class:`RedirectError`.

        ``here`` is the URL that answered, ``visited`` every URL asked so far for this request
        (grown here). Only the scheme, host and port of the Location are compared with the base
        URL's: a redirect to another origin is never followed, whatever its path.
        """
        visited.append(str(here))
        raw = headers.get("Location")
        target: URL | None = None
        if raw:
            try:
                target = here.join(URL(raw))
            except (ValueError, TypeError):
                target = None
        shown = _shown_location(target)

        def refuse(reason: str) -> RedirectError:
            where = f" to {shown}" if shown is not None else ""
            return RedirectError(
                f"{method} {_path_of(url)}: answered {status}{where}, not followed: {reason}",
                status_code=status,
                location=shown,
                request_id=headers.get("x-request-id"),
                method=method,
                url=url,
            )

        if not raw:
            raise refuse("the redirect has no Location")
        if target is None or target.scheme not in ("http", "https") or not target.host:
            raise refuse("its Location is not a usable http(s) URL")
        if target.user is not None or target.password is not None:
            raise refuse("its Location carries credentials")
        if _origin_of(target) != self._origin:
            raise refuse(
                f"it points to another origin, and the credentials stay with {self._origin[0]}://"
                f"{self._origin[1]}:{self._origin[2]}"
            )
        if status in (301, 302, 303) and method not in ("GET", "HEAD"):
            # Clients traditionally follow these with a GET: for a create that would return
            # some other answer as the created object. Only 307 and 308 keep the method.
            raise refuse(f"a {status} would turn this {method} into a GET; only 307 and 308 are followed for it")
        if files and not all(_replayable(f.source) for f in files):
            raise refuse(
                "the body streams from a file object, which cannot be sent again "
                "(pass a path or bytes to let a 307/308 be followed)"
            )
        if str(target) in visited:
            raise refuse("a redirect loop")
        if len(visited) > MAX_REDIRECTS:
            raise refuse(f"too many redirects (more than {MAX_REDIRECTS})")
        return target


class StreamedBody:
    """A 2xx answer whose body is still on the connection (a streamed ``files.content``).

    Read in pieces with :meth:`next_chunk`, counted after decompression against the cap that
    applies to the request, and released with :meth:`close`, which the owner must call: the
    connection goes back to the pool when the body was read to its end, and is closed
    otherwise. The request's deadlines (``total``) still run while it is read.
    """

    __slots__ = ("_closed", "_limit", "_method", "_read", "_resp", "_setting", "_url")

    def __init__(self, resp: aiohttp.ClientResponse, limit: int | None, setting: str, method: str, url: str) -> None:
        self._resp = resp
        self._limit = limit
        self._setting = setting
        self._method = method
        self._url = url
        self._read = 0
        # aiohttp marks a response closed as soon as the whole body arrived (still unread in its
        # buffer): what counts here is whether the reader is done with it.
        self._closed = False

    def __repr__(self) -> str:
        return f"StreamedBody({self._method} {_path_of(self._url)}, read={self._read}, closed={self.closed})"

    @property
    def closed(self) -> bool:
        """True once the body was read to its end, released or closed."""
        return self._closed

    async def next_chunk(self, size: int | None = None) -> bytes:
        """The next piece of the body (at most ``size`` bytes when given); ``b""`` at its end.

        Raises :class:`~finetune_async.ResponseTooLargeError` once the body passes the cap (the
        connection is closed, nothing more is downloaded), :class:`APITimeoutError` or
        :class:`APIConnectionError` when the answer stops coming, and :class:`RuntimeError`
        after :meth:`close`.
        """
        if self._closed:
            raise RuntimeError("this streamed answer is closed")
        failure: APIConnectionError | None = None
        chunk = b""
        where = f"{self._method} {_path_of(self._url)}"
        try:
            stream = self._resp.content
            chunk = await (stream.read(size) if size else stream.readany())
        except (TimeoutError, aiohttp.ServerTimeoutError):
            failure = APITimeoutError(
                f"{where} timed out while the answer was read", method=self._method, url=self._url, maybe_sent=True
            )
        except (aiohttp.ClientError, OSError) as exc:
            failure = APIConnectionError(
                f"{where}: the connection failed while the answer was read: {type(exc).__name__}: {exc}",
                method=self._method,
                url=self._url,
                maybe_sent=True,
            )
        if failure is not None:
            # Raised here, outside the handler: aiohttp's exception must not be our __context__.
            self._abort()
            raise failure
        if not chunk:
            await self.close()
            return b""
        self._read += len(chunk)
        if self._limit is not None and self._read > self._limit:
            self._abort()
            raise ResponseTooLargeError(
                f"{where}: the answer passed the {self._limit:,}-byte cap, counted after decompression, "
                f"and was not read further (AsyncClient({self._setting}=...) sets it)",
                limit=self._limit,
                method=self._method,
                url=self._url,
            )
        return chunk

    def _abort(self) -> None:
        self._closed = True
        self._resp.close()

    async def close(self) -> None:
        """Give the connection back (read to its end) or close it (not). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._resp.content.at_eof():
            await self._resp.wait_for_close()
        else:
            self._resp.close()


def _with_extra_headers(
    headers: Mapping[str, str], extra: Sequence[tuple[str, str | None]]
) -> tuple[CIMultiDict[str], frozenset[str] | None]:
    """``headers`` with a call's ``extra_headers`` applied last, case-insensitively, and the
    names aiohttp must not add on its own (removed ones, such as ``User-Agent``)."""
    merged = CIMultiDict(headers)
    removed: set[str] = set()
    for name, value in extra:
        if value is None:
            merged.popall(name, None)
            removed.add(name)
        else:
            merged[name] = value
            removed.discard(name)
    return merged, frozenset(removed) if removed else None


def _env_proxy(base_url: str) -> str | None:
    """The proxy the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) sets for ``base_url``."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


_NO_STARTS: Mapping[int, int | None] = {}
# Shared by many requests (and shown to request hooks): read-only.
_NO_QUERY: Mapping[str, str] = types.MappingProxyType({})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "PUT"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


async def _read_capped(resp: aiohttp.ClientResponse, limit: int | None) -> bytes | None:
    """The body of ``resp``, or None once it passes ``limit`` bytes (after decompression).

    An uncompressed body with a Content-Length is bounded by it (the parser reads no further),
    so it is checked up front and read in one call: the common small answer pays nothing more.
    Anything else is read in chunks and counted, so a gzip bomb stops at the cap.
    """
    if limit is None:
        return await resp.read()
    length = resp.content_length
    if length is not None and "Content-Encoding" not in resp.headers:
        return await resp.read() if length <= limit else None
    chunks: list[bytes] = []
    size = 0
    stream = resp.content
    while chunk := await stream.readany():
        size += len(chunk)
        if size > limit:
            # Leaving the response unread closes its connection: nothing more is downloaded.
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error_cap(limit: int | None) -> int:
    return ERROR_BODY_LIMIT if limit is None else min(limit, ERROR_BODY_LIMIT)


def _origin_of(url: URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``; the port is the scheme's default when not given."""
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _shown_location(target: URL | None) -> str | None:
    """A Location fit for an error message: no userinfo, query or fragment, and not too long."""
    if target is None or not target.is_absolute():
        return None
    shown = str(target.with_user(None).with_query(None).with_fragment(None))
    return shown if len(shown) <= 300 else shown[:300] + "..."


def _replayable(source: object) -> bool:
    """Whether an upload body can be sent again for a redirect: bytes and paths (reopened)
    can, and so can a factory (a fresh iterator each time); a file object may not rewind."""
    return isinstance(source, (bytes, bytearray, memoryview, str, os.PathLike)) or callable(source)


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__ if exc is not None else "?"


def _decode_error_body(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _run_hooks(hooks: Iterable[Callable[..., Any]], *args: Any) -> None:
    for hook in hooks:
        await call_maybe_async(hook, *args)


def _build_form(
    form: Mapping[str, str], files: Sequence[FilePart], starts: Mapping[int, int | None]
) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    for key, text in form.items():
        data.add_field(key, text)
    for part in files:
        value = _payload_value(part.source, starts.get(id(part.source)))
        if part.on_progress is not None and isinstance(value, io.BufferedReader):
            value = _ProgressReader(value, part.on_progress)
        data.add_field(part.name, value, filename=part.filename, content_type=part.content_type)
    return data


class _ProgressReader(io.RawIOBase):
    """A read-only file that reports how much of it was read.

    aiohttp reads upload files in a worker thread; the callback is handed to the event loop
    so it always runs on the loop's thread.
    """

    def __init__(self, raw: io.BufferedReader, callback: Callable[[int, int], object]) -> None:
        super().__init__()
        self._raw = raw
        self._callback = callback
        self._loop = asyncio.get_running_loop()
        self._total = os.fstat(raw.fileno()).st_size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        block = self._raw.read(size)
        self._loop.call_soon_threadsafe(self._callback, self._raw.tell(), self._total)
        return block

    def readinto(self, buffer: Any) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _tell(source: object) -> int | None:
    tell = getattr(source, "tell", None)
    if tell is None or isinstance(source, (bytes, str, os.PathLike)):
        return None
    try:
        position = tell()
    except (OSError, ValueError):
        return None
    return position if isinstance(position, int) else None


def _payload_value(source: Any, start: int | None) -> Any:
    """A fresh body for one attempt: paths are opened anew, file objects rewound."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        # aiohttp streams an open file in chunks (in a thread) and closes it when done.
        return open(source, "rb")
    if callable(source):
        return source()
    if start is not None:
        source.seek(start)
    return source

"""The transport's aiohttp half: the session, and one attempt of a request over it.

Imported when a client is built (:class:`~finetune_async.AsyncClient`), never at ``import
finetune_async``: aiohttp (with yarl and multidict) is most of what importing the package would
cost, and a process that only validates a file, imports the models or prints ``--help`` does not
pay for it; a client's first burst of requests does not wait for it either. This is the only
module of the SDK that imports aiohttp's client.

:class:`Session` owns one ``aiohttp.ClientSession`` and sends one attempt of a request: it
builds the body, follows same-origin redirects (the redirect rule of
:mod:`finetune_async._transport`), reads the answer up to its cap, and maps every aiohttp
failure to this package's errors. Retries, reconciliation and hooks are the transport's.
"""

from __future__ import annotations

import logging
import platform
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from ._bodies import FilePart, encode_json, form_fields, form_value, replayable
from ._options import Timeout
from ._transport import ERROR_BODY_LIMIT, MAX_REDIRECTS, SEND_GUARD, Response, SignedBody
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RedirectError,
    ResponseTooLargeError,
    status_error,
)

__all__ = ["USER_AGENT", "Session", "StreamedBody", "client_timeout"]

log = logging.getLogger("finetune_async")

USER_AGENT = f"finetune-async/{__version__} (Python {platform.python_version()}; aiohttp {aiohttp.__version__})"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class _GuardedRequest(aiohttp.ClientRequest):
    """aiohttp's request, running the caller's :data:`~finetune_async._transport.SEND_GUARD`
    once its connection is made, and again as its bytes are about to be written: what raises
    there stops the request with nothing of it sent (aiohttp closes the connection), and is
    what the caller gets."""

    async def send(self, conn: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        guard = SEND_GUARD.get()
        if guard is not None:
            guard()
        return await super().send(conn)

    async def write_bytes(self, writer: Any, conn: aiohttp.connector.Connection, *args: Any, **kwargs: Any) -> None:
        # A request with a body is written by a task of its own, headers and body together,
        # a loop step after send() (at once only from Python 3.12): a process stopped in
        # between would send it on waking, so the guard is asked again here.
        guard = SEND_GUARD.get()
        if guard is not None:
            try:
                guard()
            except Exception as exc:
                protocol = conn.protocol
                if protocol is not None:
                    # Reading the answer raises it: the caller gets the guard's own error.
                    protocol.set_exception(exc)
                return
        await super().write_bytes(writer, conn, *args, **kwargs)


def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """``timeout`` as aiohttp's deadlines: ``total``, ``sock_connect`` and ``sock_read``."""
    return aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read)


class Session:
    """One client's aiohttp session and what every attempt over it shares: the prebuilt
    headers, the base URL's origin (the only one redirects are followed to) and the proxy the
    environment sets for it. Made on the first request, inside the event loop."""

    __slots__ = (
        "_json_headers",
        "_make_error",
        "_origin",
        "_proxy",
        "_request_headers",
        "_request_id_headers",
        "client",
    )

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        connection_limit: int,
        timeout: Timeout,
        request_id_headers: Sequence[str] = ("x-request-id",),
        make_error: Callable[..., APIStatusError] = status_error,
    ) -> None:
        # The provider's: the headers naming the request id (first found wins), and the mapping
        # of an error answer to an exception.
        self._request_id_headers = tuple(request_id_headers)
        self._make_error = make_error
        # Redirects are followed only to this origin (scheme, host, port): see _redirect_target.
        self._origin = _origin_of(URL(base_url))
        # Sent with every request rather than set on the session, so that a call's extra_headers
        # can also remove one (aiohttp cannot unset a session default for one request). Built
        # once as multidicts, which aiohttp takes without converting them.
        self._request_headers = CIMultiDict({"User-Agent": USER_AGENT, "Accept": "application/json", **headers})
        self._json_headers = CIMultiDict({**self._request_headers, "Content-Type": "application/json"})
        connector = aiohttp.TCPConnector(
            limit=connection_limit,
            limit_per_host=connection_limit,
            ttl_dns_cache=300,
            keepalive_timeout=30,
        )
        #: The aiohttp session (internal; tests and the lifetime finaliser read it).
        self.client = aiohttp.ClientSession(
            connector=connector,
            timeout=client_timeout(timeout),
            # We decode bodies ourselves and raise our own errors.
            raise_for_status=False,
            auto_decompress=True,
            # trust_env would look proxies up again for every request (in a thread):
            # the environment's proxy for our one base URL is looked up once, here.
            trust_env=False,
            request_class=_GuardedRequest,
        )
        self._proxy = _env_proxy(base_url)

    @staticmethod
    def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
        """``timeout`` as aiohttp's deadlines (see :func:`client_timeout`)."""
        return client_timeout(timeout)

    @property
    def closed(self) -> bool:
        """True once the aiohttp session was closed (or detached by the lifetime finaliser)."""
        return self.client.closed

    def connections_in_use(self) -> int:
        """Connections carrying a request or an unread answer now (being opened included);
        idle ones kept alive in the pool are not counted."""
        connector = self.client.connector
        if connector is None or self.client.closed:
            return 0
        # aiohttp has no public count of these: its connector keeps them in _acquired.
        return len(connector._acquired)

    async def close(self) -> None:
        await self.client.close()

    async def send(
        self,
        method: str,
        url: str,
        query: Mapping[str, str],
        json_body: Any,
        form: Mapping[str, str] | None,
        files: Sequence[FilePart],
        starts: Mapping[int, int | None],
        *,
        auth_headers: Mapping[str, str] | None,
        extra_headers: Sequence[tuple[str, str | None]],
        timeout: aiohttp.ClientTimeout,
        limit: int | None,
        file_content: bool,
        stream: bool,
        on_answer: Callable[[int, str | None], Awaitable[None]] | None,
        signed: SignedBody | None = None,
        answer_redirects: bool = False,
    ) -> Response:
        """One attempt of a request, redirects within the origin followed: the 2xx
        :class:`Response` (for ``stream``, with the body unread as its ``stream``).

        With ``signed``, ``url`` is a signed URL on any origin (an upload's or a download's):
        the request carries only ``User-Agent`` and the signed body's own headers, never the
        session's (so never a credential), goes through the environment's proxy for that URL,
        and a redirect answer raises :class:`RedirectError` rather than being followed. With
        ``answer_redirects``, a 3xx answer is returned as the :class:`Response` (body unread).

        ``on_answer(status, request_id)`` runs for the final answer, before it is judged.
        Raises what the transport's ``request`` documents for one try.
        """
        session = self.client
        # What errors and logs show of the URL: a signed URL's query is its signature.
        where = url if signed is None else _shown_location(URL(url)) or _origin(url)
        data: Any = None
        headers: Mapping[str, str] = self._request_headers
        proxy = self._proxy
        if signed is not None:
            headers = CIMultiDict({"User-Agent": USER_AGENT, **signed.headers})
            if signed.body is not None:
                part = signed.body
                data = form_value(part, starts)
                if part.content_type and "Content-Type" not in headers:
                    headers["Content-Type"] = part.content_type
                # A stream of unknown length would go chunked, which object stores refuse
                # for a signed PUT: the caller knows the size.
                if signed.size is not None and not isinstance(data, bytes):
                    headers["Content-Length"] = str(signed.size)
            proxy = _env_proxy(url)
        elif files or form is not None:
            data = _build_form(form or {}, files, starts)
        elif json_body is not None:
            data = encode_json(json_body)
            headers = self._json_headers
        if auth_headers and signed is None:
            # A static key is in the prebuilt headers; only tokens are fetched per request.
            headers = CIMultiDict({**headers, **auth_headers})
        skip: frozenset[str] | None = None
        if extra_headers and signed is None:
            headers, skip = _with_extra_headers(headers, extra_headers)
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
                    f"Could not connect to {_origin(url)}: {_detail(exc.os_error or exc, signed)}",
                    method=method,
                    url=where,
                    maybe_sent=False,
                )
            except aiohttp.ConnectionTimeoutError:
                failure = APITimeoutError(
                    f"Timed out connecting to {_origin(url)}", method=method, url=where, maybe_sent=False
                )
            except (TimeoutError, aiohttp.ServerTimeoutError):
                failure = APITimeoutError(
                    f"{method} {_path_of(url)} timed out waiting for the answer",
                    method=method,
                    url=where,
                    maybe_sent=True,
                )
            except (aiohttp.ClientError, OSError) as exc:
                failure = APIConnectionError(
                    f"{method} {_path_of(url)}: the connection failed"
                    f"{' after the request was sent' if sent else ''}: {type(exc).__name__}: {_detail(exc, signed)}",
                    method=method,
                    url=where,
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
            if answer_redirects:
                # The caller reads the Location itself: nothing is sent to it from here.
                break
            if signed is not None:
                raise RedirectError(
                    f"{method} {_path_of(url)} (a signed URL): answered {status}, not followed: a signed "
                    "URL is the whole address, and its answer must be the transfer itself",
                    status_code=status,
                    location=None,
                    request_id=None,
                    method=method,
                    url=where,
                )
            target = self._redirect_target(method, url, here, status, resp_headers, files, visited)
            # The Location carries its own query; a replayed body is built afresh (a path reopened).
            params = None
            if files or form is not None:
                data = _build_form(form or {}, files, starts)
        request_id = resp_headers.get(self._request_id_headers[0])
        if request_id is None and len(self._request_id_headers) > 1:
            request_id = next((v for h in self._request_id_headers[1:] if (v := resp_headers.get(h))), None)
        if on_answer is not None:
            try:
                await on_answer(status, request_id)
            except BaseException:
                if kept is not None:
                    kept.close()
                raise
        log.debug("%s %s -> %s (request id %s)", method, where, status, request_id)
        if answer_redirects and status in _REDIRECT_STATUSES:
            return Response(status, resp_headers, b"", request_id, method, answered)
        if 200 <= status < 300:
            if kept is not None:
                setting = "max_file_bytes" if file_content else "max_response_bytes"
                streamed = StreamedBody(kept, limit, setting, method, where)
                return Response(status, resp_headers, b"", request_id, method, answered, streamed)
            if body is None:
                assert limit is not None
                setting = "max_file_bytes" if file_content else "max_response_bytes"
                raise ResponseTooLargeError(
                    f"{method} {_path_of(url)}: the answer passed the {limit:,}-byte cap, counted after "
                    f"decompression, and was not read further (AsyncClient({setting}=...) sets it)",
                    limit=limit,
                    method=method,
                    url=where,
                )
            return Response(status, resp_headers, body, request_id, method, answered)
        raise self._make_error(
            status,
            _decode_error_body(body)
            if body is not None
            else f"HTTP {status}; the error body passed the {_error_cap(limit):,}-byte cap and was not read",
            request_id=request_id,
            headers=dict(resp_headers),
            method=method,
            url=where,
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
                request_id=next((v for h in self._request_id_headers if (v := headers.get(h))), None),
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
        if files and not all(replayable(f.source) for f in files):
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

    @staticmethod
    def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
        """``timeout`` as aiohttp's deadlines (see :func:`client_timeout`)."""
        return client_timeout(timeout)

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


def _detail(exc: BaseException, signed: object) -> str:
    """What aiohttp said of a failure; for a signed URL without any URL's query (aiohttp's
    message may hold the whole URL, and its query is the signature)."""
    text = str(exc)
    return _QUERY.sub("", text) if signed is not None else text


_QUERY = re.compile(r"\?[^\s'\"<>()]*")


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _decode_error_body(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def _build_form(
    form: Mapping[str, str], files: Sequence[FilePart], starts: Mapping[int, int | None]
) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    for name, value, filename, content_type in form_fields(form, files, starts):
        data.add_field(name, value, filename=filename, content_type=content_type)
    return data

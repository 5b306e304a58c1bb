"""What ``with_raw_response``, ``with_streaming_response`` and ``files.content`` give back.

The official SDK's names and shapes, so code written for ``openai.AsyncOpenAI`` keeps working:

* :class:`RawResponse`: ``await client.files.with_raw_response.retrieve(id)``, the answer read
  whole (status, headers, request id, body) and ``parse()``, exactly what the plain call gives.
* :class:`StreamedResponse`: ``async with client.files.with_streaming_response.content(id) as r``,
  the body read as the caller asks for it (``iter_bytes()``, ``stream_to_file()``, ...).
* :class:`BinaryContent`: what ``files.content`` returns (``.content``, ``.text``, ``.json()``,
  ``.write_to_file()``, ...).

One mechanism serves every resource: the view runs the plain method while a context variable
asks the resource's one request funnel (``Resource._call``) to keep the answer it got. Nothing
is copied per method; a helper that is not one API call (``wait``, ``stream_events``) is not
offered.
"""

from __future__ import annotations

import codecs
import functools
import inspect
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import attrs
import orjson

from .._transport import Response

if TYPE_CHECKING:
    from yarl import URL

__all__ = ["BinaryContent", "RawResponse", "ResponseView", "StreamedResponse", "endpoint", "is_endpoint"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# The methods that are one API call each (marked by @endpoint): the ones the views offer.
_ENDPOINTS: set[Callable[..., Any]] = set()

_NEWLINES = re.compile(r"\r\n|\r|\n")


class _NotGiven:
    """The default of a call's ``timeout=``: the client's timeout (None would mean no deadline)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


_NOT_GIVEN = _NotGiven()
_KW = inspect.Parameter.KEYWORD_ONLY
_OPTION_PARAMETERS = (
    inspect.Parameter("timeout", _KW, default=_NOT_GIVEN, annotation="float | Timeout | None"),
    inspect.Parameter("extra_headers", _KW, default=None, annotation="Mapping[str, str | None] | None"),
    inspect.Parameter("extra_query", _KW, default=None, annotation="Mapping[str, object] | None"),
    inspect.Parameter("extra_body", _KW, default=None, annotation="Mapping[str, object] | None"),
)


def endpoint(function: F) -> F:
    """Mark a resource method as one API call taking the per-call options.

    The method declares ``**options: Unpack[CallOptions]`` and hands ``options`` to the
    resource's request helpers; this marker makes ``with_raw_response`` and
    ``with_streaming_response`` offer it, and shows the four options in its signature
    (``help()``, ``inspect.signature``). No wrapper: calling the method costs nothing more.
    """
    signature = inspect.signature(function)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    function.__signature__ = signature.replace(parameters=[*own, *_OPTION_PARAMETERS])  # type: ignore[attr-defined]
    _ENDPOINTS.add(function)
    return function


def is_endpoint(value: object) -> bool:
    """Whether ``value`` is a bound resource method marked with :func:`endpoint`."""
    function = getattr(value, "__func__", None)
    return inspect.isfunction(function) and function in _ENDPOINTS


@attrs.define
class Capture:
    """What one raw or streamed call asked the request funnel to keep (internal).

    ``response`` is the last answer the call received: its own, or, for a create whose answer
    was lost and whose object was found afterwards, the answer of the lookup that found it.
    ``stream`` asks a file-content request not to read its body; ``parse_stream`` is how such
    a body, once read, becomes what the plain call returns.
    """

    stream: bool = False
    response: Response | None = None
    parse_stream: Callable[[Response], Any] | None = None


#: Set by a view around the plain call; read by ``Resource._call``.
CAPTURE: ContextVar[Capture | None] = ContextVar("finetune_async_capture", default=None)


async def _run_captured(call: Callable[[], Any], capture: Capture) -> Any:
    token = CAPTURE.set(capture)
    try:
        result = call()
        # A list method returns a paginator: awaiting it fetches the first page, as awaiting
        # the plain call does.
        if inspect.isawaitable(result):
            result = await result
    finally:
        CAPTURE.reset(token)
    if capture.response is None:  # pragma: no cover - every endpoint sends through Resource._call
        raise RuntimeError("the call completed without an answer to show")
    return result


def _charset(headers: Mapping[str, str]) -> str | None:
    content_type = headers.get("Content-Type", "")
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
            try:
                return codecs.lookup(charset).name
            except LookupError:
                return None
    return None


def _decode(content: bytes, headers: Mapping[str, str]) -> str:
    return content.decode(_charset(headers) or "utf-8", "replace")


def _lines(text: str) -> list[str]:
    """``text`` split at \\n, \\r\\n or \\r, without the line ends (httpx's ``iter_lines``)."""
    lines = _NEWLINES.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _json(content: bytes, kwargs: Mapping[str, Any]) -> Any:
    return json.loads(content, **kwargs) if kwargs else orjson.loads(content)


class _Answer:
    """What a raw and a streamed response both show at once: status, headers, ids, the request."""

    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        """The HTTP status of the answer (2xx: an error status raises instead)."""
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers, case-insensitive."""
        return self._response.headers

    @property
    def request_id(self) -> str | None:
        """The answer's ``x-request-id``, the id OpenAI's support asks for."""
        return self._response.request_id

    @property
    def method(self) -> str:
        """The request's HTTP method."""
        return self._response.method

    @property
    def url(self) -> URL:
        """The URL that answered (after any same-origin redirect), with its query."""
        assert self._response.url is not None
        return self._response.url

    def _path(self) -> str:
        return self._response.url.path if self._response.url is not None else "?"


class RawResponse(_Answer, Generic[T]):
    """One API call's answer, read whole: what ``with_raw_response.<method>(...)`` returns.

    ``status_code``, ``headers`` (case-insensitive), ``request_id``, ``method`` and ``url`` of the
    request, the body as ``content`` / ``text`` / ``json()`` / ``read()``, and :meth:`parse`,
    which returns exactly what the plain call returns (for a ``list…`` call, its first
    :class:`~finetune_async.Page`, which pages on as usual). The request's own headers are not
    kept: they hold credentials. For a create whose answer was lost and whose object the SDK
    found afterwards (see the README's "Retries and duplicate creates"), the response is that of
    the lookup that found it; ``parse()`` is still the created object.
    """

    __slots__ = ("_parsed",)

    def __init__(self, response: Response, parsed: T) -> None:
        super().__init__(response)
        self._parsed = parsed

    def __repr__(self) -> str:
        return (
            f"<RawResponse [{self.status_code}] {self.method} {self._path()} -> {type(self._parsed).__name__}, "
            f"request id {self.request_id}>"
        )

    @property
    def content(self) -> bytes:
        """The body's bytes."""
        return self._response.content

    @property
    def text(self) -> str:
        """The body decoded (the charset of its ``Content-Type``, else UTF-8)."""
        return _decode(self._response.content, self._response.headers)

    def read(self) -> bytes:
        """The body's bytes (as :attr:`content`)."""
        return self._response.content

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON; raises :class:`ValueError` when it is not JSON."""
        return _json(self._response.content, kwargs)

    def parse(self) -> T:
        """What the plain call returns: the model, the first page of a list, the file's content.

        The same object every time.
        """
        return self._parsed


class StreamedResponse(_Answer, Generic[T]):
    """An answer whose body is read as the caller asks: what ``async with
    client.files.with_streaming_response.content(file_id) as response`` gives.

    ``status_code``, ``headers``, ``request_id``, ``method``, ``url`` at once; the body with
    ``iter_bytes()``, ``iter_text()``, ``iter_lines()``, ``await stream_to_file(path)``, or whole
    with ``await read()`` / ``text()`` / ``json()`` / ``parse()``. Only ``files.content`` is
    streamed from the connection; for the other calls the (small, JSON) body was read already.
    A body is read once; it is released when the ``async with`` block ends.

    Reading raises :class:`~finetune_async.ResponseTooLargeError` past the client's
    ``max_file_bytes`` (counted after decompression; nothing more is downloaded), and
    :class:`~finetune_async.APIConnectionError` / :class:`~finetune_async.APITimeoutError` when
    the connection fails or the call's ``timeout`` (its ``total``) passes while it is read.
    """

    __slots__ = ("_body", "_consumed", "_parse_stream", "_parsed")

    def __init__(self, response: Response, parsed: T, parse_stream: Callable[[Response], Any] | None) -> None:
        super().__init__(response)
        self._parsed = parsed
        self._parse_stream = parse_stream if response.stream is not None else None
        self._body: bytes | None = None if response.stream is not None else response.content
        self._consumed = False

    def __repr__(self) -> str:
        return f"<StreamedResponse [{self.status_code}] {self.method} {self._path()}, closed={self.is_closed}>"

    @property
    def is_closed(self) -> bool:
        """True once the body was read to its end or the response was closed."""
        stream = self._response.stream
        return stream.closed if stream is not None else self._consumed

    async def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body in pieces of at most ``chunk_size`` bytes (as they arrive, when None)."""
        if self._body is not None:
            self._consumed = True
            size = chunk_size or len(self._body) or 1
            for start in range(0, len(self._body), size):
                yield self._body[start : start + size]
            return
        stream = self._response.stream
        assert stream is not None
        if self._consumed:
            raise RuntimeError("the body of this streamed response was read already")
        self._consumed = True
        while chunk := await stream.next_chunk(chunk_size):
            yield chunk

    async def iter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        """The body decoded, piece by piece (a character split across pieces is kept whole)."""
        decoder = codecs.getincrementaldecoder(_charset(self.headers) or "utf-8")("replace")
        async for chunk in self.iter_bytes(chunk_size):
            if text := decoder.decode(chunk):
                yield text
        if tail := decoder.decode(b"", final=True):
            yield tail

    async def iter_lines(self) -> AsyncIterator[str]:
        """The body's lines, without their line ends."""
        pending = ""
        async for text in self.iter_text():
            *complete, pending = _NEWLINES.split(pending + text)
            for line in complete:
                yield line
        if pending:
            yield pending

    async def read(self) -> bytes:
        """The whole body (read once, then kept)."""
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.iter_bytes()])
        return self._body

    async def text(self) -> str:
        """The whole body, decoded."""
        return _decode(await self.read(), self.headers)

    async def json(self, **kwargs: Any) -> Any:
        """The whole body, decoded as JSON."""
        return _json(await self.read(), kwargs)

    async def parse(self) -> T:
        """What the plain call returns; for ``files.content``, the :class:`BinaryContent` of the
        whole body (read now)."""
        if self._parse_stream is not None:
            body = await self.read()
            self._parsed = self._parse_stream(attrs.evolve(self._response, content=body, stream=None))
            self._parse_stream = None
        return self._parsed

    async def stream_to_file(self, file: str | os.PathLike[str], *, chunk_size: int | None = None) -> None:
        """Write the body to ``file`` as it arrives, never holding more than a piece of it."""
        async with await anyio.open_file(file, "wb") as out:
            async for chunk in self.iter_bytes(chunk_size):
                await out.write(chunk)

    async def write_to_file(self, file: str | os.PathLike[str]) -> None:
        """Write the body to ``file`` (as :meth:`stream_to_file`)."""
        await self.stream_to_file(file)

    async def close(self) -> None:
        """Release the connection (done for you at the end of the ``async with`` block)."""
        self._consumed = True
        if self._response.stream is not None:
            await self._response.stream.close()


class _Chunks(Generic[T]):
    """An async iterator that may also be awaited first: the official SDK's ``aiter_bytes()``
    is a coroutine giving an iterator, and ``async for x in content.aiter_bytes()`` reads better.
    Both spellings work."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items

    def __await__(self) -> Generator[Any, None, _Chunks[T]]:
        return self._itself().__await__()

    async def _itself(self) -> _Chunks[T]:
        return self

    def __aiter__(self) -> _Chunks[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None


class BinaryContent:
    """A file's contents, read whole: what ``await client.files.content(file_id)`` returns.

    The official SDK's ``HttpxBinaryResponseContent``: ``content`` (bytes), ``text``, ``json()``,
    ``read()``, ``write_to_file(path)``, the ``iter_…`` methods and their ``a…`` forms; also the
    answer's ``headers`` and ``request_id``. To write a large file without holding it in
    memory, use ``client.files.with_streaming_response.content(file_id)`` instead.
    """

    __slots__ = ("_content", "_headers", "_request_id")

    def __init__(
        self, content: bytes, *, headers: Mapping[str, str] | None = None, request_id: str | None = None
    ) -> None:
        self._content = content
        self._headers: Mapping[str, str] = headers if headers is not None else {}
        self._request_id = request_id

    @classmethod
    def of(cls, response: Response) -> BinaryContent:
        """The content of a file-content answer (internal)."""
        return cls(response.content, headers=response.headers, request_id=response.request_id)

    def __repr__(self) -> str:
        return f"BinaryContent({len(self._content):,} bytes, request id {self._request_id})"

    @property
    def content(self) -> bytes:
        """The file's bytes."""
        return self._content

    @property
    def text(self) -> str:
        """The file decoded (the charset of its ``Content-Type``, else UTF-8)."""
        return _decode(self._content, self._headers)

    @property
    def encoding(self) -> str | None:
        """The charset the answer's ``Content-Type`` names, if any."""
        return _charset(self._headers)

    charset_encoding = encoding

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers, case-insensitive."""
        return self._headers

    @property
    def request_id(self) -> str | None:
        """The answer's ``x-request-id``."""
        return self._request_id

    def json(self, **kwargs: Any) -> Any:
        """The file decoded as JSON; raises :class:`ValueError` when it is not JSON."""
        return _json(self._content, kwargs)

    def read(self) -> bytes:
        """The file's bytes."""
        return self._content

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The bytes in pieces of at most ``chunk_size`` (one piece when None)."""
        size = chunk_size or len(self._content) or 1
        return (self._content[i : i + size] for i in range(0, len(self._content), size))

    iter_raw = iter_bytes

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        """The text in pieces (a character is never split)."""
        decoder = codecs.getincrementaldecoder(self.encoding or "utf-8")("replace")
        for chunk in self.iter_bytes(chunk_size):
            if text := decoder.decode(chunk):
                yield text
        if tail := decoder.decode(b"", final=True):
            yield tail

    def iter_lines(self) -> Iterator[str]:
        """The lines of the text, without their line ends."""
        return iter(_lines(self.text))

    def write_to_file(self, file: str | os.PathLike[str]) -> None:
        """Write the bytes to ``file`` (a path)."""
        with open(file, "wb") as out:
            out.write(self._content)

    def stream_to_file(self, file: str | os.PathLike[str], *, chunk_size: int | None = None) -> None:
        """Write the bytes to ``file``; they are in memory already (see the class docstring)."""
        self.write_to_file(file)

    def close(self) -> None:
        """Nothing to release: the body was read whole."""

    async def aread(self) -> bytes:
        """The file's bytes."""
        return self._content

    def aiter_bytes(self, chunk_size: int | None = None) -> _Chunks[bytes]:
        """:meth:`iter_bytes` for ``async for`` (it may also be awaited first, as in the official SDK)."""
        return _Chunks(self.iter_bytes(chunk_size))

    aiter_raw = aiter_bytes

    def aiter_text(self, chunk_size: int | None = None) -> _Chunks[str]:
        """:meth:`iter_text` for ``async for``."""
        return _Chunks(self.iter_text(chunk_size))

    def aiter_lines(self) -> _Chunks[str]:
        """:meth:`iter_lines` for ``async for``."""
        return _Chunks(self.iter_lines())

    async def astream_to_file(self, file: str | os.PathLike[str], *, chunk_size: int | None = None) -> None:
        """Write the bytes to ``file`` without blocking the event loop."""
        await anyio.Path(file).write_bytes(self._content)

    async def aclose(self) -> None:
        """Nothing to release."""


class _StreamingCall(Generic[T]):
    """``async with view.content(file_id) as response``: the request is sent on entry (an error
    status raises there) and the body released on exit."""

    __slots__ = ("_call", "_response")

    def __init__(self, call: Callable[[], Any]) -> None:
        self._call = call
        self._response: StreamedResponse[T] | None = None

    async def __aenter__(self) -> StreamedResponse[T]:
        capture = Capture(stream=True)
        try:
            parsed = await _run_captured(self._call, capture)
        except BaseException:
            if capture.response is not None and capture.response.stream is not None:
                await capture.response.stream.close()
            raise
        assert capture.response is not None
        self._response = StreamedResponse(capture.response, parsed, capture.parse_stream)
        return self._response

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            await self._response.close()


class ResponseView:
    """``<resource>.with_raw_response`` and ``.with_streaming_response``: the resource's API
    calls, answering a :class:`RawResponse` (awaited) or a :class:`StreamedResponse` (``async
    with``) instead of the model. Nested resources are views too
    (``jobs.with_raw_response.checkpoints.list``).

    Raises :class:`AttributeError` for a name that is not one API call of the resource (the
    helpers such as ``wait`` or ``stream_events`` make many requests: there is no one answer).
    """

    __slots__ = ("_kind", "_target")

    def __init__(self, target: object, kind: Literal["raw", "streaming"]) -> None:
        self._target = target
        self._kind = kind

    def __repr__(self) -> str:
        return f"<{type(self._target).__name__}.with_{self._kind}_response>"

    def _calls(self) -> list[str]:
        kind = type(self._target)
        found = ((name, getattr(kind, name, None)) for name in dir(kind))
        return sorted(name for name, f in found if inspect.isfunction(f) and f in _ENDPOINTS)

    def _nested(self) -> list[str]:
        from ._base import Resource

        names = (
            getattr(type(self._target), "__slots__", ()) if isinstance(self._target, Resource) else vars(self._target)
        )
        return sorted(
            n for n in names if not n.startswith("_") and isinstance(getattr(self._target, n, None), Resource)
        )

    def __dir__(self) -> list[str]:
        return [*self._calls(), *self._nested()]

    def __getattr__(self, name: str) -> Any:
        from ._base import Resource

        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._target, name, None)
        if isinstance(value, Resource):
            return ResponseView(value, self._kind)
        if not is_endpoint(value):
            offered = ", ".join(self.__dir__())
            raise AttributeError(
                f"{name!r} is not an API call of {type(self._target).__name__}; "
                f"with_{self._kind}_response offers: {offered}"
            )
        method: Callable[..., Any] = value  # type: ignore[assignment]
        if self._kind == "raw":

            @functools.wraps(method)
            async def raw(*args: Any, **kwargs: Any) -> RawResponse[Any]:
                capture = Capture()
                parsed = await _run_captured(lambda: method(*args, **kwargs), capture)
                assert capture.response is not None
                return RawResponse(capture.response, parsed)

            return raw

        @functools.wraps(method)
        def streaming(*args: Any, **kwargs: Any) -> _StreamingCall[Any]:
            return _StreamingCall(lambda: method(*args, **kwargs))

        return streaming

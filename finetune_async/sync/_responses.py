"""``with_raw_response`` and ``with_streaming_response`` on the synchronous client.

The async views (:class:`~finetune_async.resources._response.ResponseView`) do the work; here
each call runs on the client's loop, a raw answer's ``parse()`` of a list gives a
:class:`~finetune_async.sync.SyncPage`, and a streamed answer is a plain ``with`` block whose
body is read with plain iterators.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

from yarl import URL

from ..pagination import Page
from ..resources._response import RawResponse, StreamedResponse
from ._facade import SyncPage
from ._loop import LoopThread, SyncIterator

__all__ = ["SyncRawResponse", "SyncStreamedResponse", "View"]


def _synced(value: Any, loop: LoopThread) -> Any:
    """What a parsed answer is on the synchronous client: a page becomes a :class:`SyncPage`."""
    return SyncPage(value, loop) if isinstance(value, Page) else value


class View:
    """An async ``with_raw_response`` / ``with_streaming_response`` view, its calls run on the
    client's loop (nested resources are views too)."""

    __slots__ = ("_inner", "_kind", "_loop")

    def __init__(self, inner: Any, loop: LoopThread, kind: Literal["raw", "streaming"]) -> None:
        self._inner = inner
        self._loop = loop
        self._kind = kind

    def __repr__(self) -> str:
        return f"<sync {self._inner!r}>"

    def __dir__(self) -> list[str]:
        return dir(self._inner)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return View(value, self._loop, self._kind)
        loop = self._loop
        if self._kind == "raw":

            @functools.wraps(value)
            def raw(*args: Any, **kwargs: Any) -> SyncRawResponse:
                return SyncRawResponse(loop.run(functools.partial(value, *args, **kwargs)), loop)

            return raw

        @functools.wraps(value)
        def streaming(*args: Any, **kwargs: Any) -> _StreamingCall:
            # The async view's call makes no request until its block is entered.
            return _StreamingCall(value(*args, **kwargs), loop)

        return streaming


class _Answer:
    __slots__ = ("_answer", "_loop")

    def __init__(self, answer: RawResponse[Any] | StreamedResponse[Any], loop: LoopThread) -> None:
        self._answer = answer
        self._loop = loop

    @property
    def status_code(self) -> int:
        """The HTTP status of the answer (2xx: an error status raises instead)."""
        return self._answer.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers, case-insensitive."""
        return self._answer.headers

    @property
    def request_id(self) -> str | None:
        """The answer's ``x-request-id``."""
        return self._answer.request_id

    @property
    def method(self) -> str:
        """The request's HTTP method."""
        return self._answer.method

    @property
    def url(self) -> URL:
        """The URL that answered."""
        return self._answer.url


class SyncRawResponse(_Answer):
    """One call's answer, read whole (:class:`~finetune_async.RawResponse` on the synchronous
    client): ``status_code``, ``headers``, ``request_id``, ``content``, ``text``, ``json()``, and
    ``parse()``, what the plain call returns (a list's first :class:`SyncPage`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(self._answer)

    @property
    def content(self) -> bytes:
        """The body's bytes."""
        assert isinstance(self._answer, RawResponse)
        return self._answer.content

    @property
    def text(self) -> str:
        """The body, decoded."""
        assert isinstance(self._answer, RawResponse)
        return self._answer.text

    def read(self) -> bytes:
        """The body's bytes."""
        return self.content

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON; raises :class:`ValueError` when it is not JSON."""
        assert isinstance(self._answer, RawResponse)
        return self._answer.json(**kwargs)

    def parse(self) -> Any:
        """What the plain call returns (the same object every time)."""
        assert isinstance(self._answer, RawResponse)
        return _synced(self._answer.parse(), self._loop)


class SyncStreamedResponse(_Answer):
    """An answer whose body is read as the caller asks (:class:`~finetune_async.StreamedResponse`
    on the synchronous client): ``with client.files.with_streaming_response.content(file_id) as
    response:`` then ``for chunk in response.iter_bytes():``, ``iter_text()``, ``iter_lines()``,
    ``stream_to_file(path)``, or whole with ``read()`` / ``text()`` / ``json()`` / ``parse()``.
    Raises what the async one raises."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(self._answer)

    @property
    def _streamed(self) -> StreamedResponse[Any]:
        assert isinstance(self._answer, StreamedResponse)
        return self._answer

    @property
    def is_closed(self) -> bool:
        """True once the body was read to its end or the response was closed."""
        return self._streamed.is_closed

    def iter_bytes(self, chunk_size: int | None = None) -> SyncIterator[bytes]:
        """The body in pieces of at most ``chunk_size`` bytes (as they arrive, when None)."""
        return SyncIterator(self._loop, self._streamed.iter_bytes(chunk_size))

    def iter_text(self, chunk_size: int | None = None) -> SyncIterator[str]:
        """The body decoded, piece by piece."""
        return SyncIterator(self._loop, self._streamed.iter_text(chunk_size))

    def iter_lines(self) -> SyncIterator[str]:
        """The body's lines, without their line ends."""
        return SyncIterator(self._loop, self._streamed.iter_lines())

    def read(self) -> bytes:
        """The whole body (read once, then kept)."""
        return self._loop.run(self._streamed.read)

    def text(self) -> str:
        """The whole body, decoded."""
        return self._loop.run(self._streamed.text)

    def json(self, **kwargs: Any) -> Any:
        """The whole body, decoded as JSON."""
        return self._loop.run(functools.partial(self._streamed.json, **kwargs))

    def parse(self) -> Any:
        """What the plain call returns (a list's first :class:`SyncPage`)."""
        return _synced(self._loop.run(self._streamed.parse), self._loop)

    def stream_to_file(self, file: str | os.PathLike[str], *, chunk_size: int | None = None) -> None:
        """Write the body to ``file`` as it arrives."""
        self._loop.run(functools.partial(self._streamed.stream_to_file, file, chunk_size=chunk_size))

    def write_to_file(self, file: str | os.PathLike[str]) -> None:
        """Write the body to ``file`` (as :meth:`stream_to_file`)."""
        self.stream_to_file(file)

    def close(self) -> None:
        """Release the connection (done for you at the end of the ``with`` block)."""
        self._loop.run(self._streamed.close)


class _StreamingCall:
    """``with view.content(file_id) as response``: sent on entry, released on exit."""

    __slots__ = ("_call", "_loop")

    def __init__(self, call: Any, loop: LoopThread) -> None:
        self._call = call
        self._loop = loop

    def __enter__(self) -> SyncStreamedResponse:
        return SyncStreamedResponse(self._loop.run(self._call.__aenter__), self._loop)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.run(functools.partial(self._call.__aexit__, exc_type, exc, tb))

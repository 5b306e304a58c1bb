"""How a synchronous method is made from an async one, without writing its body again.

A synchronous resource class names each method once, by the kind of thing the async method
returns::

    class Jobs(SyncResource):
        retrieve = call(_jobs.Jobs.retrieve)          # a coroutine        -> its result
        list = listing(_jobs.Jobs.list)               # an AsyncPaginator  -> its first SyncPage
        stream_events = stream(_jobs.Jobs.stream_events)  # an async iterator -> a SyncIterator

Each marker is a descriptor generic over the async method's parameters (a ``ParamSpec``) and
result, so a type checker sees the synchronous method with the async one's exact signature and
the real result type (``client.fine_tuning.jobs.retrieve(...)`` is a ``FineTuningJob``), and
``help()`` shows its docstring and parameters. At run time the first access on an instance
binds the async resource and the client's loop into a small function, kept on the instance:
later calls cost one attribute lookup and the trip through the loop
(:meth:`~finetune_async.sync._loop.LoopThread.run`).

Why not a generated module: these descriptors give the same exact types with nothing to
regenerate and nothing to keep current in CI; ``tests/sync/test_surface.py`` checks that every
public method of every async resource has its synchronous twin of the right kind.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from ..pagination import AsyncPaginator, Page
from ._loop import LoopThread, SyncIterator

if TYPE_CHECKING:
    from ..resources._base import Resource

__all__ = ["SyncPage", "SyncResource", "call", "listing", "paged", "stream"]

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


class SyncPage(Generic[T]):
    """One page of a list: ``data`` (the items), ``has_more``, and ``next_page()``.

    ``for item in page`` walks the items of this page and of every later page, fetching each
    page when the previous one is used up (:meth:`iter_pages` walks the pages). What
    ``client.files.list()`` and the other ``list…`` calls return: their first page, fetched.
    """

    __slots__ = ("_loop", "_page")

    def __init__(self, page: Page[T], loop: LoopThread) -> None:
        self._page = page
        self._loop = loop

    @property
    def data(self) -> list[T]:
        """This page's items."""
        return self._page.data

    @property
    def has_more(self) -> bool:
        """Whether the server says more items follow."""
        return self._page.has_more

    @property
    def first_id(self) -> str | None:
        """The page's ``first_id``, where the API sends one."""
        return self._page.first_id

    @property
    def last_id(self) -> str | None:
        """The page's ``last_id``, where the API sends one."""
        return self._page.last_id

    @property
    def object(self) -> str:
        """``"list"``."""
        return self._page.object

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` of the answer that brought this page."""
        return self._page.request_id

    def __repr__(self) -> str:
        return f"SyncPage(items={len(self._page.data)}, has_more={self._page.has_more})"

    def __len__(self) -> int:
        return len(self._page.data)

    def next_cursor(self) -> str | None:
        """The ``after`` cursor of the next page (None on the last one); raises
        :class:`~finetune_async.DecodeError` as :meth:`finetune_async.Page.next_cursor` does."""
        return self._page.next_cursor()

    def has_next_page(self) -> bool:
        """True when another page can be fetched (see :meth:`next_cursor`)."""
        return self._page.has_next_page()

    def next_page(self) -> SyncPage[T]:
        """Fetch the page after this one.

        Raises :class:`StopIteration` on the last page (check :meth:`has_next_page` first),
        :class:`~finetune_async.DecodeError` as :meth:`next_cursor` does, and the transport's
        errors if the request fails.
        """
        try:
            return SyncPage(self._loop.run(self._page.next_page), self._loop)
        except StopAsyncIteration:
            raise StopIteration("no page after this one") from None

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        """This page and every later one, each fetched when the previous is consumed.

        Raises :class:`~finetune_async.DecodeError` when a cursor leads back to a page already
        walked (as :meth:`finetune_async.Page.iter_pages`).
        """
        with SyncIterator(self._loop, self._page.iter_pages()) as pages:
            for page in pages:
                yield SyncPage(page, self._loop)

    def __iter__(self) -> Iterator[T]:
        # One trip through the loop per page, not per item.
        for page in self.iter_pages():
            yield from page._page.data


class SyncResource:
    """Base of the synchronous resource classes: the async resource and the loop to run it on."""

    def __init__(self, inner: Resource, loop: LoopThread) -> None:
        self._async = inner
        self._loop = loop

    @property
    def with_raw_response(self) -> Any:
        """This resource's API calls answering a :class:`~finetune_async.sync.SyncRawResponse`:
        ``client.fine_tuning.jobs.with_raw_response.retrieve(job_id)`` (as the async client's)."""
        from ._responses import View

        return View(self._async.with_raw_response, self._loop, "raw")

    @property
    def with_streaming_response(self) -> Any:
        """This resource's API calls as ``with`` blocks giving a
        :class:`~finetune_async.sync.SyncStreamedResponse`, whose body is read as you ask (for
        ``files.content``, straight from the connection, in chunks)."""
        from ._responses import View

        return View(self._async.with_streaming_response, self._loop, "streaming")


class _Method(Generic[P, R]):
    """A descriptor making a synchronous method of an async resource method (see the module)."""

    kind = "call"

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Method[P, R]: ...
    @overload
    def __get__(self, obj: SyncResource, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, obj: SyncResource | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        bound = self._bind(self.function, obj._async, obj._loop)
        functools.update_wrapper(bound, self.function, updated=())
        del bound.__wrapped__  # type: ignore[attr-defined]
        signature = inspect.signature(self.function)
        parameters = list(signature.parameters.values())[1:]
        returns = signature.return_annotation if self.kind == "call" else inspect.Signature.empty
        bound.__signature__ = signature.replace(parameters=parameters, return_annotation=returns)  # type: ignore[attr-defined]
        # Kept on the instance: the next access is a plain attribute lookup.
        obj.__dict__[self.name] = bound
        return bound

    def _bind(self, function: Callable[..., Any], inner: Any, loop: LoopThread) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            return loop.run(functools.partial(function, inner, *args, **kwargs))

        return run


class _Paged(_Method[P, SyncPage[T]]):
    kind = "paged"

    def _bind(self, function: Callable[..., Any], inner: Any, loop: LoopThread) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            return SyncPage(loop.run(functools.partial(function, inner, *args, **kwargs)), loop)

        return run


class _Listing(_Paged[P, T]):
    # A paginator is awaited for its first page, as a page-returning coroutine is.
    kind = "listing"


class _Stream(_Method[P, SyncIterator[T]]):
    kind = "stream"

    def _bind(self, function: Callable[..., Any], inner: Any, loop: LoopThread) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            # Called here: a bad argument raises at once, before anything is sent.
            return SyncIterator(loop, function(inner, *args, **kwargs))

        return run


def call(function: Callable[Concatenate[Any, P], Awaitable[T]]) -> _Method[P, T]:
    """The synchronous twin of an ``async def`` resource method: returns what it returns."""
    return _Method(function)


def paged(function: Callable[Concatenate[Any, P], Awaitable[Page[T]]]) -> _Paged[P, T]:
    """The twin of an ``async def`` method returning a :class:`~finetune_async.Page`: a :class:`SyncPage`."""
    return _Paged(function)


def listing(function: Callable[Concatenate[Any, P], AsyncPaginator[T]]) -> _Listing[P, T]:
    """The twin of a ``list…`` method (returning an :class:`~finetune_async.AsyncPaginator`):
    its first page, fetched, as a :class:`SyncPage`."""
    return _Listing(function)


def stream(function: Callable[Concatenate[Any, P], AsyncIterator[T]]) -> _Stream[P, T]:
    """The twin of a method returning an async iterator: a :class:`SyncIterator` for a plain ``for``."""
    return _Stream(function)

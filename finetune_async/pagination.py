"""Cursor pagination: an awaitable first page, and lazy iteration over every item.

The API's list endpoints page with an ``after`` cursor (the id of the last item seen) and
say ``has_more`` while there is more. ``client.fine_tuning.jobs.list()`` returns an
:class:`AsyncPaginator`: ``await`` it for the first :class:`Page`, or ``async for`` over it
to walk every item, fetching each page only when the previous one is used up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

from .models._converter import DecodeError

__all__ = ["AsyncPaginator", "Page", "filtered"]

T = TypeVar("T")

Fetch = Callable[[str | None], Awaitable["Page[T]"]]


class Page(Generic[T]):
    """One page of a list: ``data`` (the items), ``has_more``, and ``next_page()``.

    ``async for item in page`` walks the items of this page and of every later page.
    """

    __slots__ = ("_cursor", "_endpoint", "_fetch", "data", "first_id", "has_more", "last_id", "object", "request_id")

    def __init__(
        self,
        *,
        data: list[T],
        has_more: bool,
        fetch: Fetch[T] | None = None,
        first_id: str | None = None,
        last_id: str | None = None,
        object: str = "list",
        request_id: str | None = None,
    ) -> None:
        self.data = data
        self.has_more = has_more
        self.first_id = first_id
        self.last_id = last_id
        self.object = object
        self.request_id = request_id
        self._fetch = fetch
        # Set by the resource that fetched the page: the ``after`` it was asked with, and the
        # request ("GET /files") for error messages.
        self._cursor: str | None = None
        self._endpoint: str | None = None

    def __repr__(self) -> str:
        return f"Page(items={len(self.data)}, has_more={self.has_more})"

    def __len__(self) -> int:
        return len(self.data)

    def next_cursor(self) -> str | None:
        """The ``after`` cursor for the next page: the last item's id, else ``last_id``
        (None on the last page, or on a page that was not fetched by a ``list…`` call).

        Raises :class:`~finetune_async.DecodeError` when the page says ``has_more`` but gives
        no cursor, or the very cursor it was fetched with: following it would ask for the
        same page again, forever.
        """
        if not self.has_more or self._fetch is None:
            return None
        last = getattr(self.data[-1], "id", None) if self.data else None
        cursor = last if isinstance(last, str) else self.last_id
        if cursor is None:
            raise self._stuck("has_more is true, but the page has no last id to continue after")
        if cursor == self._cursor:
            raise self._stuck(f"has_more is true, but the page ends at {cursor!r}, where it started")
        return cursor

    def _stuck(self, why: str) -> DecodeError:
        return DecodeError(Page, [f"{why} @ $.has_more"], endpoint=self._endpoint)

    def has_next_page(self) -> bool:
        """True when another page can be fetched.

        Raises :class:`~finetune_async.DecodeError` as :meth:`next_cursor` does.
        """
        return self.next_cursor() is not None

    async def next_page(self) -> Page[T]:
        """Fetch the page after this one.

        Raises :class:`StopAsyncIteration` when this is the last page (check
        :meth:`has_next_page` first), :class:`~finetune_async.DecodeError` as
        :meth:`next_cursor` does, and the transport's errors if the request fails.
        """
        cursor = self.next_cursor()
        if cursor is None or self._fetch is None:
            raise StopAsyncIteration("no page after this one")
        return await self._fetch(cursor)

    async def iter_pages(self) -> AsyncIterator[Page[T]]:
        """This page and every later one, each fetched when the previous is consumed.

        Raises :class:`~finetune_async.DecodeError` when a page's cursor does not move on (see
        :meth:`next_cursor`) or leads back to a page already walked: the walk would not end.
        """
        page: Page[T] = self
        asked = {self._cursor} if self._cursor is not None else set()
        while True:
            yield page
            cursor = page.next_cursor()
            if cursor is None:
                return
            if cursor in asked:
                raise page._stuck(f"has_more is true, but the page ends at {cursor!r}, a page already walked")
            asked.add(cursor)
            page = await page.next_page()

    def __aiter__(self) -> AsyncIterator[T]:
        return _items(self, None, None)


class AsyncPaginator(Generic[T]):
    """What a ``list…`` call returns: await it for the first page, iterate it for every item."""

    __slots__ = ("_after", "_fetch")

    def __init__(self, fetch: Fetch[T], *, after: str | None = None) -> None:
        self._fetch = fetch
        self._after = after

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self._fetch(self._after).__await__()

    def __aiter__(self) -> AsyncIterator[T]:
        return _items(None, self._fetch, self._after)


async def _items(page: Page[T] | None, fetch: Fetch[T] | None, after: str | None) -> AsyncIterator[T]:
    """Every item from ``page`` on (or from the page ``fetch(after)`` gives), page by page.

    One generator between the caller and the items, not one per layer: on a walk over
    thousands of events each layer would cost a resumption per item. Each page is fetched
    only when the previous one is used up.
    """
    if page is None:
        assert fetch is not None
        page = await fetch(after)
    # iter_pages is resumed once per page; only this generator is resumed per item.
    async for each in page.iter_pages():
        for item in each.data:
            yield item


class _FilteredPage(Page[T]):
    """The kept items of a page; its cursor stays the page's as the server sent it."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Page[T], keep: Callable[[T], bool], fetch: Fetch[T] | None) -> None:
        super().__init__(
            data=[item for item in raw.data if keep(item)],
            has_more=raw.has_more,
            fetch=fetch,
            first_id=raw.first_id,
            last_id=raw.last_id,
            object=raw.object,
            request_id=raw.request_id,
        )
        self._raw = raw
        self._cursor = raw._cursor
        self._endpoint = raw._endpoint

    def next_cursor(self) -> str | None:
        # The last item the server sent, kept or not: the next page starts after it.
        return self._raw.next_cursor() if self._fetch is not None else None


def filtered(paginator: AsyncPaginator[T], keep: Callable[[T], bool]) -> AsyncPaginator[T]:
    """``paginator`` keeping only the items ``keep`` accepts (a filter the server cannot do).

    Pages keep the server's cursors and ``has_more``: one may hold fewer items than asked
    for, or none, with more to come.
    """
    return AsyncPaginator(_keeping(paginator._fetch, keep), after=paginator._after)


def _keeping(fetch_raw: Fetch[T], keep: Callable[[T], bool]) -> Fetch[T]:
    async def fetch(cursor: str | None) -> Page[T]:
        raw = await fetch_raw(cursor)
        # Later pages are fetched as the server's page would fetch them (its own options).
        later = _keeping(raw._fetch, keep) if raw._fetch is not None else None
        return _FilteredPage(raw, keep, later)

    return fetch

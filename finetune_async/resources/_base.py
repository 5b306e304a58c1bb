"""What every resource class shares: "send this request, decode the answer as X".

Resources never sleep, retry or poll: the transport retries one request, and the helpers
in ``polling.py`` own every longer loop.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from .._ledger import CreateLedger, Reconciler
from .._transport import FilePart, Response, Transport
from ..models._base import BaseModel
from ..models._converter import set_request_id, structure, structure_list
from ..pagination import AsyncPaginator, Page

if TYPE_CHECKING:
    from ..client import AsyncClient

T = TypeVar("T")

__all__ = ["Resource", "path_id"]


_PLAIN_ID_CHARS = string.ascii_letters + string.digits + "._:~-"


def path_id(value: str) -> str:
    """An id made safe for a URL path segment (model ids keep their colons)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty id string, got {value!r}")
    # Every id the API hands out is plain; quoting is for what a user may pass by mistake.
    # (strip() leaves nothing exactly when every character is plain: a third of a regex match.)
    return value if not value.strip(_PLAIN_ID_CHARS) else quote(value, safe=":")


class Resource:
    """Base of the resource classes: holds the client and decodes answers."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @property
    def _transport(self) -> Transport:
        return self._client._transport

    @property
    def _ledger(self) -> CreateLedger:
        return self._client.ledger

    async def _request(
        self,
        cls: type[T],
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Sequence[FilePart] = (),
        idempotent: bool | None = None,
        reconcile: Reconciler[T] | None = None,
    ) -> T:
        result = await self._transport.request(
            method,
            path,
            params=params,
            json_body=json_body,
            form=form,
            files=files,
            idempotent=idempotent,
            reconcile=reconcile,
        )
        if not isinstance(result, Response):
            return result
        obj = structure(result.json(), cls)
        if isinstance(obj, BaseModel):
            set_request_id(obj, result.request_id)
        return obj

    async def _raw(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Response:
        result = await self._transport.request(method, path, params=params)
        assert isinstance(result, Response)
        return result

    async def _page(self, cls: type[T], path: str, params: Mapping[str, Any] | None) -> Page[T]:
        """Fetch one list page (no cursor logic) and decode its items."""
        return self._decode_page(cls, await self._raw("GET", path, params=params))

    @staticmethod
    def _decode_page(cls: type[T], result: Response) -> Page[T]:
        """A list answer decoded into a :class:`Page` (without a way to fetch the next one)."""
        body = result.json()
        return Page(
            data=structure_list(body.get("data") or [], cls),
            has_more=bool(body.get("has_more", False)),
            first_id=body.get("first_id"),
            last_id=body.get("last_id"),
            object=body.get("object", "list"),
            request_id=result.request_id,
        )

    def _paginate(
        self,
        cls: type[T],
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        after: str | None = None,
    ) -> AsyncPaginator[T]:
        """A paginator over ``path``: each page's cursor is the previous page's last id."""
        base = dict(params or {})

        async def fetch(cursor: str | None) -> Page[T]:
            query = dict(base)
            if cursor is not None:
                query["after"] = cursor
            page = await self._page(cls, path, query)
            page._fetch = fetch
            return page

        return AsyncPaginator(fetch, after=after)

"""What every resource class shares: "send this request, decode the answer as X".

Resources never sleep, retry or poll: the transport retries one request, and the helpers
in ``polling.py`` own every longer loop.
"""

from __future__ import annotations

import reprlib
import string
import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote, unquote

from .._ledger import CreateLedger, Reconciler
from .._transport import FilePart, Response, Transport
from ..models._base import BaseModel
from ..models._converter import DecodeError, json_kind, set_request_id, structure, structure_list
from ..pagination import AsyncPaginator, Page

if TYPE_CHECKING:
    from ..client import AsyncClient

T = TypeVar("T")

__all__ = ["IdName", "Resource", "path_id"]


#: The parameters that go into a path, with an id of each kind for error messages.
IdName = Literal[
    "file_id", "upload_id", "fine_tuning_job_id", "fine_tuned_model_checkpoint", "permission_id", "model"
]
_ID_EXAMPLES: Mapping[IdName, str] = {
    "file_id": "file-abc123",
    "upload_id": "upload_abc123",
    "fine_tuning_job_id": "ftjob-abc123",
    "fine_tuned_model_checkpoint": "ft:gpt-4o-mini-2024-07-18:org::abc123:ckpt-step-10",
    "permission_id": "cp_abc123",
    "model": "ft:gpt-4o-mini-2024-07-18:org:suffix:abc123",
}

# Every id the API hands out is made of these: sent as they are, checked with one strip().
_PLAIN_ID_CHARS = string.ascii_letters + string.digits + "._:~-"
# What a path segment may hold besides unreserved characters (RFC 3986 pchar), less "+", which
# some servers read as a space. The transport joins base URL and path as a string, and yarl,
# parsing it, decodes the escapes of exactly these characters: quoting them would be undone on
# the way, so they are left as they are and what path_id returns is what goes on the wire.
_SEGMENT_SAFE = "!$&'()*,;=:@"
# Characters that end or escape a segment on some server or other.
_PATH_LIKE = frozenset("/\\?#")
_DOT_SEGMENTS = frozenset((".", ".."))
_NAMES = reprlib.Repr()
_NAMES.maxstring = 80


def path_id(value: object, name: IdName) -> str:
    """``value``, the argument ``name`` of a resource method, made into one URL path segment.

    Returns the id as it is when it is made of letters, digits and ``._:~-`` (every id the API
    hands out, model ids with their colons). Otherwise the characters a path segment may hold
    as they are (RFC 3986: those and ``!$&'()*,;=@``) stay, and every other one (``+``, space,
    ``%``, non-ASCII, ...) is percent-quoted as UTF-8, so the server decodes the one segment
    back to ``value``.

    Raises :class:`ValueError` naming ``name`` when ``value`` is not a string, is empty or only
    whitespace, is ``.`` or ``..``, or contains ``/``, ``\\``, ``?``, ``#`` or a control
    character, as it stands or once its ``%``-escapes are decoded (however many times): such an
    id would address another endpoint, or a server that decodes twice would see it do so.
    """
    if type(value) is str and not value.strip(_PLAIN_ID_CHARS) and value and value not in _DOT_SEGMENTS:
        return value
    if not isinstance(value, str) or _path_like(value):
        shown = _NAMES.repr(value)
        if not isinstance(value, str) and value is not None:
            shown += f" (of type {type(value).__name__})"
        raise ValueError(f"{name} must be an id such as {_ID_EXAMPLES[name]!r}, not {shown}")
    return quote(str.__str__(value), safe=_SEGMENT_SAFE)


def _path_like(value: str) -> bool:
    """True when ``value``, or any decoding of its escapes, would not stay one plain segment."""
    while True:
        if value in _DOT_SEGMENTS or not value.strip() or any(
            ch in _PATH_LIKE or unicodedata.category(ch) in ("Cc", "Cs") for ch in value
        ):
            return True
        if "%" not in value:
            return False
        decoded = unquote(value)
        if decoded == value:
            return False
        value = decoded


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
        endpoint = f"{method} {path}"
        body = _json_object(cls, result, endpoint)
        try:
            obj = structure(body, cls)
        except DecodeError as exc:
            raise DecodeError(cls, exc.errors, endpoint=endpoint) from exc
        if isinstance(obj, BaseModel):
            set_request_id(obj, result.request_id)
        return obj

    async def _raw(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Response:
        result = await self._transport.request(method, path, params=params)
        assert isinstance(result, Response)
        return result

    async def _page(self, cls: type[T], path: str, params: Mapping[str, Any] | None) -> Page[T]:
        """Fetch one list page (no cursor logic) and decode its items."""
        return self._decode_page(cls, await self._raw("GET", path, params=params), f"GET {path}")

    @staticmethod
    def _decode_page(cls: type[T], result: Response, endpoint: str) -> Page[T]:
        """A list answer decoded into a :class:`Page` (without a way to fetch the next one).

        Raises :class:`DecodeError` naming ``endpoint`` ("GET /files") when the answer is not a
        JSON object with a ``data`` array, or its items or cursor fields have the wrong shape.
        """
        body = _json_object(Page, result, endpoint)
        data: Any = body.get("data")
        has_more = body.get("has_more", False)
        first_id = body.get("first_id")
        last_id = body.get("last_id")
        kind = body.get("object", "list")
        # A page that is not a page must not pass for an empty last one: say what is wrong.
        problems = [
            f"expected {what}, got {json_kind(value)} @ $.{key}"
            for key, value, ok, what in (
                ("data", data, isinstance(data, list), "an array"),
                ("has_more", has_more, has_more is None or isinstance(has_more, bool), "a boolean"),
                ("first_id", first_id, first_id is None or isinstance(first_id, str), "a string"),
                ("last_id", last_id, last_id is None or isinstance(last_id, str), "a string"),
                ("object", kind, isinstance(kind, str), "a string"),
            )
            if not ok
        ]
        if problems:
            raise DecodeError(Page, problems, endpoint=endpoint)
        try:
            items = structure_list(data, cls)
        except DecodeError as exc:
            errors = [m.replace(" @ $", " @ $.data", 1) for m in exc.errors]
            raise DecodeError(cls, errors, endpoint=endpoint) from exc
        page = Page(
            data=items,
            has_more=bool(has_more),
            first_id=first_id,
            last_id=last_id,
            object=kind,
            request_id=result.request_id,
        )
        page._endpoint = endpoint
        return page

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
            page._cursor = cursor
            return page

        return AsyncPaginator(fetch, after=after)


def _json_object(cls: Any, result: Response, endpoint: str) -> dict[str, Any]:
    """The answer's body as a JSON object; :class:`DecodeError` naming ``endpoint`` otherwise."""
    try:
        body = result.json()
    except ValueError as exc:  # orjson.JSONDecodeError, also for bytes that are not UTF-8
        raise DecodeError(cls, [f"the answer is not JSON ({exc}) @ $"], endpoint=endpoint) from None
    if not isinstance(body, dict):
        raise DecodeError(cls, [f"expected an object, got {json_kind(body)} @ $"], endpoint=endpoint)
    return body

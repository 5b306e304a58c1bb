"""What every resource class shares: "send this request, decode the answer as X".

Resources never sleep, retry or poll: the transport retries one request, and the helpers
in ``polling.py`` own every longer loop.
"""

from __future__ import annotations

import reprlib
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, TypeVar
from urllib.parse import quote, unquote

import attrs

from .._bodies import FilePart
from .._ledger import CreateLedger, Reconciler
from .._options import NO_OPTIONS, RequestOptions, Timeout
from .._transport import Response, Transport
from ..models._base import BaseModel
from ..models._converter import DecodeError, json_kind, set_request_id, structure, structure_list, to_json_param
from ..pagination import AsyncPaginator, Page
from ._response import CAPTURE, ResponseView

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ..providers import Operation

T = TypeVar("T")

__all__ = ["CallOptions", "IdName", "Options", "ProviderSend", "Resource", "path_id"]


class PhaseTimeout(Protocol):
    """An ``httpx.Timeout`` / ``openai.Timeout``: deadlines per phase, no total."""

    @property
    def connect(self) -> float | None: ...

    @property
    def read(self) -> float | None: ...


class CallOptions(TypedDict, total=False):
    """The per-call options every resource method takes, with the official SDK's meaning.

    ``timeout``: seconds, a :class:`~finetune_async.Timeout`, an ``httpx``/``openai`` Timeout, or
    None (no deadline), for each attempt of this call instead of the client's timeout.
    ``extra_headers``: headers sent last, over the client's (a value of None, or
    ``openai.omit``, removes one). ``extra_query``: query parameters merged over the method's
    (None removes one). ``extra_body``: keys merged into the JSON body (or added as form fields
    of a multipart upload); a GET sends no body.
    """

    timeout: float | Timeout | PhaseTimeout | None
    extra_headers: Mapping[str, Any] | None
    extra_query: Mapping[str, Any] | None
    extra_body: Mapping[str, Any] | None


#: What a resource's request helpers take: a method's ``**options``, or options already built.
Options = CallOptions | RequestOptions | Mapping[str, Any]


def request_options(options: Options) -> RequestOptions:
    """The :class:`RequestOptions` of a call's keywords; see :meth:`RequestOptions.of`.

    Models in ``extra_body`` become their JSON (as for ``method=`` and the other parameters).
    """
    if isinstance(options, RequestOptions):
        return options
    if not options:
        return NO_OPTIONS
    body = options.get("extra_body")
    if body is not None and isinstance(body, Mapping):
        options = {**options, "extra_body": {key: to_json_param(value) for key, value in body.items()}}
    return RequestOptions.of(options)


#: The parameters that go into a path, with an id of each kind for error messages.
IdName = Literal[
    "file_id",
    "upload_id",
    "fine_tuning_job_id",
    "fine_tuned_model_checkpoint",
    "permission_id",
    "model",
    "checkpoint_id",
]
_ID_EXAMPLES: Mapping[IdName, str] = {
    "file_id": "file-abc123",
    "upload_id": "upload_abc123",
    "fine_tuning_job_id": "ftjob-abc123",
    "fine_tuned_model_checkpoint": "ft:gpt-4o-mini-2024-07-18:org::abc123:ckpt-step-10",
    "permission_id": "cp_abc123",
    "model": "ft:gpt-4o-mini-2024-07-18:org:suffix:abc123",
    "checkpoint_id": "ftckpt-abc123",
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
        if (
            value in _DOT_SEGMENTS
            or not value.strip()
            or any(ch in _PATH_LIKE or unicodedata.category(ch) in ("Cc", "Cs") for ch in value)
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

    def _require(self, operation: Operation) -> None:
        """Refuse, before anything is sent, a call the client's provider cannot do.

        Raises :class:`~finetune_async.UnsupportedByProviderError`.
        """
        self._client._provider.require(operation)

    @property
    def with_raw_response(self) -> Any:
        """This resource's API calls answering a :class:`~finetune_async.RawResponse` (status,
        headers, request id, body, and ``parse()`` for what the plain call returns):
        ``await client.fine_tuning.jobs.with_raw_response.retrieve(job_id)``."""
        return ResponseView(self, "raw")

    @property
    def with_streaming_response(self) -> Any:
        """This resource's API calls as ``async with`` blocks giving a
        :class:`~finetune_async.StreamedResponse`, whose body is read as you ask (for
        ``files.content``, straight from the connection, in chunks)."""
        return ResponseView(self, "streaming")

    async def _call(
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
        file_content: bool = False,
        options: Options = NO_OPTIONS,
        parse_stream: Callable[[Response], Any] | None = None,
        op: Operation | None = None,
        answer_redirects: bool = False,
    ) -> Response | T:
        """The one way a resource sends a request: the transport's answer (or the object a
        lost create's settle found), kept for a raw or streamed view when one asked
        (``parse_stream``: how a streamed body, read, becomes the method's result).

        ``op`` names the operation: a provider whose wire is not OpenAI's maps the request
        to its own (:meth:`~finetune_async.providers.Provider.to_wire`)."""
        provider = self._client._provider
        if op is not None and op in provider.translated:
            from ..providers import WireRequest

            wire = provider.to_wire(
                op, WireRequest(method=method, path=path, params=params, json_body=json_body, form=form, files=files)
            )
            method, path, params, json_body, form, files = (
                wire.method,
                wire.path,
                wire.params,
                wire.json_body,
                wire.form,
                wire.files,
            )
        capture = CAPTURE.get()
        stream = capture is not None and capture.stream and parse_stream is not None
        result = await self._transport.request(
            method,
            path,
            params=params,
            json_body=json_body,
            form=form,
            files=files,
            idempotent=idempotent,
            reconcile=reconcile,
            file_content=file_content,
            options=request_options(options),
            stream=stream,
            answer_redirects=answer_redirects,
        )
        if capture is not None and isinstance(result, Response):
            capture.response = result
            if stream:
                capture.parse_stream = parse_stream
        return result

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
        options: Options = NO_OPTIONS,
        op: Operation | None = None,
    ) -> T:
        """The answer decoded as ``cls`` (in OpenAI's shape: a translating provider's answer
        is mapped by :meth:`~finetune_async.providers.Provider.from_wire`).

        A ``201 Created`` with an empty body and a ``Location`` (as Azure may answer a create)
        is read from the Location, which must be under the base URL.
        """
        result = await self._call(
            method,
            path,
            params=params,
            json_body=json_body,
            form=form,
            files=files,
            idempotent=idempotent,
            reconcile=reconcile,
            options=options,
            op=op,
        )
        if not isinstance(result, Response):
            return result
        if result.status == 201 and not result.content.strip():
            result = await self._read_location(cls, result, f"{method} {path}", options)
        endpoint = f"{method} {path}"
        body = _json_object(cls, result, endpoint)
        provider = self._client._provider
        if op is not None and op in provider.translated:
            body = provider.from_wire(op, body)
        try:
            obj = structure(body, cls)
        except DecodeError as exc:
            raise DecodeError(cls, exc.errors, endpoint=endpoint) from exc
        if isinstance(obj, BaseModel):
            set_request_id(obj, result.request_id)
        return obj

    async def _read_location(self, cls: Any, result: Response, endpoint: str, options: Options) -> Response:
        """The object a ``201`` without a body points to with its ``Location``.

        Raises :class:`DecodeError` naming ``endpoint`` when there is no Location, or it is not
        under the base URL (the credentials go nowhere else).
        """
        location = result.headers.get("Location") or result.headers.get("location")
        base = self._transport.base_url
        if location and location.startswith("/"):
            # A path on the same origin: keep the part under the base URL's path.
            from urllib.parse import urlsplit

            base_path = urlsplit(base).path
            location = base[: len(base) - len(base_path)] + location
        if not location or not location.startswith(base + "/"):
            raise DecodeError(cls, [f"a 201 without a body and without a Location under {base} @ $"], endpoint=endpoint)
        path, _, query = location[len(base) :].partition("?")
        from urllib.parse import parse_qsl, unquote

        # Under the base URL as written and as the server would read it: no dot segments.
        if any(segment in _DOT_SEGMENTS for segment in unquote(path).split("/")):
            raise DecodeError(cls, [f"a 201 whose Location leaves {base} @ $"], endpoint=endpoint)

        params = dict(parse_qsl(query))
        read = await self._call("GET", path, params=params, options=request_options(options).without_body())
        assert isinstance(read, Response)
        return read

    async def _page(
        self,
        cls: type[T],
        path: str,
        params: Mapping[str, Any] | None,
        options: Options = NO_OPTIONS,
        op: Operation | None = None,
    ) -> Page[T]:
        """Fetch one list page (no cursor logic) and decode its items."""
        result = await self._call("GET", path, params=params, options=options, op=op)
        assert isinstance(result, Response)
        provider = self._client._provider
        mapped = (lambda body: provider.from_wire(op, body)) if op is not None and op in provider.translated else None
        return self._decode_page(cls, result, f"GET {path}", mapped)

    @staticmethod
    def _decode_page(
        cls: type[T], result: Response, endpoint: str, mapped: Callable[[Any], Any] | None = None
    ) -> Page[T]:
        """A list answer decoded into a :class:`Page` (without a way to fetch the next one).

        Raises :class:`DecodeError` naming ``endpoint`` ("GET /files") when the answer is not a
        JSON object with a ``data`` array, or its items or cursor fields have the wrong shape.
        """
        body = _json_object(Page, result, endpoint)
        if mapped is not None:
            body = mapped(body)
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
        options: Options = NO_OPTIONS,
        op: Operation | None = None,
    ) -> AsyncPaginator[T]:
        """A paginator over ``path``: each page's cursor is the previous page's last id.

        The call's ``options`` ride on every page it fetches; an ``after`` in ``extra_query``
        starts the first page, and each later page's cursor wins over it (as in the official SDK).
        """
        base = dict(params or {})
        first = request_options(options)
        later = first
        if any(key == "after" for key, _ in first.query):
            later = attrs.evolve(first, query=tuple(pair for pair in first.query if pair[0] != "after"))

        def fetcher(opts: RequestOptions) -> Callable[[str | None], Any]:
            async def fetch(cursor: str | None) -> Page[T]:
                query = dict(base)
                if cursor is not None:
                    query["after"] = cursor
                page = await self._page(cls, path, query, opts, op)
                page._fetch = fetch_later
                page._cursor = cursor
                return page

            return fetch

        fetch_later = fetcher(later)
        return AsyncPaginator(fetch_later if later is first else fetcher(first), after=after)


def _json_object(cls: Any, result: Response, endpoint: str) -> dict[str, Any]:
    """The answer's body as a JSON object; :class:`DecodeError` naming ``endpoint`` otherwise."""
    try:
        body = result.json()
    except ValueError as exc:  # orjson.JSONDecodeError, also for bytes that are not UTF-8
        raise DecodeError(cls, [f"the answer is not JSON ({exc}) @ $"], endpoint=endpoint) from None
    if not isinstance(body, dict):
        raise DecodeError(cls, [f"expected an object, got {json_kind(body)} @ $"], endpoint=endpoint)
    return body


class ProviderSend:
    """What a provider's own flow (:meth:`~finetune_async.providers.Provider.create_file`)
    sends its requests with: ``send(...)`` goes through the resource's one request path, on the
    provider's own paths (unmapped), with the call's options; ``send.signed(...)`` goes to a
    signed URL the provider handed out, with nothing of the client's
    (:meth:`~finetune_async._transport.Transport.request_signed`). Satisfies
    :class:`~finetune_async.providers._base.Send`."""

    __slots__ = ("_options", "_resource")

    def __init__(self, resource: Resource, options: Options) -> None:
        self._resource = resource
        self._options = options

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Sequence[FilePart] = (),
        idempotent: bool | None = None,
        reconcile: Reconciler[Any] | None = None,
        op: Operation,
        answer_redirects: bool = False,
    ) -> Response:
        # Unmapped (no op for to_wire): the provider wrote its own paths and bodies.
        result = await self._resource._call(
            method,
            path,
            params=params,
            json_body=json_body,
            form=form,
            files=files,
            idempotent=idempotent,
            reconcile=reconcile,
            options=self._options,
            answer_redirects=answer_redirects,
        )
        if not isinstance(result, Response):
            raise TypeError(f"{op}: a settle found an object where an answer was expected")
        return result

    async def signed(
        self,
        method: str,
        url: str,
        *,
        body: FilePart | None = None,
        size: int | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        file_content: bool = False,
    ) -> Response:
        return await self._resource._transport.request_signed(
            method, url, body=body, size=size, headers=headers, idempotent=idempotent, file_content=file_content
        )

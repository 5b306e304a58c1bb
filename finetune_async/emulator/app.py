"""The HTTP face of the emulator: routes under ``/v1`` (OpenAI) and ``/openai`` (Azure OpenAI).

One middleware does what every request needs: a ``req_…`` request id, authentication
(``Authorization: Bearer`` for OpenAI; ``api-key`` or Bearer plus ``?api-version=`` for Azure),
faults, and turning :class:`~._util.APIError` into the API's error body. Handlers only parse
HTTP and call :class:`~.state.EmulatorState`.

Uploads (``POST /files`` and upload parts) are streamed to disk chunk by chunk, never read whole
(except under a ``late`` fault, which holds the whole body in memory before it waits).

Hostile input gets a 4xx in the API's error shape, never a 500: a JSON body nested deeper than
:data:`MAX_JSON_DEPTH`, a malformed multipart body, a form field over :data:`MAX_FIELD_BYTES`,
more than :data:`MAX_FORM_PARTS` parts, a filename with a control character. A client that
hangs up before its body is whole is logged in one line; nothing it sent is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

from ._util import APIError, bad_request
from .faults import Faults
from .state import (
    FILE_PURPOSES,
    MAX_FILE_BYTES,
    EmulatorState,
    check_expires_after,
    check_filename,
    parse_limit,
    validate_metadata_filter,
)

__all__ = ["MAX_FIELD_BYTES", "MAX_FORM_PARTS", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "create_app"]

_log = logging.getLogger("finetune_async.emulator")
STATE_KEY = web.AppKey("state", EmulatorState)
FAULTS_KEY = web.AppKey("faults", Faults)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The 400 for a binary part of (at least) this many bytes.
_TooLarge = Callable[[int], APIError]
_CHUNK = 256 * 1024
#: The largest JSON body read (a larger one is answered 413). The API's largest JSON bodies are
#: grader runs (two texts of at most 262,144 characters each, see graders.py), far below this;
#: parsing and walking 4 MiB of small objects holds the loop about 0.2 s, 16 MiB almost a second.
MAX_JSON_BYTES = 4 * 1024 * 1024
#: How deep a JSON body may nest. The API's bodies need a handful of levels (a grader of
#: graders, a JSON schema); the bound keeps every later walk of a body (the checks, the answer,
#: the store) far inside Python's recursion limit.
MAX_JSON_DEPTH = 64
#: The largest text field of a multipart form (``purpose``, ``expires_after``, ...).
MAX_FIELD_BYTES = 64 * 1024
#: The most parts a multipart form may have, the file or data part included.
MAX_FORM_PARTS = 32
# A late fault buffers a multipart body whole: room for the largest file plus the form around it.
_LATE_MULTIPART_MAX = MAX_FILE_BYTES + 1024 * 1024
# What parsing a malformed multipart body raises, in aiohttp's versions: ValueError (no
# boundary, reading past the end, bad base64), AssertionError, RuntimeError (an unknown
# transfer or content encoding), LookupError (an unknown charset), zlib.error (a gzip field
# that is not gzip), HttpProcessingError (a header line without a colon, or too long).
_MALFORMED = (ValueError, AssertionError, RuntimeError, LookupError, zlib.error, HttpProcessingError)

# The body a late fault read before it waited, for the handler running late. A context
# variable because aiohttp has no public way to give a request a new body stream, and request
# storage keys differ across the aiohttp versions we support (plain str keys warn on newer
# ones, web.RequestKey is missing on older ones). Set only inside the late action's own task.
_buffered_body: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("_buffered_body", default=None)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _error(exc: APIError) -> web.Response:
    resp = _json(exc.body(), exc.status)
    resp.headers.update(exc.headers)
    return resp


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


def _too_deep(what: str) -> APIError:
    return bad_request(f"We could not parse {what}: it is nested more than {MAX_JSON_DEPTH} levels deep.")


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative: the point is to refuse what a recursive walk would choke on.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _loads(raw: bytes | str, what: str) -> Any:
    """``raw`` parsed as JSON; ValueError when it is not JSON, 400 when it nests too deep."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep(what) from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise _too_deep(what)
    return value


async def _body(request: web.Request) -> Any:
    raw = _buffered_body.get()
    if raw is None:
        raw = await request.read()
    if not raw:
        raise bad_request("We could not parse the JSON body of your request: it is empty.")
    try:
        return _loads(raw, "the JSON body of your request")
    except ValueError:
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload.)"
        ) from None


def _drop_connection(request: web.Request) -> None:
    # Closing the transport before the response is written: the client sees the connection end
    # with no answer at all, which is what a reset or a lost response looks like from outside.
    # aiohttp then fails to write the response with a ConnectionError, which it handles quietly.
    transport = request.transport
    if transport is not None:
        transport.close()


async def _read_whole_body(request: web.Request) -> bytes:
    """The request's whole body, read now; 413 past the size the handler would accept."""
    limit = _LATE_MULTIPART_MAX if request.content_type.startswith("multipart/") else MAX_JSON_BYTES
    body = bytearray()
    while chunk := await request.content.readany():
        body.extend(chunk)
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return bytes(body)


def _log_unexpected(task: asyncio.Task[web.StreamResponse]) -> None:
    # The request that waited on this late action was cancelled, so nobody else will look at
    # its outcome. The API's own refusals went to a client that is gone; only a bug is worth a log.
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, (APIError, web.HTTPException)):
        _log.error("emulator error in a late action", exc_info=exc)


class _LateActions:
    """The late faults' actions in flight, owned by the application rather than by a request.

    Each action runs in a task of its own, awaited through :func:`asyncio.shield`: a client
    hanging up never stops it, not even where aiohttp cancels the handler on disconnect
    (``handler_cancellation=True``). :meth:`aclose`, on the application's cleanup, cancels
    the ones still waiting, so none outlives the server.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[web.StreamResponse]] = set()

    async def run(self, seconds: float, body: bytes, handler: _Handler, request: web.Request) -> web.StreamResponse:
        """Wait ``seconds``, then run ``handler`` on ``request`` with ``body``; its response."""
        task = asyncio.create_task(self._act(seconds, body, handler, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_log_unexpected)
            raise

    @staticmethod
    async def _act(seconds: float, body: bytes, handler: _Handler, request: web.Request) -> web.StreamResponse:
        _buffered_body.set(body)
        await asyncio.sleep(seconds)
        return await handler(request)

    async def aclose(self, app: web.Application) -> None:
        """Cancel the actions still in flight and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _make_middleware(api_keys: Collection[str] | None, late_actions: _LateActions) -> Middleware:
    keys = frozenset(api_keys) if api_keys else None

    def authenticate(request: web.Request, azure: bool) -> None:
        key = ""
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
        if azure and not key:
            key = request.headers.get("api-key", "").strip()
        if not key:
            if azure:
                raise APIError(
                    401,
                    "Access denied due to missing subscription key. Make sure to include the api-key header or "
                    "an Authorization bearer token when making requests to an API.",
                    code="401",
                )
            raise APIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if keys is not None and key not in keys:
            shown = key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "*" * len(key)
            raise APIError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = "req_" + secrets.token_hex(16)
        path = request.path
        azure = path.startswith("/openai/") or path == "/openai"
        response: web.StreamResponse
        try:
            authenticate(request, azure)
            if azure and "api-version" not in request.query:
                raise APIError(
                    404, "Resource not found. Azure OpenAI requests need an api-version query parameter.", code="404"
                )
            faults = request.app[FAULTS_KEY]
            kind = None
            forced = request.headers.get("x-emulator-fault")
            if faults.active or forced:
                info = request.match_info.route.resource
                template = info.canonical if info is not None else path
                if azure:
                    template = "/v1" + template[len("/openai") :]
                    path = "/v1" + path[len("/openai") :]
                try:
                    fault = faults.decide(request.method, template, path, forced)
                except ValueError as exc:
                    raise bad_request(f"Invalid x-emulator-fault header: {exc}") from None
                if fault.latency:
                    await asyncio.sleep(fault.latency)
                kind = fault.kind
                if kind == "429":
                    ms = int(fault.retry_after * 1000)
                    raise APIError(
                        429,
                        "Rate limit reached for requests. Please try again shortly.",
                        type="requests",
                        code="rate_limit_exceeded",
                        headers={"retry-after-ms": str(ms), "retry-after": str(max(1, round(fault.retry_after)))},
                    )
                if kind == "500":
                    raise APIError(
                        500,
                        "The server had an error while processing your request. Sorry about that!",
                        type="server_error",
                    )
                if kind == "503":
                    raise APIError(
                        503, "The engine is currently overloaded, please try again later.", type="server_error"
                    )
                if kind == "reset":
                    # aiohttp's attempt to write this answer fails quietly on the closed transport.
                    _drop_connection(request)
                    return web.Response(status=500)
            if kind == "late":
                body = await _read_whole_body(request)
                # If the client is gone by the time this answers, aiohttp's write of it fails
                # with a ConnectionError, which it handles quietly.
                response = await late_actions.run(fault.late, body, handler, request)
            else:
                response = await handler(request)
            if kind == "lost":
                _drop_connection(request)
                return response
        except ConnectionError:
            # The client hung up before its request was whole (aiohttp's body stream raises
            # "Connection lost"): nothing it sent was kept, and there is nobody to answer. The
            # raw path: a decoded one could hold a line break.
            _log.info(
                "%s %s: the client hung up before its request body was complete; nothing was done",
                request.method,
                request.raw_path,
            )
            return web.Response(status=400)
        except APIError as exc:
            response = _error(exc)
        except web.HTTPException as exc:
            # Router answers (unknown path, wrong method, body too large) in the API's shape.
            msg = f"Invalid URL ({request.method} {request.path})" if exc.status == 404 else exc.reason
            response = _error(APIError(exc.status, msg, code=None))
            if exc.status == 405:
                response.headers["Allow"] = exc.headers.get("Allow", "")
        except Exception:
            # A bug in the emulator: still answer in the API's shape (clients and fuzzers see a 500).
            _log.exception("emulator error handling %s %s", request.method, request.path)
            response = _error(APIError(500, "The emulator failed to handle this request.", type="server_error"))
        response.headers["x-request-id"] = request_id
        response.headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
        return response

    return middleware


# -- files --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _reading_form(request: web.Request) -> Iterator[None]:
    """Turn what parsing a multipart body raises into the API's answer: 400 for a malformed
    body, or, when the client is gone, the ConnectionError the middleware logs in one line."""
    try:
        yield
    except _MALFORMED as exc:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Connection lost") from exc
        raise bad_request(f"Malformed multipart body: {str(exc)[:200]}") from None


async def _stream_part(part: BodyPartReader, state: EmulatorState, limit: int, too_large: _TooLarge) -> tuple[str, int]:
    """Write one multipart part to a new blob; (blob name, size). ``too_large(size)`` past
    ``limit`` bytes."""
    blob, path = state.new_blob()
    size = 0
    try:
        with path.open("wb") as fh:
            while chunk := await part.read_chunk(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large(size)
                fh.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return blob, size


async def _read_field(part: BodyPartReader, name: str) -> str:
    """A text field's value, decoded as its headers say; 400 past :data:`MAX_FIELD_BYTES`."""
    raw = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        raw.extend(chunk)
        if len(raw) > MAX_FIELD_BYTES:
            break
    data = bytes(part.decode(bytes(raw))) if len(raw) <= MAX_FIELD_BYTES else raw
    if len(data) > MAX_FIELD_BYTES:
        shown = name[:64]
        raise bad_request(f"The form field '{shown}' is larger than {MAX_FIELD_BYTES >> 10} KB.", shown)
    return data.decode("utf-8", "replace")


def _stream_of(data: bytes) -> StreamReader:
    """A finished stream holding ``data``, for a multipart reader to parse."""
    loop = asyncio.get_running_loop()
    # A protocol with no transport has no flow control to drive, and a limit above the data's
    # size means the reader never asks it to pause.
    stream = StreamReader(BaseProtocol(loop), max(len(data), _CHUNK), loop=loop)
    stream.feed_data(data)
    stream.feed_eof()
    return stream


async def _multipart(request: web.Request) -> MultipartReader:
    if not request.content_type.startswith("multipart/"):
        raise bad_request("Expected a multipart/form-data body.")
    buffered = _buffered_body.get()
    if buffered is None:
        return await request.multipart()
    return MultipartReader(request.headers, _stream_of(buffered))


@dataclass
class _Form:
    """A multipart body: its one binary part streamed to a blob, and its text fields."""

    blob: str
    size: int
    filename: str
    fields: dict[str, str]


async def _read_form(
    request: web.Request, state: EmulatorState, *, binary: str, limit: int, too_large: _TooLarge
) -> _Form:
    """Stream the ``binary`` part to disk (``too_large(size)`` past ``limit`` bytes) and read the
    other parts as text; on any error no blob is left behind."""
    blob: str | None = None
    size = 0
    filename = "file"
    fields: dict[str, str] = {}
    parts = 0
    try:
        with _reading_form(request):
            reader = await _multipart(request)
            while True:
                part = await reader.next()
                if part is None:
                    break
                parts += 1
                if parts > MAX_FORM_PARTS:
                    raise bad_request(f"The form has more than {MAX_FORM_PARTS} fields.")
                if not isinstance(part, BodyPartReader):
                    raise bad_request("Nested multipart bodies are not supported.")
                if part.name == binary and blob is None:
                    filename = check_filename(part.filename or "file", binary)
                    blob, size = await _stream_part(part, state, limit, too_large)
                elif part.name:
                    fields[part.name] = await _read_field(part, part.name)
                else:
                    await part.release()
        if blob is None:
            raise bad_request(f"Missing required parameter: '{binary}'.", binary)
    except BaseException:
        if blob is not None:
            state.store.blob_path(blob).unlink(missing_ok=True)
        raise
    return _Form(blob, size, filename, fields)


def _file_too_large(size: int) -> APIError:
    return bad_request(f"The file is larger than the maximum of {MAX_FILE_BYTES >> 20} MB.", "file")


def _attachment(filename: str) -> str:
    """A ``Content-Disposition`` naming ``filename`` (RFC 6266): any stored name, even one with
    a line break or a quote, gives a well-formed header of printable ASCII."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename) or "file"
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        # surrogatepass: a name stored before filenames were checked may hold lone surrogates.
        header += "; filename*=UTF-8''" + quote(filename.encode("utf-8", "surrogatepass"), safe="")
    return header


@contextlib.contextmanager
def _discard_on_error(state: EmulatorState, blob: str) -> Iterator[None]:
    """Remove the received blob if the request is refused after all."""
    try:
        yield
    except BaseException:
        state.store.blob_path(blob).unlink(missing_ok=True)
        raise


async def create_file(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    form = await _read_form(request, state, binary="file", limit=MAX_FILE_BYTES, too_large=_file_too_large)
    fields = form.fields
    with _discard_on_error(state, form.blob):
        purpose = fields.get("purpose")
        if purpose is None:
            raise bad_request("Missing required parameter: 'purpose'.", "purpose")
        if purpose not in FILE_PURPOSES:
            raise bad_request(f"'{purpose}' is not one of {list(FILE_PURPOSES)} - 'purpose'.", "purpose")
        unknown = set(fields) - {"purpose", "expires_after", "expires_after[anchor]", "expires_after[seconds]"}
        if unknown:
            raise bad_request(f"Unrecognized request argument supplied: {sorted(unknown)[0]}", sorted(unknown)[0])
        expires = None
        if "expires_after" in fields:
            # Some clients send the object as one JSON-encoded part rather than bracketed fields.
            try:
                expires = check_expires_after(_loads(fields["expires_after"], "'expires_after'"))
            except ValueError:
                raise bad_request("Invalid 'expires_after': expected a JSON object.", "expires_after") from None
        elif "expires_after[anchor]" in fields or "expires_after[seconds]" in fields:
            seconds = fields.get("expires_after[seconds]", "")
            expires = check_expires_after(
                {
                    "anchor": fields.get("expires_after[anchor]"),
                    "seconds": int(seconds) if seconds.lstrip("-").isdigit() else seconds,
                }
            )
        out = state.add_file(
            filename=form.filename, purpose=purpose, blob=form.blob, size=form.size, expires_after=expires
        )
    return _json(out)


async def list_files(request: web.Request) -> web.StreamResponse:
    q = request.query
    return _json(
        _state(request).list_files(
            purpose=q.get("purpose"),
            limit=parse_limit(q.get("limit"), 10000, 10000),
            order=q.get("order", "desc"),
            after=q.get("after"),
        )
    )


async def retrieve_file(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).get_file_record(request.match_info["file_id"]).to_api())


async def delete_file(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).delete_file(request.match_info["file_id"]))


async def file_content(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    rec = state.get_file_record(request.match_info["file_id"])
    headers = {"Content-Type": "application/octet-stream", "Content-Disposition": _attachment(rec.filename)}
    if rec.results_of is not None:
        return web.Response(body=state.results_csv(state.store.jobs[rec.results_of]), headers=headers)
    # FileResponse streams from disk (sendfile where possible) instead of loading the file.
    return web.FileResponse(state.store.blob_path(rec.path), headers=headers)


# -- uploads ------------------------------------------------------------------------------------


async def create_upload(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).create_upload(await _body(request)))


async def add_upload_part(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    upload_id = request.match_info["upload_id"]
    room = state.part_room(upload_id)  # 404/400 before reading any bytes
    if room == 0:
        raise state.part_too_large(upload_id, 1)

    def too_large(size: int) -> APIError:
        return state.part_too_large(upload_id, size)

    form = await _read_form(request, state, binary="data", limit=room, too_large=too_large)
    with _discard_on_error(state, form.blob):
        if form.fields:
            unknown = sorted(form.fields)[0]
            raise bad_request(f"Unrecognized request argument supplied: {unknown}", unknown)
        out = state.add_part(upload_id, form.blob, form.size)
    return _json(out)


async def complete_upload(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    upload_id = request.match_info["upload_id"]
    state.pending_upload(upload_id)
    return _json(await state.complete_upload(upload_id, await _body(request)))


async def cancel_upload(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).cancel_upload(request.match_info["upload_id"]))


# -- fine-tuning jobs ----------------------------------------------------------------------------


async def create_job(request: web.Request) -> web.StreamResponse:
    return _json(await _state(request).create_job(await _body(request)))


async def list_jobs(request: web.Request) -> web.StreamResponse:
    q = request.query
    metadata, no_metadata = validate_metadata_filter(q.items())
    return _json(
        _state(request).list_jobs(
            limit=parse_limit(q.get("limit"), 20), after=q.get("after"), metadata=metadata, no_metadata=no_metadata
        )
    )


async def retrieve_job(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    return _json(state.job_api(state.get_job(request.match_info["fine_tuning_job_id"])))


async def cancel_job(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).cancel_job(request.match_info["fine_tuning_job_id"]))


async def pause_job(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).pause_job(request.match_info["fine_tuning_job_id"]))


async def resume_job(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).resume_job(request.match_info["fine_tuning_job_id"]))


async def list_events(request: web.Request) -> web.StreamResponse:
    q = request.query
    text = _state(request).list_events(
        request.match_info["fine_tuning_job_id"], limit=parse_limit(q.get("limit"), 20), after=q.get("after")
    )
    return web.Response(body=text.encode(), content_type="application/json")


async def list_checkpoints(request: web.Request) -> web.StreamResponse:
    q = request.query
    return _json(
        _state(request).list_checkpoints(
            request.match_info["fine_tuning_job_id"], limit=parse_limit(q.get("limit"), 10), after=q.get("after")
        )
    )


# -- checkpoint permissions ----------------------------------------------------------------------


async def create_permissions(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    checkpoint = request.match_info["fine_tuned_model_checkpoint"]
    state.list_permissions(checkpoint, project_id=None, after=None, limit=1, order="descending")  # 404 first
    return _json(state.create_permissions(checkpoint, await _body(request)))


async def list_permissions(request: web.Request) -> web.StreamResponse:
    q = request.query
    return _json(
        _state(request).list_permissions(
            request.match_info["fine_tuned_model_checkpoint"],
            project_id=q.get("project_id"),
            after=q.get("after"),
            limit=parse_limit(q.get("limit"), 10),
            order=q.get("order", "descending"),
        )
    )


async def delete_permission(request: web.Request) -> web.StreamResponse:
    return _json(
        _state(request).delete_permission(
            request.match_info["fine_tuned_model_checkpoint"], request.match_info["permission_id"]
        )
    )


# -- graders -------------------------------------------------------------------------------------


async def run_grader(request: web.Request) -> web.StreamResponse:
    from .graders import run_grader_async as run

    body = await _body(request)
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    for key in ("grader", "model_sample"):
        if key not in body:
            raise bad_request(f"Missing required parameter: '{key}'.", key)
    # Scoring is CPU-bound (bounded, but up to a few hundred ms): off the loop, so other requests go on.
    if "item" in body:
        return _json(await run(body["grader"], body["model_sample"], body["item"]))
    return _json(await run(body["grader"], body["model_sample"]))


async def validate_grader(request: web.Request) -> web.StreamResponse:
    from .graders import validate_grader_async as validate

    body = await _body(request)
    if not isinstance(body, dict) or "grader" not in body:
        raise bad_request("Missing required parameter: 'grader'.", "grader")
    # Off the loop too: walking a 16 MB grader takes ~0.1 s, and a python source's compile is waited for.
    return _json({"grader": await validate(body["grader"])})


# -- models --------------------------------------------------------------------------------------


async def list_models(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).list_models())


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).get_model(request.match_info["model"]))


async def delete_model(request: web.Request) -> web.StreamResponse:
    return _json(_state(request).delete_model(request.match_info["model"]))


_ROUTES: list[tuple[str, str, _Handler]] = [
    ("GET", "/files", list_files),
    ("POST", "/files", create_file),
    ("GET", "/files/{file_id}", retrieve_file),
    ("DELETE", "/files/{file_id}", delete_file),
    ("GET", "/files/{file_id}/content", file_content),
    ("POST", "/uploads", create_upload),
    ("POST", "/uploads/{upload_id}/parts", add_upload_part),
    ("POST", "/uploads/{upload_id}/complete", complete_upload),
    ("POST", "/uploads/{upload_id}/cancel", cancel_upload),
    ("POST", "/fine_tuning/jobs", create_job),
    ("GET", "/fine_tuning/jobs", list_jobs),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}", retrieve_job),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/cancel", cancel_job),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/pause", pause_job),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/resume", resume_job),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}/events", list_events),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints", list_checkpoints),
    ("GET", "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions", list_permissions),
    ("POST", "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions", create_permissions),
    (
        "DELETE",
        "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions/{permission_id}",
        delete_permission,
    ),
    ("POST", "/fine_tuning/alpha/graders/run", run_grader),
    ("POST", "/fine_tuning/alpha/graders/validate", validate_grader),
    ("GET", "/models", list_models),
    ("GET", "/models/{model}", retrieve_model),
    ("DELETE", "/models/{model}", delete_model),
]


def create_app(state: EmulatorState, faults: Faults, *, api_keys: Collection[str] | None = None) -> web.Application:
    """The aiohttp application serving ``state`` under ``/v1`` and Azure's ``/openai``.

    ``api_keys``: when given, only these keys are accepted; otherwise any non-empty key is.
    """
    late_actions = _LateActions()
    app = web.Application(middlewares=[_make_middleware(api_keys, late_actions)], client_max_size=MAX_JSON_BYTES)
    app.on_cleanup.append(late_actions.aclose)
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults
    for prefix in ("/v1", "/openai"):
        for method, path, handler in _ROUTES:
            app.router.add_route(method, prefix + path, handler)
    return app

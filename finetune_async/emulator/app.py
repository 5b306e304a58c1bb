"""The HTTP face of the emulator: routes under ``/v1`` (OpenAI) and ``/openai`` (Azure OpenAI).

One middleware does what every request needs: a ``req_…`` request id, authentication
(``Authorization: Bearer`` for OpenAI; ``api-key`` or Bearer plus ``?api-version=`` for Azure),
faults, and turning :class:`~._util.APIError` into the API's error body. The handlers, one
module per resource in :mod:`.routes`, only parse HTTP and call the resources of
:class:`~.state.EmulatorState`.

Uploads (``POST /files`` and upload parts) are streamed to disk chunk by chunk, never read whole
(except under a ``late`` fault, which holds the whole body in memory before it waits).

Hostile input gets a 4xx in the API's error shape, never a 500: a JSON body nested deeper than
:data:`MAX_JSON_DEPTH`, a malformed multipart body, a form field over :data:`MAX_FIELD_BYTES`,
more than :data:`MAX_FORM_PARTS` parts, a filename with a control character. A client that
hangs up before its body is whole is logged in one line; nothing it sent is kept.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Middleware

from ._util import APIError, bad_request
from .faults import Faults
from .files import MAX_FILE_BYTES
from .routes import ROUTES
from .routes._http import MAX_JSON_BYTES, MAX_JSON_DEPTH, STATE_KEY, Handler, buffered_body, error_response
from .routes._multipart import MAX_FIELD_BYTES, MAX_FORM_PARTS
from .state import EmulatorState

__all__ = ["MAX_FIELD_BYTES", "MAX_FORM_PARTS", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "create_app"]

_log = logging.getLogger("finetune_async.emulator")
FAULTS_KEY = web.AppKey("faults", Faults)

# A late fault buffers a multipart body whole: room for the largest file plus the form around it.
_LATE_MULTIPART_MAX = MAX_FILE_BYTES + 1024 * 1024


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

    async def run(self, seconds: float, body: bytes, handler: Handler, request: web.Request) -> web.StreamResponse:
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
    async def _act(seconds: float, body: bytes, handler: Handler, request: web.Request) -> web.StreamResponse:
        buffered_body.set(body)
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
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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
            response = error_response(exc)
        except web.HTTPException as exc:
            # Router answers (unknown path, wrong method, body too large) in the API's shape.
            msg = f"Invalid URL ({request.method} {request.path})" if exc.status == 404 else exc.reason
            response = error_response(APIError(exc.status, msg, code=None))
            if exc.status == 405:
                response.headers["Allow"] = exc.headers.get("Allow", "")
        except Exception:
            # A bug in the emulator: still answer in the API's shape (clients and fuzzers see a 500).
            _log.exception("emulator error handling %s %s", request.method, request.path)
            response = error_response(APIError(500, "The emulator failed to handle this request.", type="server_error"))
        response.headers["x-request-id"] = request_id
        response.headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
        return response

    return middleware


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
        for method, path, handler in ROUTES:
            app.router.add_route(method, prefix + path, handler)
    return app

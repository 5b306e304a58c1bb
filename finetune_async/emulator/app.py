"""The HTTP face of the emulator: a provider's dialect (:mod:`.dialects`) over one state.

One middleware does what every request needs, asking the dialect's surface that serves the
request's path how its provider does it: the request id, authentication, the ``api-version``
rules, faults (whose rules name OpenAI's ``/v1`` paths on every dialect), and turning
:class:`~._util.APIError` into the provider's error body. The handlers, one module per
resource in :mod:`.routes` (and a dialect's own where its provider differs), only parse HTTP
and call the resources of :class:`~.state.EmulatorState`.

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
import time
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Middleware

from ._util import APIError, bad_request
from .dialects import Dialect, make_dialect
from .faults import Faults
from .files import MAX_FILE_BYTES
from .routes._http import ANSWER_SHAPER, MAX_JSON_BYTES, MAX_JSON_DEPTH, STATE_KEY, Handler, buffered_body
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


def _make_middleware(dialect: Dialect, api_keys: Collection[str] | None, late_actions: _LateActions) -> Middleware:
    keys = frozenset(api_keys) if api_keys else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        path = request.path
        surface = dialect.surface_for(path)
        # Handlers shape their answers through the surface serving this request (routes._http.answer).
        shaping = ANSWER_SHAPER.set(surface)
        response: web.StreamResponse
        try:
            surface.authenticate(request, keys)
            surface.check_version(request)
            faults = request.app[FAULTS_KEY]
            kind = None
            forced = request.headers.get("x-emulator-fault")
            if faults.active or forced:
                info = request.match_info.route.resource
                template = info.canonical if info is not None else path
                # Fault rules name OpenAI's paths (POST:/v1/fine_tuning/jobs) on every dialect, and
                # the dialect's own too (a Fireworks dataset's create and its :upload both read
                # POST:/v1/files; each is also reachable by its own path).
                own = (template, path)
                template, path = surface.fault_path(template), surface.fault_path(path)
                try:
                    fault = faults.decide(request.method, template, path, forced, also=own)
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
            response = surface.error_response(exc)
        except web.HTTPException as exc:
            # Router answers (unknown path, wrong method, body too large) in the provider's shape.
            response = surface.router_error(request, exc)
        except Exception:
            # A bug in the emulator: still answer in the API's shape (clients and fuzzers see a 500).
            _log.exception("emulator error handling %s %s", request.method, request.path)
            response = surface.error_response(
                APIError(500, "The emulator failed to handle this request.", type="server_error")
            )
        finally:
            ANSWER_SHAPER.reset(shaping)
        surface.stamp(response, int((time.perf_counter() - started) * 1000))
        return response

    return middleware


def create_app(
    state: EmulatorState,
    faults: Faults,
    *,
    api_keys: Collection[str] | None = None,
    provider: str = "openai",
) -> web.Application:
    """The aiohttp application serving ``state`` in the dialect of ``provider`` (one of
    :data:`~.dialects.PROVIDERS`; ValueError for another): ``"openai"`` under ``/v1`` (and, with
    OpenAI's shapes, under Azure's ``/openai``), ``"azure"`` under ``/openai/v1`` and ``/openai``,
    ``"nebius"`` and ``"together"`` under ``/v1``.

    ``api_keys``: when given, only these keys are accepted; otherwise any non-empty key is.
    """
    dialect = make_dialect(provider)
    late_actions = _LateActions()
    app = web.Application(
        middlewares=[_make_middleware(dialect, api_keys, late_actions)], client_max_size=MAX_JSON_BYTES
    )
    app.on_cleanup.append(late_actions.aclose)
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults
    for surface in dialect.surfaces:
        for method, path, handler in surface.routes:
            app.router.add_route(method, surface.prefix + path, handler)
    return app

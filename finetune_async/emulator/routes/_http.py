"""What every route shares: the application keys, JSON in and out, the body a late fault held.

A handler reads its request with :func:`read_json` (or :mod:`._multipart` for forms), calls one
resource of the :class:`~..state.EmulatorState` it gets from :func:`state`, and answers with
:func:`json_response`. Nothing here knows a resource.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from .._util import APIError, bad_request
from ..state import EmulatorState

__all__ = [
    "ANSWER_SHAPER",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "STATE_KEY",
    "Handler",
    "Route",
    "Shaper",
    "answer",
    "buffered_body",
    "error_response",
    "json_response",
    "loads",
    "read_json",
    "state",
]

STATE_KEY = web.AppKey("state", EmulatorState)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: (method, path under the API's prefix, handler): what a resource's routes module lists.
Route = tuple[str, str, Handler]

#: The largest JSON body read (a larger one is answered 413). The API's largest JSON bodies are
#: grader runs (two texts of at most 262,144 characters each, see graders.py), far below this;
#: parsing and walking 4 MiB of small objects holds the loop about 0.2 s, 16 MiB almost a second.
MAX_JSON_BYTES = 4 * 1024 * 1024
#: How deep a JSON body may nest. The API's bodies need a handful of levels (a grader of
#: graders, a JSON schema); the bound keeps every later walk of a body (the checks, the answer,
#: the store) far inside Python's recursion limit.
MAX_JSON_DEPTH = 64

# The body a late fault read before it waited, for the handler running late. A context
# variable because aiohttp has no public way to give a request a new body stream, and request
# storage keys differ across the aiohttp versions we support (plain str keys warn on newer
# ones, web.RequestKey is missing on older ones). Set only inside the late action's own task.
buffered_body: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("_buffered_body", default=None)


class Shaper(Protocol):
    """What turns a resource's OpenAI-shaped answer into a provider's (a dialect's surface)."""

    def answer(self, request: web.Request, kind: str, data: Any, status: int) -> web.StreamResponse:
        """The response for ``data``, an answer of ``kind`` (``"job"``, ``"job.created"``,
        ``"job.list"``, ``"file"``, ``"file.created"``, ``"file.list"``, ``"checkpoint.list"``)."""
        ...


# The surface serving the request being handled, set by the middleware. A context variable for
# the reason given at ``buffered_body``; a late action's task copies it when it is created.
ANSWER_SHAPER: contextvars.ContextVar[Shaper | None] = contextvars.ContextVar("_answer_shaper", default=None)


def answer(request: web.Request, kind: str, data: Any, status: int = 200) -> web.StreamResponse:
    """``data`` answered as the provider being served shapes an answer of ``kind`` (OpenAI's
    JSON as it is when no dialect shapes it)."""
    shaper = ANSWER_SHAPER.get()
    if shaper is None:
        return json_response(data, status)
    return shaper.answer(request, kind, data, status)


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as an ``application/json`` response."""
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def error_response(exc: APIError) -> web.Response:
    """The API's error body for ``exc``, with its status and headers."""
    resp = json_response(exc.body(), exc.status)
    resp.headers.update(exc.headers)
    return resp


def state(request: web.Request) -> EmulatorState:
    """The state the application serves."""
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


def loads(raw: bytes | str, what: str) -> Any:
    """``raw`` parsed as JSON; ValueError when it is not JSON, 400 when it nests too deep."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep(what) from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise _too_deep(what)
    return value


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (the one a late fault held, if any); 400 when it is empty, not
    JSON, or nested too deep."""
    raw = buffered_body.get()
    if raw is None:
        raw = await request.read()
    if not raw:
        raise bad_request("We could not parse the JSON body of your request: it is empty.")
    try:
        return loads(raw, "the JSON body of your request")
    except ValueError:
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload.)"
        ) from None

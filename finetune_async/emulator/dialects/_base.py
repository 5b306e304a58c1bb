"""What every dialect's surface does, as OpenAI does it; a provider's surface overrides the parts
that differ.

A :class:`Surface` is one prefix a dialect serves (``/v1``; Azure's ``/openai/v1`` and
``/openai``) with its routes, and everything the middleware asks of it: who may call, which
``api-version`` it needs, the error body, the request-id header, and how it shapes the
resources' OpenAI-shaped answers (:meth:`Surface.answer`). The state underneath is the same
for every surface.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from typing import Any

from aiohttp import web

from .._util import APIError
from ..routes._http import Route, error_response, json_response

__all__ = ["Dialect", "Surface", "bearer_key", "replace_routes"]


def bearer_key(request: web.Request) -> str:
    """The token of an ``Authorization: Bearer`` header ("" when there is none)."""
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else ""


def shown_key(key: str) -> str:
    """A key as an error may show it: its first three and last four characters at most."""
    return key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "*" * len(key)


def replace_routes(
    routes: Iterable[Route],
    *,
    replace: dict[tuple[str, str], Route] | None = None,
    drop: Collection[str] = (),
    add: Iterable[Route] = (),
) -> list[Route]:
    """``routes`` with some handlers replaced (by method and path), paths under any of the
    prefixes in ``drop`` left out, and ``add`` appended."""
    replace = replace or {}
    out = [
        replace.get((method, path), (method, path, handler))
        for method, path, handler in routes
        if not any(path == d or path.startswith(d + "/") for d in drop)
    ]
    return [*out, *add]


class Surface:
    """One prefix of a dialect and how requests under it are checked and answered: OpenAI's
    way (``Authorization: Bearer``, ``x-request-id``, ``{"error": {message, type, param, code}}``)."""

    def __init__(self, prefix: str, routes: list[Route]) -> None:
        self.prefix = prefix
        self.routes = routes

    def holds(self, path: str) -> bool:
        """Whether ``path`` is under this surface's prefix."""
        return path == self.prefix or path.startswith(self.prefix + "/")

    def fault_path(self, path: str) -> str:
        """``path`` as fault rules name it: OpenAI's ``/v1/...``, whatever the provider's prefix."""
        return "/v1" + path[len(self.prefix) :] if self.holds(path) else path

    def authenticate(self, request: web.Request, keys: frozenset[str] | None) -> None:
        """Raise the 401 the provider answers unless the request carries an accepted key."""
        key = bearer_key(request)
        if not key:
            raise APIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if keys is not None and key not in keys:
            raise APIError(401, f"Incorrect API key provided: {shown_key(key)}.", code="invalid_api_key")

    def check_version(self, request: web.Request) -> None:
        """Raise the provider's answer when the request's ``api-version`` is missing or wrong."""

    def error_response(self, exc: APIError) -> web.Response:
        """The provider's error body for ``exc``, with its status and headers."""
        return error_response(exc)

    def router_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        """The provider's answer to a path it does not serve (404), a wrong method (405) or a
        body too large (413)."""
        msg = f"Invalid URL ({request.method} {request.path})" if exc.status == 404 else exc.reason
        response = self.error_response(APIError(exc.status, msg, code=None))
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response

    def stamp(self, response: web.StreamResponse, elapsed_ms: int) -> None:
        """Add the headers every answer carries (the request id, the processing time)."""
        response.headers["x-request-id"] = "req_" + secrets.token_hex(16)
        response.headers["openai-processing-ms"] = str(elapsed_ms)

    def answer(self, request: web.Request, kind: str, data: Any, status: int) -> web.StreamResponse:
        """The response for a resource's answer ``data`` of ``kind`` (OpenAI's JSON as it is)."""
        return json_response(data, status)


class Dialect:
    """A provider as the emulator speaks it: its surfaces, tried longest prefix first. The first
    surface given answers requests under none of them (an unknown path)."""

    name = "openai"

    def __init__(self, surfaces: list[Surface]) -> None:
        self.default = surfaces[0]
        self.surfaces = sorted(surfaces, key=lambda s: len(s.prefix), reverse=True)

    def surface_for(self, path: str) -> Surface:
        """The surface serving ``path``."""
        for surface in self.surfaces:
            if surface.holds(path):
                return surface
        return self.default

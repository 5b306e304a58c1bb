"""The ``openai`` dialect (the default): OpenAI's API under ``/v1``.

For compatibility it also serves the same routes under Azure's ``/openai`` prefix, with
OpenAI's shapes (``api-key`` or Bearer, ``?api-version=`` required, OpenAI's error body and
``x-request-id``): OpenAI's shapes under Azure's paths. Use ``provider="azure"`` for Azure's
real behaviour (:mod:`.azure`).
"""

from __future__ import annotations

from aiohttp import web

from .._util import APIError
from ..routes import ROUTES
from ._base import Dialect, Surface, bearer_key, shown_key

__all__ = ["OpenAIDialect"]


class _AzurePathsSurface(Surface):
    """OpenAI's answers under ``/openai``: only the key and the api-version are Azure's."""

    def authenticate(self, request: web.Request, keys: frozenset[str] | None) -> None:
        key = bearer_key(request) or request.headers.get("api-key", "").strip()
        if not key:
            raise APIError(
                401,
                "Access denied due to missing subscription key. Make sure to include the api-key header or "
                "an Authorization bearer token when making requests to an API.",
                code="401",
            )
        if keys is not None and key not in keys:
            raise APIError(401, f"Incorrect API key provided: {shown_key(key)}.", code="invalid_api_key")

    def check_version(self, request: web.Request) -> None:
        if "api-version" not in request.query:
            raise APIError(
                404, "Resource not found. Azure OpenAI requests need an api-version query parameter.", code="404"
            )


class OpenAIDialect(Dialect):
    """OpenAI's API under ``/v1``, and the same under ``/openai`` for Azure-shaped clients."""

    name = "openai"

    def __init__(self) -> None:
        super().__init__([Surface("/v1", ROUTES), _AzurePathsSurface("/openai", ROUTES)])

"""Credentials: an API key (OpenAI's bearer token or Azure's ``api-key``) or a Microsoft Entra ID
token from an async provider, cached until shortly before it expires.

No I/O of its own and no aiohttp: the transport asks an :class:`Auth` for the headers of each
request. No ``repr`` shows a secret.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

__all__ = ["ApiKeyAuth", "Auth", "TokenProvider", "TokenProviderAuth"]


class Auth:
    """Produces the authentication headers of one request. Never shows its secret.

    A ``dynamic`` auth is asked for headers on every request; a static one gives its headers
    once, for the session's defaults.
    """

    dynamic = True

    def static_headers(self) -> dict[str, str]:
        """Headers set once on the session (none for a dynamic auth)."""
        return {}

    async def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def invalidate(self) -> bool:
        """Forget a cached credential after a 401; True if a fresh one can be fetched."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"


class ApiKeyAuth(Auth):
    """A static API key, sent as a bearer token (OpenAI) or in the ``api-key`` header (Azure)."""

    __slots__ = ("_header", "_value")

    dynamic = False

    def __init__(self, api_key: str, *, azure: bool = False) -> None:
        if azure:
            self._header, self._value = "api-key", api_key
        else:
            self._header, self._value = "Authorization", f"Bearer {api_key}"

    def static_headers(self) -> dict[str, str]:
        return {self._header: self._value}

    async def headers(self) -> dict[str, str]:
        return self.static_headers()


TokenProvider = Callable[[], Awaitable[Any]]


class TokenProviderAuth(Auth):
    """A bearer token from an async provider (Microsoft Entra ID), cached until it expires.

    The provider may return a string (a JWT's ``exp`` claim gives its expiry; an opaque
    string is fetched again for every request) or an object with ``token`` and
    ``expires_on`` (epoch seconds), like ``azure.core.credentials.AccessToken``.
    """

    __slots__ = ("_expires_at", "_provider", "_token")

    # Refresh this long before expiry so a token never expires in flight.
    REFRESH_MARGIN = 60.0

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider
        self._token: str | None = None
        self._expires_at = 0.0

    async def headers(self) -> dict[str, str]:
        if self._token is None or time.time() >= self._expires_at - self.REFRESH_MARGIN:
            value = await self._provider()
            token, expires = _split_token(value)
            self._token, self._expires_at = token, expires
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        self._token = None
        return True


def _split_token(value: Any) -> tuple[str, float]:
    if isinstance(value, str):
        return value, _jwt_expiry(value)
    token = getattr(value, "token", None)
    expires = getattr(value, "expires_on", None)
    if isinstance(token, str) and isinstance(expires, (int, float)):
        return token, float(expires)
    raise TypeError("azure_ad_token_provider must return a str or an object with .token and .expires_on")


def _jwt_expiry(token: str) -> float:
    """The ``exp`` claim of a JWT, or 0 (fetch again next time) when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return 0.0
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = orjson.loads(base64.urlsafe_b64decode(padded))
    except (orjson.JSONDecodeError, binascii.Error, ValueError):
        return 0.0
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else 0.0

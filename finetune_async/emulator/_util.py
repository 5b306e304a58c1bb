"""Small shared pieces of the emulator: ids, the API error, clocks."""

from __future__ import annotations

import random
import string
import time
from typing import Any

__all__ = ["APIError", "new_id", "now", "short_id"]

_ALPHABET = string.ascii_letters + string.digits
# Ids only need to be unique and look right, not be secret: a seeded-from-urandom PRNG is ~10x
# cheaper than `secrets`, and a busy emulator makes one per materialised event.
_RNG = random.Random()


def _random_chars(n: int) -> str:
    return "".join(_RNG.choices(_ALPHABET, k=n))


def new_id(prefix: str, length: int = 24) -> str:
    """An id shaped like the API's: ``file-…``, ``ftjob-…``, ``upload_…`` (prefix includes the separator)."""
    return prefix + _random_chars(length)


def short_id() -> str:
    """The 8-character tail the API puts in fine-tuned model names (``ft:base:org:suffix:AbC12xYz``)."""
    return _random_chars(8)


def now() -> float:
    """Wall-clock seconds. The lifecycle is wall-time based so a restarted emulator carries on."""
    return time.time()


class APIError(Exception):
    """An answer in the API's error shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body the API sends for this error."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 ``invalid_request_error``."""
    return APIError(400, message, param=param, code=code)


def not_found(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 404 ``invalid_request_error``."""
    return APIError(404, message, param=param, code=code)

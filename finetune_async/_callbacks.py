"""Calling user callbacks that may be plain functions or coroutine functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable

__all__ = ["call_maybe_async"]


async def call_maybe_async(callback: Callable[..., object], *args: object) -> None:
    """Call ``callback(*args)`` and await its result when it is awaitable."""
    result = callback(*args)
    if inspect.isawaitable(result):
        await result

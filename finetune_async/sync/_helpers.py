"""The waiting helpers of :mod:`finetune_async.polling`, for a synchronous :class:`Client`.

``wait_for_job(client, job_id)`` and the others take the same arguments as the async ones and
return the same things; ``as_completed``, ``stream_events`` and ``stream_checkpoints`` are
plain iterators. Each is the async helper, run on the client's loop.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from .. import polling
from ._loop import SyncIterator

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ._client import Client

__all__ = [
    "as_completed",
    "stream_checkpoints",
    "stream_events",
    "wait_for_file_processing",
    "wait_for_job",
    "wait_for_jobs",
]

P = ParamSpec("P")
T = TypeVar("T")


def blocking(function: Callable[Concatenate[AsyncClient, P], Awaitable[T]]) -> Callable[Concatenate[Client, P], T]:
    """``function(async_client, ...)`` as ``twin(client, ...)``, run on the client's loop."""

    @functools.wraps(function)
    def twin(client: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return client._loop.run(functools.partial(function, client._async, *args, **kwargs))

    return twin


def iterating(
    function: Callable[Concatenate[AsyncClient, P], AsyncIterator[T]],
) -> Callable[Concatenate[Client, P], SyncIterator[T]]:
    """``function(async_client, ...)``, an async iterator, as a plain iterator."""

    @functools.wraps(function)
    def twin(client: Client, /, *args: P.args, **kwargs: P.kwargs) -> SyncIterator[T]:
        # Called here: a bad argument raises at once, before anything is sent.
        return SyncIterator(client._loop, function(client._async, *args, **kwargs))

    return twin


wait_for_job = blocking(polling.wait_for_job)
wait_for_jobs = blocking(polling.wait_for_jobs)
wait_for_file_processing = blocking(polling.wait_for_file_processing)
as_completed = iterating(polling.as_completed)
stream_events = iterating(polling.stream_events)
stream_checkpoints = iterating(polling.stream_checkpoints)

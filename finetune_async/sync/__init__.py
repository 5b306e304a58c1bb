"""The synchronous client: :class:`Client`, for scripts and notebooks.

::

    import finetune_async as ft

    with ft.Client() as client:
        file = client.files.create(file="train.jsonl")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file.id)
        for event in client.fine_tuning.jobs.stream_events(job.id):
            print(event.message)
        job = client.fine_tuning.jobs.wait(job.id)

One implementation: every synchronous call runs the async core (:class:`~finetune_async.AsyncClient`)
on a private event loop in a thread of the client's own (``_loop``), through descriptors that
take each async method's exact signature and result type (``_facade``). The module-level
helpers take a :class:`Client` where :mod:`finetune_async.polling` and
:func:`finetune_async.run_batch` take an ``AsyncClient``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._client import Client
from ._facade import SyncPage
from ._helpers import (
    as_completed,
    stream_checkpoints,
    stream_events,
    wait_for_file_processing,
    wait_for_job,
    wait_for_jobs,
)
from ._loop import SyncIterator
from ._responses import SyncRawResponse, SyncStreamedResponse

if TYPE_CHECKING:
    from ._batch import run_batch

__all__ = [
    "Client",
    "SyncIterator",
    "SyncPage",
    "SyncRawResponse",
    "SyncStreamedResponse",
    "as_completed",
    "run_batch",
    "stream_checkpoints",
    "stream_events",
    "wait_for_file_processing",
    "wait_for_job",
    "wait_for_jobs",
]


def __getattr__(name: str) -> Any:
    if name != "run_batch":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module("._batch", __name__).run_batch
    globals()[name] = value
    return value

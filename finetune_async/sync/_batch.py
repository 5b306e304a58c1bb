"""``run_batch`` for a synchronous :class:`~finetune_async.Client` (imported on first use, as
the async one is: the batch runner's modules cost ~2.5 MB)."""

from __future__ import annotations

from .. import batch
from ._helpers import blocking

__all__ = ["run_batch"]

#: :func:`finetune_async.run_batch`, blocking: ``report = run_batch(client, specs, journal=...)``.
run_batch = blocking(batch.run_batch)

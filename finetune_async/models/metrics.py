"""A job's recorded training metrics, where the provider has an endpoint for them (Together's
``GET /fine-tunes/{id}/metrics``)."""

from __future__ import annotations

import attrs

from ._base import BaseModel, extras_last

__all__ = ["FineTuningJobMetrics"]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FineTuningJobMetrics(BaseModel):
    """What ``client.fine_tuning.jobs.metrics(job_id)`` returns: ``metrics``, the recorded
    snapshots oldest first, each a flat mapping of metric name to value as the provider names
    them (Together: ``train/loss``, ``train/learning_rate``, ``train/global_step``, ...)."""

    metrics: list[dict[str, float]] = attrs.field(factory=list)

"""Fine-tuning jobs, their events and checkpoints, and the method/hyperparameter objects.

The method and hyperparameter classes double as request parameters of
``fine_tuning.jobs.create``. Hyperparameters are ``"auto"`` or a number; a field left
``None`` is not sent, so the API applies its default.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ._base import BaseModel, extras_last
from ._enums import OpenStrEnum
from .graders import Grader

__all__ = [
    "CheckpointCopy",
    "CheckpointMetrics",
    "DpoHyperparameters",
    "DpoMethod",
    "EventLevel",
    "EventType",
    "FineTuningJob",
    "FineTuningJobCheckpoint",
    "FineTuningJobError",
    "FineTuningJobEvent",
    "FineTuningJobIntegration",
    "FineTuningJobWandbIntegration",
    "Hyperparameters",
    "JobStatus",
    "Method",
    "MethodType",
    "ReinforcementHyperparameters",
    "ReinforcementMethod",
    "SupervisedHyperparameters",
    "SupervisedMethod",
]


class JobStatus(OpenStrEnum):
    """State of a fine-tuning job.

    ``PAUSED`` is not in the published spec's enum, but a paused job reports it. ``PENDING``
    is Azure's first state of a new job (before ``validating_files``); like ``paused`` it is
    waited through. A provider with statuses of its own maps them onto these, and keeps its
    raw value as :attr:`FineTuningJob.provider_status`.
    """

    PENDING = "pending"
    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class EventLevel(OpenStrEnum):
    """Severity of a job event."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class EventType(OpenStrEnum):
    """Kind of job event: a plain ``message`` or ``metrics`` (training metrics in ``data``)."""

    MESSAGE = "message"
    METRICS = "metrics"


class MethodType(OpenStrEnum):
    """Fine-tuning method."""

    SUPERVISED = "supervised"
    DPO = "dpo"
    REINFORCEMENT = "reinforcement"


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FineTuningJobError(BaseModel):
    """Why a job failed: machine-readable ``code``, ``message``, and the offending ``param``."""

    code: str
    message: str
    param: str | None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class Hyperparameters(BaseModel):
    """The job's top-level hyperparameters (deprecated by the API in favour of ``method``)."""

    batch_size: Literal["auto"] | int | None = None
    learning_rate_multiplier: Literal["auto"] | float | None = None
    n_epochs: Literal["auto"] | int | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class SupervisedHyperparameters(BaseModel):
    """Hyperparameters of supervised fine-tuning: each ``"auto"`` or a number."""

    batch_size: Literal["auto"] | int | None = None
    learning_rate_multiplier: Literal["auto"] | float | None = None
    n_epochs: Literal["auto"] | int | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class SupervisedMethod(BaseModel):
    """Configuration of supervised fine-tuning."""

    hyperparameters: SupervisedHyperparameters | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class DpoHyperparameters(BaseModel):
    """Hyperparameters of DPO fine-tuning; ``beta`` weighs the penalty against the reference."""

    beta: Literal["auto"] | float | None = None
    batch_size: Literal["auto"] | int | None = None
    learning_rate_multiplier: Literal["auto"] | float | None = None
    n_epochs: Literal["auto"] | int | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class DpoMethod(BaseModel):
    """Configuration of DPO (preference) fine-tuning."""

    hyperparameters: DpoHyperparameters | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class ReinforcementHyperparameters(BaseModel):
    """Hyperparameters of reinforcement fine-tuning."""

    batch_size: Literal["auto"] | int | None = None
    learning_rate_multiplier: Literal["auto"] | float | None = None
    n_epochs: Literal["auto"] | int | None = None
    reasoning_effort: Literal["default", "low", "medium", "high"] | None = None
    compute_multiplier: Literal["auto"] | float | None = None
    eval_interval: Literal["auto"] | int | None = None
    eval_samples: Literal["auto"] | int | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class ReinforcementMethod(BaseModel):
    """Configuration of reinforcement fine-tuning: the ``grader`` that scores samples."""

    grader: Grader | dict[str, Any]
    hyperparameters: ReinforcementHyperparameters | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class Method(BaseModel):
    """The fine-tuning method (schema ``FineTuneMethod``): ``type`` and its configuration."""

    type: MethodType
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None
    reinforcement: ReinforcementMethod | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FineTuningJobWandbIntegration(BaseModel):
    """Weights and Biases settings: the ``project`` runs go to, and optional name/entity/tags."""

    project: str
    name: str | None = None
    entity: str | None = None
    tags: list[str] | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FineTuningJobIntegration(BaseModel):
    """An integration of a job (schema ``FineTuningIntegration``); only ``wandb`` exists today.

    ``type`` is a plain string and ``wandb`` may be ``None`` so that a job using an integration
    type the SDK does not know still decodes (its settings land in ``model_extra``).
    """

    type: str = "wandb"
    wandb: FineTuningJobWandbIntegration | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FineTuningJob(BaseModel):
    """A fine-tuning job (schema ``FineTuningJob``).

    ``error``, ``fine_tuned_model``, ``finished_at``, ``trained_tokens`` and
    ``validation_file`` are always present and may be ``None``; compare ``status`` with a
    :class:`JobStatus` or a plain string.
    """

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: FineTuningJobError | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: Hyperparameters
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: JobStatus
    trained_tokens: int | None
    training_file: str
    validation_file: str | None
    integrations: list[FineTuningJobIntegration] | None = None
    estimated_finish: int | None = None
    method: Method | None = None
    metadata: dict[str, str] | None = None

    @property
    def provider_status(self) -> str:
        """The status as the provider itself said it: the ``provider_status`` a translating
        provider's mapping kept (Together's ``compressing``, Fireworks' ``JOB_STATE_RUNNING``),
        else ``status`` (OpenAI's and Azure's statuses are the normalised ones)."""
        raw = self.model_extra.get("provider_status")
        return raw if isinstance(raw, str) else str(self.status)


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FineTuningJobEvent(BaseModel):
    """An event of a job: a log ``message``, or training metrics in ``data`` (type ``metrics``).

    ``data`` is the free-form JSON object the API sends; for metrics events it holds
    ``step``, ``total_steps``, ``train_loss``, ``train_mean_token_accuracy``, ``valid_loss``, ...
    """

    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: EventLevel
    message: str
    type: EventType | None = None
    data: dict[str, Any] | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class CheckpointMetrics(BaseModel):
    """Training and validation metrics at a checkpoint's step."""

    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FineTuningJobCheckpoint(BaseModel):
    """A usable model checkpoint saved during a job (``fine_tuned_model_checkpoint`` is its name)."""

    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    step_number: int
    metrics: CheckpointMetrics


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class CheckpointCopy(BaseModel):
    """A checkpoint's copy to other Azure OpenAI resources (``jobs.checkpoints.copy``), in
    Azure's camelCase: ``checkpointedModelName``, ``fineTuningJobId`` and
    ``copiedAccountDetails`` (each destination's ``destinationResourceId``, ``region`` and
    ``status``). Fields Azure adds are kept, as on every model."""

    checkpointedModelName: str | None = None
    fineTuningJobId: str | None = None
    copiedAccountDetails: list[dict[str, Any]] | None = None

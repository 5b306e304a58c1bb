"""finetune_async: an async-first SDK for the OpenAI fine-tuning API.

The public names live here and nowhere else; ``docs/api.md`` in the repository describes each one.

The batch runner and the dataset helpers are imported on first use (``ft.run_batch``,
``from finetune_async import validate_dataset``, …): a process that only calls the API, or
waits on ten thousand jobs, does not pay the ~2.5 MB they take.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._ledger import SettleWindow
from ._options import Timeout
from ._retry import RetryPolicy, instant_backoff
from ._transport import RequestInfo
from ._version import __version__
from .client import AsyncClient
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DatasetError,
    FineTuneError,
    InternalServerError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    ProviderParameterError,
    RateLimitError,
    RedirectError,
    RequestValidationError,
    ResponseTooLargeError,
    TrainingNotAvailableError,
    UnprocessableEntityError,
    UnsupportedByProviderError,
    WaitTimeoutError,
)
from .models import (
    BaseModel,
    CheckpointCopy,
    CheckpointMetrics,
    DecodeError,
    DpoHyperparameters,
    DpoMethod,
    EvalItem,
    EventLevel,
    EventType,
    FileDeleted,
    FileExpirationAfter,
    FileObject,
    FilePurpose,
    FileStatus,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobError,
    FineTuningJobEvent,
    FineTuningJobIntegration,
    FineTuningJobMetrics,
    FineTuningJobWandbIntegration,
    Grader,
    Hyperparameters,
    JobStatus,
    LabelModelGrader,
    Method,
    MethodType,
    Model,
    ModelDeleted,
    MultiGrader,
    OpenStrEnum,
    Permission,
    PermissionDeleted,
    PythonGrader,
    ReinforcementHyperparameters,
    ReinforcementMethod,
    RunGraderResponse,
    RunGraderResponseMetadata,
    RunGraderResponseMetadataErrors,
    ScoreModelGrader,
    StringCheckGrader,
    SupervisedHyperparameters,
    SupervisedMethod,
    TextSimilarityGrader,
    Upload,
    UploadPart,
    UploadStatus,
    ValidateGraderResponse,
)
from .models._converter import to_dict
from .pagination import AsyncPaginator, Page
from .polling import as_completed, stream_checkpoints, stream_events, wait_for_job, wait_for_jobs
from .resources._base import CallOptions
from .resources._response import BinaryContent, RawResponse, StreamedResponse
from .webhooks import (
    FineTuningWebhookEvent,
    InvalidWebhookSignatureError,
    WebhookHub,
    parse_webhook_event,
    unwrap_webhook,
    verify_webhook_signature,
)

if TYPE_CHECKING:
    from .batch import BatchReport, BatchSpec, PostgresJournal, SpecResult, run_batch
    from .datasets import DatasetReport, Problem, split_dataset, validate_dataset
    from .sync import Client, SyncIterator, SyncPage

#: Public names imported on first use, and the submodule each comes from.
_LAZY = {
    "BatchReport": "batch",
    "BatchSpec": "batch",
    "SpecResult": "batch",
    "run_batch": "batch",
    "DatasetReport": "datasets",
    "Problem": "datasets",
    "split_dataset": "datasets",
    "validate_dataset": "datasets",
    "PostgresJournal": "batch",
    # The synchronous client starts a thread of its own: only a program that uses it pays for it.
    "Client": "sync",
    "SyncIterator": "sync",
    "SyncPage": "sync",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncPaginator",
    "AuthenticationError",
    "BadRequestError",
    "BaseModel",
    "BatchReport",
    "BatchSpec",
    "BinaryContent",
    "CallOptions",
    "CheckpointCopy",
    "CheckpointMetrics",
    "Client",
    "ConflictError",
    "DatasetError",
    "DatasetReport",
    "DecodeError",
    "DpoHyperparameters",
    "DpoMethod",
    "EvalItem",
    "EventLevel",
    "EventType",
    "FileDeleted",
    "FileExpirationAfter",
    "FileObject",
    "FilePurpose",
    "FileStatus",
    "FineTuneError",
    "FineTuningJob",
    "FineTuningJobCheckpoint",
    "FineTuningJobError",
    "FineTuningJobEvent",
    "FineTuningJobIntegration",
    "FineTuningJobMetrics",
    "FineTuningJobWandbIntegration",
    "FineTuningWebhookEvent",
    "Grader",
    "Hyperparameters",
    "InternalServerError",
    "InvalidWebhookSignatureError",
    "JobCancelledError",
    "JobFailedError",
    "JobStatus",
    "LabelModelGrader",
    "Method",
    "MethodType",
    "Model",
    "ModelDeleted",
    "MultiGrader",
    "NotFoundError",
    "OpenStrEnum",
    "Page",
    "Permission",
    "PermissionDeleted",
    "PermissionDeniedError",
    "PostgresJournal",
    "Problem",
    "ProviderParameterError",
    "PythonGrader",
    "RateLimitError",
    "RawResponse",
    "RedirectError",
    "ReinforcementHyperparameters",
    "ReinforcementMethod",
    "RequestInfo",
    "RequestValidationError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "RunGraderResponse",
    "RunGraderResponseMetadata",
    "RunGraderResponseMetadataErrors",
    "ScoreModelGrader",
    "SettleWindow",
    "SpecResult",
    "StreamedResponse",
    "StringCheckGrader",
    "SupervisedHyperparameters",
    "SupervisedMethod",
    "SyncIterator",
    "SyncPage",
    "TextSimilarityGrader",
    "Timeout",
    "TrainingNotAvailableError",
    "UnprocessableEntityError",
    "UnsupportedByProviderError",
    "Upload",
    "UploadPart",
    "UploadStatus",
    "ValidateGraderResponse",
    "WaitTimeoutError",
    "WebhookHub",
    "__version__",
    "as_completed",
    "instant_backoff",
    "parse_webhook_event",
    "run_batch",
    "split_dataset",
    "stream_checkpoints",
    "stream_events",
    "to_dict",
    "unwrap_webhook",
    "validate_dataset",
    "verify_webhook_signature",
    "wait_for_job",
    "wait_for_jobs",
]

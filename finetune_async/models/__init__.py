"""The API's objects as frozen attrs classes, decoded and encoded by one cattrs converter.

``structure(data, cls)`` / ``structure_list(items, cls)`` decode JSON, ``to_dict(obj)`` gives it
back (``finetune_async.models._converter`` documents the rules). Enums accept values the SDK
does not know; fields it does not know are kept in ``model_extra`` and read as attributes.
Every model also has the official SDK's ``model_dump()``, ``model_dump_json()``, ``to_dict()``,
``to_json()`` and ``model_fields_set`` (``finetune_async.models._dump`` documents the rules).
"""

from ._base import BaseModel
from ._converter import DecodeError, structure, structure_list, to_dict, to_json_param
from ._enums import OpenStrEnum
from .files import FileDeleted, FileExpirationAfter, FileObject, FilePurpose, FileStatus
from .fine_tuning import (
    CheckpointCopy,
    CheckpointMetrics,
    DpoHyperparameters,
    DpoMethod,
    EventLevel,
    EventType,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobError,
    FineTuningJobEvent,
    FineTuningJobIntegration,
    FineTuningJobWandbIntegration,
    Hyperparameters,
    JobStatus,
    Method,
    MethodType,
    ReinforcementHyperparameters,
    ReinforcementMethod,
    SupervisedHyperparameters,
    SupervisedMethod,
)
from .graders import (
    EvalItem,
    Grader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    RunGraderResponse,
    RunGraderResponseMetadata,
    RunGraderResponseMetadataErrors,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
    ValidateGraderResponse,
)
from .metrics import FineTuningJobMetrics
from .models import Model, ModelDeleted
from .permissions import Permission, PermissionDeleted
from .uploads import Upload, UploadPart, UploadStatus

__all__ = [
    "BaseModel",
    "CheckpointCopy",
    "CheckpointMetrics",
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
    "FineTuningJob",
    "FineTuningJobCheckpoint",
    "FineTuningJobError",
    "FineTuningJobEvent",
    "FineTuningJobIntegration",
    "FineTuningJobMetrics",
    "FineTuningJobWandbIntegration",
    "Grader",
    "Hyperparameters",
    "JobStatus",
    "LabelModelGrader",
    "Method",
    "MethodType",
    "Model",
    "ModelDeleted",
    "MultiGrader",
    "OpenStrEnum",
    "Permission",
    "PermissionDeleted",
    "PythonGrader",
    "ReinforcementHyperparameters",
    "ReinforcementMethod",
    "RunGraderResponse",
    "RunGraderResponseMetadata",
    "RunGraderResponseMetadataErrors",
    "ScoreModelGrader",
    "StringCheckGrader",
    "SupervisedHyperparameters",
    "SupervisedMethod",
    "TextSimilarityGrader",
    "Upload",
    "UploadPart",
    "UploadStatus",
    "ValidateGraderResponse",
    "structure",
    "structure_list",
    "to_dict",
    "to_json_param",
]

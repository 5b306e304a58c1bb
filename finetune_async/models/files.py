"""Files: the ``file`` object, its deletion receipt and the expiration policy."""

from __future__ import annotations

from typing import Literal

import attrs

from ._base import BaseModel, extras_last
from ._enums import OpenStrEnum

__all__ = ["FileDeleted", "FileExpirationAfter", "FileObject", "FilePurpose", "FileStatus"]


class FilePurpose(OpenStrEnum):
    """What a file is for (``OpenAIFile.purpose``); unknown purposes decode too."""

    ASSISTANTS = "assistants"
    ASSISTANTS_OUTPUT = "assistants_output"
    BATCH = "batch"
    BATCH_OUTPUT = "batch_output"
    FINE_TUNE = "fine-tune"
    FINE_TUNE_RESULTS = "fine-tune-results"
    VISION = "vision"
    USER_DATA = "user_data"
    EVALS = "evals"


class FileStatus(OpenStrEnum):
    """Processing state of a file (deprecated by the API, still reported)."""

    UPLOADED = "uploaded"
    PROCESSED = "processed"
    ERROR = "error"


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FileExpirationAfter(BaseModel):
    """Expiration policy of an uploaded file: ``seconds`` (3600-2592000) after ``anchor``.

    A request-side parameter of ``files.create`` and ``uploads.create``.
    """

    anchor: Literal["created_at"] = "created_at"
    seconds: int


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FileObject(BaseModel):
    """An uploaded file (schema ``OpenAIFile``), as returned by the Files and Uploads APIs."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose
    status: FileStatus
    expires_at: int | None = None
    status_details: str | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class FileDeleted(BaseModel):
    """Receipt of ``files.delete`` (schema ``DeleteFileResponse``)."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool

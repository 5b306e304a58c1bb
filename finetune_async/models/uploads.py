"""Uploads: the multi-part ``upload`` object and its parts."""

from __future__ import annotations

from typing import Literal

import attrs

from ._base import BaseModel, extras_last
from ._enums import OpenStrEnum
from .files import FileObject, FilePurpose

__all__ = ["Upload", "UploadPart", "UploadStatus"]


class UploadStatus(OpenStrEnum):
    """State of an upload; unknown states decode too."""

    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class Upload(BaseModel):
    """A multi-part upload (schema ``Upload``); ``file`` is the created file once completed."""

    id: str
    object: Literal["upload"] = "upload"
    bytes: int
    created_at: int
    expires_at: int
    filename: str
    purpose: FilePurpose
    status: UploadStatus
    file: FileObject | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class UploadPart(BaseModel):
    """One part added to an upload (schema ``UploadPart``)."""

    id: str
    object: Literal["upload.part"] = "upload.part"
    created_at: int
    upload_id: str

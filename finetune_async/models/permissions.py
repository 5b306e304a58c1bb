"""Checkpoint permissions: sharing a fine-tuned checkpoint with other projects."""

from __future__ import annotations

from typing import Literal

import attrs

from ._base import BaseModel, extras_last

__all__ = ["Permission", "PermissionDeleted"]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class Permission(BaseModel):
    """A project's permission on a checkpoint (schema ``FineTuningCheckpointPermission``)."""

    id: str
    object: Literal["checkpoint.permission"] = "checkpoint.permission"
    created_at: int
    project_id: str


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class PermissionDeleted(BaseModel):
    """Receipt of a permission deletion (schema ``DeleteFineTuningCheckpointPermissionResponse``)."""

    id: str
    object: Literal["checkpoint.permission"] = "checkpoint.permission"
    deleted: bool

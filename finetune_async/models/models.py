"""Models: base and fine-tuned model descriptions."""

from __future__ import annotations

from typing import Literal

import attrs

from ._base import BaseModel, extras_last

__all__ = ["Model", "ModelDeleted"]


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class Model(BaseModel):
    """A model offering (schema ``Model``); ``shutdown_date`` is an ISO date or ``None``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    shutdown_date: str | None = None


@attrs.frozen(kw_only=True, field_transformer=extras_last)
class ModelDeleted(BaseModel):
    """Receipt of ``models.delete`` (schema ``DeleteModelResponse``)."""

    id: str
    object: str = "model"
    deleted: bool

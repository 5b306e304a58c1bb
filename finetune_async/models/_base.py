"""The base every model derives from: kept unknown fields and the response's request id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

__all__ = ["BaseModel", "extras_last"]


def extras_last(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """attrs ``field_transformer``: move the inherited ``model_extra`` field to the end.

    attrs puts base-class fields first; with this every model's ``repr`` reads
    ``Cls(id=..., ..., model_extra={})``. Fields are keyword-only, so order changes nothing else.
    """
    ordered: Sequence[attrs.Attribute[Any]] = fields
    return [f for f in ordered if f.name != "model_extra"] + [f for f in ordered if f.name == "model_extra"]


class _ResponseMeta:
    # A plain slot rather than an attrs field: it stays out of __init__, ==, repr, hash and
    # to_dict by construction, and costs nothing when decoding.
    __slots__ = ("_request_id",)
    _request_id: str | None


@attrs.frozen(kw_only=True)
class BaseModel(_ResponseMeta):
    """Base of every API object: frozen, slotted, keyword-only attrs classes.

    ``model_extra`` holds the fields of the JSON the SDK does not know (a newer API, or an
    Azure-specific field), exactly as received; ``to_dict`` writes them back. ``request_id`` is
    the ``x-request-id`` of the HTTP response the object was decoded from (``None`` when the
    object was built by hand or is nested); it takes no part in ``==``, ``repr`` or ``to_dict``.
    """

    model_extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` of the response this object came from, if any."""
        # Set, right after decoding, by _converter.set_request_id; unset on hand-built objects.
        return getattr(self, "_request_id", None)

"""What a model remembers besides its fields: the response's request id and which fields were unset.

"Unset" is pydantic's notion, which the official SDK's ``to_dict()`` relies on: a field is set
when the JSON held its key (even as ``null``) or when it was passed to the constructor. We keep
it as a bit mask over the class's optional fields (those with a default; a required field is
always set), in a plain slot: the generated decoders write it only when some optional key was
absent, so a complete payload costs nothing, and a missing slot reads as 0 ("all set").
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["ClassPlan", "ResponseState", "class_plan", "none_mask", "set_unset_mask", "unset_mask"]


class ResponseState:
    """Two hidden slots of every model; neither is an attrs field (out of ``__init__``, ``==``, ``repr``)."""

    __slots__ = ("_fields_unset", "_request_id")
    _request_id: str | None
    _fields_unset: int


_get_unset: Any = ResponseState.__dict__["_fields_unset"].__get__
set_unset_mask: Any = ResponseState.__dict__["_fields_unset"].__set__
"""``set_unset_mask(obj, mask)``: record which optional fields of ``obj`` were unset."""


def unset_mask(obj: object) -> int:
    """The unset bits of ``obj`` (see :class:`ClassPlan`), 0 when every field is set."""
    try:
        mask: int = _get_unset(obj, None)
    except AttributeError:  # the slot was never written: a complete payload
        return 0
    return mask


@attrs.frozen
class ClassPlan:
    """A model class's fields in order, as ``(name, bit, default)`` triples.

    ``bit`` is the field's bit in the unset mask (0 for a required field, which cannot be
    unset); ``default`` is ``attrs.NOTHING`` for a required field. ``names`` holds every field
    name (``model_extra`` excepted); ``none_bits`` the ``(name, bit)`` of the optional fields whose
    default is ``None``.
    """

    fields: tuple[tuple[str, int, Any], ...]
    names: frozenset[str]
    none_bits: tuple[tuple[str, int], ...]

    def bit(self, name: str) -> int:
        """The unset bit of field ``name`` (0 if it is required)."""
        return next(bit for field, bit, _ in self.fields if field == name)


_PLANS: dict[type, ClassPlan] = {}


def class_plan(cls: type) -> ClassPlan:
    """The (cached) :class:`ClassPlan` of an attrs model class."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _make_plan(cls)
    return plan


def _make_plan(cls: type) -> ClassPlan:
    fields: list[tuple[str, int, Any]] = []
    bit = 1
    for field in attrs.fields(cls):
        if field.name == "model_extra" or not field.init:
            continue
        if field.default is attrs.NOTHING:
            fields.append((field.name, 0, attrs.NOTHING))
            continue
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = attrs.NOTHING  # no single default value to compare with
        fields.append((field.name, bit, default))
        bit <<= 1
    return ClassPlan(
        fields=tuple(fields),
        names=frozenset(name for name, _, _ in fields),
        none_bits=tuple((name, bit) for name, bit, default in fields if bit and default is None),
    )


def none_mask(obj: object, plan: ClassPlan) -> int:
    """The bits of the optional fields of ``obj`` whose value is ``None`` (and whose default is)."""
    mask = 0
    for name, bit in plan.none_bits:
        if getattr(obj, name) is None:
            mask |= bit
    return mask

"""Walk a JSON payload alongside the model classes it decodes to (test-side, independent of the converter)."""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

import attrs

from finetune_async.models import BaseModel, OpenStrEnum
from finetune_async.models.graders import GRADER_TYPES

_NONE = type(None)


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _walk_value(value: Any, t: Any) -> Iterator[tuple[dict[str, Any], type[BaseModel]]]:
    if value is None:
        return
    if get_origin(t) in (Union, types.UnionType):
        args = [a for a in get_args(t) if a is not _NONE]
        if isinstance(value, dict):
            models = [a for a in args if _is_model(a)]
            if set(GRADER_TYPES.values()) <= set(models):
                cls = GRADER_TYPES.get(value.get("type"))  # type: ignore[arg-type]
                if cls is not None:
                    yield from model_dicts(value, cls)
            elif len(models) == 1:
                yield from model_dicts(value, models[0])
        elif isinstance(value, list):
            for arg in args:
                if get_origin(arg) is list:
                    yield from _walk_value(value, arg)
        return
    if get_origin(t) is list and isinstance(value, list):
        (item_type,) = get_args(t)
        for item in value:
            yield from _walk_value(item, item_type)
    elif _is_model(t) and isinstance(value, dict):
        yield from model_dicts(value, t)


def model_dicts(data: dict[str, Any], cls: type[BaseModel]) -> Iterator[tuple[dict[str, Any], type[BaseModel]]]:
    """Every JSON object in ``data`` that decodes to a model, with its class (``data`` first)."""
    yield data, cls
    for field in attrs.fields(cls):
        if field.name != "model_extra" and field.name in data:
            yield from _walk_value(data[field.name], field.type)


def known_keys(cls: type[BaseModel]) -> frozenset[str]:
    return frozenset(f.name for f in attrs.fields(cls) if f.name != "model_extra")


def enum_type(field: attrs.Attribute[Any]) -> type[OpenStrEnum] | None:
    """The enum class of a field typed ``E`` or ``E | None``."""
    candidates = get_args(field.type) if get_origin(field.type) in (Union, types.UnionType) else (field.type,)
    for t in candidates:
        if isinstance(t, type) and issubclass(t, OpenStrEnum):
            return t
    return None


def without_optional_nulls(data: dict[str, Any], cls: type[BaseModel]) -> dict[str, Any]:
    """What ``to_json_param(structure(data, cls))`` (the request shape) must equal.

    ``data`` normalised in two ways only (``to_dict`` gives ``data`` back unchanged):

    * keys of optional model fields (``None`` default) whose value is null are removed, as
      request parameters leave out optional fields that are ``None`` (nulls inside free-form
      JSON such as event ``data``, and required nullable fields, are kept);
    * a missing field with a constant default (``Upload.object``, which the schema leaves
      optional) is filled in with it, as a request parameter always writes it.
    """
    result = copy.deepcopy(data)
    for obj, model in list(model_dicts(result, cls)):
        for field in attrs.fields(model):
            if field.default is None and field.name in obj and obj[field.name] is None:
                del obj[field.name]
            elif isinstance(field.default, str) and field.name not in obj:
                obj[field.name] = field.default
    return result

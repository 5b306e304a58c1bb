"""Models to dicts and JSON text, with pydantic's rules: the engine of ``model_dump`` and ``to_dict``.

What pydantic does for the official SDK's models (``extra="allow"``), we do here:

* ``mode="python"`` keeps enum members (they are ``str`` subclasses, equal to their value) and
  tuples; ``mode="json"`` gives plain strings, lists, and ``None`` for a NaN or infinite float.
  Nested models become dicts and every container is a fresh copy in both modes.
* Unknown fields (``model_extra``) are written after the known ones; a known field wins a clash.
* ``exclude_unset`` leaves out the optional fields the JSON did not hold (or the constructor was
  not given); ``exclude_none`` and ``exclude_defaults`` apply to the fields of models (extras
  included), not inside free-form JSON objects.
* ``include`` / ``exclude``: a set of keys, or a mapping from key to ``True`` (the whole value)
  or to a nested set/mapping applied to the value: a model's or a dict's keys, a list's
  indices, ``"__all__"`` for every item. As in pydantic, ``exclude={"k": False}`` excludes
  nothing and ``include={"k": False}`` includes ``k``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

import attrs

from ._dump_source import DumpOptions, compile_dump
from ._state import class_plan, none_mask, unset_mask

__all__ = ["Dumper", "dump_json", "normalise_filter"]

_Filter = dict[Any, Any]
_WHOLE = True  # in a normalised filter: the whole value

# A sentinel to tell "skip this key" from every filter value.
_SKIP: Any = object()

# Values written as they are in both modes (exact classes: an enum is a str subclass).
_PLAIN = frozenset({str, int, bool})

# The generated dump functions (see _dump_source), by options then by class.
_COMPILED: dict[DumpOptions, dict[type, Callable[[Any, Any], dict[str, Any]]]] = {}


def normalise_filter(spec: Any, *, exclude: bool) -> _Filter | None:
    """``include``/``exclude`` as a dict from key to ``True`` or a nested normalised filter.

    Raises ``TypeError`` for a value that is neither a collection of keys nor a mapping.
    """
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        out: _Filter = {}
        for key, sub in spec.items():
            if sub is True or sub is Ellipsis or (sub is False and not exclude):
                out[key] = _WHOLE
            elif sub is False:
                continue  # exclude={"k": False}: not excluded
            else:
                nested = normalise_filter(sub, exclude=exclude)
                out[key] = _WHOLE if nested is None else nested
        return out
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Iterable):
        raise TypeError(f"include/exclude must be a set of keys or a mapping, got {type(spec).__name__}")
    return dict.fromkeys(spec, _WHOLE)


def _merge(every: Any, specific: Any) -> Any:
    """The filter of one key from its ``"__all__"`` filter and its own (``None``: absent), as pydantic.

    A whole value (``True``) on the ``"__all__"`` side yields to the key's own filter; on the
    key's side it wins; two nested filters are merged key by key.
    """
    if specific is None:
        return every
    if every is None or every is _WHOLE or specific is _WHOLE:
        return specific
    merged = dict(every)
    for key, sub in specific.items():
        merged[key] = _merge(merged.get(key), sub)
    return merged


def _pick(key: Any, inc: _Filter | None, exc: _Filter | None) -> tuple[Any, Any]:
    """The (include, exclude) filters for the value under ``key``; include is ``_SKIP`` to drop it."""
    sub_inc: Any = None
    if inc is not None:
        sub_inc = _merge(inc.get("__all__"), inc.get(key))
        if sub_inc is None:
            return _SKIP, None
        if sub_inc is _WHOLE:
            sub_inc = None
    sub_exc: Any = None
    if exc is not None:
        sub_exc = _merge(exc.get("__all__"), exc.get(key))
        if sub_exc is _WHOLE:
            return _SKIP, None
    return sub_inc, sub_exc


def _by_index(spec: _Filter | None, length: int) -> _Filter | None:
    """A list's filter with its integer keys taken modulo ``length`` (``-1`` is the last), as pydantic."""
    if spec is None or length == 0:
        return spec
    out: _Filter = {}
    for key, sub in spec.items():
        if isinstance(key, int) and not isinstance(key, bool):
            key %= length  # two keys for one index: the later one wins
        out[key] = sub
    return out


class Dumper:
    """One dump's options; :meth:`model` turns a model into a dict.

    ``request``: the shape of a request parameter instead of ``exclude_unset``'s rule: optional
    fields that are ``None`` are left out whatever the JSON held (a decoded object passed back
    as a parameter does not send the nulls it came with).
    """

    __slots__ = (
        "compiled",
        "exclude_defaults",
        "exclude_none",
        "exclude_unset",
        "fallback",
        "json",
        "options",
        "request",
    )

    def __init__(
        self,
        *,
        json: bool,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        fallback: Callable[[Any], Any] | None = None,
        request: bool = False,
    ) -> None:
        self.json = json
        self.exclude_unset = exclude_unset
        self.exclude_defaults = exclude_defaults
        self.exclude_none = exclude_none
        self.fallback = fallback
        self.request = request
        self.options: DumpOptions = (json, exclude_unset and not request, exclude_none, exclude_defaults, request)
        self.compiled = _COMPILED.setdefault(self.options, {})

    def model(self, obj: Any, inc: _Filter | None = None, exc: _Filter | None = None) -> dict[str, Any]:
        """The dict of one model (an attrs instance), filtered by ``inc``/``exc``."""
        if inc is None and exc is None:
            cls = obj.__class__
            dump = self.compiled.get(cls)
            if dump is None:
                dump = self.compiled[cls] = compile_dump(cls, self.options)
            return dump(obj, self)
        plan = class_plan(obj.__class__)
        if self.request:
            unset = none_mask(obj, plan)
        elif self.exclude_unset:
            unset = unset_mask(obj)
        else:
            unset = 0
        drop_none, drop_defaults = self.exclude_none, self.exclude_defaults
        out: dict[str, Any] = {}
        for name, bit, default in plan.fields:
            if unset & bit:
                continue
            sub_inc, sub_exc = _pick(name, inc, exc)
            if sub_inc is _SKIP:
                continue
            value = getattr(obj, name)
            if value is None:
                if not (drop_none or (drop_defaults and default is None)):
                    out[name] = None
            elif not (drop_defaults and default is not attrs.NOTHING and value == default):
                out[name] = self.value(value, sub_inc, sub_exc)
        extra = getattr(obj, "model_extra", None)
        if extra:
            names = plan.names
            for key, value in extra.items():
                if key in names:
                    continue  # a known field wins
                sub_inc, sub_exc = _pick(key, inc, exc)
                if sub_inc is _SKIP or (value is None and drop_none):
                    continue
                out[key] = self.value(value, sub_inc, sub_exc)
        return out

    def extras(self, extra: dict[str, Any], out: dict[str, Any], names: frozenset[str]) -> None:
        """Add the unknown fields ``extra`` to ``out`` (unfiltered); a known field wins a clash."""
        drop_none = self.exclude_none
        for key, value in extra.items():
            if key not in names and not (value is None and drop_none):
                out[key] = self.value(value, None, None)

    def value(self, value: Any, inc: _Filter | None, exc: _Filter | None) -> Any:
        """One field's value, dumped."""
        cls = value.__class__
        if cls in _PLAIN or value is None:
            return value
        if cls is float:
            return None if self.json and not math.isfinite(value) else value
        if cls is dict:
            return self.mapping(value, inc, exc)
        if cls is list or cls is tuple:
            return self.sequence(value, inc, exc)
        if isinstance(value, Enum):
            return value.value if self.json else value
        if attrs.has(cls):
            return self.model(value, inc, exc)
        if isinstance(value, Mapping):
            return self.mapping(value, inc, exc)
        if isinstance(value, (list, tuple)):
            return self.sequence(value, inc, exc)
        if not self.json:
            return value
        if isinstance(value, (str, int, float)):  # subclasses of JSON scalars (bool is an int)
            for base in (bool, str, int, float):
                if isinstance(value, base):
                    return self.value(base(value), None, None)
        if self.fallback is not None:
            return self.value(self.fallback(value), None, None)
        raise TypeError(f"Unable to serialize unknown type: {cls!r}")

    def mapping(self, value: Mapping[Any, Any], inc: _Filter | None, exc: _Filter | None) -> dict[Any, Any]:
        """A free-form JSON object: a fresh dict, keys filtered by ``inc``/``exc``."""
        if inc is None and exc is None:
            return {key: self.value(item, None, None) for key, item in value.items()}
        out: dict[Any, Any] = {}
        for key, item in value.items():
            sub_inc, sub_exc = _pick(key, inc, exc)
            if sub_inc is not _SKIP:
                out[key] = self.value(item, sub_inc, sub_exc)
        return out

    def sequence(self, value: list[Any] | tuple[Any, ...], inc: _Filter | None, exc: _Filter | None) -> Any:
        """A list (a list in JSON mode, of the same kind in Python mode), items filtered by index."""
        if inc is None and exc is None:
            items = [self.value(item, None, None) for item in value]
        else:
            items = []
            inc, exc = _by_index(inc, len(value)), _by_index(exc, len(value))
            for index, item in enumerate(value):
                sub_inc, sub_exc = _pick(index, inc, exc)
                if sub_inc is not _SKIP:
                    items.append(self.value(item, sub_inc, sub_exc))
        if self.json or value.__class__ is list:
            return items
        return tuple(items)


def dump_json(data: Any, *, indent: int | None, ensure_ascii: bool) -> str:
    """JSON text as pydantic writes it: compact without ``indent``, non-ASCII kept by default."""
    if indent is None:
        return json.dumps(data, ensure_ascii=ensure_ascii, separators=(",", ":"), allow_nan=False)
    return json.dumps(data, ensure_ascii=ensure_ascii, indent=indent, allow_nan=False)

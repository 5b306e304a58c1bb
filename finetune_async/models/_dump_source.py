"""Generated dump functions: one per model class and set of options, for dumps without filters.

``model_dump()`` / ``to_dict()`` without ``include``/``exclude`` are what callers use; a function
written for the class (fields read by name, the usual value classes checked inline, the unset
mask read once) costs half of a generic loop over the fields. Anything unexpected in a value
(a hand-built object holding another type, a nested model, a list or dict) goes to the
:class:`~finetune_async.models._dump.Dumper`'s generic ``value``, so the result is the same.
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

import attrs

from ._enums import OpenStrEnum
from ._state import ResponseState, class_plan

__all__ = ["DumpOptions", "compile_dump"]

DumpOptions = tuple[bool, bool, bool, bool, bool]
"""``(json, exclude_unset, exclude_none, exclude_defaults, request)`` (see ``Dumper``)."""

_NoneType = type(None)
_UNIONS: tuple[Any, ...] = (Union, types.UnionType)
_SCALAR_NAMES = {str: "str", int: "int", bool: "bool"}


def _strip_none(t: Any) -> Any:
    if get_origin(t) in _UNIONS:
        rest = [a for a in get_args(t) if a is not _NoneType]
        if len(rest) == 1:
            return rest[0]
    return t


def _expr(t: Any, json: bool, namespace: dict[str, Any]) -> str:
    """An expression giving the dump of ``v`` (not ``None``), a field's value typed ``t``."""
    generic = "d.value(v, None, None)"
    t = _strip_none(t)
    if get_origin(t) is Literal and all(isinstance(a, str) for a in get_args(t)):
        t = str
    if t in _SCALAR_NAMES:
        return f"v if v.__class__ is {_SCALAR_NAMES[t]} else {generic}"
    if t is float:
        # v - v is 0.0 for a finite float only: JSON mode writes NaN and infinities as null.
        check = " and v - v == 0.0" if json else ""
        return f"v if v.__class__ is float{check} else {generic}"
    if isinstance(t, type) and issubclass(t, OpenStrEnum):
        name = f"__e{len(namespace)}"
        namespace[name] = t
        return f"v{'._value_' if json else ''} if v.__class__ is {name} else {generic}"
    if isinstance(t, type) and attrs.has(t):
        return "d.model(v)"
    return generic


def compile_dump(cls: type, options: DumpOptions) -> Callable[[Any, Any], dict[str, Any]]:
    """The function ``dump(obj, dumper)`` giving the dict of an instance of ``cls``."""
    json, exclude_unset, exclude_none, exclude_defaults, request = options
    attrs.resolve_types(cls)
    types_ = {f.name: f.type for f in attrs.fields(cls)}
    plan = class_plan(cls)
    namespace: dict[str, Any] = {"__get_unset": ResponseState.__dict__["_fields_unset"].__get__}
    lines = ["def dump(obj, d):", "    out = {}"]
    tracks_unset = exclude_unset and any(bit for _, bit, _ in plan.fields)
    if tracks_unset:
        lines += ["    try: u = __get_unset(obj, None)", "    except AttributeError: u = 0"]
    for name, bit, default in plan.fields:
        key = repr(name)
        read = f"obj.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"getattr(obj, {key})"
        body = [f"v = {read}"]
        skip_none = exclude_none or (default is None and (exclude_defaults or request))
        store = f"out[{key}] = {_expr(types_[name], json, namespace)}"
        if exclude_defaults and default is not attrs.NOTHING and default is not None:
            default_name = f"__d{len(namespace)}"
            namespace[default_name] = default
            store = f"if v != {default_name}: {store}"
        if skip_none:
            body += ["if v is not None:", f"    {store}"]
        else:
            body += [f"if v is None: out[{key}] = None", "else:", f"    {store}"]
        if tracks_unset and bit:
            lines.append(f"    if not u & {bit}:")
            lines += ["        " + line for line in body]
        else:
            lines += ["    " + line for line in body]
    if "model_extra" in types_:
        namespace["__names"] = plan.names
        lines += ["    e = obj.model_extra", "    if e: d.extras(e, out, __names)"]
    lines.append("    return out")
    code = compile("\n".join(lines), f"<finetune_async dump of {cls.__qualname__}>", "exec")
    exec(code, namespace)
    dump: Callable[[Any, Any], dict[str, Any]] = namespace["dump"]
    return dump

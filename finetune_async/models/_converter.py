"""The single cattrs converter: JSON <-> models, plus the helpers the rest of the SDK uses.

Decoding rules
--------------
* Every model is decoded by a function this converter's hook factory generates for its class
  from ``attrs.fields`` (:func:`_make_slot_decoder`): like ``cattrs.gen.make_dict_structure_fn``
  it sends each field through the converter's hook for its type, but it fills the frozen
  object's slots directly and inlines the simple conversions, at half the cost. The keys the
  class does not declare go into ``model_extra`` (checked against a precomputed ``frozenset``
  of known keys, so the common no-extras case costs one ``issuperset`` call). The tests check
  it against cattrs' own generated functions on every example and on random payloads.
* Enums are :class:`OpenStrEnum`: a value the SDK does not know decodes to a pseudo-member.
  ``Literal`` fields (``object``, ``type``, grader options, ...) are taken as sent, unchecked,
  for the same forward-compatibility reason.
* Hyperparameters typed ``Literal["auto"] | int`` / ``| float`` take ``"auto"`` (or any string,
  as above) or a number as sent.
* A field typed ``Grader | dict[str, Any]`` is decoded by its ``type`` key; an unknown grader
  type stays a plain dict.
* Free-form JSON objects (``FineTuningJobEvent.data``, ``metadata``, grader ``scores``...) are
  shallow-copied dicts; ``EvalItem.content`` stays JSON (string, object or list).
* Primitive fields go through ``str()``/``int()``/``float()`` as cattrs does (``2`` in a
  ``float`` field becomes ``2.0``); nothing else is coerced.
* Required fields (the schema's ``required``) stay required: a payload that lacks one, or
  holds a value of the wrong shape, raises :class:`DecodeError` naming the class and the JSON
  path of every problem (``required field missing @ $.seed``). We do not invent values
  the server did not send; the detailed report is computed only after the fast path failed,
  by a copy of the converter with cattrs' detailed validation on, so a valid payload never
  pays for it.

* The decoders also record which optional keys the JSON did not hold (a bit mask, written
  only when one is missing; ``_state`` explains it), so that ``to_dict`` gives the JSON back.

Encoding rules (``to_dict``)
----------------------------
The JSON shape, as the official SDK's ``to_dict()`` gives it (``_dump`` does the work): the
keys the API sent, ``null`` values included; a key it did not send stays out; enums become
their string; ``model_extra`` is merged back (known fields win on a clash); ``request_id`` is
never written. A model built by hand writes the fields it was given, ``None`` ones excepted.
Request parameters (:func:`to_json_param`) leave out every optional field that is ``None``.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, ForwardRef, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, override

from ..errors import FineTuneError
from . import files, fine_tuning, graders, models, permissions, uploads
from ._base import BaseModel
from ._dump import Dumper
from ._enums import OpenStrEnum
from ._state import class_plan, set_unset_mask
from .graders import GRADER_TYPES

__all__ = [
    "RESPONSE_MODELS",
    "DecodeError",
    "converter",
    "json_kind",
    "prepare_decoders",
    "resolve_types",
    "set_request_id",
    "structure",
    "structure_list",
    "to_dict",
    "to_json_param",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_NoneType = type(None)
_UNION_ORIGINS: tuple[Any, ...] = (Union, types.UnionType)


class DecodeError(FineTuneError, ValueError):
    """A JSON payload does not have the shape of the model it should decode to.

    ``model`` is the target class, ``errors`` one message per problem, each ending in the JSON
    path of the offending value (``"required field missing @ $.seed"``). ``endpoint`` names the
    request whose answer it was (``"GET /fine_tuning/jobs/ftjob-abc"``), when there was one:
    an answer that is not JSON, JSON of the wrong kind (a list, ``null``), or a page whose
    cursor does not move all raise this.
    """

    def __init__(self, model: Any, errors: list[str], *, endpoint: str | None = None) -> None:
        name = getattr(model, "__name__", repr(model))
        source = f" from {endpoint}" if endpoint is not None else ""
        super().__init__(f"cannot decode {name}{source}: " + "; ".join(errors))
        self.model = model
        self.errors = errors
        self.endpoint = endpoint


converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
"""The SDK's only converter. Use :func:`structure` / :func:`to_dict` rather than calling it."""


# ---------------------------------------------------------------------------- type predicates


def _union_args(t: Any) -> tuple[Any, ...] | None:
    return get_args(t) if get_origin(t) in _UNION_ORIGINS else None


def _is_literal(t: Any) -> bool:
    return get_origin(t) is Literal


def _is_auto_or_number(t: Any) -> bool:
    """``Literal["auto"] | int`` / ``| float``, optionally ``| None``."""
    args = _union_args(t)
    if args is None:
        return False
    rest = [a for a in args if a is not _NoneType]
    return any(_is_literal(a) for a in rest) and all(_is_literal(a) or a in (int, float) for a in rest)


def _is_optional(t: Any) -> bool:
    args = _union_args(t)
    return args is not None and len(args) == 2 and _NoneType in args


_GRADER_CLASSES = frozenset(GRADER_TYPES.values())
_JSON_OBJECT = dict[str, Any]


def _is_grader_union(t: Any) -> bool:
    args = _union_args(t)
    return args is not None and {a for a in args if a is not _NoneType} == _GRADER_CLASSES | {_JSON_OBJECT}


def _is_json_union(t: Any) -> bool:
    """``str | dict[str, Any] | list[Any]`` (message content): kept as JSON."""
    args = _union_args(t)
    return args is not None and set(args) == {str, _JSON_OBJECT, list[Any]}


def _is_json_object(t: Any) -> bool:
    return get_origin(t) is dict and get_args(t) in ((str, Any), (str, str))


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel) and attrs.has(t)


# ---------------------------------------------------------------------------- structure hooks


def _passthrough(value: Any, _: Any) -> Any:
    return value


# Exact classes (bool is an int subclass and must not pass): one set lookup per value, which
# matters because a job carries six of these fields.
_AUTO_OR_NUMBER_CLASSES = frozenset({str, int, float, _NoneType})


def _auto_or_number(value: Any, _: Any) -> Any:
    if value.__class__ in _AUTO_OR_NUMBER_CLASSES:
        return value
    raise TypeError(f'expected "auto" or a number, got {value!r}')


def _str_list(value: Any, _: Any) -> list[str]:
    if type(value) is list:
        # A plain loop: cheaper than all() over a generator for the usual one or two items.
        for item in value:
            if type(item) is not str:
                break
        else:
            return value.copy()
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    raise TypeError(f"expected a list of strings, got {type(value).__name__}")


def _json_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value.copy()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected a JSON object, got {type(value).__name__}")


def _json_value(value: Any, _: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.copy()
    if isinstance(value, list):
        return value.copy()
    raise TypeError(f"expected a string, object or array, got {type(value).__name__}")


def _structure_open_enum(value: Any, cls: type[OpenStrEnum]) -> Any:
    # Declared members and cached pseudo-members all live in _value2member_map_: one dict
    # lookup in the common case instead of EnumMeta.__call__.
    try:
        return cls._value2member_map_[value]
    except (KeyError, TypeError):
        return cls(value)


def _open_enum_hook(cls: type[OpenStrEnum], optional: bool = False) -> Callable[[Any, Any], Any]:
    """The same as :func:`_structure_open_enum` with the member map bound (and ``None`` allowed)."""
    members = cls._value2member_map_

    if optional:

        def structure_optional_enum(value: Any, _: Any) -> Any:
            if value is None:
                return None
            try:
                return members[value]
            except (KeyError, TypeError):
                return cls(value)

        return structure_optional_enum

    def structure_enum(value: Any, _: Any) -> Any:
        try:
            return members[value]
        except (KeyError, TypeError):
            return cls(value)

    return structure_enum


def _optional_hook(t: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    inner = next(a for a in get_args(t) if a is not _NoneType)
    if isinstance(inner, type) and issubclass(inner, OpenStrEnum):
        return _open_enum_hook(inner, optional=True)
    if _is_json_object(inner):

        def structure_optional_object(value: Any, _: Any) -> Any:
            if value is None:
                return None
            return value.copy() if type(value) is dict else _json_object(value, None)

        return structure_optional_object
    if inner in (str, int, float, bool):

        def structure_optional_primitive(value: Any, _: Any) -> Any:
            return None if value is None else inner(value)

        return structure_optional_primitive
    if _is_model(inner):
        return _model_structure_hook(inner, conv, optional=True)
    handler = conv.get_structure_hook(inner)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else handler(value, inner)

    return structure_optional


def _grader_hook(t: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    hooks = {tag: (cls, conv.get_structure_hook(cls)) for tag, cls in GRADER_TYPES.items()}

    def structure_grader(value: Any, _: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, BaseModel):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a grader object, got {type(value).__name__}")
        found = hooks.get(value.get("type"))  # type: ignore[arg-type]
        if found is None:
            return dict(value)
        cls, hook = found
        return hook(value, cls)

    return structure_grader


def _model_structure_hook(
    cls: type[M], conv: cattrs.Converter, optional: bool = False
) -> Callable[[Any, Any], M | None]:
    """The structure hook of a model class (``optional``: of ``cls | None``).

    The fast converter gets a decoder generated by :func:`_make_slot_decoder`; the diagnostic
    copy (detailed validation on) gets cattrs' own generated function, whose errors carry the
    JSON path of every problem.
    """
    # Model modules use ``from __future__ import annotations``: turn the strings into types
    # (``Grader | dict[str, Any]`` must be a real union for the hooks above to match it).
    resolve_types(cls)
    if not conv.detailed_validation:
        decoder = _make_slot_decoder(cls, conv, optional)
        if decoder is not None:
            return decoder
    fields = attrs.fields(cls)
    known = frozenset(f.name for f in fields if f.init and f.name != "model_extra")
    generated = make_dict_structure_fn(
        cls,
        conv,
        _cattrs_forbid_extra_keys=False,
        model_extra=override(omit=True),
    )
    setattr_ = object.__setattr__
    optional_bits = [(name, bit) for name, bit, _ in class_plan(cls).fields if bit]

    def structure_model(data: Any, _: Any) -> M:
        obj = generated(data, cls)
        if not known.issuperset(data):
            setattr_(obj, "model_extra", {k: v for k, v in data.items() if k not in known})
        # __init__ marked the None fields unset, as for a hand-built object: the JSON decides.
        set_unset_mask(obj, sum(bit for name, bit in optional_bits if name not in data))
        return obj

    def structure_optional_model(data: Any, _: Any) -> M | None:
        if data is None:
            return None
        return structure_model(data, cls)

    return structure_optional_model if optional else structure_model


_INLINE_PRIMITIVES: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}


def _make_slot_decoder(cls: type[M], conv: cattrs.Converter, optional: bool) -> Callable[[Any, Any], M | None] | None:
    """Generate the fast decoder of a frozen, slotted model class; ``None`` if it is not one.

    It does what cattrs' generated function does (each field through the converter's hook for
    its type, required fields required, absent optional ones left at their default, unknown
    keys into ``model_extra``) and records the absent optional keys in the unset mask, but it
    fills the object's slots directly instead of calling the keyword-only ``__init__``, and
    inlines the conversions of primitive, literal, optional and enum fields (nested models call
    their own generated decoder). That halves the cost of decoding an event or a job, which is
    most of what this SDK adds to a request (see benchmarks/bench_client.py). The fields'
    types, hooks and defaults all come from ``attrs.fields`` and this converter, so there is
    nothing to keep in step by hand. Classes with validators, converters, non-init fields,
    factories other than ``model_extra``'s or a post-init hook of their own (``BaseModel``'s
    only marks hand-built objects, which decoded ones are not) are left to cattrs.
    """
    gen = _DecoderSource(conv)
    body = gen.model_lines(cls)
    if body is None:
        return None
    lines = ["def decode(o, _=None):"]
    if optional:
        lines.append("    if o is None: return None")
    lines.extend("    " + line for line in body)
    lines.append("    return obj")
    code = compile("\n".join(lines), f"<finetune_async decoder for {cls.__qualname__}>", "exec")
    exec(code, gen.namespace)
    decoder: Callable[[Any, Any], M | None] = gen.namespace["decode"]
    return decoder


class _DecoderSource:
    """Writes the source of a generated decoder; ``namespace`` holds what the source names."""

    def __init__(self, conv: cattrs.Converter) -> None:
        self.conv = conv
        self.namespace: dict[str, Any] = {
            "__new": object.__new__,
            "__aon": _AUTO_OR_NUMBER_CLASSES,
            "__bad_aon": _auto_or_number,
            "__bad_object": _json_object,
            "__set_unset": set_unset_mask,
        }
        self.namespace.update({name: kind for kind, name in _INLINE_PRIMITIVES.items()})

    def name(self, value: Any) -> str:
        """A fresh global name of the decoder, bound to ``value``."""
        key = f"__g{len(self.namespace)}"
        self.namespace[key] = value
        return key

    def model_lines(self, cls: type) -> list[str] | None:
        """Statements decoding the dict ``o`` into ``obj``; None if the class is not for us."""
        if "__slots__" not in cls.__dict__ or not _own_post_init_only(cls):
            return None
        fields = attrs.fields(cls)
        lines = [f"obj = __new({self.name(cls)})"]
        for field in fields:
            setter = getattr(cls, field.name, None)
            if not field.init or field.validator is not None or field.converter is not None:
                return None
            if not isinstance(setter, types.MemberDescriptorType):
                return None
            set_ = self.name(setter.__set__)
            if field.name == "model_extra":
                if not (isinstance(field.default, attrs.Factory) and field.default.factory is dict):  # type: ignore[arg-type]
                    return None
                lines.extend(self.extra_lines(cls, set_))
                continue
            field_lines = self.field_lines(field, set_)
            if field_lines is None:
                return None
            lines.extend(field_lines)
        return lines

    def extra_lines(self, cls: type, set_: str) -> list[str]:
        """Statements setting ``model_extra`` and, if an optional key is absent, the unset mask."""
        plan = class_plan(cls)
        known = self.name(plan.names)
        extra = f"{{k: v for k, v in o.items() if k not in {known}}}"
        optional = [(name, bit) for name, bit, _ in plan.fields if bit]
        if not optional:
            return [f"{set_}(obj, {{}} if {known}.issuperset(o) else {extra})"]
        # Required keys are there (or decoding failed above), so a payload without extras and
        # of the full length holds every optional key too: the common case costs one len().
        mask = " | ".join(f"(0 if {name!r} in o else {bit})" for name, bit in optional)
        return [
            f"if len(o) == {len(plan.names)} and {known}.issuperset(o):",
            f"    {set_}(obj, {{}})",
            f"elif {known}.issuperset(o):",
            f"    {set_}(obj, {{}})",
            f"    __set_unset(obj, {mask})",
            "else:",
            f"    {set_}(obj, {extra})",
            f"    m = {mask}",
            "    if m: __set_unset(obj, m)",
        ]

    def field_lines(self, field: attrs.Attribute[Any], set_: str) -> list[str] | None:
        """Statements setting one field of ``obj`` from ``o``."""
        convert = self.conversion(field.type)
        key = repr(field.name)
        if field.default is attrs.NOTHING:
            return [f"v = o[{key}]", *convert, f"{set_}(obj, v)"]
        if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            return None
        keeps_null = not convert or convert[0] == "if v is not None:" or _is_auto_or_number(field.type)
        if field.default is None and keeps_null:
            # The conversion keeps null as it is, so absent and null come to the same: one lookup.
            # (extra_lines records which keys were absent.)
            return [f"v = o.get({key})", *convert, f"{set_}(obj, v)"]
        default = self.name(field.default)
        if not convert:
            return [f"{set_}(obj, o.get({key}, {default}))"]
        return [
            f"if {key} in o:",
            f"    v = o[{key}]",
            *("    " + line for line in convert),
            f"    {set_}(obj, v)",
            "else:",
            f"    {set_}(obj, {default})",
        ]

    def conversion(self, t: Any) -> list[str]:
        """Statements turning ``v`` (a field's JSON value, typed ``t``) into the field value."""
        if t in _INLINE_PRIMITIVES:
            # Values almost always come with the right type: a class check is cheaper than the call.
            name = _INLINE_PRIMITIVES[t]
            return [f"if v.__class__ is not {name}: v = {name}(v)"]
        if _is_literal(t) or t is Any:
            return []
        # In the order of precedence of the converter's own hooks (see _configure).
        if _is_optional(t):
            inner = next(a for a in get_args(t) if a is not _NoneType)
            inner_lines = self.conversion(inner)
            return ["if v is not None:", *("    " + line for line in inner_lines)] if inner_lines else []
        if _is_auto_or_number(t):
            return ["if v.__class__ not in __aon: __bad_aon(v, None)"]
        if isinstance(t, type) and issubclass(t, OpenStrEnum):
            members, enum = self.name(t._value2member_map_), self.name(t)
            return [f"try: v = {members}[v]", f"except (KeyError, TypeError): v = {enum}(v)"]
        if _is_json_object(t):
            return ["v = v.copy() if v.__class__ is dict else __bad_object(v, None)"]
        hook = f"__g{len(self.namespace)}"
        self.namespace[hook] = _lazy_hook(self.conv, t, self.namespace, hook)
        return [f"v = {hook}(v, {self.name(t)})"]


def _own_post_init_only(cls: type) -> bool:
    """True if ``cls`` has no post-init hook but ``BaseModel``'s (which the decoders need not run)."""
    hook = getattr(cls, "__attrs_post_init__", None)
    return hook is None or hook is BaseModel.__attrs_post_init__


def _lazy_hook(conv: cattrs.Converter, t: Any, namespace: dict[str, Any], name: str) -> Callable[[Any, Any], Any]:
    """A hook that looks the real one up at its first call, then puts it in its place.

    Looked up eagerly, a type that contains itself (a multi grader holds graders) would
    recurse forever while its decoder is being generated.
    """

    def first_call(value: Any, type_: Any) -> Any:
        hook = namespace[name] = conv.get_structure_hook(t)
        return hook(value, type_)

    return first_call


# -------------------------------------------------------------------------- unstructure hooks


def _unstructure_enum(value: Any) -> Any:
    # str.__str__ gives the plain str of an enum member (or of a plain str passed instead).
    return str.__str__(value)


def _configure(conv: cattrs.Converter) -> None:
    # Later registrations take precedence over earlier ones and over cattrs' defaults.
    conv.register_structure_hook_func(_is_literal, _passthrough)
    conv.register_structure_hook_func(_is_auto_or_number, _auto_or_number)
    conv.register_structure_hook_func(lambda t: t == list[str], _str_list)
    conv.register_structure_hook_func(_is_json_object, _json_object)
    conv.register_structure_hook_func(_is_json_union, _json_value)
    conv.register_structure_hook_factory(_is_optional, _optional_hook)
    conv.register_structure_hook_factory(_is_grader_union, _grader_hook)
    # Enums are str subclasses: they must be registered by class (singledispatch), which cattrs
    # consults before predicates, or str's hook would win.
    conv.register_structure_hook(OpenStrEnum, _structure_open_enum)
    for enum_cls in _enum_classes():
        conv.register_structure_hook(enum_cls, _open_enum_hook(enum_cls))
    conv.register_structure_hook_factory(_is_model, _model_structure_hook)

    conv.register_unstructure_hook_func(_is_literal, identity)
    conv.register_unstructure_hook(OpenStrEnum, _unstructure_enum)
    # The same JSON shape as to_dict (defined below, hence the late lookup).
    conv.register_unstructure_hook_func(_is_model, lambda obj: to_dict(obj))


def _public_classes() -> Iterable[type]:
    for module in (files, uploads, fine_tuning, permissions, graders, models):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type):
                yield obj


def _enum_classes() -> Iterable[type[OpenStrEnum]]:
    return (cls for cls in _public_classes() if issubclass(cls, OpenStrEnum))


_set_field = object.__setattr__


def resolve_types(cls: type) -> None:
    """``attrs.resolve_types(cls)``, at a fraction of the cost: the string annotations of the
    class's fields become the types they name (``attrs.fields(cls)[i].type``).

    ``typing.get_type_hints`` compiles every annotation string of every class in the MRO anew
    (``ForwardRef``), which made resolving the ~35 models most of this module's import time.
    Here each distinct string is compiled once per module namespace, and only the fields' own
    annotations are evaluated. The result is the same (the tests compare it with
    ``typing.get_type_hints`` on every model); anything unusual (an annotation that does not
    evaluate, a nested string) is left to attrs.
    """
    if getattr(cls, "__attrs_types_resolved__", None) is cls:
        return
    try:
        resolved = {field.name: _field_type(cls, field) for field in attrs.fields(cls)}
    except Exception:
        attrs.resolve_types(cls)
        return
    for field in attrs.fields(cls):
        _set_field(field, "type", resolved[field.name])
    cls.__attrs_types_resolved__ = cls  # type: ignore[attr-defined]


_ANNOTATION_CODE: dict[str, types.CodeType] = {}


def _field_type(cls: type, field: attrs.Attribute[Any]) -> Any:
    annotation = field.type
    if not isinstance(annotation, str):
        if annotation is None or isinstance(annotation, type) or get_origin(annotation) is not None:
            return annotation
        raise TypeError("not a plain annotation: left to attrs")
    # The class whose own annotations declare the field (the most derived one), as
    # get_type_hints picks it; its module's globals resolve the string.
    owner = next(base for base in cls.__mro__ if field.name in inspect.get_annotations(base))
    code = _ANNOTATION_CODE.get(annotation)
    if code is None:
        code = _ANNOTATION_CODE[annotation] = compile(annotation, "<annotation>", "eval")
    value = eval(code, vars(sys.modules[owner.__module__]))
    if _has_forward_reference(value):
        raise TypeError("a nested forward reference: left to attrs")
    return value


def _has_forward_reference(t: Any) -> bool:
    if isinstance(t, (str, ForwardRef)):
        return True
    # A Literal's strings are values, not names.
    return not _is_literal(t) and any(_has_forward_reference(arg) for arg in get_args(t))


# Resolve every model's string annotations now, so ``attrs.fields(cls)`` shows real types to
# anyone who introspects them (the hook factories resolve again, for subclasses made later).
for _cls in _public_classes():
    if _is_model(_cls):
        resolve_types(_cls)
_configure(converter)

_diagnostic_converter: cattrs.Converter | None = None


def _explain(data: Any, cls: Any, exc: BaseException) -> DecodeError:
    """Re-run a failed decode with detailed validation to name every problem and its path."""
    global _diagnostic_converter
    if _diagnostic_converter is None:
        _diagnostic_converter = converter.copy(detailed_validation=True)
    try:
        _diagnostic_converter.structure(data, cls)
    except Exception as detailed:
        messages = cattrs.transform_error(detailed)
    else:  # pragma: no cover - the detailed path accepts what the fast path rejected
        messages = [f"{type(exc).__name__}: {exc} @ $"]
    return DecodeError(cls, messages)


#: The models a client decodes from its answers most (a job, its events and checkpoints,
#: files, uploads, models): what :func:`prepare_decoders` builds by default.
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    fine_tuning.FineTuningJob,
    fine_tuning.FineTuningJobEvent,
    fine_tuning.FineTuningJobCheckpoint,
    files.FileObject,
    files.FileDeleted,
    uploads.Upload,
    uploads.UploadPart,
    models.Model,
)


def prepare_decoders(classes: Iterable[type[BaseModel]] = RESPONSE_MODELS) -> None:
    """Build now the decoders of ``classes`` and of the models they hold, instead of at the
    first answer of each type.

    A decoder is generated (and compiled) the first time a class is decoded: about 4 ms for a
    job and the five models nested in it, 1 ms for an event, paid by whichever answer comes
    first. Calling this once (a client's construction is a good time: it is neither import nor
    a burst of first requests) takes that off the first requests. The default set (with the
    graders a reinforcement job holds) takes about 14 ms, once per process: the decoders are
    cached by the converter, and a later call with the defaults returns at once. Nothing is
    decoded.
    """
    if classes is RESPONSE_MODELS and _prepared:
        return  # the usual call, from every client's construction: done once per process
    seen: set[type] = set()
    pending: list[type] = list(classes)
    while pending:
        cls = pending.pop()
        if cls in seen or not _is_model(cls):
            continue
        seen.add(cls)
        converter.get_structure_hook(cls)
        # The generated decoder looks the hooks of nested models up at its first call: look
        # them up now, so that their decoders are generated here too.
        pending.extend(_nested_models(cls))
    if classes is RESPONSE_MODELS:
        _prepared.append(True)


_prepared: list[bool] = []


def _nested_models(cls: type) -> Iterable[type]:
    for field in attrs.fields(cls):
        stack = [field.type]
        while stack:
            t = stack.pop()
            if _is_model(t):
                yield t
            elif not _is_literal(t):
                stack.extend(get_args(t))


# ----------------------------------------------------------------------------------- the API


def structure(data: Any, cls: type[T]) -> T:
    """Decode JSON data (``dict``/``list`` from ``json.loads``) into ``cls``.

    Raises :class:`DecodeError` when the data does not have the shape of ``cls``.
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        raise _explain(data, cls, exc) from exc


def structure_list(items: list[Any], cls: type[T]) -> list[T]:
    """Decode a list of JSON objects (a page's ``data``) into ``cls``, fast.

    Raises :class:`DecodeError` naming the index of the first item that does not decode.
    """
    if not isinstance(items, list):
        raise DecodeError(cls, [f"expected a list of objects, got {json_kind(items)} @ $"])
    hook = converter.get_structure_hook(cls)
    try:
        return [hook(item, cls) for item in items]
    except Exception:
        pass
    for index, item in enumerate(items):
        try:
            hook(item, cls)
        except Exception as exc:
            error = _explain(item, cls, exc)
            error.errors = [m.replace(" @ $", f" @ $[{index}]", 1) for m in error.errors]
            raise DecodeError(cls, error.errors) from exc
    raise DecodeError(cls, ["the list does not decode @ $"])  # pragma: no cover - an item failed above


def json_kind(value: Any) -> str:
    """What JSON calls the kind of ``value`` (as ``json.loads`` gives it), for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_JSON_SHAPE = Dumper(json=True, exclude_unset=True)
_REQUEST_SHAPE = Dumper(json=True, request=True)


def to_dict(obj: Any) -> dict[str, Any]:
    """The JSON shape of a model: ``obj.to_dict(mode="json")`` (see the module docstring).

    Raises ``TypeError`` if ``obj`` is not a model.
    """
    if not isinstance(obj, BaseModel):
        raise TypeError(f"to_dict() expects a finetune_async model, got {type(obj).__name__}")
    return _JSON_SHAPE.model(obj)


def to_json_param(value: Any) -> Any:
    """Make a request parameter JSON-ready: a model becomes its ``to_dict``, dicts pass through.

    Accepts a model, a mapping (returned unchanged unless it holds models, which are
    converted), a list or tuple of either, an enum (its string) or a plain JSON value.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, BaseModel):
        return _REQUEST_SHAPE.model(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        converted = {key: to_json_param(item) for key, item in value.items()}
        if type(value) is dict and all(converted[k] is v for k, v in value.items()):
            return value
        return converted
    if isinstance(value, (list, tuple)):
        return [to_json_param(item) for item in value]
    return value


def set_request_id(model: M, request_id: str | None) -> M:
    """Record the ``x-request-id`` of the response ``model`` was decoded from; returns ``model``."""
    if not isinstance(model, BaseModel):
        raise TypeError(f"set_request_id() expects a finetune_async model, got {type(model).__name__}")
    object.__setattr__(model, "_request_id", request_id)
    return model

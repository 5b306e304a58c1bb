"""The base every model derives from: kept unknown fields, the request id, and the official SDK's methods."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs

from ._dump import Dumper, dump_json, normalise_filter
from ._state import ResponseState, class_plan, none_mask, set_unset_mask, unset_mask

__all__ = ["BaseModel", "IncEx", "extras_last"]

IncEx: TypeAlias = "AbstractSet[int] | AbstractSet[str] | Mapping[int, IncEx | bool] | Mapping[str, IncEx | bool]"
"""What ``include=`` / ``exclude=`` take, as in pydantic: keys, or keys mapped to nested filters."""


def extras_last(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """attrs ``field_transformer``: move the inherited ``model_extra`` field to the end.

    attrs puts base-class fields first; with this every model's ``repr`` reads
    ``Cls(id=..., ..., model_extra={})``. Fields are keyword-only, so order changes nothing else.
    """
    ordered: Sequence[attrs.Attribute[Any]] = fields
    return [f for f in ordered if f.name != "model_extra"] + [f for f in ordered if f.name == "model_extra"]


def _check_mode(mode: str) -> bool:
    """True for ``"json"``; raises ``ValueError`` for anything but ``"json"`` and ``"python"``."""
    if mode == "json":
        return True
    if mode == "python":
        return False
    raise ValueError(f"mode must be 'python' or 'json', got {mode!r}")


def _restore(cls: type[BaseModel], values: dict[str, Any], request_id: str | None, unset: int) -> BaseModel:
    """Rebuild a pickled or copied model (see ``BaseModel.__reduce__``)."""
    obj = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    if request_id is not None:
        object.__setattr__(obj, "_request_id", request_id)
    if unset:
        set_unset_mask(obj, unset)
    return obj


@attrs.frozen(kw_only=True)
class BaseModel(ResponseState):
    """Base of every API object: frozen, slotted, keyword-only attrs classes.

    ``model_extra`` holds the fields of the JSON the SDK does not know (a newer API, or an
    Azure-specific field), exactly as received; they also read as attributes
    (``job.some_new_field``) and are written back by every dump. ``request_id`` is the
    ``x-request-id`` of the HTTP response the object was decoded from (``None`` when the object
    was built by hand or is nested); it takes no part in ``==``, ``repr`` or the dumps.

    The official SDK's methods are here with its defaults: :meth:`to_dict` / :meth:`to_json`
    give the JSON as the API sent it (nulls kept, absent keys absent), :meth:`model_dump` /
    :meth:`model_dump_json` every field. A field counts as *set* when the JSON held its key or
    the constructor was given a value other than ``None``.
    """

    model_extra: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        # Built by hand (or by attrs.evolve): optional fields left None count as unset, as
        # the ones a pydantic constructor was not given. The decoders never call __init__.
        mask = none_mask(self, class_plan(type(self)))
        if mask:
            set_unset_mask(self, mask)

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` of the response this object came from, if any."""
        # Set, right after decoding, by _converter.set_request_id; unset on hand-built objects.
        return getattr(self, "_request_id", None)

    @property
    def model_fields_set(self) -> set[str]:
        """The names of the fields that were set (see the class docstring), unknown ones included."""
        unset = unset_mask(self)
        names = {name for name, bit, _ in class_plan(type(self)).fields if not unset & bit}
        names.update(self.model_extra)
        return names

    if not TYPE_CHECKING:
        # Only at run time: type checkers keep flagging misspelt attributes, as with pydantic.

        def __getattr__(self, name: str) -> Any:
            # Called only when normal lookup failed. Private and special names are never
            # served from the extras (copy, pickle and IPython probe such names), and the
            # slot is read without going through __getattr__ again.
            if name[:1] != "_":
                try:
                    return object.__getattribute__(self, "model_extra")[name]
                except (AttributeError, KeyError):
                    pass
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self)

    def __reduce__(self) -> tuple[Any, ...]:
        # attrs' own pickling of slotted classes keeps the fields only; keep the request id
        # and which fields were unset too, so a copy dumps as the original does.
        cls = type(self)
        values = {field.name: getattr(self, field.name) for field in attrs.fields(cls)}
        return (_restore, (cls, values, getattr(self, "_request_id", None), unset_mask(self)))

    def model_dump(
        self,
        *,
        mode: Literal["json", "python"] | str = "python",
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> dict[str, Any]:
        """The model as a dict, with pydantic's arguments and defaults (every field, extras too).

        ``mode="python"`` keeps enum members (``str`` subclasses), ``"json"`` gives plain JSON
        values (a NaN or infinite float becomes ``None``). ``include``/``exclude`` take keys or
        nested filters as in pydantic. ``fallback`` converts a value JSON mode cannot write.
        ``context``, ``by_alias`` (field names are the API's), ``exclude_computed_fields``,
        ``round_trip``, ``warnings``, ``serialize_as_any`` and ``polymorphic_serialization``
        are accepted and change nothing on these models.

        Raises ``ValueError`` for another ``mode``, ``TypeError`` for a value JSON mode cannot
        write (without ``fallback``) or a malformed ``include``/``exclude``.
        """
        dumper = Dumper(
            json=_check_mode(mode),
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            fallback=fallback,
        )
        return dumper.model(self, normalise_filter(include, exclude=False), normalise_filter(exclude, exclude=True))

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        ensure_ascii: bool = False,
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> str:
        """The JSON text of ``model_dump(mode="json", ...)``: compact unless ``indent`` is given.

        Non-ASCII characters are written as they are unless ``ensure_ascii``. Raises as
        :meth:`model_dump`.
        """
        data = self.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            fallback=fallback,
        )
        return dump_json(data, indent=indent, ensure_ascii=ensure_ascii)

    def to_dict(
        self,
        *,
        mode: Literal["json", "python"] = "python",
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> dict[str, Any]:
        """The official SDK's ``to_dict``: by default the JSON as the API sent it.

        Known fields the API sent as ``null`` stay, keys it did not send stay out, unknown
        fields are included. ``finetune_async.to_dict(obj)`` gives the same with ``mode="json"``
        (plain strings for enums). ``use_api_names`` and ``warnings`` change nothing here.
        """
        return self.model_dump(
            mode=mode, exclude_unset=exclude_unset, exclude_defaults=exclude_defaults, exclude_none=exclude_none
        )

    def to_json(
        self,
        *,
        indent: int | None = 2,
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> str:
        """The official SDK's ``to_json``: :meth:`to_dict` as JSON text, indented by 2 by default."""
        return self.model_dump_json(
            indent=indent, exclude_unset=exclude_unset, exclude_defaults=exclude_defaults, exclude_none=exclude_none
        )

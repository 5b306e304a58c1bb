"""The str-based, forward-compatible enum base shared by every model enum."""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["OpenStrEnum"]

# A hostile or buggy server could send endless distinct values; past this many per enum
# class, unknown values still decode but are no longer cached.
_MAX_CACHED_UNKNOWN = 256


class OpenStrEnum(str, Enum):
    """A ``str`` enum that also accepts values it does not declare.

    ``Cls("new_value")`` returns a pseudo-member: an instance of ``Cls`` that is not one of the
    declared members (it is not in ``list(Cls)`` nor ``Cls.__members__``), whose ``value`` and
    ``str()`` are the string, that compares and hashes equal to the string, and that is created
    once and reused for the same value. Declared members compare equal to their string as
    well, so ``job.status == "running"`` works whichever side is a plain ``str``. ``repr()``
    is the value's (``'running'``), as for the official SDK's plain-string fields.
    """

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str.__str__(self), format_spec)

    def __repr__(self) -> str:
        # The value, as the official SDK's plain-string fields show: a model's repr reads
        # status='running', and so do notebooks (IPython's pretty printer uses this repr).
        # ``is_known`` and ``type()`` tell a declared member from a value the SDK does not know.
        return repr(self._value_)

    @property
    def is_known(self) -> bool:
        """True for a declared member, false for a value the SDK does not know yet."""
        return self._name_ is not None

    @classmethod
    def _missing_(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return None
        pseudo = str.__new__(cls, value)
        pseudo._name_ = None  # type: ignore[assignment]  # marks "not a declared member"
        pseudo._value_ = str(value)
        cache = cls._value2member_map_
        if len(cache) - len(cls._member_map_) >= _MAX_CACHED_UNKNOWN:
            return pseudo
        # setdefault: two threads racing on the same new value still end up sharing one object.
        return cache.setdefault(pseudo._value_, pseudo)

"""Small compatibility helpers (Python 3.10 has no built-in exception groups)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # pragma: no cover - exercised on 3.10 only
    from exceptiongroup import BaseExceptionGroup

__all__ = ["BaseExceptionGroup", "first_of_like_errors", "sole_error"]


def sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one real error inside a task group's exception group, or None if there are several.

    Callers of a helper that runs a task group internally expect the error they know (an
    ``APIStatusError``), not a group around it; when exactly one task failed, that error is
    re-raised as is.
    """
    leaves = _leaves(group)
    return leaves[0] if len(leaves) == 1 else None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The errors inside ``group`` and its nested groups, in the order they were raised."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    return leaves


def first_of_like_errors(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The first error inside a group of parallel requests' errors (several parts of one upload
    failing at once, say), or None when one of them is not an :class:`Exception` (a
    ``KeyboardInterrupt``: the group is then re-raised as it is). The caller expects the error
    it knows, not a group around it; how many others failed is added as a note."""
    leaves = _leaves(group)
    if not leaves or not all(isinstance(exc, Exception) for exc in leaves):
        return None
    first = leaves[0]
    assert isinstance(first, Exception)
    if len(leaves) > 1 and hasattr(first, "add_note"):  # Python 3.11 and later
        first.add_note(f"({len(leaves) - 1} other request(s) running beside it failed too)")
    return first

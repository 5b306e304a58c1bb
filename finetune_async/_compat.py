"""Small compatibility helpers (Python 3.10 has no built-in exception groups)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # pragma: no cover - exercised on 3.10 only
    from exceptiongroup import BaseExceptionGroup

__all__ = ["BaseExceptionGroup", "sole_error"]


def sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one real error inside a task group's exception group, or None if there are several.

    Callers of a helper that runs a task group internally expect the error they know (an
    ``APIStatusError``), not a group around it; when exactly one task failed, that error is
    re-raised as is.
    """
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else None

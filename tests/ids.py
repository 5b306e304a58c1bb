"""Test ids that are the same in every process: pytest-xdist's workers each collect the suite
and must agree on every id, and a set's order changes with the process's hash seed."""

from __future__ import annotations


def stable_repr(value: object) -> str:
    """``repr(value)``, but with every set's items (at any depth) in sorted order."""
    if isinstance(value, (set, frozenset)):
        items = sorted(stable_repr(item) for item in value)
        return "{" + ", ".join(items) + "}" if items else "set()"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(stable_repr(item) for item in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(stable_repr(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def holds_a_set(value: object) -> bool:
    """Whether ``value`` is, or holds at any depth, a set (whose ``repr`` order varies)."""
    if isinstance(value, (set, frozenset)):
        return True
    if isinstance(value, dict):
        return any(holds_a_set(k) or holds_a_set(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_a_set(item) for item in value)
    return False

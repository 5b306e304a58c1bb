"""Checks of request values that more than one resource makes.

Each returns the value it accepts (normalised where the API normalises it) or raises the 400
the API answers, naming the parameter. Pure functions: no store, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from ._util import bad_request

__all__ = [
    "check_expires_after",
    "check_filename",
    "check_integrations",
    "check_metadata",
    "is_int",
    "is_number",
    "page_after",
    "parse_limit",
    "require_object",
    "validate_metadata_filter",
]

T = TypeVar("T")


def is_int(v: Any) -> bool:
    """True for an int that is not a bool (JSON ``true`` is not a count)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """True for a finite int or float that is not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def require_object(body: Any) -> dict[str, Any]:
    """``body`` when it is a JSON object; 400 otherwise."""
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    return body


# C0 controls, DEL and C1 controls: a line break in a name would break every header it is
# sent in (Content-Disposition), an escape would reach whoever prints it. Lone surrogates are
# what invalid UTF-8 in a multipart header decodes to.
_BAD_FILENAME_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_filename(name: str, param: str) -> str:
    """``name`` when it can be a file's name; 400 when it holds a control character or is not
    valid UTF-8."""
    bad = _BAD_FILENAME_CHAR.search(name)
    if bad is not None:
        char = bad.group()
        what = "is not valid UTF-8" if "\ud800" <= char <= "\udfff" else "contains a control character"
        raise bad_request(
            f"Invalid '{param}': the filename {what} ({char!r} at position {bad.start()}).", param, "invalid_filename"
        )
    return name


def parse_limit(raw: str | None, default: int, maximum: int | None = None) -> int:
    """A ``limit`` query value; 400 when it is not a positive integer (or above ``maximum``)."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Invalid 'limit': expected an integer, got {raw!r}.", "limit") from None
    if value < 1 or (maximum is not None and value > maximum):
        bound = f" and {maximum}" if maximum is not None else ""
        raise bad_request(f"Invalid 'limit': must be between 1{bound}.", "limit")
    return value


def page_after(
    items: Sequence[T], after: str | None, limit: int, id_of: Callable[[T], str], missing: str
) -> tuple[list[T], bool]:
    """The page of ``items`` (in listing order) after the one whose id is ``after``, and whether more follow.

    With ``after`` unset the page starts at the first item. An ``after`` that names no item in
    ``items`` is the 400 the API answers, with ``missing`` as its message.
    """
    start = 0
    if after is not None:
        idx = next((i for i, item in enumerate(items) if id_of(item) == after), None)
        if idx is None:
            raise bad_request(missing, "after")
        start = idx + 1
    return list(items[start : start + limit]), start + limit < len(items)


def check_expires_after(value: Any, param: str = "expires_after") -> dict[str, Any] | None:
    """Validate an ``expires_after`` object (``{"anchor": "created_at", "seconds": 3600..2592000}``)."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("anchor") != "created_at" or not is_int(value.get("seconds")):
        raise bad_request(f"Invalid '{param}': expected {{'anchor': 'created_at', 'seconds': int}}.", param)
    if not 3600 <= value["seconds"] <= 2592000:
        raise bad_request(f"Invalid '{param}.seconds': must be between 3600 and 2592000.", f"{param}.seconds")
    return {"anchor": "created_at", "seconds": value["seconds"]}


def check_metadata(value: Any) -> dict[str, str] | None:
    """A job's ``metadata``: at most 16 string values, keys up to 64 and values up to 512 characters."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("Invalid type for 'metadata': expected an object.", "metadata")
    if len(value) > 16:
        raise bad_request("Invalid 'metadata': at most 16 key-value pairs.", "metadata")
    for k, v in value.items():
        if len(k) > 64:
            raise bad_request(f"Invalid 'metadata': key {k[:20]!r}… is longer than 64 characters.", "metadata")
        if not isinstance(v, str):
            raise bad_request(f"Invalid 'metadata': the value of {k!r} must be a string.", "metadata")
        if len(v) > 512:
            raise bad_request(f"Invalid 'metadata': the value of {k!r} is longer than 512 characters.", "metadata")
    return dict(value)


def check_integrations(value: Any) -> list[Any] | None:
    """A job's ``integrations``: at most 5, each ``{"type": "wandb", "wandb": {"project": str, ...}}``."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 5:
        raise bad_request("Invalid 'integrations': expected a list of at most 5 integrations.", "integrations")
    for i, item in enumerate(value):
        wandb = item.get("wandb") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type") != "wandb" or not isinstance(wandb, dict):
            raise bad_request(f"Invalid 'integrations[{i}]': only type 'wandb' is supported.", f"integrations[{i}]")
        if not isinstance(wandb.get("project"), str):
            raise bad_request(f"Missing 'integrations[{i}].wandb.project'.", f"integrations[{i}].wandb.project")
    return value


def validate_metadata_filter(query: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, bool]:
    """Parse ``metadata[k]=v`` pairs (deepObject) and ``metadata=null`` from a query string:
    (the pairs or None, whether only jobs without metadata are asked for)."""
    pairs: dict[str, str] = {}
    no_metadata = False
    for key, value in query:
        if key == "metadata":
            if value == "null":
                no_metadata = True
        elif key.startswith("metadata[") and key.endswith("]"):
            pairs[key[len("metadata[") : -1]] = value
    return (pairs or None), no_metadata

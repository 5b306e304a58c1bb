"""The validation loop: parse each line once, check it, measure it, keep only small counters."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from . import _json
from ._measure import FAST, MEASURES, Meter
from ._report import DatasetReport, Problem
from ._rules import CHECKS, METHODS, Out
from ._stats import StatsAccumulator, context_limit_for
from ._tokens import get_token_counter

__all__ = ["MIN_EXAMPLES", "validate_dataset", "validate_lines"]

MIN_EXAMPLES = 10
_READ_BUFFER = 1 << 20


_orjson_loads: Callable[[bytes], Any] | None
try:  # optional speed-up; results are the same (see _parse_slow)
    import orjson

    _orjson_loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is not a dependency
    _orjson_loads = None


def _json_error(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply"
    return f"invalid JSON: {exc}"


def validate_lines(
    lines: Iterable[bytes | str],
    method: str = "supervised",
    *,
    max_problems: int = 100,
    context_limit: int | None = None,
    model: str | None = None,
    path: str | None = None,
    use_orjson: bool = True,
) -> DatasetReport:
    """Validate JSONL lines (bytes or str, with or without their line ending) for ``method``.

    The sans-I/O core of :func:`validate_dataset`: lines are consumed one at a time and never
    kept. Every problem is counted; at most ``max_problems`` line problems are kept in the
    report (file-level problems are always kept). ``context_limit`` overrides the limit looked
    up for ``model`` (default 65,536). ``use_orjson=False`` forces the stdlib JSON parser
    (the results are the same; orjson, when installed, is only faster).

    Raises ValueError for an unknown ``method``, a negative ``max_problems`` or a
    non-positive ``context_limit``; TypeError for a line that is neither bytes nor str.
    """
    if method not in CHECKS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if max_problems < 0:
        raise ValueError("max_problems must be >= 0")
    limit = context_limit if context_limit is not None else context_limit_for(model)
    if limit <= 0:
        raise ValueError("context_limit must be positive")
    check = CHECKS[method]
    fast = FAST[method]
    measure = MEASURES[method]
    counter = get_token_counter()
    meter = Meter(counter)
    stats = StatsAccumulator(limit, counter.method)
    add = stats.add
    fast_loads = _orjson_loads if use_orjson else None
    decode = _json.decode
    scan = _json.scan

    problems: list[Problem] = []
    n_problems = 0
    n_examples = 0
    out: Out = []
    obj: Any
    for lineno, raw in enumerate(lines, 1):
        if type(raw) is not bytes and type(raw) is not str:
            raw = _coerce(raw)
        # Parse: the one step that touches every byte. Errors are classified on the slow path.
        try:
            if fast_loads is not None and type(raw) is bytes:
                obj = fast_loads(raw)
            else:
                obj = scan(raw.decode("utf-8") if type(raw) is bytes else raw)  # type: ignore[arg-type]
        except (ValueError, RecursionError):
            obj = _parse_slow(raw, decode, out)
        if type(obj) is dict:
            n_examples += 1
            m = fast(obj, meter)
            if m is not None:
                add(m, raw)
                continue
            check(obj, out)
            if not out:
                add(measure(obj, meter), raw)
                continue
        elif not out:
            n_examples += 1
            out.append(("not_an_object", f"a line must be a JSON object, not {_json.type_name(obj)}"))
        elif out[0][0] != "blank_line":
            n_examples += 1
        # Record the line's problems (the rare path).
        for code, message in out:
            n_problems += 1
            if len(problems) < max_problems:
                problems.append(Problem(lineno, code, message))
        out.clear()

    file_problems: list[Problem] = []
    if n_examples == 0:
        file_problems.append(Problem(None, "empty_file", "the file holds no examples"))
    elif n_examples < MIN_EXAMPLES:
        file_problems.append(
            Problem(
                None,
                "too_few_examples",
                f"the file holds {n_examples} examples; fine-tuning needs at least {MIN_EXAMPLES}",
            )
        )
    return DatasetReport(
        method=method,
        path=path,
        n_examples=n_examples,
        problems=file_problems + problems,
        n_problems=n_problems + len(file_problems),
        stats=stats.finish(),
    )


def _coerce(raw: object) -> bytes | str:
    if isinstance(raw, str):
        return str(raw)
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    raise TypeError(f"lines must be bytes or str, not {type(raw).__name__}")


def _parse_slow(raw: bytes | str, decode: Callable[[str], Any], out: Out) -> Any:
    """Parse a line the fast path refused, strictly, saying why in ``out`` if it fails.

    Also the fallback for orjson, which refuses some valid JSON the stdlib takes (integers
    beyond 64 bits, escaped lone surrogates): the stdlib decides, so both paths agree.
    """
    if type(raw) is bytes:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not raw.strip():
                out.append(("blank_line", "blank line"))
            else:
                out.append(("invalid_utf8", f"not valid UTF-8 (byte {exc.start + 1} of the line)"))
            return None
    else:
        text = str(raw)
    try:
        return decode(text)
    except (ValueError, RecursionError) as exc:
        out.append(_bad_line(text, exc))
        return None


def _bad_line(text: str, exc: BaseException) -> tuple[str, str]:
    if not text.strip():
        return ("blank_line", "blank line")
    if text.startswith("\ufeff"):
        return ("invalid_json", "invalid JSON: the line starts with a byte order mark (save as UTF-8 without BOM)")
    return ("invalid_json", _json_error(exc))


def validate_dataset(
    path: str | os.PathLike[str],
    method: str = "supervised",
    *,
    max_problems: int = 100,
    context_limit: int | None = None,
    model: str | None = None,
) -> DatasetReport:
    """Validate the JSONL file at ``path`` for ``method`` ("supervised", "dpo", "reinforcement").

    Streams the file (constant memory, apart from an 8-byte hash per example for duplicate
    detection) and returns a :class:`DatasetReport` with every problem counted and line-numbered,
    and statistics over the valid examples. Call ``report.raise_for_problems()`` to turn
    problems into a :class:`~finetune_async.errors.DatasetError`.

    Raises OSError if the file cannot be read, ValueError for an unknown ``method``.
    """
    name = os.fspath(path)
    if method not in CHECKS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    with open(name, "rb", buffering=_READ_BUFFER) as f:
        return validate_lines(
            f,
            method,
            max_problems=max_problems,
            context_limit=context_limit,
            model=model,
            path=name,
        )

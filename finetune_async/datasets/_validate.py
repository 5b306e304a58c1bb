"""The validation loop: parse each line once, check it, measure it, keep only small counters."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import _json
from ._formats import RULES, format_of
from ._measure import Meter
from ._profiles import DataRules, data_rules_for, provider_names
from ._reader import LongLine, read_lines
from ._report import DatasetReport, Problem
from ._rules import MAX_LINE_BYTES, Out, mismatch, shape_of
from ._stats import StatsAccumulator
from ._tokens import get_token_counter

__all__ = ["MIN_EXAMPLES", "validate_dataset", "validate_lines"]

MIN_EXAMPLES = 10
_READ_BUFFER = 1 << 20
# A long line (rare: images) takes the stdlib parser, and drops its bytes once decoded. On a
# long line orjson reserves several times its size up front and, when the line is not JSON,
# builds the error from a decoded copy of it (12x the line, traced, for a 32 MiB one); the
# stdlib parser holds the line's text and its values, nothing more.
_LONG_LINE = 1 << 20
_BREAKS = re.compile("\r\n|\r|\n")


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
    method: str | None = None,
    *,
    max_problems: int = 100,
    context_limit: int | None = None,
    model: str | None = None,
    path: str | None = None,
    use_orjson: bool = True,
    max_line_bytes: int = MAX_LINE_BYTES,
    provider: object = None,
) -> DatasetReport:
    """Validate JSONL lines (bytes or str, with or without their line ending) for ``method``
    (``None``: the shape of the lines decides, see :func:`validate_dataset`), by the data
    rules of ``provider`` (default OpenAI's; see :func:`validate_dataset`).

    The sans-I/O core of :func:`validate_dataset`: lines are consumed one at a time and never
    kept. Every problem is counted; at most ``max_problems`` line problems are kept in the
    report (file-level problems are always kept). ``context_limit`` overrides the limit looked
    up for ``model`` (default 65,536). ``use_orjson=False`` forces the stdlib JSON parser
    (the results are the same; orjson, when installed, is only faster).

    An item is cut into lines as a file is: a CR, LF or CRLF inside it ends a line (so
    ``validate_lines(open(path, "rb"))``, which splits at LF only, numbers lines as
    :func:`validate_dataset` does); one break at its end is its line ending. A line longer than
    ``max_line_bytes`` (UTF-8 bytes, without its ending; default :data:`MAX_LINE_BYTES`, longer
    than any valid example can be) is reported as ``line_too_long`` and not parsed.

    Raises ValueError for an unknown ``method`` or provider name, a method the provider does
    not take, a negative ``max_problems``, a non-positive ``context_limit`` (or one outside
    the provider's range) or ``max_line_bytes``; TypeError for a line that is neither bytes
    nor str, or a ``provider`` that is not one.
    """
    rules = data_rules_for(provider)
    limit = _check_arguments(method, max_problems, context_limit, model, max_line_bytes, rules)
    return _validate(
        _cut(lines, max_line_bytes), method, max_problems, limit, path, use_orjson, max_line_bytes, rules, None
    )


def validate_dataset(
    path: str | os.PathLike[str],
    method: str | None = None,
    *,
    max_problems: int = 100,
    context_limit: int | None = None,
    model: str | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    provider: object = None,
) -> DatasetReport:
    """Validate the JSONL file at ``path`` for ``method`` ("supervised", "dpo", "reinforcement";
    on Nebius "supervised", "spec-draft"; on Together and Fireworks "supervised", "dpo").

    ``provider`` says whose data rules apply (:class:`~finetune_async.datasets.DataRules`): a
    name (``"openai"``, the default; ``"azure"``; ``"nebius"``; ``"together"``; ``"fireworks"``),
    a ``DataRules`` profile, or an object with a ``data_rules`` attribute (a provider object, or
    a client whose ``provider`` has one). Nebius takes chat ``messages``, ``prompt``/``completion``,
    ``text`` and ``input_ids`` lines, one format per file: a file that changes format gets one
    ``mixed_formats`` problem on the line where it changes. Together takes its own chat
    (``conversation``), ``prompt``/``completion`` and ``text`` lines for supervised, one format
    per file and per line (``ambiguous_format``), and OpenAI's preference lines for DPO;
    Fireworks takes OpenAI's chat and preference lines. The file's size is checked against the
    provider's limit (``file_too_large``: Together 50.1 GiB), the example
    count against its minimum and maximum. ``report.provider`` and ``report.line_format`` say
    what was checked.

    ``provider`` (a name such as ``"azure"``, a client, or ``client.provider``) refuses, before
    reading, a ``method`` the provider cannot train, with
    :class:`~finetune_async.UnsupportedByProviderError`.

    Without a ``method``, the first line shaped like one of them decides (lines before it are
    checked as supervised), and the report says so: ``method_detected``, ``method_note``. A
    line shaped like another method than the one checked gets one ``wrong_method`` problem
    saying what it looks like instead of a list of unknown keys; when every line does, the
    file gets one ``method_mismatch`` problem naming the method to use.

    Streams the file and returns a :class:`DatasetReport` with every problem counted and
    line-numbered, and statistics over the valid examples. Call ``report.raise_for_problems()``
    to turn problems into a :class:`~finetune_async.errors.DatasetError`.

    CR, LF and CRLF each end a line. A line longer than ``max_line_bytes`` (default
    :data:`MAX_LINE_BYTES`: no valid example is longer) is reported as ``line_too_long``
    without being parsed or held: the validator holds at most one 1 MiB read and one line up
    to the bound (and that line's parsed values), whatever the file's size or its longest
    line, plus an 8-byte hash per example for duplicate detection.

    Raises OSError if the file cannot be read; ValueError for an unknown ``method`` or
    provider name, a method the provider does not take (naming the provider and its methods),
    a negative ``max_problems``, a non-positive ``context_limit`` (or one outside the
    provider's range: Nebius' ``context_length`` is 8,192 to 131,072) or ``max_line_bytes``;
    TypeError for a ``provider`` that is none of the above.
    """
    name = os.fspath(path)
    rules = data_rules_for(provider)
    limit = _check_arguments(method, max_problems, context_limit, model, max_line_bytes, rules)
    with open(name, "rb", buffering=_READ_BUFFER) as f:
        size = os.fstat(f.fileno()).st_size
        return _validate(
            read_lines(f, max_line_bytes), method, max_problems, limit, name, True, max_line_bytes, rules, size
        )


def _check_arguments(
    method: str | None,
    max_problems: int,
    context_limit: int | None,
    model: str | None,
    max_line_bytes: int,
    rules: DataRules,
) -> int:
    """The context limit to use; raises ValueError for a bad argument."""
    if method is not None and method not in rules.methods:
        known = {m for name in provider_names() for m in data_rules_for(name).methods}
        if method in known:
            raise ValueError(
                f"{rules.display_name} does not take {method} fine-tuning; its methods: {', '.join(rules.methods)}"
            )
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(rules.methods)}")
    if max_problems < 0:
        raise ValueError("max_problems must be >= 0")
    limit = context_limit if context_limit is not None else rules.context.for_model(model)
    if limit <= 0:
        raise ValueError("context_limit must be positive")
    low, high = rules.context.minimum, rules.context.maximum
    if context_limit is not None and ((low is not None and limit < low) or (high is not None and limit > high)):
        raise ValueError(
            f"context_limit {limit:,} is outside the context lengths {rules.display_name} takes "
            f"({low or 1:,} to {high:,})"
            if high is not None
            else f"context_limit {limit:,} is below the shortest context length {rules.display_name} takes ({low:,})"
        )
    if max_line_bytes <= 0:
        raise ValueError("max_line_bytes must be positive")
    return limit


def _validate(
    lines: Iterable[bytes | str | LongLine],
    given: str | None,
    max_problems: int,
    limit: int,
    path: str | None,
    use_orjson: bool,
    max_line_bytes: int,
    rules: DataRules,
    file_size: int | None,
) -> DatasetReport:
    """The loop over lines already cut: no break inside, perhaps one at the end; LongLine over the bound.

    ``file_size``: the file's size in bytes, checked against the provider's limit (None: no file)."""
    method = given or rules.default_method
    # Without a method, the first line of a method's shape decides, unless every method takes
    # the same formats (Nebius): then the lines cannot tell, and the default is checked.
    undecided = given is None and not rules.same_formats
    detected_line: int | None = None
    # Lines shaped like another method than the one checked: how many of each shape.
    mismatched: dict[str, int] = {}
    # Shapes that are no mismatch: none, and methods taking the method's very formats.
    alike = _alike(rules, method)
    formats = rules.formats_for(method)
    # One format (OpenAI's methods): its rules for every line. Several: each line's keys say.
    several = len(formats) > 1
    check, fast, measure = RULES[formats[0].name]
    file_format: str | None = None if several else formats[0].name
    format_line = 0  # the line that set file_format
    mixed = False  # the file changed format (reported once)
    one_format = rules.one_format_per_file
    one_per_line = rules.one_format_per_line
    unknown_format = ""  # the message for a line of none of the formats
    if several:
        unknown_format = "a line must hold " + "; ".join(f.description for f in formats)
    counter = get_token_counter(exact=rules.tokenizer == "cl100k_base")
    meter = Meter(counter)
    stats = StatsAccumulator(limit, counter.method, epochs={"epochs", "billed_tokens"} <= rules.stats)
    add = stats.add
    # Without orjson fast_max is -1 and fast_loads is never called (json.loads: only a callable).
    fast_loads: Callable[[bytes], Any] = _orjson_loads or json.loads
    fast_max = _LONG_LINE if use_orjson and _orjson_loads is not None else -1
    decode = _json.decode
    scan = _json.scan

    problems: list[Problem] = []
    n_problems = 0
    n_examples = 0
    out: Out = []
    obj: Any = None
    every_line = ""  # the file's problem, should every line be of the first mismatch's shape
    text: str | None = None
    raw: bytes | str | LongLine | None
    lineno = 0
    # Not enumerate(): it keeps the previous line alive while the next one is read.
    for raw in lines:
        lineno += 1  # noqa: SIM113 (see above)
        # Parse: the one step that touches every byte. Errors are classified on the slow path.
        try:
            if type(raw) is bytes and len(raw) <= fast_max:
                obj = fast_loads(raw)
            elif type(raw) is str:
                obj = scan(raw)
            elif type(raw) is bytes:  # a long line, or no orjson
                if len(raw) > _LONG_LINE:
                    # Its text, decoded without the line ending (from a view, not a copy), stands
                    # for the line from here on, duplicate key included: the bytes go before
                    # parsing, so a line is held twice at most (text and values), not three times.
                    end = len(raw) - (2 if raw.endswith(b"\r\n") else 1 if raw.endswith(b"\n") else 0)
                    raw = text = str(memoryview(raw)[:end], "utf-8")
                else:
                    text = raw.decode("utf-8")
                obj = scan(text)
            else:
                obj = None
                out.append(_too_long(raw, max_line_bytes))  # type: ignore[arg-type]
        except (ValueError, RecursionError):
            obj = _parse_slow(raw, text, decode, out)
        if type(obj) is dict:
            n_examples += 1
            if undecided and (shape := shape_of(obj)) in rules.methods:
                # The first line shaped like a method decides: rare, once per file.
                assert shape is not None
                changed = shape != method
                method, undecided, detected_line = shape, False, lineno
                if changed:  # the lines before keep the format they set when the method stays
                    alike = _alike(rules, method)
                    formats = rules.formats_for(method)
                    several = len(formats) > 1
                    check, fast, measure = RULES[formats[0].name]
                    file_format = None if several else formats[0].name
            if several:
                # The line's format, from its keys (the rare path's cost is one dict lookup each).
                fmt = format_of(obj, formats)
                if fmt is None:
                    out.append(("unknown_format", unknown_format))
                else:
                    check, fast, measure = RULES[fmt.name]
                    if one_per_line:
                        held = [f for f in formats if all(k in obj for k in f.keys)]
                        if len(held) > 1:
                            both = " and ".join(f"{'/'.join(map(repr, f.keys))} (a {f.name} line)" for f in held)
                            out.append(
                                (
                                    "ambiguous_format",
                                    f"the line holds both {both}: {rules.display_name} takes one line format a line",
                                )
                            )
                    if file_format is None:
                        file_format, format_line = fmt.name, lineno
                    elif fmt.name != file_format and one_format and not mixed:
                        mixed = True
                        out.append(
                            (
                                "mixed_formats",
                                f"line {lineno} is a {fmt.name} line in a file of {file_format} lines "
                                f"(from line {format_line}): {rules.display_name} takes one line format per file",
                            )
                        )
                    if out:  # a mixed or ambiguous line: its own problems too, and it is not measured
                        check(obj, out)
            if not out:
                m = fast(obj, meter)
                if m is not None:
                    add(m, raw)  # type: ignore[arg-type]
                else:
                    check(obj, out)
                    if not out:
                        add(measure(obj, meter), raw)  # type: ignore[arg-type]
            if out and (shape := shape_of(obj)) not in alike and _MISFIT.intersection(c for c, _ in out):
                assert shape is not None
                # What the line is, not every key the method does not know (a format change stays).
                out[:] = [p for p in out if p[0] == "mixed_formats"]
                out.append(("wrong_method", mismatch(shape, method, obj, rules=rules)))
                mismatched[shape] = mismatched.get(shape, 0) + 1
                if len(mismatched) == 1 and mismatched[shape] == 1:
                    # Its words, not the object: a line's values may be 100+ MiB.
                    every_line = mismatch(shape, method, obj, every=True, rules=rules)
        elif not out:
            n_examples += 1
            out.append(("not_an_object", f"a line must be a JSON object, not {_json.type_name(obj)}"))
        elif out[0][0] != "blank_line":
            n_examples += 1
        if out:  # record the line's problems (the rare path)
            for code, message in out:
                n_problems += 1
                if len(problems) < max_problems:
                    problems.append(Problem(lineno, code, message))
            out.clear()
        # Let this line go before the next is read: a line may be 100+ MiB (images).
        raw = obj = text = None

    file_problems: list[Problem] = []
    if len(mismatched) == 1 and next(iter(mismatched.values())) == n_examples:
        # Every line is of one other shape: one problem says so, not one per line.
        problems = [p for p in problems if p.code != "wrong_method"]
        n_problems -= n_examples
        file_problems.append(Problem(None, "method_mismatch", every_line))
    if file_size is not None and rules.max_file_bytes is not None and file_size > rules.max_file_bytes:
        whose = f"; {rules.max_file_note}" if rules.max_file_note else ""
        file_problems.append(
            Problem(
                None,
                "file_too_large",
                f"the file is {_size(file_size)} ({file_size:,} bytes); {rules.display_name} takes files "
                f"of at most {_size(rules.max_file_bytes)} ({rules.max_file_bytes:,} bytes{whose})",
            )
        )
    minimum = rules.min_examples
    if n_examples == 0:
        file_problems.append(Problem(None, "empty_file", "the file holds no examples"))
    elif n_examples < minimum:
        file_problems.append(
            Problem(
                None,
                "too_few_examples",
                f"the file holds {n_examples} examples; fine-tuning needs at least {minimum}",
            )
        )
    elif rules.max_examples is not None and n_examples > rules.max_examples:
        file_problems.append(
            Problem(
                None,
                "too_many_examples",
                f"the file holds {n_examples:,} examples; {rules.display_name} takes at most {rules.max_examples:,}",
            )
        )
    note = None
    if given is None:
        if rules.same_formats and len(rules.methods) > 1:
            where = f" ({rules.display_name} takes the same line formats for {', '.join(rules.methods)})"
        elif detected_line is None:
            where = " (no line showed a shape)"
        else:
            where = f", from the shape of line {detected_line}"
        note = f"method not given: assumed {method}{where}"
    return DatasetReport(
        method=method,
        method_detected=given is None,
        method_note=note,
        path=path,
        provider=rules.name,
        line_format=file_format,
        n_examples=n_examples,
        problems=file_problems + problems,
        n_problems=n_problems + len(file_problems),
        stats=stats.finish(),
    )


def _size(n: int) -> str:
    """``n`` bytes in GiB or MiB, as the providers state their limits."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return f"{n / (1 << 20):.1f} MiB"


def _alike(rules: DataRules, method: str) -> frozenset[str | None]:
    """The shapes a line of ``method`` may have without being another method's example."""
    formats = rules.methods[method]
    return frozenset({None, method, *(m for m, f in rules.methods.items() if f == formats)})


# Problems that a line of another method's shape has (keys the method does not know, or lacks):
# only then is "it looks like a dpo example" more use than the problems themselves.
_MISFIT = frozenset(
    {
        "unknown_key",
        "missing_messages",
        "missing_input",
        "missing_output",
        "missing_assistant_message",
        "role_not_allowed",
        "unknown_format",
        "last_message_not_assistant",
    }
)


def _too_long(line: LongLine, max_line_bytes: int) -> tuple[str, str]:
    if max_line_bytes == MAX_LINE_BYTES:
        why = (
            f"longer than any valid example can be ({MAX_LINE_BYTES:,} bytes: ten 10 MB images "
            "as base64 data URLs and a full context of text)"
        )
    else:
        why = f"longer than max_line_bytes ({max_line_bytes:,} bytes)"
    return ("line_too_long", f"a line of {line.size:,} bytes is {why}; it was not parsed")


def _cut(items: Iterable[object], max_line_bytes: int) -> Iterator[bytes | str | LongLine]:
    """The lines of the caller's items: an item is one line unless a break is inside it.

    A one-line item is passed on as it is, its ending included (the parsers take it as
    whitespace, the duplicate hash evens endings out); other items are cut as a file is.
    """
    for item in items:
        if type(item) is bytes:
            n = len(item)
            # One line: no LF before the last byte, and no CR but one right before a final LF.
            if item.find(b"\n", 0, n - 1) < 0 and (
                b"\r" not in item or (item.find(b"\r") == n - 2 and item.endswith(b"\n"))
            ):
                if n > max_line_bytes and n - _ending(item) > max_line_bytes:
                    yield LongLine(n - _ending(item))
                else:
                    yield item
            else:
                for line in item.splitlines():
                    yield LongLine(len(line)) if len(line) > max_line_bytes else line
        elif type(item) is str:
            n = len(item)
            if item.find("\n", 0, n - 1) < 0 and (
                "\r" not in item or (item.find("\r") == n - 2 and item.endswith("\n"))
            ):
                yield _bounded_text(item, max_line_bytes)
            else:
                parts = _BREAKS.split(item)
                if parts[-1] == "":
                    parts.pop()  # the item's own ending
                for piece in parts:
                    yield _bounded_text(piece, max_line_bytes)
        else:
            yield from _cut((_coerce(item),), max_line_bytes)


def _ending(line: bytes | str) -> int:
    """The length of the one line ending ``line`` has (0, 1 or 2)."""
    if isinstance(line, bytes):
        return 2 if line.endswith(b"\r\n") else 1 if line.endswith((b"\n", b"\r")) else 0
    return 2 if line.endswith("\r\n") else 1 if line.endswith(("\n", "\r")) else 0


def _bounded_text(line: str, max_line_bytes: int) -> str | LongLine:
    """``line``, or a LongLine when it is over the bound in UTF-8 (without its ending)."""
    if len(line) * 4 <= max_line_bytes:  # at most 4 bytes a character: within the bound
        return line
    # The ending is ASCII: its characters are its bytes. isascii() reads a flag, not the text.
    size = (len(line) if line.isascii() else _utf8_size(line)) - _ending(line)
    return LongLine(size) if size > max_line_bytes else line


def _utf8_size(text: str) -> int:
    """The UTF-8 length of ``text``, encoded 1 Mi characters at a time (never all of it at once)."""
    step = 1 << 20
    return sum(len(text[i : i + step].encode("utf-8", "surrogatepass")) for i in range(0, len(text), step))


def _coerce(raw: object) -> bytes | str:
    if isinstance(raw, str):
        return str(raw)
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    raise TypeError(f"lines must be bytes or str, not {type(raw).__name__}")


def _parse_slow(raw: bytes | str | LongLine | None, text: str | None, decode: Callable[[str], Any], out: Out) -> Any:
    """Parse a line the fast path refused, strictly, saying why in ``out`` if it fails.

    Also the fallback for orjson, which refuses some valid JSON the stdlib takes (integers
    beyond 64 bits, escaped lone surrogates): the stdlib decides, so both paths agree.
    ``text`` is the line already decoded, if it was: a long line is never decoded twice.
    """
    if text is None:
        if type(raw) is bytes:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if not raw or raw.isspace():
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
    if not text or text.isspace():  # not strip(): that would copy a long line
        return ("blank_line", "blank line")
    if text.startswith("\ufeff"):
        return ("invalid_json", "invalid JSON: the line starts with a byte order mark (save as UTF-8 without BOM)")
    return ("invalid_json", _json_error(exc))

"""Consoles, JSON output, time and size formatting, and the one-line error message."""

from __future__ import annotations

import http
import json
import os
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

import finetune_async as ft

__all__ = [
    "describe_error",
    "err_console",
    "error_object",
    "escape_controls",
    "exception_object",
    "fmt_duration",
    "fmt_size",
    "fmt_time",
    "list_object",
    "out_console",
    "print_json",
    "print_json_error",
    "redact",
]


# What a terminal acts on instead of showing: C0 controls but tab and newline, DEL, C1 controls
# (U+009B is an 8-bit CSI), and the bidirectional overrides and isolates that make text display
# in another order than it reads ("Trojan source").
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character a terminal would act on shown as ``\\xNN`` (or
    ``\\uNNNN``); tabs, newlines and all printable text unchanged."""
    return _CONTROLS.sub(_escaped, text)


class _TextConsole(Console):
    """A console that shows strings as they are: never read as markup or emoji codes, and with
    control characters escaped in everything it renders (tables, live displays, progress bars).

    API data and user data (metadata, file names, error messages) reach the terminal through
    many renderables; escaping the rendered segments is the one place that sees them all.
    Cursor movements and colours are control *segments*, which pass untouched.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and _CONTROLS.search(segment.text):
                yield Segment(escape_controls(segment.text), segment.style)
            else:
                yield segment


def _console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    is_tty = stream.isatty()
    # Not a terminal (a pipe, a file, a test): no colours or cursor movement, and lines long
    # enough that ids in tables and event messages are never folded.
    width = None if is_tty or os.environ.get("COLUMNS") else 200
    return _TextConsole(stderr=stderr, width=width, soft_wrap=False)


def out_console() -> Console:
    """The console for results (stdout)."""
    return _console(stderr=False)


def err_console() -> Console:
    """The console for progress, live displays and messages (stderr)."""
    return _console(stderr=True)


# JSON escapes C0 controls itself; these it would write raw with ensure_ascii=False.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _json_text(data: Any, indent: int | None) -> str:
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    # Outside strings JSON has only ASCII punctuation, so every match is inside a string, where
    # a \uNNNN escape stands for the same character: the value read back is unchanged.
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (no raw control characters)."""
    sys.stdout.write(_json_text(data, 2) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """Write ``data`` as one line of JSON on stdout (for streams: one object per line)."""
    sys.stdout.write(_json_text(data, None) + "\n")
    sys.stdout.flush()


def print_json_error(data: Any) -> None:
    """Write an error object (:func:`error_object`) as one line of JSON on stderr."""
    sys.stderr.write(_json_text(data, None) + "\n")
    sys.stderr.flush()


def list_object(items: Iterable[Any], *, has_more: bool = False) -> dict[str, Any]:
    """The API's list shape, ``{"object": "list", "data": [...], "has_more": ...}``, of the
    items (models, as :func:`finetune_async.to_dict` gives them)."""
    return {"object": "list", "data": [ft.to_dict(item) for item in items], "has_more": has_more}


def error_object(
    message: str,
    *,
    kind: str,
    code: str | None = None,
    param: str | None = None,
    status: int | None = None,
    request_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An error as ``--json`` prints it on stderr: the API's error body (``message``, ``type``
    (``kind`` here), ``param``, ``code``) with the HTTP ``status`` and ``request_id`` (None when
    the error did not come from an answer), and any ``extra`` fields (``problems`` for a file
    refused)."""
    return {
        "error": {
            "message": message,
            "type": kind,
            "param": param,
            "code": code,
            "status": status,
            "request_id": request_id,
            **extra,
        }
    }


def exception_object(exc: BaseException, *, base_url: str | None = None) -> dict[str, Any]:
    """:func:`error_object` for an exception: an API answer's own fields, else a ``type`` that
    says what failed (``connection_error``, ``timeout``, ``api_error``, ``os_error``, ...)."""
    if isinstance(exc, ft.APIStatusError):
        return error_object(
            exc.message,
            kind=exc.type or "api_error",
            code=exc.code,
            param=exc.param,
            status=exc.status_code,
            request_id=exc.request_id,
        )
    message = describe_error(exc, base_url=base_url).removeprefix("error: ")
    if isinstance(exc, ft.APITimeoutError | TimeoutError):
        kind = "timeout"
    elif isinstance(exc, ft.APIConnectionError):
        kind = "connection_error"
    elif isinstance(exc, ft.APIError):
        kind = "api_error"
    elif isinstance(exc, ft.FineTuneError):
        kind = "client_error"
    elif isinstance(exc, OSError):
        kind = "os_error"
    else:
        kind = "internal_error"
    return error_object(message, kind=kind)


def fmt_time(ts: float | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS`` (``-`` for None)."""
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def fmt_clock(ts: float) -> str:
    """A Unix time as local ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def fmt_duration(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``2h 01m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def fmt_size(n: int) -> str:
    """A byte count for people: ``812 B``, ``12.3 kB``, ``1.5 GB``."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def redact(text: str, secrets: list[str | None]) -> str:
    """``text`` with every secret replaced (a last line of defence: the SDK never shows the key)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def describe_error(exc: BaseException, *, base_url: str | None = None) -> str:
    """One readable line for an error: the status, the API's message, the code and request id."""
    if isinstance(exc, ft.APIStatusError):
        try:
            reason = http.HTTPStatus(exc.status_code).phrase
        except ValueError:
            reason = "HTTP error"
        details = []
        if exc.code:
            details.append(f"code: {exc.code}")
        if exc.param:
            details.append(f"param: {exc.param}")
        details.append(f"request id: {exc.request_id or 'none'}")
        line = f"error: {exc.status_code} {reason}: {exc.message} ({', '.join(details)})"
        if isinstance(exc, ft.TrainingNotAvailableError):
            line += " - this platform takes no new fine-tuning jobs; Azure OpenAI serves the same API"
        return line
    if isinstance(exc, ft.APITimeoutError):
        return f"error: the request timed out{_where(exc, base_url)}: {exc.message}"
    if isinstance(exc, ft.APIConnectionError):
        return f"error: could not reach the API{_where(exc, base_url)}: {exc.message}"
    if isinstance(exc, TimeoutError):
        return f"error: timed out{': ' + str(exc) if str(exc) else ''}"
    return f"error: {exc}"


def _where(exc: ft.APIError, base_url: str | None) -> str:
    target = exc.url or base_url
    return f" at {target}" if target else ""


def one_line(text: str) -> str:
    """Collapse whitespace so a message stays on one line."""
    return " ".join(text.split())

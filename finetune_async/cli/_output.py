"""Consoles, JSON output, time and size formatting, and the one-line error message."""

from __future__ import annotations

import http
import json
import os
import sys
import time
from typing import Any

from rich.console import Console

import finetune_async as ft

__all__ = [
    "describe_error",
    "err_console",
    "fmt_duration",
    "fmt_size",
    "fmt_time",
    "out_console",
    "print_json",
    "redact",
]


def _console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    is_tty = stream.isatty()
    # Not a terminal (a pipe, a file, a test): no colours or cursor movement, and lines long
    # enough that ids in tables and event messages are never folded.
    width = None if is_tty or os.environ.get("COLUMNS") else 200
    return Console(stderr=stderr, highlight=False, width=width, soft_wrap=False)


def out_console() -> Console:
    """The console for results (stdout)."""
    return _console(stderr=False)


def err_console() -> Console:
    """The console for progress, live displays and messages (stderr)."""
    return _console(stderr=True)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """Write ``data`` as one line of JSON on stdout (for streams: one object per line)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


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

"""Live displays: a job's progress (steps, losses, ETA) and a file upload's progress.

On a terminal they are rich progress bars, with the job's events printed above the bar.
Anywhere else (a pipe, a file, CI logs) they print plain lines instead, a metrics line only
every tenth of the run, so a log stays readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.text import Text

import finetune_async as ft

from ._output import fmt_clock, fmt_duration

__all__ = ["JobView", "UploadProgress", "metric_values"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_LEVEL_STYLE = {"warn": "yellow", "error": "bold red"}
_STATUS_STYLE = {"succeeded": "bold green", "failed": "bold red", "cancelled": "yellow", "paused": "yellow"}


def metric_values(data: dict[str, Any] | None) -> tuple[int | None, int | None, float | None, float | None]:
    """(step, total_steps, train_loss, valid_loss) from a metrics event's ``data``."""
    data = data or {}

    def num(key: str) -> float | None:
        value = data.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    step, total = num("step"), num("total_steps")
    return (
        int(step) if step is not None else None,
        int(total) if total is not None else None,
        num("train_loss"),
        num("valid_loss") if num("valid_loss") is not None else num("full_valid_loss"),
    )


def _loss(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


class _StepsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("step -/-", style="dim")
        return Text(f"step {int(task.completed)}/{int(task.total)}")


class _LossColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        text = Text()
        text.append("train loss ", style="dim")
        text.append(_loss(task.fields.get("train")), style="cyan")
        text.append("  valid loss ", style="dim")
        text.append(_loss(task.fields.get("valid")), style="magenta")
        return text


class _EtaColumn(ProgressColumn):
    """The time left until the job's ``estimated_finish``, counted down at every refresh."""

    def render(self, task: Task) -> Text:
        finish = task.fields.get("finish")
        if task.fields.get("status") in TERMINAL:
            return Text("")
        if not isinstance(finish, (int, float)):
            return Text("ETA -", style="dim")
        return Text(f"ETA {fmt_duration(max(0.0, finish - time.time()))}")


class JobView:
    """Shows a job being watched. Use as a context manager; feed it :meth:`event` and :meth:`job`.

    ``quiet`` shows nothing (``--json``). ``live`` defaults to whether the console is a terminal.
    """

    def __init__(self, console: Console, *, quiet: bool = False, live: bool | None = None) -> None:
        self.console = console
        self.quiet = quiet
        self.live = (console.is_terminal if live is None else live) and not quiet
        self.status = "connecting"
        self.step: int | None = None
        self.total: int | None = None
        self.train_loss: float | None = None
        self.valid_loss: float | None = None
        self.estimated_finish: int | None = None
        self._decile = -1
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> JobView:
        if self.live:
            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.fields[status]}", style="bold", markup=False),
                BarColumn(bar_width=28),
                _StepsColumn(),
                _LossColumn(),
                _EtaColumn(),
                TimeElapsedColumn(),
                console=self.console,
                refresh_per_second=8,
            )
            self._progress.start()
            self._task = self._progress.add_task("job", total=None, status=self.status, train=None, valid=None)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _update(self) -> None:
        if self._progress is None:
            return
        fields: dict[str, Any] = {
            "status": self.status,
            "train": self.train_loss,
            "valid": self.valid_loss,
            "finish": self.estimated_finish,
        }
        if self.total is not None:
            self._progress.update(self._task, total=self.total, completed=self.step or 0, **fields)
        else:
            self._progress.update(self._task, **fields)
        if self.status in TERMINAL:
            self._progress.stop_task(self._task)

    def _print(self, text: Text) -> None:
        if self.quiet:
            return
        self.console.print(text)

    def event(self, event: ft.FineTuningJobEvent) -> None:
        """Show one event: a metrics event moves the bar, any other is printed as a line."""
        if event.type == "metrics":
            step, total, train, valid = metric_values(event.data)
            if step is not None:
                self.step = step
            if total is not None:
                self.total = total
            self.train_loss = train if train is not None else self.train_loss
            self.valid_loss = valid if valid is not None else self.valid_loss
            self._update()
            if not self.live and self.step is not None and self.total:
                decile = 10 * self.step // self.total
                if decile > self._decile or self.step == self.total:
                    self._decile = decile
                    self._print(self._metrics_line(event.created_at))
            return
        line = Text(f"{fmt_clock(event.created_at)}  ", style="dim")
        line.append(event.message, style=_LEVEL_STYLE.get(str(event.level), ""))
        self._print(line)

    def _metrics_line(self, at: float) -> Text:
        assert self.step is not None
        assert self.total
        line = Text(f"{fmt_clock(at)}  ", style="dim")
        width = len(str(self.total))
        line.append(f"step {self.step:>{width}}/{self.total} {100 * self.step // self.total:>3}%")
        line.append(f"  train loss {_loss(self.train_loss)}  valid loss {_loss(self.valid_loss)}")
        if self.estimated_finish is not None and self.step < self.total:
            line.append(f"  ETA {fmt_duration(max(0.0, self.estimated_finish - time.time()))}")
        return line

    def job(self, job: ft.FineTuningJob) -> None:
        """Take the job's latest state: status and ``estimated_finish``."""
        self.status = str(job.status)
        self.estimated_finish = job.estimated_finish
        if job.status == "succeeded" and self.total is not None:
            self.step = self.total
        self._update()

    def summary(self, job: ft.FineTuningJob) -> None:
        """Print the outcome: the fine-tuned model, or why the job did not succeed."""
        if self.quiet:
            return
        status = str(job.status)
        text = Text()
        if status == "succeeded":
            took = f" in {fmt_duration(job.finished_at - job.created_at)}" if job.finished_at else ""
            text.append("✓ ", style="bold green")
            text.append(f"Job {job.id} succeeded{took}: ")
            text.append(job.fine_tuned_model or "-", style="bold")
            if job.trained_tokens:
                text.append(f" ({job.trained_tokens:,} trained tokens)", style="dim")
        elif status == "failed":
            text.append("✗ ", style="bold red")
            text.append(f"Job {job.id} failed")
            if job.error is not None:
                text.append(f": {job.error.message} (code: {job.error.code})")
        else:
            text.append("✗ ", style=_STATUS_STYLE.get(status, ""))
            text.append(f"Job {job.id} is {status}")
        self.console.print(text)


class UploadProgress:
    """A bytes progress bar on a terminal, nothing elsewhere (the caller prints the result)."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.enabled = console.is_terminal and not quiet
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=28),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            disable=not self.enabled,
            transient=False,
        )
        self._task: Any = None

    def __enter__(self) -> UploadProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def add(self, name: str, total: int) -> Callable[[int, int], None]:
        """A bar for one file; returns ``update(done, total)``."""
        task = self._progress.add_task(f"Uploading {name}", total=total)

        def update(done: int, total: int = total) -> None:
            self._progress.update(task, completed=min(done, total), total=total)

        return update

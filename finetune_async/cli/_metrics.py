"""A job's training metrics: read from its result file (or its metrics events), charted in the
terminal with sparklines, and plotted to a PNG with matplotlib when it is installed."""

from __future__ import annotations

import base64
import binascii
import csv
import importlib.util
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from rich.console import Group
from rich.table import Table
from rich.text import Text

import finetune_async as ft

__all__ = [
    "MetricRow",
    "Metrics",
    "have_matplotlib",
    "load_metrics",
    "parse_result_csv",
    "rows_from_snapshots",
    "sparkline",
    "write_plot",
]

PLOT_HINT = "pip install 'finetune-async[plot]'"

_BLOCKS = "▁▂▃▄▅▆▇█"
_TRAIN_ACC = ("train_accuracy", "train_mean_token_accuracy")
_VALID_ACC = ("valid_mean_token_accuracy", "valid_accuracy", "full_valid_mean_token_accuracy")
_VALID_LOSS = ("valid_loss", "full_valid_loss")


@attrs.frozen
class MetricRow:
    """One training step's metrics (``None`` where the step has no value)."""

    step: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    valid_loss: float | None = None
    valid_accuracy: float | None = None


@attrs.frozen
class Metrics:
    """A job's metrics and where they came from: ``result_file`` (with its id), ``endpoint``
    (the provider's metrics endpoint), ``events`` (its metrics events), or ``none`` (the
    provider has neither a metrics endpoint nor an events list, and no result file came)."""

    job_id: str
    source: str
    rows: list[MetricRow]
    file_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the rows, and the last value of every series."""
        return {
            "job_id": self.job_id,
            "source": self.source,
            "file_id": self.file_id,
            "steps": len(self.rows),
            "final": self.final(),
            "rows": [attrs.asdict(r) for r in self.rows],
        }

    def series(self, name: str) -> list[tuple[int, float]]:
        """``(step, value)`` of one field, skipping steps without it."""
        out = []
        for row in self.rows:
            value = getattr(row, name)
            if value is not None:
                out.append((row.step, value))
        return out

    def final(self) -> dict[str, float | None]:
        """The last value of each series."""
        result: dict[str, float | None] = {}
        for name in ("train_loss", "valid_loss", "train_accuracy", "valid_accuracy"):
            points = self.series(name)
            result[name] = points[-1][1] if points else None
        return result


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _first(record: dict[str, Any], keys: Iterable[str]) -> float | None:
    for key in keys:
        value = _number(record.get(key))
        if value is not None:
            return value
    return None


def _row(record: dict[str, Any]) -> MetricRow | None:
    step = _number(record.get("step"))
    if step is None:
        return None
    return MetricRow(
        step=int(step),
        train_loss=_number(record.get("train_loss")),
        train_accuracy=_first(record, _TRAIN_ACC),
        valid_loss=_first(record, _VALID_LOSS),
        valid_accuracy=_first(record, _VALID_ACC),
    )


def parse_result_csv(content: bytes) -> list[MetricRow]:
    """The rows of a result file (``step,train_loss,train_accuracy,valid_loss,...``).

    The real API serves this file base64-encoded; both forms are accepted. Raises ValueError
    when it is not a metrics CSV.
    """
    text = content.lstrip()
    if not text.startswith(b"step"):
        try:
            text = base64.b64decode(text, validate=False).lstrip()
        except (binascii.Error, ValueError) as exc:
            raise ValueError("the result file is not a metrics CSV") from exc
        if not text.startswith(b"step"):
            raise ValueError("the result file is not a metrics CSV")
    reader = csv.DictReader(io.StringIO(text.decode("utf-8", errors="replace")))
    rows = [row for record in reader if (row := _row(record)) is not None]
    rows.sort(key=lambda r: r.step)
    return rows


def rows_from_events(events: Iterable[ft.FineTuningJobEvent]) -> list[MetricRow]:
    """Rows from a job's ``metrics`` events (for a job that has no result file yet)."""
    by_step: dict[int, MetricRow] = {}
    for event in events:
        if event.type == "metrics" and event.data:
            row = _row(event.data)
            if row is not None:
                by_step[row.step] = row
    return [by_step[s] for s in sorted(by_step)]


# A metrics endpoint's names (Together's ``train/loss``, ``eval/loss``, ``train/global_step``)
# as the result file's columns: the prefix becomes ``train_`` / ``valid_``.
_SNAPSHOT_PREFIXES = {"train/": "train_", "eval/": "valid_", "valid/": "valid_"}
_SNAPSHOT_STEPS = ("train/global_step", "global_step", "step")


def rows_from_snapshots(snapshots: Iterable[Mapping[str, object]]) -> list[MetricRow]:
    """Rows from a metrics endpoint's snapshots (``jobs.metrics``: Together's ``train/loss``,
    ``eval/loss``, ``train/mean_token_accuracy``, ``train/global_step``, ...), one per step,
    the last snapshot of a step kept; snapshots without a step are left out."""
    by_step: dict[int, MetricRow] = {}
    for snapshot in snapshots:
        record: dict[str, Any] = {}
        for name, value in snapshot.items():
            for prefix, ours in _SNAPSHOT_PREFIXES.items():
                if name.startswith(prefix):
                    record[ours + name.removeprefix(prefix)] = value
        record["step"] = next((snapshot[k] for k in _SNAPSHOT_STEPS if k in snapshot), None)
        row = _row(record)
        if row is not None:
            by_step[row.step] = row
    return [by_step[s] for s in sorted(by_step)]


async def load_metrics(client: ft.AsyncClient, job_id: str) -> Metrics:
    """The job's metrics from its result file; while it has none, from the provider's metrics
    endpoint where it has one (``capabilities.metrics_endpoint``), else from its metrics
    events where it has an events list (``capabilities.events``), else none (``source`` says
    which)."""
    job = await client.fine_tuning.jobs.retrieve(job_id)
    for file_id in job.result_files:
        content = (await client.files.content(file_id)).content
        try:
            rows = parse_result_csv(content)
        except ValueError:
            continue
        return Metrics(job_id=job.id, source="result_file", rows=rows, file_id=file_id)
    capabilities = client.provider.capabilities
    if capabilities.metrics_endpoint:
        recorded = await client.fine_tuning.jobs.metrics(job_id)
        return Metrics(job_id=job.id, source="endpoint", rows=rows_from_snapshots(recorded.metrics))
    if not capabilities.events:
        return Metrics(job_id=job.id, source="none", rows=[])
    events = [event async for event in client.fine_tuning.jobs.list_events(job_id, limit=100)]
    return Metrics(job_id=job.id, source="events", rows=rows_from_events(events))


def _resample(values: Sequence[float], width: int) -> list[float]:
    """``values`` averaged into at most ``width`` buckets."""
    if len(values) <= width:
        return list(values)
    out = []
    for i in range(width):
        lo = i * len(values) // width
        hi = max(lo + 1, (i + 1) * len(values) // width)
        chunk = values[lo:hi]
        out.append(sum(chunk) / len(chunk))
    return out


def sparkline(values: Sequence[float], width: int = 48, *, lo: float | None = None, hi: float | None = None) -> str:
    """A unicode block sparkline of ``values`` (averaged down to ``width`` characters).

    ``lo`` / ``hi`` fix the scale, so two series drawn with the same bounds compare by eye.
    """
    if not values:
        return ""
    points = _resample(values, width)
    low = min(points) if lo is None else lo
    high = max(points) if hi is None else hi
    span = high - low
    if span <= 0:
        return _BLOCKS[len(_BLOCKS) // 2] * len(points)
    top = len(_BLOCKS) - 1
    return "".join(_BLOCKS[max(0, min(top, round((p - low) / span * top)))] for p in points)


def metrics_table(metrics: Metrics, *, width: int = 48) -> Group:
    """A table with one row per series: first value, a sparkline, last, min and max.

    Losses share one scale and accuracies another, so train and validation compare by eye.
    """
    table = Table()
    table.add_column("series")
    table.add_column("first", justify="right")
    table.add_column("curve", no_wrap=True)
    table.add_column("last", justify="right", style="bold")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    groups = (
        (("train_loss", "train loss", "cyan"), ("valid_loss", "valid loss", "magenta")),
        (("train_accuracy", "train accuracy", "cyan"), ("valid_accuracy", "valid accuracy", "magenta")),
    )
    for group in groups:
        values = {name: [v for _, v in metrics.series(name)] for name, _, _ in group}
        everything = [v for vs in values.values() for v in vs]
        if not everything:
            continue
        lo, hi = min(everything), max(everything)
        for name, label, style in group:
            vs = values[name]
            if not vs:
                continue
            table.add_row(
                label,
                f"{vs[0]:.3f}",
                Text(sparkline(vs, width, lo=lo, hi=hi), style=style),
                f"{vs[-1]:.3f}",
                f"{min(vs):.3f}",
                f"{max(vs):.3f}",
            )
    title = f"Metrics of {metrics.job_id} ({len(metrics.rows)} steps, from {_source(metrics)})"
    return Group(Text(title, style="bold"), table)


def _source(metrics: Metrics) -> str:
    if metrics.source == "result_file":
        return f"result file {metrics.file_id}"
    if metrics.source == "endpoint":
        return "the provider's metrics endpoint"
    return "its metrics events so far"


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (``--plot`` needs it)."""
    return importlib.util.find_spec("matplotlib") is not None


def write_plot(metrics: Metrics, path: str) -> None:
    """Write a PNG with two panels: training and validation loss, and their accuracy."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    panels = (
        (loss_ax, "Loss", (("train_loss", "training loss"), ("valid_loss", "validation loss"))),
        (
            acc_ax,
            "Mean token accuracy",
            (("train_accuracy", "training accuracy"), ("valid_accuracy", "validation accuracy")),
        ),
    )
    for ax, title, series in panels:
        for (name, label), color in zip(series, ("tab:blue", "tab:orange"), strict=True):
            points = metrics.series(name)
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], label=label, color=color, linewidth=1.6)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        if ax.has_data():
            ax.legend()
    fig.suptitle(f"Fine-tuning job {metrics.job_id}")
    fig.savefig(path, format="png")

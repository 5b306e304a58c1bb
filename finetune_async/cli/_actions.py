"""The steps commands share (and ``demo`` strings together): validate, upload, watch a job,
show checkpoints and metrics. Each calls the public API and renders the result."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TypeVar

import anyio
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

import finetune_async as ft
from finetune_async.datasets import OPENAI, DataRules, Distribution, data_rules_for, provider_names

from ._display import JobView, UploadProgress
from ._metrics import Metrics, metrics_table
from ._output import fmt_size, fmt_time

__all__ = [
    "checkpoints_table",
    "closing",
    "jobs_table",
    "print_report",
    "titled",
    "upload_files",
    "watch_job",
]

T = TypeVar("T")

#: How often ``watch_job`` fetches the job for its status and ``estimated_finish``.
JOB_REFRESH_SECONDS = 2.0


def titled(title: str, table: Table) -> Group:
    """A table under a bold title line (rich's own titles pad the line with spaces)."""
    return Group(Text(title, style="bold"), table)


def print_report(console: Console, report: ft.DatasetReport, *, stats: bool = True) -> None:
    """The validation verdict, every problem kept with its line, and the statistics."""
    name = os.path.basename(report.path or "dataset")
    if report.method_note is not None:
        console.print(Text(report.method_note, style="dim"))
    if report.ok:
        line = Text("✓ ", style="bold green")
        line.append(f"{name}: {report.n_examples} examples, no problems ({report.method})")
        console.print(line)
    else:
        line = Text("✗ ", style="bold red")
        line.append(f"{name}: {report.n_problems} problem(s) in {report.n_examples} examples ({report.method})")
        console.print(line)
        for problem in report.problems:
            where = f"line {problem.line}" if problem.line is not None else "file"
            text = Text(f"  {where}: ", style="bold")
            text.append(f"[{problem.code}] ", style="red")
            text.append(problem.message)
            console.print(text)
        if report.n_problems_not_shown:
            console.print(f"  … and {report.n_problems_not_shown} more problem(s)")
    if stats and report.stats.n_examples:
        console.print(stats_table(report))


def _rules_of(report: ft.DatasetReport) -> DataRules:
    """The data rules a report was made by (OpenAI's for a profile that was never registered)."""
    return data_rules_for(report.provider) if report.provider in provider_names() else OPENAI


def stats_table(report: ft.DatasetReport) -> Group:
    """The statistics of the examples that passed, and what training on them would bill."""
    s = report.stats
    table = Table(show_header=False)
    table.add_column("", style="dim")
    table.add_column("")

    def dist(d: Distribution) -> str:
        return f"mean {d.mean:,.1f}  median {d.median:,.0f}  p90 {d.p90:,.0f}  min {d.min:,}  max {d.max:,}"

    table.add_row("valid examples", f"{s.n_examples:,}")
    table.add_row("messages per example", dist(s.messages_per_example))
    table.add_row("tokens per example", dist(s.tokens_per_example))
    table.add_row("assistant tokens per example", dist(s.assistant_tokens_per_example))
    table.add_row("total tokens", f"{s.total_tokens:,} ({s.token_estimate_method})")
    table.add_row(f"over the {s.context_limit:,}-token context", f"{s.n_over_context:,}")
    table.add_row("duplicate examples", f"{s.n_duplicates:,}")
    table.add_row("without a system / user message", f"{s.n_missing_system:,} / {s.n_missing_user:,}")
    # Only the estimates the provider's data rules have (Nebius publishes no epochs rule).
    rules = _rules_of(report)
    applies = rules.stats
    if "epochs" in applies:
        table.add_row("epochs (API default)", f"{s.epochs}")
    if "billed_tokens" in applies:
        table.add_row("billed tokens (estimate)", f"{s.billed_tokens:,}")
    if report.line_format is not None and len(rules.methods.get(report.method, ())) > 1:
        table.add_row("line format", report.line_format)
    return titled("Dataset statistics", table)


async def upload_files(
    client: ft.AsyncClient, console: Console, paths: Sequence[str], *, purpose: str = "fine-tune", quiet: bool = False
) -> list[ft.FileObject]:
    """Upload each file with a progress bar; prints one line per file unless ``quiet``.

    Files over the Files API's 512 MB limit go through the Uploads API in parts (the SDK's doing).
    """
    results: list[ft.FileObject] = []
    with UploadProgress(console, quiet=quiet) as progress:
        for path in paths:
            size = (await anyio.Path(path).stat()).st_size
            update = progress.add(os.path.basename(path), size)
            file = await client.files.create(file=path, purpose=purpose, on_progress=update)
            update(file.bytes, file.bytes)
            results.append(file)
    if not quiet:
        for path, file in zip(paths, results, strict=True):
            line = Text("✓ ", style="bold green")
            line.append(f"Uploaded {os.path.basename(path)} ({fmt_size(file.bytes)}): ")
            line.append(file.id, style="bold")
            console.print(line)
    return results


async def watch_job(client: ft.AsyncClient, job_id: str, view: JobView) -> ft.FineTuningJob:
    """Follow the job until it ends, feeding ``view`` its events and state; returns the final job.

    The events come from :func:`finetune_async.wait_for_job`'s ``on_event``; the job itself
    (its status and ``estimated_finish``, for the ETA) is fetched again after an event that
    is not a metrics event (a change of phase), and at most every couple of seconds while
    metrics events arrive. Raises what ``wait_for_job`` raises (not for a failed job).
    """
    view.job(await client.fine_tuning.jobs.retrieve(job_id))
    fetched = time.monotonic()

    async def on_event(event: ft.FineTuningJobEvent) -> None:
        nonlocal fetched
        view.event(event)
        since = time.monotonic() - fetched
        if since >= JOB_REFRESH_SECONDS or (event.type != "metrics" and since >= 0.5):
            fetched = time.monotonic()
            # Only for the display: a failed look is skipped, wait_for_job owns the waiting.
            with contextlib.suppress(ft.APIError):
                view.job(await client.fine_tuning.jobs.retrieve(job_id))

    job = await ft.wait_for_job(client, job_id, on_event=on_event, raise_on_failure=False)
    view.job(job)
    return job


@contextlib.asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncGenerator[AsyncIterator[T], None]:
    """``async with closing(ft.stream_events(...)) as events``: the stream is closed on the way
    out, also when interrupted, so its polling stops at once."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def jobs_table(jobs: Sequence[ft.FineTuningJob]) -> Table:
    """One row per job: id, status, model, fine-tuned model, method, created, finished."""
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("status")
    table.add_column("model")
    table.add_column("fine-tuned model", overflow="fold")
    table.add_column("method")
    table.add_column("created")
    table.add_column("finished")
    for job in jobs:
        table.add_row(
            job.id,
            Text(str(job.status), style=_status_style(str(job.status))),
            job.model,
            job.fine_tuned_model or "-",
            str(job.method.type) if job.method is not None else "-",
            fmt_time(job.created_at),
            fmt_time(job.finished_at),
        )
    return table


def _status_style(status: str) -> str:
    return {"succeeded": "green", "failed": "red", "cancelled": "yellow", "paused": "yellow", "running": "cyan"}.get(
        status, ""
    )


def checkpoints_table(checkpoints: Sequence[ft.FineTuningJobCheckpoint]) -> Table:
    """One row per checkpoint, by step: the checkpoint model and its metrics."""

    def num(value: float | None) -> str:
        return f"{value:.3f}" if value is not None else "-"

    table = Table()
    table.add_column("step", justify="right")
    table.add_column("checkpoint model", no_wrap=True)
    table.add_column("train loss", justify="right", no_wrap=True)
    table.add_column("valid loss", justify="right", no_wrap=True)
    table.add_column("full valid loss", justify="right", no_wrap=True)
    table.add_column("full valid acc", justify="right", no_wrap=True)
    for ck in sorted(checkpoints, key=lambda c: c.step_number):
        m = ck.metrics
        table.add_row(
            str(ck.step_number),
            ck.fine_tuned_model_checkpoint,
            num(m.train_loss),
            num(m.valid_loss),
            num(m.full_valid_loss),
            num(m.full_valid_mean_token_accuracy),
        )
    return table


def print_metrics(console: Console, metrics: Metrics) -> None:
    """The sparkline chart, or a note when there is nothing to chart yet."""
    if metrics.source == "none":
        console.print(
            f"No metrics for {metrics.job_id}: it has no result file, and the provider has neither "
            "a metrics endpoint nor an events list."
        )
        return
    if not metrics.rows:
        where = "metrics endpoint" if metrics.source == "endpoint" else "metrics events"
        console.print(f"No metrics for {metrics.job_id} yet (no result file and nothing from its {where}).")
        return
    console.print(metrics_table(metrics))

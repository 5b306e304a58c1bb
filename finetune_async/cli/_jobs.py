"""Commands that start, find and steer fine-tuning jobs: ``create``, ``list``, ``retrieve``,
``cancel``, ``pause`` and ``resume``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Group
from rich.table import Table
from rich.text import Text

import finetune_async as ft

from ._actions import jobs_table, titled, watch_job
from ._context import (
    EXIT_FAILED,
    EXIT_OK,
    METHODS,
    CommandError,
    client_options,
    current_settings,
    json_option,
    run_async,
    still_running_note,
)
from ._display import JobView
from ._output import err_console, fmt_time, list_object, out_console, print_json

__all__ = ["cancel", "create", "list_", "pause", "resume", "retrieve"]


def _metadata(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str] | None:
    if not values:
        return None
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", ctx=ctx, param=param)
        out[key] = value
    return out


def _auto_or(kind: type[int] | type[float]) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None or value == "auto":
            return value
        try:
            return kind(value)
        except ValueError:
            raise click.BadParameter(f"expected 'auto' or a number, got {value!r}", ctx=ctx, param=param) from None

    return convert


def _method_param(
    method: str,
    hyperparameters: Mapping[str, Any],
    grader: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if hyperparameters:
        body["hyperparameters"] = dict(hyperparameters)
    if method == "reinforcement":
        if grader is None:
            raise click.UsageError("--method reinforcement needs --grader (JSON, or @file.json)")
        body["grader"] = _load_json_arg(grader, "--grader")
    elif grader is not None:
        raise click.UsageError("--grader is only for --method reinforcement")
    return {"type": method, method: body}


def _load_json_arg(value: str, name: str) -> Any:
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}", param_hint=name) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=name) from None


@click.command()
@click.option("--model", required=True, help="The base model, e.g. gpt-4.1-mini-2025-04-14.")
@click.option("--training-file", required=True, metavar="FILE_ID", help="The uploaded training file's id.")
@click.option("--validation-file", metavar="FILE_ID", help="The uploaded validation file's id.")
@click.option("--method", type=click.Choice(METHODS), default="supervised", show_default=True)
@click.option("--suffix", help="Up to 64 characters added to the fine-tuned model's name.")
@click.option("--seed", type=int, help="Seed for a reproducible job.")
@click.option("--metadata", multiple=True, metavar="KEY=VALUE", callback=_metadata, help="Metadata (repeatable).")
@click.option("--n-epochs", callback=_auto_or(int), metavar="N|auto", help="Epochs.")
@click.option("--batch-size", callback=_auto_or(int), metavar="N|auto", help="Batch size.")
@click.option("--learning-rate-multiplier", callback=_auto_or(float), metavar="X|auto", help="Learning rate factor.")
@click.option("--beta", callback=_auto_or(float), metavar="X|auto", help="DPO beta (--method dpo).")
@click.option("--grader", metavar="JSON|@FILE", help="The grader (--method reinforcement).")
@click.option("--wait", "wait_", is_flag=True, help="Then watch the job until it ends (as `wait` does).")
@client_options
@json_option
def create(
    model: str,
    training_file: str,
    validation_file: str | None,
    method: str,
    suffix: str | None,
    seed: int | None,
    metadata: dict[str, str] | None,
    n_epochs: Any,
    batch_size: Any,
    learning_rate_multiplier: Any,
    beta: Any,
    grader: str | None,
    wait_: bool,
    as_json: bool,
) -> int:
    """Start a fine-tuning job; prints its id.

    The SDK never starts two jobs for one create, even when an answer is lost and the request
    is retried. With --wait, follows the job like `wait` and exits 1 if it does not succeed.
    """
    hyper = {
        k: v
        for k, v in {
            "n_epochs": n_epochs,
            "batch_size": batch_size,
            "learning_rate_multiplier": learning_rate_multiplier,
            "beta": beta,
        }.items()
        if v is not None
    }
    if "beta" in hyper and method != "dpo":
        raise click.UsageError("--beta is only for --method dpo")
    method_param = _method_param(method, hyper, grader)
    settings = current_settings()

    async def create_then_watch(client: ft.AsyncClient) -> tuple[ft.FineTuningJob, ft.FineTuningJob | None]:
        if client.provider.capabilities.files_must_be_processed:
            # The provider refuses a job whose files are still being processed (Azure).
            for param, file_id in (("training_file", training_file), ("validation_file", validation_file)):
                if file_id is not None:
                    file = await client.files.wait_for_processing(file_id)
                    if file.status == ft.FileStatus.ERROR:
                        raise CommandError(
                            f"{file_id} could not be processed: {file.status_details or 'no details'}",
                            kind="file_error",
                            param=param,
                        )
        job = await client.fine_tuning.jobs.create(
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            method=method_param,
            suffix=suffix,
            seed=seed,
            metadata=metadata,
        )
        if not wait_:
            return job, None
        if not as_json:
            err_console().print(f"Created {job.id}; watching it (Ctrl-C stops watching, the job keeps running).")
        settings.interrupt_note = still_running_note(job.id)
        with JobView(err_console(), quiet=as_json) as view:
            final = await watch_job(client, job.id, view)
        view.summary(final)
        return job, final

    job, final = run_async(create_then_watch)
    if as_json:
        print_json(ft.to_dict(final or job))
    elif final is None:
        out_console().print(job.id)
    settings.interrupt_note = None
    return EXIT_OK if final is None or final.status == "succeeded" else EXIT_FAILED


@click.command(name="list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="How many jobs.")
@click.option("--after", metavar="JOB_ID", help="List the jobs after this one (the next page).")
@click.option("--metadata", multiple=True, metavar="KEY=VALUE", callback=_metadata, help="Only jobs with these.")
@client_options
@json_option
def list_(limit: int, after: str | None, metadata: dict[str, str] | None, as_json: bool) -> int:
    """List fine-tuning jobs, newest first, as a table.

    With --json, the API's list object: {"object": "list", "data": [jobs], "has_more"}.
    """

    async def list_jobs(client: ft.AsyncClient) -> ft.Page[ft.FineTuningJob]:
        return await client.fine_tuning.jobs.list(limit=limit, after=after, metadata=metadata)

    page = run_async(list_jobs)
    if as_json:
        print_json(list_object(page.data, has_more=page.has_more))
        return EXIT_OK
    console = out_console()
    if not page.data:
        console.print("No fine-tuning jobs.")
        return EXIT_OK
    console.print(jobs_table(page.data))
    if page.has_more:
        console.print(f"More: finetune-async list --after {page.data[-1].id}", style="dim")
    return EXIT_OK


@click.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def retrieve(job_id: str, as_json: bool) -> int:
    """Show a job: status, models, files, hyperparameters, tokens, times, error."""

    async def retrieve_job(client: ft.AsyncClient) -> ft.FineTuningJob:
        return await client.fine_tuning.jobs.retrieve(job_id)

    job = run_async(retrieve_job)
    if as_json:
        print_json(ft.to_dict(job))
    else:
        out_console().print(_job_details(job))
    return EXIT_OK


def _job_details(job: ft.FineTuningJob) -> Group:
    table = Table(show_header=False)
    table.add_column("", style="dim")
    table.add_column("")
    hp = job.hyperparameters
    rows: list[tuple[str, str | Text]] = [
        ("status", Text(str(job.status), style="bold")),
        ("model", job.model),
        ("fine-tuned model", job.fine_tuned_model or "-"),
        ("method", str(job.method.type) if job.method is not None else "-"),
        ("training file", job.training_file),
        ("validation file", job.validation_file or "-"),
        ("epochs / batch size / lr multiplier", f"{hp.n_epochs} / {hp.batch_size} / {hp.learning_rate_multiplier}"),
        ("trained tokens", f"{job.trained_tokens:,}" if job.trained_tokens is not None else "-"),
        ("created", fmt_time(job.created_at)),
        ("estimated finish", fmt_time(job.estimated_finish)),
        ("finished", fmt_time(job.finished_at)),
        ("result files", ", ".join(job.result_files) or "-"),
        ("seed", str(job.seed)),
        ("metadata", ", ".join(f"{k}={v}" for k, v in (job.metadata or {}).items()) or "-"),
    ]
    if job.error is not None:
        rows.append(("error", Text(f"{job.error.message} (code: {job.error.code})", style="red")))
    for key, value in rows:
        table.add_row(key, value)
    return titled(f"Fine-tuning job {job.id}", table)


def _steer(action: str, job_id: str, as_json: bool) -> int:
    """``cancel``, ``pause`` or ``resume`` the job (``action`` names the SDK's method); prints its new status."""

    async def steer_job(client: ft.AsyncClient) -> ft.FineTuningJob:
        jobs = client.fine_tuning.jobs
        call: Callable[[str], Awaitable[ft.FineTuningJob]] = getattr(jobs, action)
        return await call(job_id)

    job = run_async(steer_job)
    if as_json:
        print_json(ft.to_dict(job))
    else:
        out_console().print(Text(f"{job.id}: {job.status}"))
    return EXIT_OK


@click.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def cancel(job_id: str, as_json: bool) -> int:
    """Cancel a job (an error if it already ended)."""
    return _steer("cancel", job_id, as_json)


@click.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def pause(job_id: str, as_json: bool) -> int:
    """Pause a running job (resume it later with `resume`)."""
    return _steer("pause", job_id, as_json)


@click.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def resume(job_id: str, as_json: bool) -> int:
    """Resume a paused job."""
    return _steer("resume", job_id, as_json)

"""The click commands. Each one is a thin wrapper: parse, call the public API, render."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click
from rich.console import Group
from rich.table import Table
from rich.text import Text

import finetune_async as ft
from finetune_async.datasets import validate_dataset

from ._actions import (
    checkpoints_table,
    closing,
    jobs_table,
    print_metrics,
    print_report,
    titled,
    upload_files,
    watch_job,
)
from ._display import JobView
from ._metrics import PLOT_HINT, have_matplotlib, load_metrics, write_plot
from ._output import (
    describe_error,
    err_console,
    error_object,
    escape_controls,
    exception_object,
    fmt_clock,
    fmt_time,
    list_object,
    one_line,
    out_console,
    print_json,
    print_json_error,
    print_json_line,
    redact,
)

__all__ = ["cli", "run"]

T = TypeVar("T")

METHODS = ("supervised", "dpo", "reinforcement")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Settings:
    """What the group's options say, shared by every command through ``ctx.obj``."""

    def __init__(self, api_key: str | None, base_url: str | None) -> None:
        self.api_key = api_key
        self.base_url = base_url
        # Printed if Ctrl-C ends the command (set by commands that watch a job).
        self.interrupt_note: str | None = None

    def client(self) -> ft.AsyncClient:
        """A client from the options, or the SDK's environment variables."""
        return ft.AsyncClient(api_key=self.api_key, base_url=self.base_url)

    def secrets(self) -> list[str | None]:
        return [self.api_key, os.environ.get("OPENAI_API_KEY")]


# The settings of the command being run, for the error handler in :func:`run`.
_current: list[Settings] = []


class CommandError(click.ClickException):
    """A command's own failure: one ``error:`` line, or with ``--json`` an error object whose
    ``type`` (``kind``), ``code`` and ``param`` (and any ``extra`` fields) say what failed
    (exit 1 unless ``exit_code`` says otherwise)."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        code: str | None = None,
        param: str | None = None,
        exit_code: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.kind = kind
        self.code = code
        self.param = param
        self.extra = extra

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {escape_controls(self.message)}", err=True)

    def as_object(self) -> dict[str, Any]:
        """The ``--json`` error object."""
        return error_object(self.message, kind=self.kind, code=self.code, param=self.param, **self.extra)


class Interrupted(Exception):
    """Ctrl-C while a command's event loop ran (raised instead of KeyboardInterrupt so that
    click does not print its own blank line first, which would break ``--json``'s one line)."""


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with Ctrl-C raised as :class:`Interrupted`."""
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        raise Interrupted from None


class NoApiKey(CommandError):
    """No API key was given or found (exit 2, like any usage error)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="usage_error", code="missing_api_key", param="--api-key")


def _settings() -> Settings:
    return click.get_current_context().find_object(Settings) or Settings(None, None)


def run_async(factory: Callable[[ft.AsyncClient], Awaitable[T]]) -> T:
    """Run ``factory(client)`` on a fresh event loop with a client that is closed afterwards."""
    settings = _settings()
    try:
        client = settings.client()
    except ft.FineTuneError:
        raise NoApiKey(
            "no API key: set OPENAI_API_KEY or pass --api-key (`finetune-async demo` runs without one)"
        ) from None

    async def main() -> T:
        async with client:
            return await factory(client)

    return run_loop(main())


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's shapes) instead of text.")


def _set_setting(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    settings = ctx.find_object(Settings)
    if value is not None and settings is not None and param.name is not None:
        setattr(settings, param.name, value)


def client_options(command: Callable[..., T]) -> Callable[..., T]:
    """``--api-key`` and ``--base-url`` after the command name too (they override the group's)."""
    command = click.option(
        "--base-url", metavar="URL", expose_value=False, callback=_set_setting, help="API base URL."
    )(command)
    return click.option("--api-key", metavar="KEY", expose_value=False, callback=_set_setting, help="API key.")(command)


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--api-key", metavar="KEY", default=None, help="API key (default: $OPENAI_API_KEY).")
@click.option(
    "--base-url",
    metavar="URL",
    default=None,
    help="API base URL (default: $OPENAI_BASE_URL, else https://api.openai.com/v1).",
)
@click.version_option(ft.__version__, "--version", prog_name="finetune-async")
@click.pass_context
def cli(ctx: click.Context, api_key: str | None, base_url: str | None) -> None:
    """Fine-tune OpenAI models from the terminal: upload data, start and watch jobs, read metrics.

    Uses the SDK's environment variables: OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID and
    OPENAI_PROJECT_ID. Try `finetune-async demo`: it runs the whole flow on an embedded
    emulator in about ten seconds, with or without an API key (`demo --live` uses the real
    service, after asking).

    Every command takes --json: its data in the API's own shapes on stdout, and an error as
    one JSON object on stderr ({"error": {"message", "type", "param", "code", "status",
    "request_id"}}).

    Exit status: 0 done, 1 the job or the validation (or a request) failed, 2 usage, 130
    interrupted (a job being watched keeps running).
    """
    settings = Settings(api_key, base_url)
    _current.append(settings)
    ctx.obj = settings


# -- datasets and files -----------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="The training method to check the lines for (default: recognised from the lines' shape).",
)
@json_option
def validate(file: str, method: str | None, as_json: bool) -> int:
    """Check a JSONL training file before paying for a job.

    Prints every problem with its line number (exit 1), or the statistics: examples, tokens,
    the epochs the API would choose and an estimate of the billed tokens (exit 0). Reads the
    file only; nothing is sent.
    """
    report = validate_dataset(file, method=method)
    if as_json:
        print_json(report.as_dict())
    else:
        print_report(out_console(), report)
    return EXIT_OK if report.ok else EXIT_FAILED


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--purpose", default="fine-tune", show_default=True, help="The file's purpose.")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="The training method to validate the file for (default: recognised from the lines' shape).",
)
@click.option("--no-validate", is_flag=True, help="Upload without validating first.")
@client_options
@json_option
def upload(file: str, purpose: str, method: str | None, no_validate: bool, as_json: bool) -> int:
    """Upload a file, with a progress bar; prints its file id.

    A fine-tune file is validated first (as `validate` does) and not uploaded if it has
    problems (exit 1). Files over 512 MB go up in parts through the Uploads API.
    """
    if purpose == "fine-tune" and not no_validate:
        report = validate_dataset(file, method=method)
        if not report.ok:
            if as_json:
                raise CommandError(
                    f"{os.path.basename(file)}: {report.n_problems} problem(s) for {report.method}; not uploaded"
                    " (pass --no-validate to upload anyway)",
                    kind="invalid_file",
                    code="validation_failed",
                    param="FILE",
                    problems=report.as_dict()["problems"],
                )
            print_report(err_console(), report, stats=False)
            err_console().print("Not uploaded (pass --no-validate to upload anyway).")
            return EXIT_FAILED
        if not as_json:
            print_report(err_console(), report, stats=False)

    async def go(client: ft.AsyncClient) -> ft.FileObject:
        (result,) = await upload_files(client, err_console(), [file], purpose=purpose, quiet=as_json)
        return result

    uploaded = run_async(go)
    if as_json:
        print_json(ft.to_dict(uploaded))
    else:
        out_console().print(uploaded.id)
    return EXIT_OK


# -- jobs -------------------------------------------------------------------------------------


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


@cli.command()
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

    async def go(client: ft.AsyncClient) -> tuple[ft.FineTuningJob, ft.FineTuningJob | None]:
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
        _settings().interrupt_note = _still_running(job.id)
        with JobView(err_console(), quiet=as_json) as view:
            final = await watch_job(client, job.id, view)
        view.summary(final)
        return job, final

    settings = _settings()
    job, final = run_async(go)
    if as_json:
        print_json(ft.to_dict(final or job))
    elif final is None:
        out_console().print(job.id)
    settings.interrupt_note = None
    return EXIT_OK if final is None or final.status == "succeeded" else EXIT_FAILED


@cli.command(name="list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="How many jobs.")
@click.option("--after", metavar="JOB_ID", help="List the jobs after this one (the next page).")
@click.option("--metadata", multiple=True, metavar="KEY=VALUE", callback=_metadata, help="Only jobs with these.")
@client_options
@json_option
def list_(limit: int, after: str | None, metadata: dict[str, str] | None, as_json: bool) -> int:
    """List fine-tuning jobs, newest first, as a table.

    With --json, the API's list object: {"object": "list", "data": [jobs], "has_more"}.
    """

    async def go(client: ft.AsyncClient) -> ft.Page[ft.FineTuningJob]:
        return await client.fine_tuning.jobs.list(limit=limit, after=after, metadata=metadata)

    page = run_async(go)
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


@cli.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def retrieve(job_id: str, as_json: bool) -> int:
    """Show a job: status, models, files, hyperparameters, tokens, times, error."""

    async def go(client: ft.AsyncClient) -> ft.FineTuningJob:
        return await client.fine_tuning.jobs.retrieve(job_id)

    job = run_async(go)
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


def _still_running(job_id: str) -> str:
    return (
        f"Stopped watching. Job {job_id} is still running (it was not cancelled): "
        f"`finetune-async wait {job_id}` to watch it again, `finetune-async cancel {job_id}` to stop it."
    )


def _event_line(event: ft.FineTuningJobEvent) -> Text:
    line = Text(f"{fmt_clock(event.created_at)}  ", style="dim")
    style = {"warn": "yellow", "error": "red"}.get(str(event.level), "")
    line.append(event.message, style=style)
    return line


@cli.command()
@click.argument("job_id", metavar="JOB")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until the job ends.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Most recent events.")
@client_options
@json_option
def events(job_id: str, follow: bool, limit: int, as_json: bool) -> int:
    """Print a job's events, oldest first.

    With --follow, prints every event and then each new one as it happens, until the job ends;
    exits 1 if it did not succeed. Ctrl-C stops following (exit 130), the job keeps running.
    With --json, the API's list object ({"object": "list", "data": [events], "has_more"},
    oldest first as printed; has_more says older events were left out), or with --follow one
    event object per line as they come.
    """
    settings = _settings()
    console = out_console()

    async def follow_events(client: ft.AsyncClient) -> ft.FineTuningJob:
        # Fail fast (404) before settling into the stream.
        await client.fine_tuning.jobs.retrieve(job_id)
        settings.interrupt_note = _still_running(job_id)
        async with closing(ft.stream_events(client, job_id)) as stream:
            async for event in stream:
                if as_json:
                    print_json_line(ft.to_dict(event))
                else:
                    console.print(_event_line(event))
        return await client.fine_tuning.jobs.retrieve(job_id)

    async def recent(client: ft.AsyncClient) -> ft.Page[ft.FineTuningJobEvent]:
        return await client.fine_tuning.jobs.list_events(job_id, limit=limit)

    if follow:
        job = run_async(follow_events)
        settings.interrupt_note = None
        return EXIT_OK if job.status == "succeeded" else EXIT_FAILED
    page = run_async(recent)
    found = list(reversed(page.data))
    if as_json:
        print_json(list_object(found, has_more=page.has_more))
    else:
        for event in found:
            console.print(_event_line(event))
    return EXIT_OK


@cli.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def checkpoints(job_id: str, as_json: bool) -> int:
    """List a job's checkpoints (the last epochs), with their metrics, as a table.

    With --json, the API's list object: {"object": "list", "data": [every checkpoint], "has_more": false}.
    """

    async def go(client: ft.AsyncClient) -> list[ft.FineTuningJobCheckpoint]:
        return [ck async for ck in client.fine_tuning.jobs.checkpoints.list(job_id)]

    found = run_async(go)
    if as_json:
        print_json(list_object(found))
    elif not found:
        out_console().print(f"No checkpoints for {job_id} yet.")
    else:
        out_console().print(checkpoints_table(found))
    return EXIT_OK


def _transition(action: str, job_id: str, as_json: bool) -> int:
    async def go(client: ft.AsyncClient) -> ft.FineTuningJob:
        jobs = client.fine_tuning.jobs
        call: Callable[[str], Awaitable[ft.FineTuningJob]] = getattr(jobs, action)
        return await call(job_id)

    job = run_async(go)
    if as_json:
        print_json(ft.to_dict(job))
    else:
        out_console().print(Text(f"{job.id}: {job.status}"))
    return EXIT_OK


@cli.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def cancel(job_id: str, as_json: bool) -> int:
    """Cancel a job (an error if it already ended)."""
    return _transition("cancel", job_id, as_json)


@cli.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def pause(job_id: str, as_json: bool) -> int:
    """Pause a running job (resume it later with `resume`)."""
    return _transition("pause", job_id, as_json)


@cli.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def resume(job_id: str, as_json: bool) -> int:
    """Resume a paused job."""
    return _transition("resume", job_id, as_json)


@cli.command()
@click.argument("job_id", metavar="JOB")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="SECONDS", help="Give up waiting after this long.")
@client_options
@json_option
def wait(job_id: str, timeout: float | None, as_json: bool) -> int:
    """Watch a job until it ends: a progress bar of its steps, the current training and
    validation loss, and the time left (from the job's estimated finish).

    Exits 0 when the job succeeded, 1 when it failed, was cancelled or --timeout passed.
    Ctrl-C stops watching (exit 130); the job keeps running. Not on a terminal, prints its
    events as lines instead of a bar. With --json, prints only the final job.
    """
    settings = _settings()
    settings.interrupt_note = _still_running(job_id)

    async def go(client: ft.AsyncClient) -> ft.FineTuningJob:
        with JobView(err_console(), quiet=as_json) as view, anyio.fail_after(timeout):
            job = await watch_job(client, job_id, view)
        view.summary(job)
        return job

    try:
        job = run_async(go)
    except TimeoutError:
        raise CommandError(
            f"job {job_id} did not end within {timeout:g}s; it keeps running.", kind="timeout", param="--timeout"
        ) from None
    settings.interrupt_note = None
    if as_json:
        print_json(ft.to_dict(job))
    elif job.status == "succeeded" and job.fine_tuned_model:
        out_console().print(job.fine_tuned_model)
    return EXIT_OK if job.status == "succeeded" else EXIT_FAILED


@cli.command()
@click.argument("job_id", metavar="JOB")
@click.option("--plot", "plot_path", metavar="PNG", help="Also write loss and accuracy curves to this PNG.")
@client_options
@json_option
def metrics(job_id: str, plot_path: str | None, as_json: bool) -> int:
    """Show a job's training metrics: train and validation loss and accuracy as terminal charts.

    Reads the job's result file (step_metrics.csv); for a job still running, its metrics
    events so far. --plot writes the curves to a PNG (needs matplotlib:
    pip install 'finetune-async[plot]').
    """
    if plot_path is not None and not have_matplotlib():
        raise click.UsageError(f"--plot needs matplotlib, which is not installed: {PLOT_HINT}")

    result = run_async(lambda client: load_metrics(client, job_id))
    if plot_path is not None and result.rows:
        write_plot(result, plot_path)
    if as_json:
        data = result.as_dict()
        data["plot"] = plot_path if plot_path is not None and result.rows else None
        print_json(data)
        return EXIT_OK
    console = out_console()
    print_metrics(console, result)
    if plot_path is not None and result.rows:
        console.print(f"Wrote {plot_path}")
    return EXIT_OK


# -- emulator and demo -------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=8089, show_default=True, help="Port (0 picks a free one).")
@click.option("--job-seconds", type=float, default=60.0, show_default=True, help="How long a whole job takes.")
@click.option("--faults", metavar="SPEC", help="Fault injection, e.g. 'rate=0.2,kinds=429+reset'.")
@click.option("--data-dir", metavar="DIR", help="Keep state in SQLite under DIR (survives restarts).")
@click.option("--webhook-url", metavar="URL", help="POST signed fine_tuning.job.* webhooks here.")
@click.option("--webhook-secret", metavar="S", help="The whsec_… secret that signs webhooks.")
@click.option("--api-key", "api_keys", multiple=True, metavar="KEY", help="Accept only these keys (repeatable).")
@json_option
def emulator(
    host: str,
    port: int,
    job_seconds: float,
    faults: str | None,
    data_dir: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    api_keys: tuple[str, ...],
    as_json: bool,
) -> int:
    """Serve a local emulator of the fine-tuning API until Ctrl-C.

    Point any client at it: OPENAI_BASE_URL=http://127.0.0.1:8089/v1 (any API key works
    unless --api-key is given). With --json, prints one line once it listens, for scripts:
    {"object": "emulator", "base_url", "azure_endpoint", "host", "port", "pid"}.
    """
    from finetune_async.emulator import main as emulator_main

    argv = ["--host", host, "--port", str(port), "--job-seconds", str(job_seconds)]
    for flag, value in (
        ("--faults", faults),
        ("--data-dir", data_dir),
        ("--webhook-url", webhook_url),
        ("--webhook-secret", webhook_secret),
    ):
        if value is not None:
            argv += [flag, value]
    for key in api_keys:
        argv += ["--api-key", key]
    try:
        if as_json:
            from ._serve import serve_emulator_json

            return serve_emulator_json(argv)
        return emulator_main(argv)
    except SystemExit as exc:  # argparse refusing an argument (e.g. a bad --faults spec)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


@cli.command()
@click.option("--live", is_flag=True, help="Run on the real service (OPENAI_API_KEY, OPENAI_BASE_URL), after asking.")
@click.option("--yes", "-y", is_flag=True, help="With --live: do not ask before starting a paid job.")
@click.option("--model", default="gpt-4.1-mini-2025-04-14", show_default=True, help="The base model.")
@click.option(
    "--job-seconds",
    type=click.FloatRange(min=0.5),
    default=9.0,
    show_default=True,
    help="How long the embedded emulator's job takes.",
)
@client_options
@json_option
def demo(live: bool, yes: bool, model: str, job_seconds: float, as_json: bool) -> int:
    """The whole flow on a bundled sample dataset: validate, upload, create, watch, checkpoints, metrics.

    Runs on an emulator of the API embedded in this process, in about ten seconds: no network,
    no cost, and an OPENAI_API_KEY or OPENAI_BASE_URL in the environment is neither used nor
    sent anywhere. With --live it runs on the configured service instead: it validates, says
    what the job would cost (epochs, billed tokens) and asks before sending anything (--yes
    skips the question; without a terminal --yes is required).
    """
    from ._demo import run_demo

    settings = _settings()
    return run_demo(settings, live=live, yes=yes, model=model, job_seconds=job_seconds, as_json=as_json)


# -- running ----------------------------------------------------------------------------------


def _all_commands() -> click.Group:
    """The group with every command: ``batch`` lives in its own module, which imports this
    one's helpers, so it is added here, at first use, rather than at import time."""
    from ._batch import batch

    if "batch" not in cli.commands:
        cli.add_command(batch)
    return cli


def _wants_json(argv: list[str]) -> bool:
    """Whether ``--json`` was given (before a ``--``): errors are then JSON too, also those
    click raises while parsing, before any option is read."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def run(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status. Errors are one line on stderr, never a traceback:
    with ``--json``, one JSON error object (see :func:`._output.error_object`)."""
    _current.clear()
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        result = _all_commands().main(args=args, prog_name="finetune-async", standalone_mode=False)
    except (click.exceptions.Abort, Interrupted) as exc:
        # Ctrl-C: while an event loop ran (Interrupted), or elsewhere (click turns KeyboardInterrupt
        # into Abort, after a newline of its own). A watched job keeps running.
        note = (_current[-1].interrupt_note if _current else None) or "Interrupted."
        if as_json:
            _print_error(error_object(note, kind="interrupted"))
        else:
            # A line of its own after the terminal's "^C" (click's Abort printed one already).
            click.echo(("\n" if isinstance(exc, Interrupted) else "") + note, err=True)
        return EXIT_INTERRUPTED
    except CommandError as exc:
        if as_json:
            _print_error(exc.as_object())
        else:
            exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        if as_json:
            _print_error(_usage_object(exc))
        else:
            exc.show()
        return exc.exit_code
    except (ft.FineTuneError, TimeoutError, OSError) as exc:
        _report(exc, as_json)
        return EXIT_FAILED
    except Exception as exc:
        if os.environ.get("FINETUNE_ASYNC_DEBUG"):
            raise
        hint = "(FINETUNE_ASYNC_DEBUG=1 shows the traceback)"
        _report(RuntimeError(f"unexpected {type(exc).__name__}: {exc} {hint}"), as_json)
        return EXIT_FAILED
    return result if isinstance(result, int) else EXIT_OK


def _usage_object(exc: click.ClickException) -> dict[str, Any]:
    """A click error (a bad option, a missing argument) as an error object of type ``usage_error``."""
    param = getattr(exc, "param", None)
    name = None
    if isinstance(param, click.Parameter):
        name = param.opts[0] if isinstance(param, click.Option) and param.opts else param.human_readable_name
    elif getattr(exc, "option_name", None):  # NoSuchOption, BadOptionUsage
        name = str(getattr(exc, "option_name", ""))
    return error_object(exc.format_message(), kind="usage_error", param=name)


def _print_error(body: dict[str, Any]) -> None:
    settings = _current[-1] if _current else Settings(None, None)
    error = body["error"]
    for field in ("message", "param", "code"):
        if isinstance(error.get(field), str):
            error[field] = redact(error[field], settings.secrets())
    print_json_error(body)


def _report(exc: BaseException, as_json: bool) -> None:
    settings = _current[-1] if _current else Settings(None, None)
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL")
    if as_json:
        _print_error(exception_object(exc, base_url=base_url))
        return
    # The message is the server's words: shown with its control characters escaped.
    click.echo(escape_controls(one_line(redact(describe_error(exc, base_url=base_url), settings.secrets()))), err=True)

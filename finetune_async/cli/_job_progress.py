"""Commands that follow a job and read what it produced: ``wait``, ``events``,
``checkpoints`` and ``metrics``."""

from __future__ import annotations

import anyio
import click
from rich.text import Text

import finetune_async as ft
from finetune_async.polling import _StateEvents

from ._actions import checkpoints_table, closing, print_metrics, watch_job
from ._context import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    client_options,
    current_settings,
    json_option,
    run_async,
    still_running_note,
)
from ._display import JobView
from ._metrics import PLOT_HINT, have_matplotlib, load_metrics, write_plot
from ._output import err_console, fmt_clock, list_object, out_console, print_json, print_json_line

__all__ = ["checkpoints", "events", "metrics", "wait"]


@click.command()
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
    settings = current_settings()
    settings.interrupt_note = still_running_note(job_id)

    async def watch_until_done(client: ft.AsyncClient) -> ft.FineTuningJob:
        with JobView(err_console(), quiet=as_json) as view, anyio.fail_after(timeout):
            job = await watch_job(client, job_id, view)
        view.summary(job)
        return job

    try:
        job = run_async(watch_until_done)
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


def _event_line(event: ft.FineTuningJobEvent) -> Text:
    line = Text(f"{fmt_clock(event.created_at)}  ", style="dim")
    style = {"warn": "yellow", "error": "red"}.get(str(event.level), "")
    line.append(event.message, style=style)
    return line


@click.command()
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
    event object per line as they come. Where the provider has no events list (Fireworks), the
    events are those made from the job's state and progress, as --follow and the SDK's
    stream_events make them: its status, then its progress.
    """
    settings = current_settings()
    console = out_console()

    async def follow_events(client: ft.AsyncClient) -> ft.FineTuningJob:
        # Fail fast (404) before settling into the stream.
        await client.fine_tuning.jobs.retrieve(job_id)
        settings.interrupt_note = still_running_note(job_id)
        async with closing(ft.stream_events(client, job_id)) as stream:
            async for event in stream:
                if as_json:
                    print_json_line(ft.to_dict(event))
                else:
                    console.print(_event_line(event))
        return await client.fine_tuning.jobs.retrieve(job_id)

    async def recent_events(client: ft.AsyncClient) -> ft.Page[ft.FineTuningJobEvent]:
        if not client.provider.capabilities.events:
            # No events list (Fireworks): the events stream_events makes from the job, as it is now.
            return await _StateEvents(client, job_id)(None, limit)
        return await client.fine_tuning.jobs.list_events(job_id, limit=limit)

    if follow:
        job = run_async(follow_events)
        settings.interrupt_note = None
        return EXIT_OK if job.status == "succeeded" else EXIT_FAILED
    page = run_async(recent_events)
    found = list(reversed(page.data))
    if as_json:
        print_json(list_object(found, has_more=page.has_more))
    else:
        for event in found:
            console.print(_event_line(event))
    return EXIT_OK


@click.command()
@click.argument("job_id", metavar="JOB")
@client_options
@json_option
def checkpoints(job_id: str, as_json: bool) -> int:
    """List a job's checkpoints (the last epochs), with their metrics, as a table.

    With --json, the API's list object: {"object": "list", "data": [every checkpoint], "has_more": false}.
    """

    async def list_checkpoints(client: ft.AsyncClient) -> list[ft.FineTuningJobCheckpoint]:
        return [ck async for ck in client.fine_tuning.jobs.checkpoints.list(job_id)]

    found = run_async(list_checkpoints)
    if as_json:
        print_json(list_object(found))
    elif not found:
        out_console().print(f"No checkpoints for {job_id} yet.")
    else:
        out_console().print(checkpoints_table(found))
    return EXIT_OK


@click.command()
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

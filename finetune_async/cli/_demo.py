"""``finetune-async demo``: the whole flow on the bundled sample dataset.

Everything runs against an in-process :class:`~finetune_async.emulator.Emulator` (no network,
about ten seconds), whatever the environment holds: an ``OPENAI_API_KEY`` is never used or
sent. With ``--live`` the same flow runs against the configured service, after saying what it
would spend and asking.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from importlib import resources
from typing import Any

import click
from rich.console import Console
from rich.text import Text

import finetune_async as ft

from ._actions import checkpoints_table, print_metrics, print_report, upload_files, watch_job
from ._context import (
    EXIT_FAILED,
    EXIT_OK,
    NoApiKey,
    Settings,
    client_options,
    current_settings,
    json_option,
    run_loop,
    still_running_note,
)
from ._display import JobView
from ._metrics import load_metrics
from ._output import err_console, fmt_duration, out_console, print_json

__all__ = ["demo", "run_demo"]

SUFFIX = "demo"
DEMO_KEY = "sk-emulator-demo"


def _step(console: Console, number: int, title: str) -> None:
    console.print()
    console.print(Text(f"[{number}/6] {title}", style="bold blue"))


@click.command()
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
    return run_demo(current_settings(), live=live, yes=yes, model=model, job_seconds=job_seconds, as_json=as_json)


def run_demo(settings: Settings, *, live: bool, yes: bool, model: str, job_seconds: float, as_json: bool) -> int:
    """Run the demo; the exit status (0 when the job succeeded).

    ``live`` runs it on the configured service (raises :class:`NoApiKey` without a key,
    and :class:`click.UsageError` when it cannot ask and ``yes`` is not given).
    """
    console = out_console()
    real = live
    have_key = bool(settings.api_key or os.environ.get("OPENAI_API_KEY"))
    if real and not have_key:
        raise NoApiKey("demo --live needs an API key: set OPENAI_API_KEY or pass --api-key")
    quiet = as_json
    data = resources.files("finetune_async.data")
    with (
        resources.as_file(data / "sample_train.jsonl") as train_path,
        resources.as_file(data / "sample_valid.jsonl") as valid_path,
    ):
        train, valid = str(train_path), str(valid_path)
        started = time.monotonic()
        if not quiet:
            console.print(Text(f"finetune-async demo: a supervised fine-tune of {model}", style="bold"))
            if real:
                console.print("On the API, with your key.")
            elif have_key:
                console.print(
                    "On a local emulator of the API: your OPENAI_API_KEY is not used and nothing leaves this"
                    " machine (`finetune-async demo --live` runs it on the real service)."
                )
            else:
                console.print("On a local emulator of the API: no OPENAI_API_KEY, so nothing leaves this machine.")
            _step(console, 1, "Validate the sample dataset")
        reports = [ft.validate_dataset(train, method="supervised"), ft.validate_dataset(valid, method="supervised")]
        if not quiet:
            print_report(console, reports[0])
            print_report(console, reports[1], stats=False)
        if not all(r.ok for r in reports):
            return EXIT_FAILED
        if real and not _confirm(settings, reports[0], model, yes=yes):
            return EXIT_OK
        summary = run_loop(_flow(settings, console, train, valid, model, real, job_seconds, quiet))
    summary["validation"] = reports[0].as_dict()
    elapsed = time.monotonic() - started
    job: ft.FineTuningJob = summary.pop("_job")
    if as_json:
        summary["seconds"] = round(elapsed, 1)
        print_json(summary)
    else:
        console.print()
        console.print(Text(f"Demo done in {fmt_duration(elapsed)}.", style="bold"))
        if not real:
            console.print("Next: `finetune-async emulator` serves the same API on port 8089 for your own code;")
            console.print("`finetune-async demo --live` runs this demo on the real service (it asks first).")
    return EXIT_OK if job.status == "succeeded" else EXIT_FAILED


def _confirm(settings: Settings, report: ft.DatasetReport, model: str, *, yes: bool) -> bool:
    """Say what the job would spend and ask; False when the answer is no."""
    s = report.stats
    target = settings.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    err = err_console()
    err.print()
    err.print(
        Text.assemble(
            ("This will use your API key on ", ""),
            (target, "bold"),
            (": upload 2 small files and start a fine-tuning job of ", ""),
            (model, "bold"),
            (f" on {s.n_examples} examples for {s.epochs} epochs (the API's default), about ", ""),
            (f"{s.billed_tokens:,} billed training tokens", "bold"),
            (" (an estimate from the validator). You pay for these at your plan's training price.", ""),
        )
    )
    if yes:
        return True
    if not sys.stdin.isatty():
        raise click.UsageError("refusing to start a paid job without confirmation: run in a terminal or pass --yes")
    if not click.confirm("Start it?", default=False, err=True):
        err.print("Nothing was sent.")
        return False
    return True


async def _flow(
    settings: Settings,
    console: Console,
    train: str,
    valid: str,
    model: str,
    real: bool,
    job_seconds: float,
    quiet: bool,
) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        if real:
            client = settings.client()
        else:
            from finetune_async.emulator import Emulator

            emu = await stack.enter_async_context(Emulator(job_seconds=job_seconds))
            client = ft.AsyncClient(api_key=DEMO_KEY, base_url=emu.base_url)
        await stack.enter_async_context(client)

        if not quiet:
            _step(console, 2, "Upload")
        train_file, valid_file = await upload_files(client, console, [train, valid], quiet=quiet)

        if not quiet:
            _step(console, 3, "Create the job")
        job = await client.fine_tuning.jobs.create(
            model=model,
            training_file=train_file.id,
            validation_file=valid_file.id,
            method={"type": "supervised", "supervised": {}},
            suffix=SUFFIX,
            metadata={"created_by": "finetune-async demo"},
        )
        if not quiet:
            line = Text("✓ Created ")
            line.append(job.id, style="bold")
            line.append(f" ({job.status})")
            console.print(line)
            _step(console, 4, "Train: live events")
        settings.interrupt_note = "Demo interrupted; the emulator and its job are gone."
        if real:
            settings.interrupt_note = still_running_note(job.id)
        with JobView(console, quiet=quiet) as view:
            final = await watch_job(client, job.id, view)
        view.summary(final)
        settings.interrupt_note = None

        if not quiet:
            _step(console, 5, "Checkpoints")
        ckpts = [ck async for ck in client.fine_tuning.jobs.checkpoints.list(job.id)]
        if not quiet:
            console.print(checkpoints_table(ckpts) if ckpts else "No checkpoints.")

        if not quiet:
            _step(console, 6, "Metrics (from the job's result file)")
        metrics = await load_metrics(client, job.id)
        if not quiet:
            print_metrics(console, metrics)
            final_values = metrics.final()
            console.print(
                "Final: "
                + "  ".join(
                    f"{name.replace('_', ' ')} {value:.3f}" for name, value in final_values.items() if value is not None
                )
            )
        metrics_summary = metrics.as_dict()
        metrics_summary.pop("rows")
        return {
            "mode": "api" if real else "emulator",
            "files": [ft.to_dict(train_file), ft.to_dict(valid_file)],
            "job": ft.to_dict(final),
            "checkpoints": [ft.to_dict(c) for c in ckpts],
            "metrics": metrics_summary,
            "_job": final,
        }

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
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

import finetune_async as ft
from finetune_async.datasets import DatasetReport, validate_dataset

from ._actions import checkpoints_table, print_metrics, print_report, upload_files, watch_job
from ._display import JobView
from ._metrics import load_metrics
from ._output import err_console, fmt_duration, out_console, print_json

if TYPE_CHECKING:
    from ._app import Settings

__all__ = ["run_demo"]

SUFFIX = "demo"
DEMO_KEY = "sk-emulator-demo"


def _step(console: Console, number: int, title: str) -> None:
    console.print()
    console.print(Text(f"[{number}/6] {title}", style="bold blue"))


def run_demo(settings: Settings, *, live: bool, yes: bool, model: str, job_seconds: float, as_json: bool) -> int:
    """Run the demo; the exit status (0 when the job succeeded).

    ``live`` runs it on the configured service (raises the CLI's no-key error without a key,
    and :class:`click.UsageError` when it cannot ask and ``yes`` is not given).
    """
    console = out_console()
    real = live
    have_key = bool(settings.api_key or os.environ.get("OPENAI_API_KEY"))
    if real and not have_key:
        from ._app import NoApiKey

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
        reports = [validate_dataset(train, method="supervised"), validate_dataset(valid, method="supervised")]
        if not quiet:
            print_report(console, reports[0])
            print_report(console, reports[1], stats=False)
        if not all(r.ok for r in reports):
            return 1
        if real and not _confirm(settings, reports[0], model, yes=yes):
            return 0
        from ._app import run_loop

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
    return 0 if job.status == "succeeded" else 1


def _confirm(settings: Settings, report: DatasetReport, model: str, *, yes: bool) -> bool:
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
            settings.interrupt_note = (
                f"Stopped watching. Job {job.id} is still running (it was not cancelled): "
                f"`finetune-async wait {job.id}` to watch it again, `finetune-async cancel {job.id}` to stop it."
            )
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

"""A hyperparameter sweep as one batch: every (epochs, learning rate) pair is a fine-tune.

    python examples/batch_sweep.py                       # on an embedded emulator, no API key needed
    python examples/batch_sweep.py --epochs 1 2 3 --lr 0.5 1 2 --max-concurrent 4
    OPENAI_API_KEY=sk-... python examples/batch_sweep.py --train my.jsonl --valid my_valid.jsonl

``ft.run_batch`` validates the files and uploads each once, starts at most ``--max-concurrent``
jobs at a time, and records everything in a journal (``--journal``). Kill the script (even
with ``kill -9``) and run the same command again: it picks up the jobs that exist and starts
only the missing ones. Against the embedded emulator the jobs live only as long as the
script (and the journal is kept in memory); use ``finetune-async emulator --data-dir DIR``,
``OPENAI_BASE_URL`` and ``--journal`` to try that. Compare the results with
``finetune-async metrics JOB``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
from collections.abc import AsyncIterator
from importlib import resources

import anyio

import finetune_async as ft

MODEL = "gpt-4o-mini-2024-07-18"


@contextlib.asynccontextmanager
async def make_client(job_seconds: float) -> AsyncIterator[ft.AsyncClient]:
    """A client of the real API when OPENAI_API_KEY is set, else of an embedded emulator."""
    if os.environ.get("OPENAI_API_KEY"):
        async with ft.AsyncClient() as client:
            yield client
        return
    from finetune_async.emulator import Emulator

    async with (
        Emulator(job_seconds=job_seconds) as emu,
        ft.AsyncClient(api_key="sk-emulator", base_url=emu.base_url) as client,
    ):
        print(f"(no OPENAI_API_KEY: using an embedded emulator at {emu.base_url})")
        yield client


def sweep_specs(args: argparse.Namespace) -> list[ft.BatchSpec]:
    """One spec per point of the grid; the key says which point, so it is stable across runs."""
    return [
        ft.BatchSpec(
            key=f"sweep-e{epochs}-lr{lr:g}",
            training_file=args.train,
            validation_file=args.valid,
            model=args.model,
            method="supervised",
            hyperparameters=ft.SupervisedHyperparameters(n_epochs=epochs, learning_rate_multiplier=lr),
            suffix=f"e{epochs}-lr{lr:g}".replace(".", "p"),
            seed=args.seed,
            metadata={"sweep": args.name},
        )
        for epochs, lr in itertools.product(args.epochs, args.lr)
    ]


def show(result: ft.SpecResult) -> None:
    """``on_update``: one line each time a spec ends."""
    if result.finished:
        detail = result.fine_tuned_model or result.error or ""
        print(f"  {result.key:<20} {result.status:<10} {detail}")


async def main(args: argparse.Namespace) -> int:
    specs = sweep_specs(args)
    print(f"sweep {args.name!r}: {len(specs)} fine-tunes, at most {args.max_concurrent} at a time")
    # A journal on disk only for a server that outlives the script: the embedded emulator does not.
    journal = args.journal or (f"{args.name}.sqlite" if os.environ.get("OPENAI_API_KEY") else None)
    async with make_client(args.job_seconds) as client:
        report = await ft.run_batch(
            client,
            specs,
            max_concurrent=args.max_concurrent,
            journal=journal,
            batch_id=args.name,
            on_update=show,
        )
    print(f"\nbatch {report.batch_id}: {len(report.succeeded)}/{len(report)} succeeded")
    for result in report:
        tokens = f"{result.trained_tokens:,}" if result.trained_tokens is not None else "-"
        duration = f"{result.duration:.0f}s" if result.duration is not None else "-"
        model = result.fine_tuned_model or ""
        print(f"  {result.key:<20} {result.status:<10} tokens {tokens:>8}  {duration:>6}  {model}")
    return 0 if report.ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    sample = resources.files("finetune_async.data")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default=str(sample / "sample_train.jsonl"), help="training JSONL (default: a sample)")
    p.add_argument("--valid", default=str(sample / "sample_valid.jsonl"), help="validation JSONL (default: a sample)")
    p.add_argument("--model", default=MODEL)
    p.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 3], help="epochs to try (default: 1 2 3)")
    p.add_argument("--lr", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="learning rate multipliers")
    p.add_argument("--seed", type=int, default=42, help="the same seed for every job, so only the grid varies")
    p.add_argument("--name", default="sweep-demo", help="the batch id (a new name runs the sweep again)")
    p.add_argument("--max-concurrent", type=int, default=4, help="jobs at once (default: 4)")
    p.add_argument(
        "--journal", default=None, help="SQLite journal (default: NAME.sqlite with an API key, else in memory)"
    )
    p.add_argument("--job-seconds", type=float, default=3.0, help="emulator only: how long a job takes")
    return p.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(anyio.run(main, parse_args()))

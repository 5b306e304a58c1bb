"""``finetune-async validate``: check a training file before paying for a job (nothing is sent)."""

from __future__ import annotations

import click

import finetune_async as ft

from ._actions import print_report
from ._context import EXIT_FAILED, EXIT_OK, METHODS, json_option
from ._output import out_console, print_json

__all__ = ["validate"]


@click.command()
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
    report = ft.validate_dataset(file, method=method)
    if as_json:
        print_json(report.as_dict())
    else:
        print_report(out_console(), report)
    return EXIT_OK if report.ok else EXIT_FAILED

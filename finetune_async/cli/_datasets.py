"""``finetune-async validate``: check a training file before paying for a job (nothing is sent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

import finetune_async as ft
from finetune_async.datasets import data_rules_for, provider_names

from ._actions import print_report
from ._context import EXIT_FAILED, EXIT_OK, json_option
from ._output import out_console, print_json

__all__ = ["data_method_option", "data_provider_option", "validate", "validate_file"]

T = TypeVar("T")

#: Every method some provider's data rules take (a provider may take fewer: refused clearly).
DATA_METHODS = tuple(dict.fromkeys(m for name in provider_names() for m in data_rules_for(name).methods))


def data_method_option(command: Callable[..., T]) -> Callable[..., T]:
    """``--method``: the training method the lines are checked for."""
    return click.option(
        "--method",
        type=click.Choice(DATA_METHODS),
        default=None,
        help="The training method to check the lines for (default: recognised from the lines' shape; "
        "spec-draft is Nebius').",
    )(command)


def data_provider_option(command: Callable[..., T]) -> Callable[..., T]:
    """``--provider``: whose data rules the file is checked by."""
    return click.option(
        "--provider",
        "data_provider",
        type=click.Choice(provider_names()),
        default=None,
        help="Whose line formats and limits to check against (default: openai; azure's are OpenAI's; "
        "nebius takes messages, prompt/completion, text or input_ids lines, one format per file).",
    )(command)


def validate_file(path: str, method: str | None, provider: str | None) -> ft.DatasetReport:
    """:func:`finetune_async.validate_dataset` for the command line: a method the provider does
    not take is a usage error (exit 2) naming the provider."""
    try:
        return ft.validate_dataset(path, method=method, provider=provider)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--method") from None


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@data_method_option
@data_provider_option
@json_option
def validate(file: str, method: str | None, data_provider: str | None, as_json: bool) -> int:
    """Check a JSONL training file before paying for a job.

    Prints every problem with its line number (exit 1), or the statistics: examples, tokens,
    the epochs the API would choose and an estimate of the billed tokens (exit 0). Reads the
    file only; nothing is sent. --provider nebius checks Nebius' line formats instead.
    """
    report = validate_file(file, method, data_provider)
    if as_json:
        print_json(report.as_dict())
    else:
        print_report(out_console(), report)
    return EXIT_OK if report.ok else EXIT_FAILED

"""The ``finetune-async`` group: every command, assembled from the modules that hold them, and
:func:`run`, which turns whatever a command raises into one line (or one JSON object) on stderr
and an exit status."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

import finetune_async as ft

from ._batch import batch
from ._context import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, PROVIDERS, CommandError, Interrupted, Settings
from ._datasets import validate
from ._demo import demo
from ._emulator import emulator
from ._files import upload
from ._job_progress import checkpoints, events, metrics, wait
from ._jobs import cancel, create, list_, pause, resume, retrieve
from ._output import describe_error, error_object, escape_controls, exception_object, one_line, print_json_error, redact

__all__ = ["cli", "run"]

# The settings of the command being run, for the error handler in :func:`run` (the click
# context is gone by the time it runs).
_current: list[Settings] = []


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--api-key", metavar="KEY", default=None, help="API key (default: $OPENAI_API_KEY).")
@click.option(
    "--base-url",
    metavar="URL",
    default=None,
    help="API base URL (default: $OPENAI_BASE_URL, else https://api.openai.com/v1).",
)
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    default=None,
    help="openai, or azure (then --base-url is the resource endpoint, default $AZURE_OPENAI_ENDPOINT, "
    "--api-key its key, default $AZURE_OPENAI_API_KEY, and $OPENAI_API_VERSION a dated api-version; "
    "none: Azure's v1 route), nebius ($NEBIUS_API_KEY, $NEBIUS_BASE_URL), together ($TOGETHER_API_KEY, "
    "$TOGETHER_BASE_URL) or fireworks ($FIREWORKS_API_KEY, $FIREWORKS_ACCOUNT_ID, $FIREWORKS_BASE_URL). "
    "Default: $FINETUNE_ASYNC_PROVIDER, else openai.",
)
@click.version_option(ft.__version__, "--version", prog_name="finetune-async")
@click.pass_context
def cli(ctx: click.Context, api_key: str | None, base_url: str | None, provider: str | None) -> None:
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
    settings = Settings(api_key, base_url, provider)
    _current.append(settings)
    ctx.obj = settings


#: Every command of the group (``--help`` lists them sorted by name).
COMMANDS: tuple[click.Command, ...] = (
    validate,
    upload,
    create,
    list_,
    retrieve,
    events,
    checkpoints,
    cancel,
    pause,
    resume,
    wait,
    metrics,
    emulator,
    demo,
    batch,
)
for _command in COMMANDS:
    cli.add_command(_command)


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
        result = cli.main(args=args, prog_name="finetune-async", standalone_mode=False)
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

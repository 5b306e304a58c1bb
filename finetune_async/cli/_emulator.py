"""``finetune-async emulator``: serve a local emulator of the API until Ctrl-C.

The arguments go to the emulator's own command line (``finetune_async.emulator``'s parser), so
they are checked exactly as ``python -m finetune_async.emulator`` checks them, and each of its
options reaches :class:`~finetune_async.emulator.Emulator` under its own name. The emulator
(and aiohttp's server) is imported only when this command runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from ._context import EXIT_USAGE, CommandError, json_option
from ._output import print_json_line

if TYPE_CHECKING:
    from finetune_async.emulator import Emulator

__all__ = ["emulator"]


@click.command()
@click.option(
    "--provider",
    type=click.Choice(["openai", "azure", "nebius", "together", "fireworks"]),
    default="openai",
    show_default=True,
    help="The provider whose paths and JSON are served.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=8089, show_default=True, help="Port (0 picks a free one).")
@click.option("--job-seconds", type=float, default=60.0, show_default=True, help="How long a whole job takes.")
@click.option("--faults", metavar="SPEC", help="Fault injection, e.g. 'rate=0.2,kinds=429+reset'.")
@click.option("--data-dir", metavar="DIR", help="Keep state in SQLite under DIR (survives restarts).")
@click.option("--webhook-url", metavar="URL", help="POST signed fine_tuning.job.* webhooks here.")
@click.option("--webhook-secret", metavar="S", help="The whsec_… secret that signs webhooks.")
@click.option("--api-key", "api_keys", multiple=True, metavar="KEY", help="Accept only these keys (repeatable).")
@click.option(
    "--no-training",
    is_flag=True,
    help="Refuse new jobs with 403 training_not_available (the platform's wind-down).",
)
@json_option
def emulator(
    provider: str,
    host: str,
    port: int,
    job_seconds: float,
    faults: str | None,
    data_dir: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    api_keys: tuple[str, ...],
    no_training: bool,
    as_json: bool,
) -> int:
    """Serve a local emulator of the fine-tuning API until Ctrl-C.

    Point any client at it: OPENAI_BASE_URL=http://127.0.0.1:8089/v1 (any API key works
    unless --api-key is given). With --json, prints one line once it listens, for scripts:
    {"object": "emulator", "provider", "base_url", "azure_endpoint", "host", "port", "pid"}.
    --provider azure|nebius|together|fireworks serves that provider's paths and JSON (base_url is
    then Azure's v1 route, or the provider's /v1; Fireworks' paths are /v1/accounts/{id}/...).
    """
    from finetune_async.emulator import main as emulator_main

    argv = ["--provider", provider, "--host", host, "--port", str(port), "--job-seconds", str(job_seconds)]
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
    if no_training:
        argv.append("--no-training")
    try:
        if as_json:
            return _serve_json(argv)
        return emulator_main(argv)
    except SystemExit as exc:  # argparse refusing an argument (e.g. a bad --faults spec)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def _serve_json(argv: list[str]) -> int:
    """Serve until SIGINT or SIGTERM; the exit status (0, or 1 when the port cannot be bound).

    Once listening, prints ``{"object": "emulator", "provider", "base_url", "azure_endpoint",
    "host", "port", "pid"}`` on one line of stdout and nothing else there. Raises the CLI's
    ``CommandError`` (a usage error, exit 2, shown as JSON) for a bad ``--faults`` spec or a
    webhook secret without a URL, and :class:`SystemExit` (status 2) for arguments the
    emulator's parser refuses.
    """
    # The emulator's one parser and serve-until-stopped, shared with its own command line.
    from finetune_async.emulator import Faults, build_parser, serve_until_stopped

    parser = build_parser(prog="finetune-async emulator")
    options = vars(parser.parse_args(argv))
    if options.get("webhook_secret") and not options.get("webhook_url"):
        raise CommandError(
            "--webhook-secret needs --webhook-url", kind="usage_error", param="--webhook-secret", exit_code=EXIT_USAGE
        )
    try:
        options["faults"] = Faults.parse(options["faults"])
    except ValueError as exc:
        raise CommandError(f"--faults: {exc}", kind="usage_error", param="--faults", exit_code=EXIT_USAGE) from None
    return serve_until_stopped(options, _say_where)


def _say_where(emu: Emulator) -> None:
    print_json_line(
        {
            "object": "emulator",
            "provider": emu.provider,
            "base_url": emu.base_url,
            "azure_endpoint": emu.azure_endpoint,
            "host": emu.host,
            "port": emu.port,
            "pid": os.getpid(),
        }
    )

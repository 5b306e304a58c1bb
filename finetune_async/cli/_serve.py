"""``finetune-async emulator --json``: serve the emulator and say where, as one line of JSON.

The arguments are the emulator's own command line (``finetune_async.emulator``'s parser), so
they are checked exactly as ``python -m finetune_async.emulator`` checks them, and each of its
options reaches :class:`~finetune_async.emulator.Emulator` under its own name.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._output import print_json_line

if TYPE_CHECKING:
    from finetune_async.emulator import Emulator

__all__ = ["serve_emulator_json"]


def serve_emulator_json(argv: list[str]) -> int:
    """Serve until SIGINT or SIGTERM; the exit status (0, or 1 when the port cannot be bound).

    Once listening, prints ``{"object": "emulator", "base_url", "azure_endpoint", "host",
    "port", "pid"}`` on one line of stdout and nothing else there. Raises the CLI's
    ``CommandError`` (a usage error, exit 2, shown as JSON) for a bad ``--faults`` spec or a
    webhook secret without a URL, and :class:`SystemExit` (status 2) for arguments the
    emulator's parser refuses.
    """
    from finetune_async.emulator._cli import build_parser, serve_until_stopped
    from finetune_async.emulator.faults import Faults

    from ._app import EXIT_USAGE, CommandError

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
            "base_url": emu.base_url,
            "azure_endpoint": emu.azure_endpoint,
            "host": emu.host,
            "port": emu.port,
            "pid": os.getpid(),
        }
    )

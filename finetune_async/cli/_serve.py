"""``finetune-async emulator --json``: serve the emulator and say where, as one line of JSON.

The arguments are the emulator's own command line (``finetune_async.emulator``'s parser), so
they are checked exactly as ``python -m finetune_async.emulator`` checks them, and each of its
options reaches :class:`~finetune_async.emulator.Emulator` under its own name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

from ._output import print_json_line

__all__ = ["serve_emulator_json"]


def serve_emulator_json(argv: list[str]) -> int:
    """Serve until SIGINT or SIGTERM; the exit status (0, or 1 when the port cannot be bound).

    Once listening, prints ``{"object": "emulator", "base_url", "azure_endpoint", "host",
    "port", "pid"}`` on one line of stdout and nothing else there. Raises the CLI's
    ``CommandError`` (a usage error, exit 2, shown as JSON) for a bad ``--faults`` spec or a
    webhook secret without a URL, and :class:`SystemExit` (status 2) for arguments the
    emulator's parser refuses.
    """
    from finetune_async.emulator._cli import build_parser
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
    try:
        asyncio.run(_serve(options))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(options: dict[str, Any]) -> None:
    from finetune_async.emulator import Emulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows' default loop: Ctrl-C then arrives as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Emulator(**options) as emu:
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
        await stop.wait()

"""The emulator's command line: ``python -m finetune_async.emulator`` / ``finetune-async emulator``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .dialects import PROVIDERS
from .faults import Faults

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["build_parser", "main", "serve_until_stopped"]


def build_parser(prog: str = "python -m finetune_async.emulator") -> argparse.ArgumentParser:
    """The argument parser (exposed so the package CLI can reuse or document it)."""
    p = argparse.ArgumentParser(prog=prog, description="Serve a local emulator of OpenAI's fine-tuning API.")
    p.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="openai",
        help="the provider whose paths and JSON are served (default: openai)",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8089, help="port (default: 8089; 0 picks a free one)")
    p.add_argument("--job-seconds", type=float, default=60.0, help="how long a whole job takes (default: 60)")
    p.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="fault injection, e.g. 'rate=0.3,kinds=429+500+503+reset+lost,latency=0.05,"
        "routes=POST:/v1/fine_tuning/jobs+POST:/v1/files' (see finetune_async.emulator.faults)",
    )
    p.add_argument("--data-dir", default=None, metavar="DIR", help="keep state in SQLite under DIR (survives restarts)")
    p.add_argument("--webhook-url", default=None, metavar="URL", help="POST fine_tuning.job.* webhooks here")
    p.add_argument("--webhook-secret", default=None, metavar="S", help="whsec_… signing secret for webhooks")
    p.add_argument("--api-key", action="append", dest="api_keys", metavar="KEY", help="accept only these keys")
    p.add_argument(
        "--no-training",
        action="store_false",
        dest="training_available",
        help="refuse new jobs with 403 training_not_available (the platform's wind-down)",
    )
    return p


def serve_until_stopped(options: Mapping[str, Any], on_ready: Callable[[Emulator], None]) -> int:
    """Serve ``Emulator(**options)`` until SIGINT or SIGTERM, calling ``on_ready(emu)`` once it
    listens; the exit status: 0, or 1 when it cannot listen (the reason on stderr)."""
    try:
        asyncio.run(_run(options, on_ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(options: Mapping[str, Any], on_ready: Callable[[Emulator], None]) -> None:
    from .server import Emulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows' default loop; Ctrl-C then arrives as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Emulator(**options) as emu:
        on_ready(emu)
        await stop.wait()


def _say_where(emu: Emulator) -> None:
    print(f"finetune-async emulator ({emu.provider}) listening on {emu.base_url}", flush=True)
    print(f"  OPENAI_BASE_URL={emu.base_url}   (Azure endpoint: {emu.azure_endpoint})", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted; the exit status (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.webhook_secret and not args.webhook_url:
        parser.error("--webhook-secret needs --webhook-url")
    try:
        faults = Faults.parse(args.faults)
    except ValueError as exc:
        parser.error(f"--faults: {exc}")
    return serve_until_stopped({**vars(args), "faults": faults}, _say_where)

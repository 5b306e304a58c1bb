"""A hostile answer: peak memory of the SDK reading a gzip bomb with its default caps.

A local server (its own process) answers every request with about 1 MB of gzip that inflates
to 1 GB of zeros (``--inflated-mb``). Each row runs one call in a fresh client process, with the
client's default caps, and prints that process's peak RSS against its RSS just before the call,
what the call raised, and how long it took:

* ``jobs.retrieve``: a 2xx JSON answer, capped by ``max_response_bytes`` (64 MiB)
* ``jobs.retrieve`` answered 500: an error body, read to 1 MiB at most (retries off)
* ``files.content``: file bytes, capped by ``max_file_bytes`` (1 GiB), so a 1 GB "file" is read
  whole, as asked; with ``--skip-file`` this row is left out

    python benchmarks/bench_hostile.py [--inflated-mb 1000] [--skip-file]

Target (issue 13): under 300 MB peak RSS for the first two rows.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import time
import zlib
from typing import Any


def _bomb(inflated: int) -> bytes:
    """``inflated`` bytes of zeros, gzip-compressed by streaming (never held inflated)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    parts = []
    left = inflated
    while left > 0:
        parts.append(compressor.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts.append(compressor.flush())
    return b"".join(parts)


def _server(port_queue: Any, inflated: int) -> None:
    from aiohttp import web

    body = _bomb(inflated)

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/models/warm"):
            return web.json_response({"id": "warm", "object": "model", "created": 0, "owned_by": "bench"})
        status = 500 if request.path.endswith("-500") else 200
        return web.Response(
            status=status, body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put((runner.addresses[0][1], len(body)))
        await asyncio.Event().wait()

    asyncio.run(main())


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _client(base_url: str, case: str, result: Any) -> None:
    import finetune_async as ft

    async def main() -> dict[str, Any]:
        async with ft.AsyncClient(api_key="sk-bench", base_url=base_url, max_retries=0) as client:
            # A small answer first opens the session: the row measures the hostile read alone.
            await client.models.retrieve("warm")
            before = _rss_mb()
            started = time.perf_counter()
            try:
                if case == "retrieve":
                    await client.fine_tuning.jobs.retrieve("ftjob-bomb")
                elif case == "error":
                    await client.fine_tuning.jobs.retrieve("ftjob-500")
                else:
                    await client.files.content("file-bomb")
                outcome = "returned"
            except Exception as exc:  # an old SDK raised orjson's error here
                outcome = type(exc).__name__
            return {"before": before, "seconds": time.perf_counter() - started, "outcome": outcome}

    stats = asyncio.run(main())
    stats["peak"] = _rss_mb()
    result.put(stats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inflated-mb", type=int, default=1000, help="what the bomb inflates to (MB, default 1000)")
    parser.add_argument("--skip-file", action="store_true", help="leave out the files.content row")
    args = parser.parse_args()
    inflated = args.inflated_mb * 1000 * 1000

    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_server, args=(ports, inflated), daemon=True)
    server.start()
    port, compressed = ports.get(timeout=120)
    base_url = f"http://127.0.0.1:{port}/v1"
    cases = [
        ("jobs.retrieve, 2xx (max_response_bytes 64 MiB)", "retrieve"),
        ("500 error body (read to 1 MiB at most)", "error"),
    ]
    if not args.skip_file:
        cases.append(("files.content (max_file_bytes 1 GiB)", "file"))
    print(
        f"bench_hostile: a gzip bomb of {compressed / 1e6:.1f} MB inflating to {inflated / 1e6:,.0f} MB, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"{'call':<50}{'RSS before':>12}{'peak RSS':>10}{'seconds':>9}  raised")
    print("-" * 100)
    try:
        for label, case in cases:
            results = ctx.Queue()
            proc = ctx.Process(target=_client, args=(base_url, case, results))
            proc.start()
            stats = results.get(timeout=600)
            proc.join()
            print(
                f"{label:<50}{stats['before']:>9.0f} MB{stats['peak']:>7.0f} MB{stats['seconds']:>9.2f}  "
                f"{stats['outcome']}"
            )
    finally:
        server.terminate()
        server.join()
    print("target: peak RSS under 300 MB for the capped JSON and error rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())

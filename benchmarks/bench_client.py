"""Client overhead: this SDK against the floor (bare aiohttp + json.loads) and the official SDK.

One run, one canned local server (in its own process, so the clients measured here do not
share its CPU), three workloads:

* sequential ``jobs.retrieve``
* 64-way concurrent ``jobs.retrieve``
* paging 20,000 events, 100 per page
* a short burst: the first 4,000 concurrent ``jobs.retrieve`` of a fresh client, each client
  in a fresh process (imported, constructed, nothing sent yet), so the row counts what the
  first calls pay: opening the session and its connections, decoders built on first use,
  anything imported or built lazily

and the time ``import finetune_async`` takes against ``import openai``. Prints one table, then
the synchronous client's rows (``ft.Client``, sequential retrieve and paging: the calls a script
makes one after another) against the async client's, the cost of its trip through its loop thread.

    python benchmarks/bench_client.py [--quick] [--only-burst] [--rounds N]

``--only-burst`` runs the short-burst row alone (and the import times), for profiling what a
fresh client's first calls pay without waiting for the other rows.

Targets (issue 2): at most 1.25x the floor's cost in every row, at least 3x the official
SDK's rate, import under 0.4 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

N_EVENTS = 20_000
PAGE = 100
JOB_ID = "ftjob-bench"
#: The short burst: as many concurrent retrieves as a fresh client's first calls.
BURST = 4_000


def _job() -> dict[str, Any]:
    return {
        "id": JOB_ID,
        "object": "fine_tuning.job",
        "created_at": 1_721_764_800,
        "error": None,
        "fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:org:bench:abc123",
        "finished_at": 1_721_768_400,
        "hyperparameters": {"batch_size": 4, "learning_rate_multiplier": 1.8, "n_epochs": 3},
        "model": "gpt-4o-mini-2024-07-18",
        "organization_id": "org-bench",
        "result_files": ["file-results"],
        "status": "succeeded",
        "trained_tokens": 123_456,
        "training_file": "file-train",
        "validation_file": "file-valid",
        "integrations": [],
        "seed": 1234,
        "estimated_finish": None,
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"batch_size": 4, "learning_rate_multiplier": 1.8, "n_epochs": 3}},
        },
        "metadata": {"team": "bench"},
    }


def _event(i: int) -> dict[str, Any]:
    # Newest first, as the API lists them: index 0 is the newest.
    step = N_EVENTS - i
    return {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{i:08d}",
        "created_at": 1_721_768_400 - i,
        "level": "info",
        "message": f"Step {step}/{N_EVENTS}: training loss=0.{step % 97:02d}",
        "type": "metrics",
        "data": {
            "step": step,
            "total_steps": N_EVENTS,
            "train_loss": 0.5 + (step % 13) / 100,
            "train_mean_token_accuracy": 0.8,
        },
    }


def _serve(port_queue: Any) -> None:
    """The canned server: precomputed bodies, so its own cost is as small as possible."""
    from aiohttp import web

    job_body = json.dumps(_job()).encode()
    events = [_event(i) for i in range(N_EVENTS)]
    pages: dict[str | None, bytes] = {}
    for start in range(0, N_EVENTS, PAGE):
        chunk = events[start : start + PAGE]
        body = {"object": "list", "data": chunk, "has_more": start + PAGE < N_EVENTS}
        cursor = None if start == 0 else events[start - 1]["id"]
        pages[cursor] = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "x-request-id": "req_bench"}

    async def job(request: web.Request) -> web.Response:
        return web.Response(body=job_body, headers=headers)

    async def event_page(request: web.Request) -> web.Response:
        return web.Response(body=pages[request.query.get("after")], headers=headers)

    app = web.Application()
    app.router.add_get(f"/v1/fine_tuning/jobs/{JOB_ID}", job)
    app.router.add_get(f"/v1/fine_tuning/jobs/{JOB_ID}/events", event_page)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# --- the three clients --------------------------------------------------------------------


class Floor:
    name = "floor (aiohttp + json.loads)"

    def __init__(self, base: str) -> None:
        import aiohttp

        self.base = base
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512), headers={"Authorization": "Bearer sk-bench"}
        )

    async def retrieve(self) -> None:
        async with self.session.get(f"{self.base}/fine_tuning/jobs/{JOB_ID}") as resp:
            json.loads(await resp.read())

    async def page_all(self) -> int:
        n, after = 0, None
        while True:
            params = {"limit": str(PAGE)}
            if after:
                params["after"] = after
            async with self.session.get(f"{self.base}/fine_tuning/jobs/{JOB_ID}/events", params=params) as resp:
                body = json.loads(await resp.read())
            n += len(body["data"])
            if not body["has_more"]:
                return n
            after = body["data"][-1]["id"]

    async def close(self) -> None:
        await self.session.close()


class Ours:
    name = "finetune_async"

    def __init__(self, base: str) -> None:
        import finetune_async as ft

        self.client = ft.AsyncClient(api_key="sk-bench", base_url=base)

    async def retrieve(self) -> None:
        await self.client.fine_tuning.jobs.retrieve(JOB_ID)

    async def page_all(self) -> int:
        n = 0
        async for _ in self.client.fine_tuning.jobs.list_events(JOB_ID, limit=PAGE):
            n += 1
        return n

    async def close(self) -> None:
        await self.client.close()


class OursSync:
    name = "finetune_async.Client (sync)"

    def __init__(self, base: str) -> None:
        import finetune_async as ft

        self.client = ft.Client(api_key="sk-bench", base_url=base)

    # Coroutines only to fit the workloads: each call blocks this loop (nothing else runs on it
    # meanwhile) while the client's own loop thread does the work, as in a script.
    async def retrieve(self) -> None:
        self.client.fine_tuning.jobs.retrieve(JOB_ID)

    async def page_all(self) -> int:
        n = 0
        for _ in self.client.fine_tuning.jobs.list_events(JOB_ID, limit=PAGE):
            n += 1
        return n

    async def close(self) -> None:
        self.client.close()


class Official(Ours):
    name = "openai AsyncOpenAI"

    def __init__(self, base: str) -> None:
        import openai

        # The same calls as ours (the method names are the same): only the client differs.
        self.client = openai.AsyncOpenAI(api_key="sk-bench", base_url=base)  # type: ignore[assignment]


# --- workloads ----------------------------------------------------------------------------


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def sequential(client: Any, n: int) -> float:
    async def run() -> None:
        for _ in range(n):
            await client.retrieve()

    return n / await _timed(run)


async def concurrent(client: Any, n: int, width: int = 64) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            await client.retrieve()

    async def run() -> None:
        await asyncio.gather(*(worker(n // width) for _ in range(width)))

    return (n // width * width) / await _timed(run)


async def paging(client: Any, rounds: int) -> float:
    total = 0

    async def run() -> None:
        nonlocal total
        for _ in range(rounds):
            got = await client.page_all()
            assert got == N_EVENTS, got
            total += got

    seconds = await _timed(run)
    return total / PAGE / seconds  # pages (calls) per second


CLIENTS: dict[str, type[Floor]] = {"floor": Floor, "ours": Ours, "official": Official}  # type: ignore[dict-item]


async def _burst_in_this_process(kind: str, base: str, n: int) -> float:
    """Seconds for ``n`` concurrent retrieves from a client that has sent nothing yet."""
    client = CLIENTS[kind](base)
    try:
        start = time.perf_counter()
        await asyncio.gather(*(client.retrieve() for _ in range(n)))
        return time.perf_counter() - start
    finally:
        await client.close()


def short_burst(kind: str, base: str, n: int) -> float:
    """Calls per second of the first ``n`` concurrent retrieves, in a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--burst-child", kind, base, str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return n / float(out.stdout.strip())


def import_time(module: str, repeats: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


async def measure(
    base: str, quick: bool, *, only_burst: bool = False, rounds: int | None = None
) -> dict[str, dict[str, float]]:
    n_seq = 500 if quick else 3000
    n_conc = 2048 if quick else 12_800
    pages = 1 if quick else 3
    if rounds is None:
        rounds = 2 if quick else 3
    clients = [cls(base) for cls in (Floor, Ours, Official, OursSync)]
    results: dict[str, dict[str, float]] = {client.name: {} for client in clients}
    if only_burst:
        for client in clients:
            await client.close()
        clients = []
    try:
        for client in clients:
            # Warm up connections and code paths before timing.
            await (sequential(client, 256) if client.name == OursSync.name else concurrent(client, 256))
            await sequential(client, 50)
        workloads: list[tuple[str, Callable[[Any, int], Awaitable[float]], int]] = [
            ("sequential retrieve", sequential, n_seq),
            ("64-way concurrent retrieve", concurrent, n_conc),
            ("paging 20,000 events (pages/s)", paging, pages),
        ]
        for row, workload, size in workloads if clients else ():
            # Rounds interleave the clients, so that a slower spell of this (shared, noisy)
            # machine falls on all of them alike; each client keeps its best round.
            for _ in range(rounds):
                # The sync client runs calls one after another: no concurrent row.
                for client in (c for c in clients if not (c.name == OursSync.name and workload is concurrent)):
                    # The official SDK is an order of magnitude slower: a quarter of the calls
                    # measure its rate as well and keep the run short.
                    n = size if client.name != Official.name or workload is paging else max(size // 4, 256)
                    rate = await workload(client, n)
                    results[client.name][row] = max(rate, results[client.name].get(row, 0.0))
    finally:
        for client in clients:
            await client.close()
    # Each round starts three fresh processes, one per client, interleaved like the rows above.
    burst = 1000 if quick else BURST
    row = f"short burst: first {burst:,} retrieves"
    for _ in range(rounds):
        for kind, cls in CLIENTS.items():
            rate = await asyncio.to_thread(short_burst, kind, base, burst)
            results[cls.name][row] = max(rate, results[cls.name].get(row, 0.0))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test, noisier figures)")
    parser.add_argument(
        "--only-burst",
        action="store_true",
        help="run only the short-burst row (first retrieves of fresh clients, each in a fresh process)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per row (default 3, or 2 with --quick)")
    parser.add_argument("--burst-child", nargs=3, metavar=("CLIENT", "BASE_URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.burst_child:
        kind, base, n = args.burst_child
        print(asyncio.run(_burst_in_this_process(kind, base, int(n))))
        return 0

    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
        results = asyncio.run(measure(base, args.quick, only_burst=args.only_burst, rounds=args.rounds))
    finally:
        server.terminate()
        server.join(5)

    floor, ours, official = (results[c.name] for c in (Floor, Ours, Official))
    print(f"bench_client: canned local server, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    header = (
        f"{'workload (calls/s)':34} {'floor':>10} {'finetune_async':>15} {'openai':>10} "
        f"{'cost vs floor':>14} {'vs openai':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in floor:
        cost = floor[row] / ours[row]
        speedup = ours[row] / official[row]
        print(
            f"{row:34} {floor[row]:>10,.0f} {ours[row]:>15,.0f} {official[row]:>10,.0f} {cost:>13.2f}x {speedup:>9.1f}x"
        )
    ours_import = import_time("finetune_async")
    openai_import = import_time("openai")
    print(f"{'import time (s)':34} {'':>10} {ours_import:>15.3f} {openai_import:>10.3f}")
    print("targets: cost vs floor <= 1.25x, vs openai >= 3x, import < 0.4 s")
    sync_rows = results[OursSync.name]
    if sync_rows:
        print()
        header = f"{'sync Client (calls/s)':34} {'AsyncClient':>12} {'Client':>10} {'cost vs async':>14}"
        print(header)
        print("-" * len(header))
        for row, rate in sync_rows.items():
            print(f"{row:34} {ours[row]:>12,.0f} {rate:>10,.0f} {ours[row] / rate:>13.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

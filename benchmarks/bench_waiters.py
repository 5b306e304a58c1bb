"""Ten thousand ``wait_for_job`` calls in one process, against the emulator in another.

Run: ``python benchmarks/bench_waiters.py [--jobs 10000] [--rate 20] [--spread 20] [--job-seconds 20]
[--poll-interval S] [--mode polling|webhooks|both] [--spawn anyio|asyncio]``

The emulator runs in a child process; it creates ``--jobs`` jobs spread over ``--spread``
seconds (each lasting ``--job-seconds``) and tells this process their ids as it goes. This
process (the *waiters*) calls ``ft.wait_for_job`` once per job, each in its own task of one
anyio task group (``--spawn asyncio``: an ``asyncio.TaskGroup``, which costs less per task),
on one client whose polling ceiling is ``--rate`` requests per second. Each mode runs in a
fresh waiters' process, so that its peak RSS is its own. Two rows:

- polling: waiting by polling only (sweeps of the jobs listing, a hundred jobs per request).
- webhooks: the same, with the emulator sending signed webhooks to a ``WebhookHub`` here.

The poll interval the polling row is measured against is the one in effect when a job ends:
with the default adaptive polling, the first look comes right after the job's
``estimated_finish`` and the next ones every ``Backoff.initial`` seconds (1 s); with
``--poll-interval S`` every job is looked at every S seconds. So the target is p99 < 2 s by
default, < 2 S with ``--poll-interval``.

Columns: polling requests sent (and the least that could do: one retrieve per job, or one
listing page per hundred jobs), the most requests seen in any one-second window against the
ceiling, the waiter process's peak RSS (and before any waiting began), and the lag between
the moment the emulator finished a job and the moment its ``wait_for_job`` returned.
Targets (issue 4): RSS < 100 MB, p99 lag < two poll intervals, never above the ceiling; with
webhooks p99 lag < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import multiprocessing as mp
import resource
import secrets
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import anyio

MODEL = "gpt-4o-mini-2024-07-18"
TRAIN = "".join(
    json.dumps({"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": str(i)}]}) + "\n"
    for i in range(10)
).encode()
# One epoch of one step: few events per job, so the emulator holds 10,000 jobs easily.
METHOD = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 10}}}
CHUNK = 100


# -- the emulator process ---------------------------------------------------------------------


def emulator_main(conn: Connection, job_seconds: float, webhook_url: str | None, secret: str | None) -> None:
    anyio.run(_emulator, conn, job_seconds, webhook_url, secret)


async def _emulator(conn: Connection, job_seconds: float, webhook_url: str | None, secret: str | None) -> None:
    from finetune_async.emulator import Emulator

    async with Emulator(
        job_seconds=job_seconds, webhook_url=webhook_url, webhook_secret=secret, webhook_retry_delays=(0.5, 1.0)
    ) as emu:
        blob, path = emu.state.files.new_blob()
        path.write_bytes(TRAIN)
        training = emu.state.files.add(
            filename="t.jsonl", purpose="fine-tune", blob=blob, size=len(TRAIN), expires_after=None
        )["id"]
        conn.send(emu.base_url)
        n, spread = await anyio.to_thread.run_sync(conn.recv)
        start = time.monotonic()
        body = {"model": MODEL, "training_file": training, "method": METHOD}
        for first in range(0, n, CHUNK):
            # Created straight in the state (not over HTTP): the waiters' process is what we measure.
            ids = [(await emu.state.jobs.create(dict(body)))["id"] for _ in range(min(CHUNK, n - first))]
            conn.send(ids)
            await anyio.sleep(max(0.0, start + spread * (first + CHUNK) / n - time.monotonic()))
        conn.send(None)
        await anyio.to_thread.run_sync(conn.recv)  # "report"
        finished = {job.id: job.finished_at for job in emu.state.store.jobs.values()}
        conn.send(finished)
        await anyio.to_thread.run_sync(conn.recv)  # "stop"


# -- the waiters' process ---------------------------------------------------------------------


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    best = lo = 0
    for hi, t in enumerate(stamps):
        while stamps[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def run(args: argparse.Namespace, webhooks: bool) -> dict[str, Any]:
    import finetune_async as ft
    from finetune_async._watch import watch_of

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode() if webhooks else None
    arrived: dict[str, float] = {}
    hub = ft.WebhookHub(secret, on_event=lambda e: arrived.setdefault(e.job_id, time.time())) if secret else None
    runner = None
    webhook_url = None
    if hub is not None:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/hook", hub.aiohttp_handler())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        webhook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=emulator_main, args=(child, args.job_seconds, webhook_url, secret), daemon=True)
    proc.start()
    try:
        base_url = await anyio.to_thread.run_sync(parent.recv)
        stamps: list[float] = []

        def hook(info: ft.RequestInfo) -> None:
            stamps.append(time.monotonic())

        returned: dict[str, float] = {}
        statuses: dict[str, str] = {}
        async with ft.AsyncClient(
            api_key="sk-bench", base_url=base_url, request_hooks=[hook], max_poll_requests_per_second=args.rate
        ) as client:
            if hub is not None:
                hub.attach(client)
            rss_before = rss_mb()

            async def wait(job_id: str) -> None:
                job = await ft.wait_for_job(client, job_id, raise_on_failure=False, poll_interval=args.poll_interval)
                returned[job_id] = time.time()
                statuses[job_id] = job.status

            started = time.monotonic()
            parent.send((args.jobs, args.spread))
            if args.spawn == "asyncio":
                async with asyncio.TaskGroup() as atg:
                    while (ids := await anyio.to_thread.run_sync(parent.recv)) is not None:
                        for job_id in ids:
                            atg.create_task(wait(job_id))
            else:
                async with anyio.create_task_group() as tg:
                    while (ids := await anyio.to_thread.run_sync(parent.recv)) is not None:
                        for job_id in ids:
                            tg.start_soon(wait, job_id)
            elapsed = time.monotonic() - started
            requests = watch_of(client).requests
        parent.send("report")
        finished: dict[str, float] = await anyio.to_thread.run_sync(parent.recv)
        parent.send("stop")
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        if runner is not None:
            await runner.cleanup()
    lags = [returned[j] - finished[j] for j in returned]
    if args.dump:
        dump = {j: [finished[j], returned[j], arrived.get(j)] for j in returned}
        await anyio.Path(f"{args.dump}.{'webhooks' if webhooks else 'polling'}.json").write_text(json.dumps(dump))
    delivery = [arrived[j] - finished[j] for j in returned if j in arrived]
    sdk = [returned[j] - arrived[j] for j in returned if j in arrived]
    return {
        "delivery": (statistics.median(delivery), pct(delivery, 0.99)) if delivery else None,
        "sdk": (statistics.median(sdk), pct(sdk, 0.99)) if sdk else None,
        "before_webhook": sum(1 for x in sdk if x <= 0),
        "mode": "webhooks" if webhooks else "polling",
        "jobs": len(returned),
        "succeeded": sum(1 for s in statuses.values() if s == "succeeded"),
        "requests": requests,
        "max_1s": max_in_window(stamps),
        "rss_before": rss_before,
        "rss_peak": rss_mb(),
        "p50": statistics.median(lags),
        "p99": pct(lags, 0.99),
        "max": max(lags),
        "elapsed": elapsed,
    }


def mode_main(conn: Connection, args: argparse.Namespace, webhooks: bool) -> None:
    conn.send(anyio.run(run, args, webhooks))


async def main(args: argparse.Namespace) -> None:
    from finetune_async._watch_planner import DEFAULT_BACKOFF, WEBHOOK_BACKOFF

    modes = {"polling": [False], "webhooks": [True], "both": [False, True]}[args.mode]
    rows = []
    for webhooks in modes:
        # A fresh process per mode: ru_maxrss is a process's peak, so each row's RSS is its own.
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=mode_main, args=(child, args, webhooks))
        proc.start()
        rows.append(await anyio.to_thread.run_sync(parent.recv))
        proc.join()
    interval = args.poll_interval if args.poll_interval is not None else DEFAULT_BACKOFF.initial
    if args.poll_interval is not None:
        polling = f"poll interval fixed at {args.poll_interval:g}s"
    else:
        polling = (
            f"adaptive polling: {DEFAULT_BACKOFF.initial:g}s at first, backing off to {DEFAULT_BACKOFF.ceiling:g}s "
            f"({WEBHOOK_BACKOFF.ceiling:g}s with webhooks), first look {DEFAULT_BACKOFF.finish_slack:g}s after the "
            f"estimated finish, then every {DEFAULT_BACKOFF.initial:g}s: the poll interval when a job ends is "
            f"{interval:g}s"
        )
    print(
        f"\n{args.jobs} jobs created over {args.spread:.0f}s, {args.job_seconds:.0f}s each; "
        f"polling ceiling {args.rate:g} req/s; waiters spawned in {args.spawn} task groups;\n{polling}\n"
    )
    header = (
        f"{'mode':<9} {'jobs':>6} {'requests':>9} {'min (1/job | 1/100)':>20} {'max/1s':>7} "
        f"{'RSS MB (before)':>16} {'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'wall s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        minimum = f"{r['jobs']} | {math.ceil(r['jobs'] / 100)}"
        print(
            f"{r['mode']:<9} {r['jobs']:>6} {r['requests']:>9} {minimum:>20} {r['max_1s']:>4}/{args.rate:<2g} "
            f"{r['rss_peak']:>8.1f} ({r['rss_before']:>4.1f}) {r['p50']:>7.3f}s {r['p99']:>7.3f}s "
            f"{r['max']:>7.3f}s {r['elapsed']:>7.1f}"
        )
    for r in rows:
        if r["delivery"] is not None:
            p50, p99 = r["delivery"]
            s50, s99 = r["sdk"]
            print(
                f"\n{r['mode']}: emulator side: webhooks arrived {p50:.3f}s (p50) / {p99:.3f}s (p99) after the finish; "
                f"SDK side: wait_for_job returned {s50:.3f}s (p50) / {s99:.3f}s (p99) after its webhook arrived "
                f"({r['before_webhook']} jobs returned before their webhook: a listing page fetched for "
                "announced jobs showed them ended)"
            )
    print("\ntargets:")
    for r in rows:
        lag_target = 0.1 if r["mode"] == "webhooks" else 2 * interval
        checks = [
            (f"peak RSS {r['rss_peak']:.1f} MB < 100 MB", r["rss_peak"] < 100),
            (f"p99 lag {r['p99']:.3f}s < {lag_target:g}s", r["p99"] < lag_target),
            (f"max {r['max_1s']} requests in 1 s <= ceiling {args.rate:g}", r["max_1s"] <= args.rate),
            (f"{r['succeeded']}/{args.jobs} jobs succeeded", r["succeeded"] == args.jobs),
        ]
        print(f"  {r['mode']:<9} " + "; ".join(f"{text}: {'met' if ok else 'NOT MET'}" for text, ok in checks))
    print(
        "\nrequests: polling requests the waiters sent (retries included); min: one retrieve per job, "
        "or one listing page per hundred jobs.\nmax/1s: most requests in any one-second window, against the "
        "ceiling. lag: emulator's finish time -> wait_for_job returned."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=20.0, help="polling requests per second, at most")
    p.add_argument("--spread", type=float, default=20.0, help="seconds over which the jobs are created")
    p.add_argument("--job-seconds", type=float, default=20.0, help="how long each job takes")
    p.add_argument("--mode", choices=("polling", "webhooks", "both"), default="both")
    p.add_argument("--poll-interval", type=float, default=None, help="fixed seconds between polls (default: adaptive)")
    p.add_argument("--dump", help="write each job's finish, return and webhook times to DUMP.<mode>.json")
    p.add_argument("--spawn", choices=("anyio", "asyncio"), default="anyio", help="the task groups of the waiters")
    return p.parse_args(argv)


if __name__ == "__main__":
    anyio.run(main, parse_args())

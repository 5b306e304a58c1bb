"""How much the emulator serves: retrieve requests per second, and fine-tuning jobs kept in flight.

Run: ``python benchmarks/bench_emulator.py [--duration 5] [--connections 64] [--jobs 1000]``

The emulator runs in this process; the load comes from a separate client process (aiohttp,
many concurrent keep-alive connections) so the two do not share a CPU-bound event loop. Rows:

- retrieve (idle): ``GET /v1/fine_tuning/jobs/{id}`` with one job in the store.
- create: ``POST /v1/fine_tuning/jobs`` rate while putting ``--jobs`` jobs in flight.
- retrieve (N in flight): the same retrieve loop, spread over every in-flight job, while all
  of them are running (their progress is computed on read, one timer for the lot).

Targets from issue 3: >= 2,000 retrieve/s and >= 1,000 concurrent jobs on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from typing import Any

TRAIN = "".join(
    json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"What is {i} + {i}?"},
                {"role": "assistant", "content": str(2 * i)},
            ]
        }
    )
    + "\n"
    for i in range(20)
).encode()
HEADERS = {"Authorization": "Bearer sk-bench"}


async def _client_load(
    base_url: str,
    method: str,
    paths: list[str],
    connections: int,
    duration: float,
    body: bytes | None,
    total: int | None,
) -> dict[str, Any]:
    import aiohttp

    done = 0
    errors = 0
    issued = 0
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(
        base_url=base_url.rstrip("/") + "/", headers=HEADERS, connector=connector
    ) as session:

        async def worker(offset: int) -> None:
            nonlocal done, errors, issued
            i = offset
            while time.perf_counter() < deadline and (total is None or issued < total):
                issued += 1
                path = paths[i % len(paths)].lstrip("/")
                i += connections
                async with session.request(
                    method, path, data=body, headers={"Content-Type": "application/json"} if body else None
                ) as r:
                    await r.read()
                    if r.status == 200:
                        done += 1
                    else:
                        errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(connections)))
        elapsed = time.perf_counter() - started
    return {"ok": done, "errors": errors, "seconds": elapsed}


def _client_main(conn: Any, *args: Any) -> None:
    conn.send(asyncio.run(_client_load(*args)))
    conn.close()


async def _in_other_process(*args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_client_main, args=(child, *args))
    proc.start()
    result: dict[str, Any] = await asyncio.to_thread(parent.recv)
    await asyncio.to_thread(proc.join)
    return result


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux: the emulator process's peak resident memory.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(args: argparse.Namespace) -> int:
    import aiohttp

    from finetune_async.emulator import Emulator

    rows: list[tuple[str, str, str]] = []
    async with Emulator(job_seconds=args.job_seconds) as emu:
        base = emu.base_url
        async with aiohttp.ClientSession(headers=HEADERS) as s:
            form = aiohttp.FormData()
            form.add_field("purpose", "fine-tune")
            form.add_field("file", TRAIN, filename="train.jsonl")
            async with s.post(f"{base}/files", data=form) as r:
                file_id = (await r.json())["id"]
            create = json.dumps({"model": "gpt-4o-mini", "training_file": file_id}).encode()
            async with s.post(
                f"{base}/fine_tuning/jobs", data=create, headers={"Content-Type": "application/json"}
            ) as r:
                first_job = (await r.json())["id"]

        res = await _in_other_process(
            base, "GET", [f"fine_tuning/jobs/{first_job}"], args.connections, args.duration, None, None
        )
        idle_rps = res["ok"] / res["seconds"]
        rows.append(("retrieve (1 job)", f"{idle_rps:,.0f} req/s", f"{res['errors']} errors, {args.connections} conns"))

        res = await _in_other_process(base, "POST", ["fine_tuning/jobs"], args.connections, 600.0, create, args.jobs)
        rows.append(
            (
                "create",
                f"{res['ok'] / res['seconds']:,.0f} req/s",
                f"{res['ok']:,} jobs in {res['seconds']:.1f}s, {res['errors']} errors",
            )
        )

        # Let every job reach `running` (validating and queued take 10% of job_seconds each).
        await asyncio.sleep(args.job_seconds * 0.2 + 1.0)
        in_flight = emu.state.jobs_in_flight()
        statuses: dict[str, int] = {}
        for job in emu.state.store.jobs.values():
            emu.state.advance(job, time.time())
            statuses[job.status] = statuses.get(job.status, 0) + 1
        paths = [f"fine_tuning/jobs/{j}" for j in list(emu.state.store.jobs)]
        res = await _in_other_process(base, "GET", paths, args.connections, args.duration, None, None)
        busy_rps = res["ok"] / res["seconds"]
        rows.append(
            (
                f"retrieve ({in_flight:,} in flight)",
                f"{busy_rps:,.0f} req/s",
                f"{res['errors']} errors, statuses {statuses}",
            )
        )
        rows.append(("jobs in flight at once", f"{in_flight:,}", f"target >= 1,000; peak RSS {_rss_mb():.0f} MB"))

    width = max(len(r[0]) for r in rows)
    print(
        f"\nemulator benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{args.duration:.0f}s per retrieve run)\n"
    )
    print(f"{'measure':<{width}}  {'result':>14}  notes")
    print(f"{'-' * width}  {'-' * 14}  {'-' * 40}")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")
    print(f"\nretrieve vs target 2,000/s: idle x{idle_rps / 2000:.2f}, busy x{busy_rps / 2000:.2f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per retrieve run")
    parser.add_argument("--connections", type=int, default=64, help="concurrent client connections")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs to put in flight")
    parser.add_argument("--job-seconds", type=float, default=30.0, help="how long each job runs")
    sys.exit(asyncio.run(main(parser.parse_args())))

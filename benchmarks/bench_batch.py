"""One batch of 10,000 specs on a PostgreSQL journal, run by 1, 2, 4 and 8 workers, against the emulator.

Run: ``python benchmarks/bench_batch.py [--specs 10000] [--workers 1 2 4 8] [--max-concurrent 50]
[--job-seconds 0.5] [--lease 30]``  (``--specs 500`` for a quick run)

PostgreSQL: ``$FINETUNE_ASYNC_TEST_PG`` (a DSN) if set, else a throwaway server started with
``.ci/postgres start`` (and stopped at the end). For each worker count, a fresh emulator runs
in a child process (so that its listing of one row's jobs is not slowed by the others'), one
training file is put in its state, and every spec names that file's id (nothing to upload:
what is measured is the batch's own work). The workers are child processes, each running
``run_batch(client, specs, journal=PostgresJournal(dsn))`` on the same batch id with
``--max-concurrent`` jobs active at a time; each counts its API requests (a request hook)
and its database round trips (the journal's counter) and reads its own peak RSS.

Columns: wall time from the first worker's start to the last one's end; specs per second;
API requests per spec and database round trips per spec (all workers together); the
largest peak RSS among the workers; and the check that matters: the emulator's jobs per
spec (must be exactly 1 for every spec).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gpt-4o-mini-2024-07-18"
TRAIN = "".join(
    json.dumps({"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": str(i)}]}) + "\n"
    for i in range(10)
).encode()
# One epoch of one step: few events per job, so the emulator holds 10,000 jobs easily.
HYPER = {"n_epochs": 1, "batch_size": 10}


# -- the emulator process ---------------------------------------------------------------------


def emulator_main(conn: Connection, job_seconds: float) -> None:
    anyio.run(_emulator, conn, job_seconds)


async def _emulator(conn: Connection, job_seconds: float) -> None:
    from finetune_async.emulator import Emulator

    async with Emulator(job_seconds=job_seconds) as emu:
        blob, path = emu.state.files.new_blob()
        path.write_bytes(TRAIN)
        training = emu.state.files.add(
            filename="t.jsonl", purpose="fine-tune", blob=blob, size=len(TRAIN), expires_after=None
        )["id"]
        conn.send((emu.base_url, training))
        await anyio.to_thread.run_sync(conn.recv)  # "count"
        per_spec = Counter((job.metadata or {}).get("ft_spec") for job in emu.state.store.jobs.values())
        conn.send(dict(per_spec))
        await anyio.to_thread.run_sync(conn.recv)  # "stop"


# -- a worker process -------------------------------------------------------------------------


def worker_main(
    conn: Connection, base_url: str, dsn: str, batch_id: str, specs: list[dict[str, Any]], args: Any
) -> None:
    conn.send(anyio.run(_worker, base_url, dsn, batch_id, specs, args))


async def _worker(base_url: str, dsn: str, batch_id: str, specs: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    import finetune_async as ft
    from finetune_async.batch import PostgresJournal

    requests = [0]

    def hook(info: ft.RequestInfo) -> None:
        requests[0] += 1

    journal = PostgresJournal(dsn, lease_seconds=args.lease)
    async with ft.AsyncClient(api_key="sk-bench", base_url=base_url, request_hooks=[hook]) as client:
        report = await ft.run_batch(
            client, specs, journal=journal, batch_id=batch_id, max_concurrent=args.max_concurrent
        )
    return {
        "ok": report.ok,
        "created": report.created,
        "requests": requests[0],
        "round_trips": journal.round_trips,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- one row ----------------------------------------------------------------------------------


def run_row(workers: int, dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    emu = ctx.Process(target=emulator_main, args=(child, args.job_seconds), daemon=True)
    emu.start()
    try:
        base_url, training = parent.recv()
        batch_id = f"bench-{workers}w-{secrets.token_hex(3)}"
        specs = [
            {
                "key": f"spec-{i:05d}",
                "training_file": training,
                "model": MODEL,
                "hyperparameters": HYPER,
                "suffix": f"s{i}",
            }
            for i in range(args.specs)
        ]
        started = time.monotonic()
        pipes = []
        procs = []
        for _ in range(workers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(theirs, base_url, dsn, batch_id, specs, args))
            proc.start()
            pipes.append(mine)
            procs.append(proc)
        results = [pipe.recv() for pipe in pipes]
        wall = time.monotonic() - started
        for proc in procs:
            proc.join(30)
        parent.send("count")
        per_spec: dict[str, int] = parent.recv()
        parent.send("stop")
    finally:
        emu.join(10)
        if emu.is_alive():
            emu.kill()
    once = len(per_spec) == args.specs and set(per_spec.values()) == {1}
    return {
        "workers": workers,
        "wall": wall,
        "ok": all(r["ok"] for r in results),
        "requests": sum(r["requests"] for r in results) / args.specs,
        "round_trips": sum(r["round_trips"] for r in results) / args.specs,
        "rss": max(r["rss_mb"] for r in results),
        "once": once,
        "created": sum(r["created"] for r in results),
    }


def start_postgres(state: str) -> str:
    env = {**os.environ, "PG_STATE": state}
    done = subprocess.run(
        [str(ROOT / ".ci" / "postgres"), "start"], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--max-concurrent", type=int, default=50, help="jobs active at once per worker")
    parser.add_argument("--job-seconds", type=float, default=0.5)
    parser.add_argument("--lease", type=float, default=30.0)
    args = parser.parse_args()

    dsn = os.environ.get("FINETUNE_ASYNC_TEST_PG")
    state = None
    if not dsn:
        state = tempfile.mkdtemp(prefix="bench-batch-pg-")
        dsn = start_postgres(state)
    try:
        rows = []
        for workers in args.workers:
            row = run_row(workers, dsn, args)
            rows.append(row)
            print(f"  {workers} worker(s): {row['wall']:.1f} s", file=sys.stderr, flush=True)
    finally:
        if state is not None:
            env = {**os.environ, "PG_STATE": state}
            subprocess.run([str(ROOT / ".ci" / "postgres"), "stop"], env=env, capture_output=True, check=False)

    print(
        f"\nbatch of {args.specs} specs on PostgreSQL, {args.max_concurrent} jobs at a time per worker,"
        f" jobs of {args.job_seconds} s, lease {args.lease} s\n"
    )
    header = (
        f"{'workers':>7} {'wall s':>8} {'specs/s':>8} {'API req/spec':>13} {'DB trips/spec':>14}"
        f" {'peak RSS/worker MB':>19} {'1 job/spec':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['workers']:>7} {r['wall']:>8.1f} {args.specs / r['wall']:>8.1f} {r['requests']:>13.2f}"
            f" {r['round_trips']:>14.2f} {r['rss']:>19.1f} {'yes' if r['once'] and r['ok'] else 'NO':>11}"
        )
    return 0 if all(r["once"] and r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

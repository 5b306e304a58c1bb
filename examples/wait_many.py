"""A worker that starts many fine-tunes and reports each one the moment it ends.

    python examples/wait_many.py --jobs 50            # against a local emulator (no API key needed)
    OPENAI_API_KEY=sk-... python examples/wait_many.py --training-file file-abc --jobs 3

Every job is watched by one call, ``ft.as_completed``: the jobs are polled together under the
client's one request-rate ceiling (``--rate``), mostly a hundred at a time from the jobs
listing, so watching thousands costs a few requests per second, not thousands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator

import anyio

import finetune_async as ft

MODEL = "gpt-4o-mini-2024-07-18"


def sample_dataset(n: int = 20) -> bytes:
    """A tiny valid chat dataset, so the example needs no files of its own."""
    import json

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} + {i}?"},
                {"role": "assistant", "content": str(2 * i)},
            ]
        }
        for i in range(n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@contextlib.asynccontextmanager
async def make_client(job_seconds: float, rate: float) -> AsyncIterator[ft.AsyncClient]:
    """A client of the real API when OPENAI_API_KEY is set, else of an embedded emulator."""
    if os.environ.get("OPENAI_API_KEY"):
        async with ft.AsyncClient(max_poll_requests_per_second=rate) as client:
            yield client
        return
    from finetune_async.emulator import Emulator

    async with (
        Emulator(job_seconds=job_seconds) as emu,
        ft.AsyncClient(api_key="sk-emulator", base_url=emu.base_url, max_poll_requests_per_second=rate) as client,
    ):
        print(f"(no OPENAI_API_KEY: using an embedded emulator at {emu.base_url})")
        yield client


async def main(args: argparse.Namespace) -> int:
    async with make_client(args.job_seconds, args.rate) as client:
        training_file = args.training_file
        if training_file is None:
            training_file = (await client.files.create(file=("sample.jsonl", sample_dataset()))).id
        started = time.monotonic()
        ids: list[str] = []
        # Creates are never duplicated by a retry (the SDK reconciles lost answers), so a
        # plain loop is safe; metadata makes the batch easy to find again after a crash.
        for i in range(args.jobs):
            job = await client.fine_tuning.jobs.create(
                model=args.model, training_file=training_file, metadata={"batch": "wait_many", "n": str(i)}
            )
            ids.append(job.id)
        print(f"started {len(ids)} jobs in {time.monotonic() - started:.1f}s; waiting...")
        outcomes: Counter[str] = Counter()
        async for job in ft.as_completed(client, ids, timeout=args.timeout):
            outcomes[str(job.status)] += 1
            detail = job.fine_tuned_model or (job.error.message if job.error else "")
            print(f"{sum(outcomes.values()):>5}/{len(ids)}  {job.id}  {job.status:<10} {detail}")
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items()))
        print(f"all {len(ids)} jobs ended in {elapsed:.1f}s: {summary}")
        return 0 if outcomes.get("succeeded", 0) == len(ids) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=50, help="how many fine-tunes to start (default: 50)")
    p.add_argument("--model", default=MODEL)
    p.add_argument("--training-file", default=None, help="an uploaded file id (default: upload a sample)")
    p.add_argument("--job-seconds", type=float, default=5.0, help="emulator only: how long a job takes")
    p.add_argument("--rate", type=float, default=20.0, help="polling requests per second, at most (default: 20)")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    return p.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(anyio.run(main, parse_args()))

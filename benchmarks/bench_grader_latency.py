"""How long other requests wait while a big grader request runs on the emulator.

The emulator runs in its own process. This process polls ``GET /v1/models`` every 10 ms and,
once the poll has settled, sends one big grader request (or several at once); each row prints
the grader request's status and duration and the worst and median latency of the polls that
overlapped it. Each mode is a fresh emulator process:

* ``shipped``: as the emulator is (limits on, graders run in one worker thread at a time)
* ``inline``: limits on, graders run on the event loop (as before issue 13)
* ``unbounded``: on the loop with the limits lifted too (the old shape, with the new algorithms)
* ``threads4``: limits on, up to four graders in worker threads at once

The last row sends the 13 MB body of the row above it to an endpoint that runs no grader code: its
worst poll is the JSON parse of the request body on the loop, common to every endpoint.

    python benchmarks/bench_grader_latency.py [--modes shipped,inline,unbounded,threads4] [--poll-ms 10]

To measure another tree, such as the code before issue 13, put it first on the path and run the
one mode that patches nothing: ``PYTHONPATH=/old/tree python benchmarks/bench_grader_latency.py
--modes shipped`` (the header names the package the emulator imported).

Target (issue 13): with the emulator as shipped, no poll waits more than ~100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import keyword
import multiprocessing
import random
import statistics
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN = "/fine_tuning/alpha/graders/run"
VALIDATE = "/fine_tuning/alpha/graders/validate"
MODES = {
    "shipped": "shipped",
    "inline": "on the loop",
    "unbounded": "no limits, on the loop",
    "threads4": "4 threads",
}


def _emulator(port_queue: Any, mode: str) -> None:
    """The child: an emulator, patched to ``mode`` (process-wide, so one mode per process)."""
    import anyio
    import anyio.lowlevel

    from finetune_async.emulator import Emulator, graders

    g: Any = graders  # the patches reach into private names, which is what a benchmark may do
    if mode == "unbounded":
        big = 10**12
        g.MAX_SOURCE_LENGTH = g.MAX_TEXT_LENGTH = g.MAX_PAIRWISE_LENGTH = big
        for kind, pairs in list(g._LIMITS.items()):
            g._LIMITS[kind] = tuple((key, big) for key, _ in pairs)
    if mode in ("inline", "unbounded"):

        async def run_inline(*args: Any) -> Any:
            return g.run_grader(*args)

        async def validate_inline(grader: Any) -> Any:
            return g.validate_grader(grader)

        g.run_grader_async = run_inline
        g.validate_grader_async = validate_inline
    if mode == "threads4":
        four: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("bench_four")

        def limiter() -> anyio.CapacityLimiter:
            try:
                return four.get()
            except LookupError:
                four.set(anyio.CapacityLimiter(4))
                return four.get()

        g._limiter = limiter

    async def main() -> None:
        async with Emulator(job_seconds=60) as emu:
            port_queue.put(emu.port)
            await asyncio.Event().wait()

    asyncio.run(main())


def _similarity(metric: str, sample: str, reference: str) -> dict[str, Any]:
    grader = {"type": "text_similarity", "name": "sim", "input": "{{sample.output_text}}"}
    return {
        "grader": {**grader, "reference": "{{item.reference}}", "evaluation_metric": metric},
        "model_sample": sample,
        "item": {"reference": reference},
    }


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    body: dict[str, Any]
    concurrent: int = 1


def _cases() -> list[Case]:
    rng = random.Random(13)
    letters = [chr(0x100 + i) for i in range(120)]
    words = [f"w{i}" for i in range(16_000)]
    # The finding: 98 KB of distinct tokens, which made the old n-gram count quadratic.
    finding = " ".join(words[:8_000])
    at_limit_ref = "".join(rng.choices(letters, k=16_384))
    at_limit_sample = "".join(rng.choices(letters, k=262_144))
    over_a = "".join(rng.choices(letters, k=49_000))
    over_b = "".join(rng.choices(letters, k=49_000))
    cmp_chain = "1" + "<1" * 32_767
    # CPython compiles the captures of one match pattern in superlinear time: ~10 s for these.
    letters = string.ascii_letters
    names = (a + b + c for a in letters for b in letters for c in letters)
    captures = [n for n, _ in zip((n for n in names if not keyword.iskeyword(n)), range(7_000), strict=False)]
    slow_match = "match x:\n case C(" + ",".join(captures) + "): pass\n"
    messages = [{"role": "user", "content": [{"type": "input_text", "text": "x"}]} for _ in range(200_000)]
    return [
        Case("rouge_1, 2 x 49 KB distinct tokens (the finding)", RUN, _similarity("rouge_1", finding, finding)),
        Case("fuzzy_match 16 Ki x 256 Ki chars (at the limit)", RUN,
             _similarity("fuzzy_match", at_limit_sample, at_limit_ref)),
        Case("fuzzy_match 2 x 49 KB (over the limit)", RUN, _similarity("fuzzy_match", over_a, over_b)),
        Case("4 x fuzzy_match at the limit, at once", RUN,
             _similarity("fuzzy_match", at_limit_sample, at_limit_ref), concurrent=4),
        Case("validate: python source, 64 KB comparison chain", VALIDATE,
             {"grader": {"type": "python", "name": "py", "source": cmp_chain}}),
        Case("validate: python source, 28 KB slow to compile", VALIDATE,
             {"grader": {"type": "python", "name": "py", "source": slow_match}}),
        Case("validate: score_model, 200,000 messages (13 MB)", VALIDATE,
             {"grader": {"type": "score_model", "name": "m", "model": "gpt-4.1", "input": messages}}),
        # The same body where no grader code runs (a 400 for the missing model, once parsed): the
        # JSON parse of the request body, common to every endpoint, is most of the row above.
        Case("  the same 13 MB body to POST /fine_tuning/jobs", "/fine_tuning/jobs",
             {"grader": {"type": "score_model", "name": "m", "model": "gpt-4.1", "input": messages}}),
    ]  # fmt: skip


@dataclass(frozen=True)
class Row:
    status: str
    seconds: float
    worst_ms: float
    median_ms: float
    polls: int


def _sender(commands: Any, results: Any) -> None:
    """The child that sends the big requests, so the polling process does nothing else.

    Takes ``(base_url, case index)``, answers ``(statuses, started, ended)`` on the monotonic clock
    (one clock for every process on the machine).
    """
    import aiohttp

    cases = _cases()
    payloads = [json.dumps(case.body).encode() for case in cases]  # encoded up front, not timed

    async def send(base_url: str, index: int) -> tuple[list[int], float, float]:
        case = cases[index]
        headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(headers=headers) as session:

            async def one() -> int:
                async with session.post(f"{base_url}{case.path}", data=io.BytesIO(payloads[index])) as resp:
                    await resp.read()
                    return resp.status

            started = time.monotonic()
            statuses = await asyncio.gather(*(one() for _ in range(case.concurrent)))
            return list(statuses), started, time.monotonic()

    while (command := commands.get()) is not None:
        results.put(asyncio.run(send(*command)))


async def _measure(base_url: str, index: int, commands: Any, results: Any, poll_ms: float) -> Row:
    import aiohttp

    latencies: list[tuple[float, float]] = []  # (sent at, seconds)
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer sk-bench"}) as session:

        async def poll(stop: asyncio.Event) -> None:
            while not stop.is_set():
                sent = time.monotonic()
                async with session.get(f"{base_url}/models") as resp:
                    await resp.read()
                latencies.append((sent, time.monotonic() - sent))
                await asyncio.sleep(max(0.0, poll_ms / 1000 - (time.monotonic() - sent)))

        stop = asyncio.Event()
        poller = asyncio.ensure_future(poll(stop))
        await asyncio.sleep(0.3)  # the connection open, the poll settled
        commands.put((base_url, index))
        statuses, started, ended = await asyncio.to_thread(results.get, True, 600)
        await asyncio.sleep(2 * poll_ms / 1000)
        stop.set()
        await poller
    # The polls that were in flight at some point while the big requests were.
    during = [seconds for sent, seconds in latencies if sent < ended and sent + seconds > started]
    return Row(
        status=",".join(sorted({str(s) for s in statuses})),
        seconds=ended - started,
        worst_ms=1000 * max(during, default=0.0),
        median_ms=1000 * statistics.median(during) if during else 0.0,
        polls=len(during),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="poll interval (default 10 ms)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    cases = _cases()
    ctx = multiprocessing.get_context("spawn")
    commands, results = ctx.Queue(), ctx.Queue()
    sender = ctx.Process(target=_sender, args=(commands, results), daemon=True)
    sender.start()
    print(
        f"bench_grader_latency: GET /v1/models every {args.poll_ms:g} ms while a grader request runs, "
        f"Python {sys.version.split()[0]}, switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    import finetune_async

    print(f"finetune_async from {Path(finetune_async.__file__).parent} (the emulator process imports the same)")
    print(f"{'grader request':<52}{'mode':<24}{'status':>7}{'seconds':>9}{'worst poll':>13}{'median':>12}{'polls':>7}")
    print("-" * 124)
    for mode in modes:
        ports = ctx.Queue()
        server = ctx.Process(target=_emulator, args=(ports, mode), daemon=True)
        server.start()
        try:
            base_url = f"http://127.0.0.1:{ports.get(timeout=120)}/v1"
            for index, case in enumerate(cases):
                row = asyncio.run(_measure(base_url, index, commands, results, args.poll_ms))
                print(
                    f"{case.label:<52}{MODES[mode]:<24}{row.status:>7}{row.seconds:>9.2f}"
                    f"{row.worst_ms:>10.1f} ms{row.median_ms:>9.1f} ms{row.polls:>7}"
                )
        finally:
            server.terminate()
            server.join()
        print()
    commands.put(None)
    sender.join()
    print("target: as shipped, no poll waits more than ~100 ms behind a grader request")
    return 0


if __name__ == "__main__":
    sys.exit(main())

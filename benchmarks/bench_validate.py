"""Validation throughput and memory against merely parsing each line with the stdlib ``json``.

Generates a JSONL file of realistic supervised chat examples (every line distinct: system
prompts, multi-turn chats, some tool calls and weights; about 1 KB a line), then runs, each in
its own subprocess reading the same file:

- ``json.loads`` of every line (the baseline);
- ``validate_dataset`` with the stdlib parser (``use_orjson=False``): the path the target is on;
- ``validate_dataset`` as users get it (orjson when installed).

and prints MB/s, lines/s, the ratio to the baseline and the peak RSS of each child (with its
RSS before the clock starts: the interpreter, plus for validation the package's imports).
Targets: validation at least 60% of the baseline's rate, peak RSS under 150 MB.

    python benchmarks/bench_validate.py              # 500 MB in a temp dir, deleted after
    python benchmarks/bench_validate.py --size-mb 50 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

_WORDS = (
    "account",
    "order",
    "refund",
    "shipping",
    "invoice",
    "password",
    "reset",
    "device",
    "sync",
    "battery",
    "firmware",
    "update",
    "please",
    "thanks",
    "sorry",
    "help",
    "check",
    "settings",
    "open",
    "tap",
    "select",
    "restart",
    "confirm",
    "email",
    "support",
    "plan",
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "is",
    "it",
    "you",
    "your",
    "we",
    "can",
    "will",
    "for",
    "on",
    "with",
    "this",
    "that",
    "my",
    "not",
    "be",
    "have",
    "from",
)

_SYSTEMS = (
    "You are Brightdesk's support assistant. Be concise and friendly.",
    "You help customers of the Lumen smart thermostat. Answer in plain language.",
    "",
)

_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by its number",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n)).capitalize() + "."


def _example(rng: random.Random, i: int) -> dict[str, object]:
    messages: list[dict[str, object]] = []
    system = rng.choice(_SYSTEMS)
    if system:
        messages.append({"role": "system", "content": system})
    example: dict[str, object] = {"messages": messages}
    if rng.random() < 0.1:
        order = f"A{i:08d}"
        messages.append({"role": "user", "content": f"Where is my order {order}? " + _sentence(rng, 8)})
        call_id = f"call_{i:010d}"
        messages.append(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": order})},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call_id, "content": '{"status": "shipped"}'})
        messages.append({"role": "assistant", "content": _sentence(rng, rng.randint(10, 60))})
        example["tools"] = _TOOLS
        return example
    for turn in range(rng.randint(1, 3)):
        text = _sentence(rng, rng.randint(5, 50))
        messages.append({"role": "user", "content": f"(ticket {i}-{turn}) {text}"})
        reply: dict[str, object] = {"role": "assistant", "content": _sentence(rng, rng.randint(10, 120))}
        if rng.random() < 0.05:
            reply["weight"] = rng.choice((0, 1))
        messages.append(reply)
    return example


def generate(path: str, size: int, seed: int = 0) -> tuple[int, int]:
    """Write at least ``size`` bytes of distinct examples; returns (bytes, lines)."""
    rng = random.Random(seed)
    written = lines = 0
    with open(path, "wb", buffering=1 << 20) as f:
        while written < size:
            data = json.dumps(_example(rng, lines), ensure_ascii=False).encode() + b"\n"
            f.write(data)
            written += len(data)
            lines += 1
    return written, lines


_CHILD = r"""
import json, resource, sys, time
path, mode = sys.argv[1], sys.argv[2]
if mode != "json":  # imported before the clock starts: a one-off cost, not a per-line one
    from finetune_async.datasets import validate_dataset
    from finetune_async.datasets import _validate
start_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if mode == "json":
    n = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            json.loads(line)
            n += 1
    extra = {"lines": n}
else:
    if mode == "validate-stdlib":
        _validate._orjson_loads = None
    report = validate_dataset(path)
    extra = {"lines": report.n_examples, "ok": report.ok, "n_problems": report.n_problems,
             "tokens": report.stats.token_estimate_method, "duplicates": report.stats.n_duplicates,
             "orjson": _validate._orjson_loads is not None}
elapsed = time.perf_counter() - t0
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "maxrss_kb": rss_kb, "start_rss_kb": start_rss_kb, **extra}))
"""


def run_child(path: str, mode: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, path, mode], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=500.0, help="size of the generated file (default 500)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode; the best is kept")
    parser.add_argument("--dir", default=None, help="where to write the file (default: a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-validate-") as tmp:
        path = os.path.join(tmp, "train.jsonl")
        t0 = time.perf_counter()
        size, n_lines = generate(path, int(args.size_mb * 1024 * 1024))
        print(
            f"generated {size / 1e6:.1f} MB, {n_lines} lines ({size / n_lines:.0f} B/line) "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        modes = ["json", "validate-stdlib", "validate"]
        best: dict[str, dict[str, object]] = {}
        for _ in range(max(1, args.rounds)):
            for mode in modes:
                result = run_child(path, mode)
                seconds = float(str(result["seconds"]))
                if mode not in best or seconds < float(str(best[mode]["seconds"])):
                    best[mode] = result
        children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    base = float(str(best["json"]["seconds"]))
    print()
    print(f"{'run':<32}{'seconds':>9}{'MB/s':>9}{'lines/s':>11}{'ratio':>8}{'peak RSS':>11}{'at start':>11}")
    labels = {
        "json": "json.loads per line (baseline)",
        "validate-stdlib": "validate_dataset, stdlib json",
        "validate": "validate_dataset, default",
    }
    for mode in modes:
        r = best[mode]
        seconds = float(str(r["seconds"]))
        rss_mb = int(str(r["maxrss_kb"])) / 1024
        start_mb = int(str(r["start_rss_kb"])) / 1024
        label = labels[mode]
        if mode == "validate" and not r.get("orjson"):
            label += " (= stdlib)"
        print(
            f"{label:<32}{seconds:>9.2f}{size / 1e6 / seconds:>9.1f}{n_lines / seconds:>11,.0f}"
            f"{base / seconds:>8.0%}{rss_mb:>8.1f} MB{start_mb:>8.1f} MB"
        )
    v = best["validate-stdlib"]
    print()
    print(f"validation: ok={v['ok']} problems={v['n_problems']} tokens={v['tokens']} duplicates={v['duplicates']}")
    print(f"max RSS over all children (RUSAGE_CHILDREN): {children_rss / 1024:.1f} MB")
    ratio = base / float(str(v["seconds"]))
    rss = int(str(v["maxrss_kb"])) / 1024
    print(
        f"target: stdlib validation >= 60% of baseline: {ratio:.0%} "
        f"({'met' if ratio >= 0.6 else 'MISSED'}); peak RSS < 150 MB: {rss:.1f} MB "
        f"({'met' if rss < 150 else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

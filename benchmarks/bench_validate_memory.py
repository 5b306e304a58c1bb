"""Peak RSS of ``validate_dataset`` on files with one very long first line.

Each case writes a file whose first line is long, followed by ten valid examples, then runs
``validate_dataset`` on it in a child process and prints the child's peak RSS (``VmHWM``, or
``ru_maxrss`` without /proc) next to its peak just before the call (the interpreter and the
package's imports):

- a 1 GB first line that is JSON (a user message of 1 GB), and one that is not (the same
  line, cut before its closing brackets): both are over ``MAX_LINE_BYTES`` and must be
  reported on line 1 without being held. Target: peak RSS under 300 MB;
- lines just within the bound (ten images of 10 MiB as base64, and 150 MiB that is not JSON):
  these are parsed, so they show the most memory any line can cost;
- a file of short lines, for the floor.

Run it against another tree (``PYTHONPATH=/path/to/old/tree python benchmarks/...``) to
compare: the bound's figures then fall back to their values here.

    python benchmarks/bench_validate_memory.py                  # files in a temp dir, deleted after
    python benchmarks/bench_validate_memory.py --line-mb 256 --skip-within
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import IO

MiB = 1024 * 1024
try:
    from finetune_async.datasets import MAX_LINE_BYTES
except ImportError:  # an older tree without the bound
    MAX_LINE_BYTES = 156 * MiB

GOOD = json.dumps(
    {"messages": [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "It shipped."}]}
).encode()
HEAD = b'{"messages": [{"role": "user", "content": "'
TAIL = b'"}, {"role": "assistant", "content": "Noted."}]}'

_CHILD = r"""
import json, resource, sys, time
from finetune_async.datasets import validate_dataset
def peak_kb():
    # VmHWM: this program's peak; ru_maxrss also counts the parent's RSS at fork (Linux keeps
    # it across exec), so it is only the fallback where /proc is missing.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start_rss_kb = peak_kb()
t0 = time.perf_counter()
report = validate_dataset(sys.argv[1])
elapsed = time.perf_counter() - t0
rss_kb = peak_kb()
first = [f"{p.line}:{p.code}" for p in report.problems if p.line is not None][:1]
print(json.dumps({"seconds": elapsed, "maxrss_kb": rss_kb, "start_rss_kb": start_rss_kb,
                  "n_examples": report.n_examples, "first": first[0] if first else "-"}))
"""


def _write_blocks(f: IO[bytes], size: int, byte: bytes = b"x") -> None:
    block = byte * MiB
    while size >= MiB:
        f.write(block)
        size -= MiB
    f.write(byte * size)


def long_json_line(size: int, *, closed: bool = True) -> Callable[[IO[bytes]], None]:
    """A user message of ``size`` bytes in all; ``closed=False`` leaves the JSON unfinished."""

    def write(f: IO[bytes]) -> None:
        f.write(HEAD)
        _write_blocks(f, size - len(HEAD) - len(TAIL))
        f.write(TAIL if closed else b"x" * len(TAIL))

    return write


def images_line(target: int) -> Callable[[IO[bytes]], None]:
    """Ten images of 10 MiB as base64 data URLs: the largest valid example, within ``target``.

    Written piece by piece: the parent stays small, so its RSS does not leak into the child's.
    """

    def write(f: IO[bytes]) -> None:
        data = base64.b64encode(os.urandom(10 * MiB))
        part_head = b'{"type": "image_url", "image_url": {"detail": "high", "url": "data:image/jpeg;base64,'
        written = f.write(b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"}')
        for _ in range(10):
            written += f.write(b", " + part_head) + f.write(data) + f.write(b'"}}')
        written += f.write(b']}, {"role": "assistant", "content": "Cats."}]}')
        assert written <= target, (written, target)

    return write


def not_json_line(size: int) -> Callable[[IO[bytes]], None]:
    return lambda f: _write_blocks(f, size)


def run_case(path: str, first_line: Callable[[IO[bytes]], None] | None) -> tuple[int, dict[str, object]]:
    with open(path, "wb") as f:
        if first_line is not None:
            first_line(f)
            f.write(b"\n")
        f.write((GOOD + b"\n") * 10)
    size = os.path.getsize(path)
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, path], capture_output=True, text=True, check=True)
    finally:
        os.unlink(path)
    result: dict[str, object] = json.loads(proc.stdout)
    return size, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--line-mb", type=float, default=1024.0, help="the long first line, in MiB (default 1024)")
    parser.add_argument("--skip-within", action="store_true", help="skip the cases within the bound")
    parser.add_argument("--dir", default=None, help="where to write the files (default: a temp dir)")
    args = parser.parse_args(argv)
    line = int(args.line_mb * MiB)

    cases: list[tuple[str, Callable[[IO[bytes]], None] | None, bool]] = [
        ("short lines only (the floor)", None, False),
        (f"{args.line_mb:,.0f} MiB first line, JSON", long_json_line(line), True),
        (f"{args.line_mb:,.0f} MiB first line, not JSON", long_json_line(line, closed=False), True),
    ]
    if not args.skip_within:
        cases += [
            ("largest valid line: 10 images", images_line(MAX_LINE_BYTES), False),
            (f"{MAX_LINE_BYTES // MiB - 6} MiB line, not JSON", not_json_line(MAX_LINE_BYTES - 6 * MiB), False),
        ]

    print(f"MAX_LINE_BYTES = {MAX_LINE_BYTES:,} ({MAX_LINE_BYTES / MiB:.0f} MiB)")
    print()
    print(f"{'case':<40}{'file':>10}{'seconds':>9}{'peak RSS':>11}{'at start':>11}  first problem")
    over_target: list[float] = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-validate-memory-") as tmp:
        for label, first_line, targeted in cases:
            size, r = run_case(os.path.join(tmp, "train.jsonl"), first_line)
            rss = int(str(r["maxrss_kb"])) / 1024
            start = int(str(r["start_rss_kb"])) / 1024
            if targeted:
                over_target.append(rss)
            print(
                f"{label:<40}{size / 1e6:>7,.0f} MB{float(str(r['seconds'])):>9.2f}"
                f"{rss:>8.1f} MB{start:>8.1f} MB  {r['first']}"
            )
    print()
    if line <= MAX_LINE_BYTES:
        print("the long first line is within the bound: it is parsed, no target applies")
        return 0
    worst = max(over_target)
    print(
        f"target: peak RSS under 300 MB on a line over the bound: {worst:.1f} MB ({'met' if worst < 300 else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

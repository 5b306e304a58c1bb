"""A large upload to the emulator: peak memory of the uploading process, and throughput.

``files.create`` on a file over the Files API's 512 MB limit goes through the Uploads API in
64 MB parts, each streamed from disk. This script generates a file (default 2 GB, in a temp
dir, deleted afterwards), starts the emulator in its own process, uploads the file from a
third process, and prints one table: the uploader's peak RSS against the same process's RSS
before the upload, and MB/s. The uploaded copy is checked byte for byte (md5).

    python benchmarks/bench_upload.py [--size-mb 2048] [--dir /tmp]

Target (issue 5): the uploading process stays under 200 MB peak RSS for a 2 GB file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from typing import Any


def _emulator(port_queue: Any, data_dir: str) -> None:
    from finetune_async.emulator import Emulator

    async def main() -> None:
        async with Emulator(job_seconds=60, data_dir=data_dir) as emu:
            port_queue.put(emu.base_url)
            await asyncio.Event().wait()

    asyncio.run(main())


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _upload(base_url: str, path: str, result: Any) -> None:
    import finetune_async as ft

    async def main() -> dict[str, Any]:
        before = _rss_mb()
        async with ft.AsyncClient(api_key="sk-bench", base_url=base_url) as client:
            started = time.perf_counter()
            created = await client.files.create(file=path)
            seconds = time.perf_counter() - started
            # The copy is checked against the emulator's stored file afterwards, not downloaded
            # here: this process's memory should reflect the upload alone.
            return {"file": created.id, "bytes": created.bytes, "seconds": seconds, "rss_before": before}

    stats = asyncio.run(main())
    stats["rss_peak"] = _rss_mb()
    result.put(stats)


def _make_file(path: str, size: int) -> str:
    line = (
        b'{"messages": [{"role": "user", "content": "%08d ' + b"x" * 200 + b'"}, '
        b'{"role": "assistant", "content": "ok"}]}\n'
    )
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    with open(path, "wb") as fh:
        n = 0
        while written < size:
            block = b"".join(line % (n + i) for i in range(4096))
            n += 4096
            block = block[: size - written]
            fh.write(block)
            digest.update(block)
            written += len(block)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--dir", default=None, help="where to write the file (default: the temp dir)")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "big.jsonl")
        expected = _make_file(path, args.size_mb * 1024 * 1024)
        urls = ctx.Queue()
        server = ctx.Process(target=_emulator, args=(urls, os.path.join(tmp, "emulator")), daemon=True)
        server.start()
        try:
            base_url = urls.get(timeout=60)
            results = ctx.Queue()
            uploader = ctx.Process(target=_upload, args=(base_url, path, results))
            uploader.start()
            stats = results.get(timeout=3600)
            uploader.join(60)
            stored = _stored_md5(os.path.join(tmp, "emulator"), stats["bytes"])
        finally:
            server.terminate()
            server.join(10)
    size_mb = stats["bytes"] / 1024 / 1024
    print(f"bench_upload: {size_mb:,.0f} MB file, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"{'measure':40} {'value':>12} {'target':>12}")
    print("-" * 66)
    print(f"{'uploader RSS before the upload (MB)':40} {stats['rss_before']:>12.1f}")
    print(f"{'uploader peak RSS (MB)':40} {stats['rss_peak']:>12.1f} {'< 200':>12}")
    print(f"{'throughput (MB/s)':40} {size_mb / stats['seconds']:>12.1f}")
    print(f"{'stored copy matches (md5)':40} {stored == expected!s:>12}")
    return 0 if stored == expected else 1


def _stored_md5(data_dir: str, size: int) -> str | None:
    """The md5 of the emulator's stored copy: the one file of that size under its data dir."""
    for root, _dirs, names in os.walk(data_dir):
        for name in names:
            full = os.path.join(root, name)
            if os.path.getsize(full) == size:
                digest = hashlib.md5(usedforsecurity=False)
                with open(full, "rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                return digest.hexdigest()
    return None


if __name__ == "__main__":
    raise SystemExit(main())

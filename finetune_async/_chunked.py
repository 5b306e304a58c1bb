"""Whole-file uploads through the Uploads API: parts streamed from disk, sent concurrently.

This module owns the loop over parts (resources only send one request each). Memory stays
bounded by ``max_concurrent`` x the read chunk, not by the part size: each part is streamed
from its slice of the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from .models import Upload

if TYPE_CHECKING:
    from .client import AsyncClient

__all__ = ["file_slice", "upload_file_chunked"]

#: Bytes read from disk at a time while streaming a part.
READ_CHUNK = 256 * 1024


def file_slice(path: str, offset: int, length: int) -> Callable[[], AsyncIterator[bytes]]:
    """A factory of async iterators over ``length`` bytes of ``path`` from ``offset``.

    Each call opens the file anew, so a retried part is streamed again from its start.
    """

    async def chunks() -> AsyncIterator[bytes]:
        async with await anyio.open_file(path, "rb") as handle:
            await handle.seek(offset)
            remaining = length
            while remaining > 0:
                block = await handle.read(min(READ_CHUNK, remaining))
                if not block:
                    raise OSError(f"{path} shrank while it was being uploaded")
                remaining -= len(block)
                yield block

    return chunks


def _md5_of(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


async def upload_file_chunked(
    client: AsyncClient,
    path: str,
    *,
    purpose: str,
    part_size: int,
    filename: str | None,
    mime_type: str | None,
    max_concurrent: int,
    on_progress: Callable[[int, int], object] | None,
) -> Upload:
    """Create an upload, send every part (bounded concurrency), complete it with the md5."""
    if part_size <= 0 or part_size > 64 * 1024 * 1024:
        raise ValueError("part_size must be between 1 byte and 64 MB")
    if max_concurrent < 1:
        raise ValueError("max_concurrent must be at least 1")
    total = (await anyio.Path(path).stat()).st_size
    name = filename or os.path.basename(path)
    mime = mime_type or (
        "application/jsonl" if name.endswith(".jsonl") else mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    upload = await client.uploads.create(bytes=total, filename=name, mime_type=mime, purpose=purpose)
    offsets = list(range(0, total, part_size)) or [0]
    part_ids: list[str | None] = [None] * len(offsets)
    done = 0
    limiter = anyio.CapacityLimiter(max_concurrent)
    md5 = ""

    async def send(index: int, offset: int) -> None:
        nonlocal done
        length = min(part_size, total - offset)
        async with limiter:
            part = await client.uploads.parts.create(upload.id, data=file_slice(path, offset, length))
        part_ids[index] = part.id
        done += length
        if on_progress is not None:
            on_progress(done, total)

    async def checksum() -> None:
        nonlocal md5
        md5 = await anyio.to_thread.run_sync(_md5_of, path)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(checksum)
            for index, offset in enumerate(offsets):
                tg.start_soon(send, index, offset)
    except BaseException:
        with anyio.move_on_after(10, shield=True):
            # Best effort: a half-sent upload is useless, free it now rather than in an hour.
            with contextlib.suppress(Exception):  # the original error matters more
                await client.uploads.cancel(upload.id)
        raise
    return await client.uploads.complete(upload.id, part_ids=[p for p in part_ids if p is not None], md5=md5)

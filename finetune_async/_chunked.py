"""Whole-file uploads through the Uploads API: parts streamed from disk, sent concurrently,
resumable after a crash.

This module owns the loop over parts (resources only send one request each). Memory stays
bounded by ``max_concurrent`` x the read chunk, not by the part size: each part is streamed
from its slice of the file. Each part is retried on its own by the transport.

Resuming: when a ``state_file`` is given, the upload id and every finished part are written
to it (atomically, after each part). Running the same upload again with the same state file
after a crash sends only the parts that are missing, provided the file is unchanged (same
size and modification time), the part size is the same, and the upload has not expired (an
upload lives one hour). The state file is removed once the upload is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._compat import BaseExceptionGroup, sole_error
from .models import Upload

if TYPE_CHECKING:
    from .client import AsyncClient
    from .resources._base import CallOptions

__all__ = ["file_slice", "upload_file_chunked"]

#: Bytes read from disk at a time while streaming a part.
READ_CHUNK = 256 * 1024
#: The API's limit on one part.
MAX_PART_SIZE = 64 * 1024 * 1024
#: An upload expires an hour after it is created; don't resume one about to expire.
RESUME_WINDOW = 3600 - 300


def file_slice(handle: anyio.AsyncFile[bytes], offset: int, length: int) -> Callable[[], AsyncIterator[bytes]]:
    """A factory of async iterators over ``length`` bytes of an open file from ``offset``.

    Each call seeks again, so a retried part is streamed again from its start. The caller
    owns the open file and closes it: an iterator abandoned mid-way (a cancelled request)
    then holds nothing open.
    """

    async def chunks() -> AsyncIterator[bytes]:
        await handle.seek(offset)
        remaining = length
        while remaining > 0:
            block = await handle.read(min(READ_CHUNK, remaining))
            if not block:
                raise OSError(f"{handle.name} shrank while it was being uploaded")
            remaining -= len(block)
            yield block

    return chunks


def _md5_of(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


class _State:
    """The small JSON file that makes an upload resumable."""

    def __init__(self, path: str | None, fingerprint: dict[str, Any]) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.upload_id: str | None = None
        self.created = 0.0
        self.parts: dict[int, str] = {}

    def load(self) -> None:
        """Adopt a previous run's upload if it is for this same file and still alive."""
        if self.path is None or not os.path.exists(self.path):
            return
        try:
            with open(self.path, encoding="utf-8") as fh:
                saved = json.load(fh)
        except (OSError, ValueError):
            return  # an unreadable state file only costs a fresh upload
        if not isinstance(saved, dict) or saved.get("fingerprint") != self.fingerprint:
            return
        created = saved.get("created")
        if not isinstance(created, (int, float)) or time.time() - created > RESUME_WINDOW:
            return
        parts = saved.get("parts")
        if isinstance(saved.get("upload_id"), str) and isinstance(parts, dict):
            self.upload_id = saved["upload_id"]
            self.created = float(created)
            self.parts = {int(k): str(v) for k, v in parts.items()}

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "fingerprint": self.fingerprint,
            "upload_id": self.upload_id,
            "created": self.created,
            "parts": {str(k): v for k, v in sorted(self.parts.items())},
        }
        temp = f"{self.path}.tmp"
        with open(temp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        # Atomic: a crash leaves the old state or the new one, never half of one.
        os.replace(temp, self.path)

    def remove(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)


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
    state_file: str | None = None,
    options: CallOptions | None = None,
) -> Upload:
    """Create (or resume) an upload, send every missing part with bounded concurrency, and
    complete it with the file's md5 so the server checks what it received.

    ``options`` (a ``files.create`` call's timeout, extra headers and query) go with every
    request of the upload."""
    opts: CallOptions = options or {}
    if part_size <= 0 or part_size > MAX_PART_SIZE:
        raise ValueError("part_size must be between 1 byte and 64 MB")
    if max_concurrent < 1:
        raise ValueError("max_concurrent must be at least 1")
    stat = await anyio.Path(path).stat()
    total = stat.st_size
    name = filename or os.path.basename(path)
    mime = mime_type or (
        "application/jsonl" if name.endswith(".jsonl") else mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    fingerprint = {
        "path": await anyio.to_thread.run_sync(os.path.abspath, path),
        "bytes": total,
        "mtime_ns": stat.st_mtime_ns,
        "part_size": part_size,
        "purpose": purpose,
        "filename": name,
    }
    state = _State(state_file, fingerprint)
    await anyio.to_thread.run_sync(state.load)
    if state.upload_id is None:
        upload = await client.uploads.create(bytes=total, filename=name, mime_type=mime, purpose=purpose, **opts)
        state.upload_id, state.created, state.parts = upload.id, time.time(), {}
        await anyio.to_thread.run_sync(state.save)
    else:
        # The resumed upload's details are what this client needs to reconcile its completion.
        client.ledger.upload_started(state.upload_id, filename=name, size=total, purpose=purpose)
    upload_id = state.upload_id
    offsets = list(range(0, total, part_size)) or [0]
    done = sum(min(part_size, total - offsets[i]) for i in state.parts if i < len(offsets))
    limiter = anyio.CapacityLimiter(max_concurrent)
    saving = anyio.Lock()
    md5 = ""
    if on_progress is not None and done:
        on_progress(done, total)

    async def send(index: int, offset: int) -> None:
        nonlocal done
        length = min(part_size, total - offset)
        async with limiter, await anyio.open_file(path, "rb") as handle:
            part = await client.uploads.parts.create(upload_id, data=file_slice(handle, offset, length), **opts)
            state.parts[index] = part.id
            # One writer at a time: saves share the state file's temporary name.
            async with saving:
                await anyio.to_thread.run_sync(state.save)
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
                if index not in state.parts:
                    tg.start_soon(send, index, offset)
    except BaseException as exc:
        # With a state file the pending upload is kept for the next run to resume (it expires
        # on its own within the hour); without one nothing can resume it: free it now.
        if state_file is None:
            with anyio.move_on_after(10, shield=True), contextlib.suppress(Exception):
                await client.uploads.cancel(upload_id, **opts)
        sole = sole_error(exc) if isinstance(exc, BaseExceptionGroup) else None
        if sole is not None:
            raise sole from None
        raise
    completed = await client.uploads.complete(
        upload_id, part_ids=[state.parts[i] for i in range(len(offsets))], md5=md5, **opts
    )
    await anyio.to_thread.run_sync(state.remove)
    return completed

"""Request bodies: JSON, and multipart with its file parts and upload progress.

No aiohttp here: :func:`form_fields` lists what a multipart body holds, one fresh value per
attempt (a path reopened, a file object rewound to where it stood, a factory called again), and
the session module (:mod:`finetune_async._session`) hands those to aiohttp.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import IO, Any

import attrs
import orjson

__all__ = ["NO_STARTS", "FilePart", "encode_json", "form_fields", "replayable", "starting_positions"]

#: The starting positions of a request without file parts (shared: read-only).
NO_STARTS: Mapping[int, int | None] = {}


@attrs.frozen(kw_only=True)
class FilePart:
    """A file field of a multipart request.

    ``source`` is a path (streamed from disk, never read whole), bytes, a binary file object
    (streamed from its current position, rewound for a retry when seekable), or a factory
    giving a fresh async iterator of chunks for each attempt.
    """

    name: str
    filename: str
    source: str | os.PathLike[str] | bytes | IO[bytes] | Callable[[], AsyncIterator[bytes]]
    content_type: str = "application/octet-stream"
    #: ``on_progress(bytes_sent, total)`` as a path source is read for sending.
    on_progress: Callable[[int, int], object] | None = None


def encode_json(body: Any) -> bytes:
    """``body`` as the bytes of a JSON request (orjson). Raises :class:`TypeError` for a value
    JSON cannot hold."""
    return orjson.dumps(body)


def starting_positions(files: Sequence[FilePart]) -> Mapping[int, int | None]:
    """Where each file object of ``files`` stands now (by ``id`` of its source), so that every
    attempt sends it from there; None for sources that are not rewound (paths, bytes)."""
    return {id(f.source): _tell(f.source) for f in files} if files else NO_STARTS


def form_fields(
    form: Mapping[str, str], files: Sequence[FilePart], starts: Mapping[int, int | None]
) -> list[tuple[str, Any, str | None, str | None]]:
    """The fields of one attempt's multipart body, in order, as (name, value, filename,
    content type): the text fields, then the file parts, each with a fresh value (a path is
    opened anew, and reports its progress when the part asks for it)."""
    fields: list[tuple[str, Any, str | None, str | None]] = [(key, text, None, None) for key, text in form.items()]
    for part in files:
        fields.append((part.name, form_value(part, starts), part.filename, part.content_type))
    return fields


def form_value(part: FilePart, starts: Mapping[int, int | None]) -> Any:
    """A fresh value of one file part for one attempt, sent as a whole body (a signed URL's
    PUT): as :func:`form_fields` gives it, progress reported when the part asks for it."""
    value = _payload_value(part.source, starts.get(id(part.source)))
    if part.on_progress is not None and isinstance(value, io.BufferedReader):
        value = _ProgressReader(value, part.on_progress)
    return value


def replayable(source: object) -> bool:
    """Whether an upload body can be sent again for a redirect: bytes and paths (reopened)
    can, and so can a factory (a fresh iterator each time); a file object may not rewind."""
    return isinstance(source, (bytes, bytearray, memoryview, str, os.PathLike)) or callable(source)


class _ProgressReader(io.RawIOBase):
    """A read-only file that reports how much of it was read.

    aiohttp reads upload files in a worker thread; the callback is handed to the event loop
    so it always runs on the loop's thread.
    """

    def __init__(self, raw: io.BufferedReader, callback: Callable[[int, int], object]) -> None:
        super().__init__()
        self._raw = raw
        self._callback = callback
        self._loop = asyncio.get_running_loop()
        self._total = os.fstat(raw.fileno()).st_size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        block = self._raw.read(size)
        self._loop.call_soon_threadsafe(self._callback, self._raw.tell(), self._total)
        return block

    def readinto(self, buffer: Any) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _tell(source: object) -> int | None:
    tell = getattr(source, "tell", None)
    if tell is None or isinstance(source, (bytes, str, os.PathLike)):
        return None
    try:
        position = tell()
    except (OSError, ValueError):
        return None
    return position if isinstance(position, int) else None


def _payload_value(source: Any, start: int | None) -> Any:
    """A fresh body for one attempt: paths are opened anew, file objects rewound."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        # aiohttp streams an open file in chunks (in a thread) and closes it when done.
        return open(source, "rb")
    if callable(source):
        return source()
    if start is not None:
        source.seek(start)
    return source

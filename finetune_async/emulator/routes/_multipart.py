"""Multipart forms, streamed: a form's one binary part goes to a blob chunk by chunk, never
read whole (except under a ``late`` fault, which holds the whole body before it waits).

Hostile input gets a 4xx in the API's error shape: a malformed body, a field over
:data:`MAX_FIELD_BYTES`, more than :data:`MAX_FORM_PARTS` parts, a filename with a control
character. On any error no blob is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError

from .._util import APIError, bad_request
from .._validation import check_filename
from ..files import Files
from ._http import buffered_body, state

__all__ = ["MAX_FIELD_BYTES", "MAX_FORM_PARTS", "Form", "TooLarge", "discard_on_error", "read_form", "store_body"]

#: The 400 for a binary part of (at least) this many bytes.
TooLarge = Callable[[int], APIError]
_CHUNK = 256 * 1024
#: The largest text field of a multipart form (``purpose``, ``expires_after``, ...).
MAX_FIELD_BYTES = 64 * 1024
#: The most parts a multipart form may have, the file or data part included.
MAX_FORM_PARTS = 32
# What parsing a malformed multipart body raises, in aiohttp's versions: ValueError (no
# boundary, reading past the end, bad base64), AssertionError, RuntimeError (an unknown
# transfer or content encoding), LookupError (an unknown charset), zlib.error (a gzip field
# that is not gzip), HttpProcessingError (a header line without a colon, or too long).
_MALFORMED = (ValueError, AssertionError, RuntimeError, LookupError, zlib.error, HttpProcessingError)


@contextlib.contextmanager
def _reading_form(request: web.Request) -> Iterator[None]:
    """Turn what parsing a multipart body raises into the API's answer: 400 for a malformed
    body, or, when the client is gone, the ConnectionError the middleware logs in one line."""
    try:
        yield
    except _MALFORMED as exc:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Connection lost") from exc
        raise bad_request(f"Malformed multipart body: {str(exc)[:200]}") from None


async def _stream_part(part: BodyPartReader, files: Files, limit: int, too_large: TooLarge) -> tuple[str, int]:
    """Write one multipart part to a new blob; (blob name, size). ``too_large(size)`` past
    ``limit`` bytes."""
    blob, path = files.new_blob()
    size = 0
    try:
        with path.open("wb") as fh:
            while chunk := await part.read_chunk(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large(size)
                fh.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return blob, size


async def _read_field(part: BodyPartReader, name: str) -> str:
    """A text field's value, decoded as its headers say; 400 past :data:`MAX_FIELD_BYTES`."""
    raw = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        raw.extend(chunk)
        if len(raw) > MAX_FIELD_BYTES:
            break
    data = bytes(part.decode(bytes(raw))) if len(raw) <= MAX_FIELD_BYTES else raw
    if len(data) > MAX_FIELD_BYTES:
        shown = name[:64]
        raise bad_request(f"The form field '{shown}' is larger than {MAX_FIELD_BYTES >> 10} KB.", shown)
    return data.decode("utf-8", "replace")


def _stream_of(data: bytes) -> StreamReader:
    """A finished stream holding ``data``, for a multipart reader to parse."""
    loop = asyncio.get_running_loop()
    # A protocol with no transport has no flow control to drive, and a limit above the data's
    # size means the reader never asks it to pause.
    stream = StreamReader(BaseProtocol(loop), max(len(data), _CHUNK), loop=loop)
    stream.feed_data(data)
    stream.feed_eof()
    return stream


async def _multipart(request: web.Request) -> MultipartReader:
    if not request.content_type.startswith("multipart/"):
        raise bad_request("Expected a multipart/form-data body.")
    buffered = buffered_body.get()
    if buffered is None:
        return await request.multipart()
    return MultipartReader(request.headers, _stream_of(buffered))


@dataclass
class Form:
    """A multipart body: its one binary part streamed to a blob, and its text fields."""

    blob: str
    size: int
    filename: str
    fields: dict[str, str]


async def read_form(request: web.Request, files: Files, *, binary: str, limit: int, too_large: TooLarge) -> Form:
    """Stream the ``binary`` part to disk (``too_large(size)`` past ``limit`` bytes) and read the
    other parts as text; on any error no blob is left behind."""
    blob: str | None = None
    size = 0
    filename = "file"
    fields: dict[str, str] = {}
    parts = 0
    try:
        with _reading_form(request):
            reader = await _multipart(request)
            while True:
                part = await reader.next()
                if part is None:
                    break
                parts += 1
                if parts > MAX_FORM_PARTS:
                    raise bad_request(f"The form has more than {MAX_FORM_PARTS} fields.")
                if not isinstance(part, BodyPartReader):
                    raise bad_request("Nested multipart bodies are not supported.")
                if part.name == binary and blob is None:
                    filename = check_filename(part.filename or "file", binary)
                    blob, size = await _stream_part(part, files, limit, too_large)
                elif part.name:
                    fields[part.name] = await _read_field(part, part.name)
                else:
                    await part.release()
        if blob is None:
            raise bad_request(f"Missing required parameter: '{binary}'.", binary)
    except BaseException:
        if blob is not None:
            files.discard_blob(blob)
        raise
    return Form(blob, size, filename, fields)


@contextlib.contextmanager
def discard_on_error(files: Files, blob: str) -> Iterator[None]:
    """Remove the received blob if the request is refused after all."""
    try:
        yield
    except BaseException:
        files.discard_blob(blob)
        raise


async def store_body(request: web.Request, limit: int, too_large: TooLarge) -> tuple[str, int, str]:
    """A request's whole body (a signed URL's PUT; the one a ``late`` fault held, if any) in a
    new blob, streamed: ``(blob, size, md5)``. ``too_large(size)`` is raised once it passes
    ``limit`` bytes; on any error no blob is left behind."""
    files = state(request).files
    blob, path = files.new_blob()
    size = 0
    digest = hashlib.md5(usedforsecurity=False)
    held = buffered_body.get()
    try:
        with path.open("wb") as fh:
            if held is not None:
                if len(held) > limit:
                    raise too_large(len(held))
                size = len(held)
                digest.update(held)
                fh.write(held)
            else:
                async for chunk in request.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > limit:
                        raise too_large(size)
                    digest.update(chunk)
                    fh.write(chunk)
    except BaseException:
        files.discard_blob(blob)
        raise
    return blob, size, digest.hexdigest()

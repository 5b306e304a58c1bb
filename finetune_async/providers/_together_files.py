"""Together's file uploads: the spec's one request, and the flows of Together's own SDK beyond it.

Which flow a file takes is decided by its size (:class:`TogetherUploadSizes`, defaults from
Together's SDK, together 3.1.1):

* **up to** ``direct_max`` (512 MiB): the spec's ``POST /files/upload``, one multipart request
  with the bytes. The spec states no limit; 512 MiB is the one-request bound ``files.create``
  keeps everywhere (OpenAI's Files API limit), past which one request that cannot resume is the
  wrong tool. A lost answer is settled by listing the files (name, size, purpose, time)
  through the client's create-once ledger.
* **up to** ``multipart_over`` (5 GiB, the SDK's ``MULTIPART_THRESHOLD_GB``, compared with
  ``>`` as it does; also an object store's limit for one PUT): the SDK's redirect flow.
  ``POST /files`` (multipart form, no bytes: ``purpose``, ``file_name``, ``file_type``, the
  file's sha256 ``checksum``) is answered with ``Location`` (a signed URL) and
  ``X-Together-File-Id``; the bytes go to that URL in one ``PUT`` (``send.signed``: no
  credential, ``Content-Length`` given, streamed); then ``POST /files/{id}/preprocess``
  answers the file. Together answers that announce with a 302, read as it is and not followed
  (the request asks ``answer_redirects``); a 2xx answer with both headers, which Together's SDK
  also takes, goes on the same way.
* **over** ``multipart_over``, up to ``max_file`` (50.1 GiB, ``MAX_FILE_SIZE_GB``): the SDK's
  multipart flow. ``POST /files/multipart/initiate {file_name, file_size, num_parts, purpose,
  file_type, checksum}`` answers ``{upload_id, file_id, parts: [{PartNumber, URL, Headers}]}``;
  each part is streamed from its slice of the file to its signed URL (``send.signed``, at most
  ``max_concurrent_parts`` at once, each retried on its own: a PUT is idempotent) and answers
  an ``ETag``; ``POST /files/multipart/complete {upload_id, file_id, parts: [{part_number,
  etag}]}`` answers the file (bare or as ``{"file": ...}``). On any failure or cancellation
  after the initiate, ``POST /files/multipart/abort {upload_id, file_id}`` frees the upload.
  Parts are sized as the SDK sizes them: ``part_size`` (250 MiB) targeted, at most
  ``max_parts`` (250), at least ``min_part_size`` (5 MiB).

Exactly once: the file id is known from the announce or the initiate, so a lost answer to
``preprocess`` or ``complete`` is settled by reading that file (``GET /files/{id}``: present,
it is the answer; absent after the settle window, the request is sent again). The announce and
the initiate carry the file's checksum, by which Together recognises a repeat: sent again after
a lost answer, they name the same file, and a file whose bytes Together already has answers 409
``{"file_id"}``, which ``files.create`` returns (as Together's SDK does). A lost PUT answer is
simply sent again.

The redirect and multipart flows need the file's size and, for the checksum, to read it once
first: a path, bytes, or a seekable binary file object (the multipart flow: a path or bytes).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import attrs
import orjson

from .._bodies import FilePart
from .._compat import BaseExceptionGroup, first_of_like_errors
from .._ledger import file_matches
from ..errors import APIStatusError, FineTuneError, NotFoundError, UnsupportedByProviderError

if TYPE_CHECKING:
    from .._ledger import CreateLedger
    from .._transport import Response
    from ._base import FileUpload, Send

__all__ = ["FILE_TYPES", "PURPOSES", "TogetherUploadSizes", "create_file", "file_object"]

log = logging.getLogger("finetune_async.providers.together")

_MiB = 1024 * 1024
_GiB = 1024 * _MiB

#: The spec's ``FileType``s (the file's extension names it).
FILE_TYPES = frozenset({"jsonl", "csv", "parquet"})
#: The spec's ``FilePurpose``s.
PURPOSES = frozenset(
    {"fine-tune", "eval", "eval-sample", "eval-output", "eval-summary", "batch-generated", "batch-api"}
)
_READ = 1024 * 1024
#: What a file id Together hands out is made of (``file-…``, uuids).
_SERVER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


@attrs.frozen(kw_only=True)
class TogetherUploadSizes:
    """Which flow a Together upload takes, and how a multipart upload is cut (bytes).

    A file up to ``direct_max`` goes in one ``POST /files/upload``; up to ``multipart_over``
    through the redirect flow; over it, up to ``max_file``, in parts of about ``part_size``
    (at most ``max_parts``, at least ``min_part_size`` each), ``max_concurrent_parts`` at once.
    The defaults are Together's SDK's (see :mod:`finetune_async.providers._together_files`);
    pass smaller ones (``AsyncClient.together(upload_sizes=...)``) to exercise the flows with
    small files. Raises :class:`ValueError` for sizes that do not nest.
    """

    direct_max: int = 512 * _MiB
    multipart_over: int = 5 * _GiB
    max_file: int = int(50.1 * _GiB)
    part_size: int = 250 * _MiB
    min_part_size: int = 5 * _MiB
    max_parts: int = 250
    max_concurrent_parts: int = 4

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.direct_max <= self.multipart_over <= self.max_file:
            raise ValueError("upload sizes need 0 <= direct_max <= multipart_over <= max_file")
        if not 1 <= self.min_part_size <= self.part_size or self.max_parts < 1 or self.max_concurrent_parts < 1:
            raise ValueError(
                "upload sizes need 1 <= min_part_size <= part_size, max_parts >= 1 and max_concurrent_parts >= 1"
            )

    def parts(self, size: int) -> tuple[int, int]:
        """(part size, number of parts) for a file of ``size`` bytes, as Together's SDK cuts it."""
        if size <= self.part_size:
            return max(size, 1), 1
        count = min(self.max_parts, math.ceil(size / self.part_size))
        part = math.ceil(size / count)
        if part < self.min_part_size:
            part = self.min_part_size
            count = math.ceil(size / part)
        return part, count


def file_object(record: Mapping[str, Any]) -> dict[str, Any]:
    """Together's ``FileResponse`` as OpenAI's ``FileObject`` (Together's fields kept beside)."""
    from .together import epoch_seconds

    processed = record.get("Processed")
    size = record.get("bytes")
    return {
        **record,
        "id": str(record.get("id", "")),
        "object": "file",
        "bytes": size if isinstance(size, int) and not isinstance(size, bool) else 0,
        "created_at": epoch_seconds(record.get("created_at")) or 0,
        "filename": record.get("filename") if isinstance(record.get("filename"), str) else "",
        "purpose": record.get("purpose") if isinstance(record.get("purpose"), str) else "fine-tune",
        "status": "processed" if processed is True else "uploaded",
    }


def _refuse(reason: str) -> UnsupportedByProviderError:
    return UnsupportedByProviderError("together", "files.create", reason)


async def create_file(send: Send, upload: FileUpload, *, sizes: TogetherUploadSizes, ledger: CreateLedger) -> Any:
    """Send ``upload`` by the flow its size calls for (module docstring) and return the file
    in OpenAI's shape.

    Raises :class:`~finetune_async.UnsupportedByProviderError` before sending for a purpose
    Together does not have, a file over ``sizes.max_file``, or a source the flow cannot read
    twice; :class:`ValueError` for ``extra_body`` form fields with a file the SDK's flows send;
    the transport's errors otherwise.
    """
    name = upload.part.filename
    purpose = upload.purpose
    if purpose not in PURPOSES:
        raise _refuse(f"the purpose {purpose!r} (it has: {', '.join(sorted(PURPOSES))})")
    size = upload.size
    if size is not None and size > sizes.max_file:
        raise _refuse(f"a file of {size:,} bytes: Together takes at most {sizes.max_file:,}")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if size is None or size <= sizes.direct_max:
        form = {**upload.form, "purpose": purpose, "file_name": name}
        if ext in FILE_TYPES:
            form.setdefault("file_type", ext)
        return await _direct(send, upload, form, ledger)
    extra = sorted(set(upload.form) - {"purpose"})
    if extra:
        raise ValueError(
            f"extra_body cannot send {extra[0]!r} with a file of {size:,} bytes: Together's own upload "
            "flow takes only purpose, file_name, file_type and checksum"
        )
    if ext not in FILE_TYPES:
        raise _refuse(
            f"a file named {name!r} over {sizes.direct_max:,} bytes: its name must end .jsonl, .csv or .parquet"
        )
    source = upload.part.source
    if size > sizes.multipart_over:
        if not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
            raise _refuse(f"a file of {size:,} bytes from a {type(source).__name__}: pass its path")
    elif not (isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) or _seekable(source)):
        raise _refuse(
            f"a file of {size:,} bytes from a {type(source).__name__} that cannot be read twice: pass its path"
        )
    checksum = await _sha256(source)
    flow = _Flow(send, upload, size, ext, checksum, sizes, ledger)
    try:
        if size <= sizes.multipart_over:
            return await flow.redirect()
        return await flow.multipart()
    except _Exists as exists:
        # Together keeps one file per content: the file it already has is the answer.
        answer = await send("GET", f"/files/{exists.file_id}", op="files.retrieve")
        return file_object(answer.json())


async def _direct(send: Send, upload: FileUpload, form: Mapping[str, str], ledger: CreateLedger) -> Any:
    """The spec's ``POST /files/upload``, once: a lost answer is settled by listing the files."""
    from .._transport import Response
    from ..models import FileObject
    from ..models._converter import structure

    name, purpose = upload.part.filename, upload.purpose

    async def find(since: float) -> Response | None:
        listing = await send("GET", "/files", op="files.list")
        records = listing.json()
        data = records.get("data") if isinstance(records, Mapping) else None
        for record in data if isinstance(data, list) else ():
            mapped = file_object(record) if isinstance(record, Mapping) else None
            if mapped is None or mapped["created_at"] < since:
                continue
            candidate = structure(mapped, FileObject)
            if file_matches(candidate, purpose=purpose, filename=name, size=upload.size) and ledger.claim(candidate.id):
                # The settle answers in place of the lost answer: the file's own record.
                return Response(200, {}, orjson.dumps(record), listing.request_id, "GET", listing.url)
        return None

    answer = await send(
        "POST",
        "/files/upload",
        form=form,
        files=[upload.part],
        idempotent=False,
        reconcile=ledger.reconciler(f"a file {name!r}", find),
        op="files.create",
    )
    return file_object(answer.json())


class _Exists(Exception):
    """Together already has this content (409 ``{"file_id"}``)."""

    def __init__(self, file_id: str) -> None:
        super().__init__(file_id)
        self.file_id = file_id


def _existing(error: APIStatusError) -> _Exists | None:
    body = error.body
    file_id = body.get("file_id") if isinstance(body, Mapping) else None
    if error.status_code != 409 or not isinstance(file_id, str) or not file_id:
        return None
    return _Exists(_server_id(file_id, "a 409 answer's file_id"))


def _server_id(value: str, where: str) -> str:
    """A file id Together answered, checked before it goes into a path (with the API key): one
    plain segment, never another endpoint. Raises :class:`FineTuneError` otherwise."""
    if not _SERVER_ID.fullmatch(value) or value in (".", ".."):
        raise FineTuneError(f"Together answered {where} that is not a file id: {value[:80]!r}")
    return value


def _seekable(source: object) -> bool:
    try:
        return bool(source.seekable())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


async def _sha256(source: object) -> str:
    """The hex sha256 of the bytes an upload sends (a file object: from where it stands, which
    it is returned to), read in a worker thread."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha256(source).hexdigest()

    def digest(handle: IO[bytes]) -> str:
        hasher = hashlib.sha256()
        while block := handle.read(_READ):
            hasher.update(block)
        return hasher.hexdigest()

    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)

        def of_path() -> str:
            with open(path, "rb") as handle:
                return digest(handle)

        return await anyio.to_thread.run_sync(of_path)
    handle: IO[bytes] = source  # type: ignore[assignment]
    start = handle.tell()

    def of_handle() -> str:
        try:
            return digest(handle)
        finally:
            handle.seek(start)

    return await anyio.to_thread.run_sync(of_handle)


def _file_finder(send: Send, file_id: str, size: int) -> Any:
    """A settle's look for the file a lost ``preprocess`` / ``complete`` was about: there, and
    holding the upload's bytes where its record says a size (a record made before the bytes
    arrived is not the answer)."""

    async def find(since: float) -> Response | None:
        try:
            answer = await send("GET", f"/files/{file_id}", op="files.retrieve")
        except NotFoundError:
            return None
        record = answer.json()
        stored = record.get("bytes") if isinstance(record, Mapping) else None
        return None if isinstance(stored, int) and stored not in (0, size) else answer

    return find


@attrs.define
class _Flow:
    """One upload by the redirect or the multipart flow."""

    send: Send
    upload: FileUpload
    size: int
    file_type: str
    checksum: str
    sizes: TogetherUploadSizes
    ledger: CreateLedger

    @property
    def _name(self) -> str:
        return self.upload.part.filename

    async def redirect(self) -> Any:
        """``POST /files`` → PUT to ``Location`` → ``POST /files/{id}/preprocess``."""
        fields = {
            "purpose": self.upload.purpose,
            "file_name": self._name,
            "file_type": self.file_type,
            "checksum": self.checksum,
        }
        try:
            # Sent again after a lost answer: the checksum names the same file to Together. Its
            # answer is a 302 (or a 2xx) whose Location is the signed URL: read, not followed.
            announced = await self.send(
                "POST", "/files", form=fields, idempotent=True, op="files.create", answer_redirects=True
            )
        except APIStatusError as exc:
            exists = _existing(exc)
            if exists is not None:
                raise exists from None
            raise
        location = announced.headers.get("Location")
        file_id = announced.headers.get("X-Together-File-Id")
        if not location or not file_id:
            raise FineTuneError(
                f"POST /files answered {announced.status} without Location and X-Together-File-Id: "
                "Together's upload flow cannot go on"
            )
        file_id = _server_id(file_id, "an X-Together-File-Id")
        await self.send.signed("PUT", location, body=self.upload.part, size=self.size, idempotent=True)
        # Preprocessing a known id cannot make a second file: sent again after a lost answer.
        answer = await self.send("POST", f"/files/{file_id}/preprocess", idempotent=True, op="files.create")
        return file_object(answer.json())

    async def multipart(self) -> Any:
        """initiate → PUT each part to its URL → complete; abort on failure or cancellation."""
        part_size, count = self.sizes.parts(self.size)
        body = {
            "file_name": self._name,
            "file_size": self.size,
            "num_parts": count,
            "purpose": self.upload.purpose,
            "file_type": self.file_type,
            "checksum": self.checksum,
        }
        try:
            initiated = await self.send(
                "POST", "/files/multipart/initiate", json_body=body, idempotent=True, op="files.create"
            )
        except APIStatusError as exc:
            exists = _existing(exc)
            if exists is not None:
                raise exists from None
            raise
        info = initiated.json()
        upload_id = info.get("upload_id") if isinstance(info, Mapping) else None
        file_id = info.get("file_id") if isinstance(info, Mapping) else None
        parts = info.get("parts") if isinstance(info, Mapping) else None
        if not isinstance(upload_id, str) or not isinstance(file_id, str) or not isinstance(parts, list):
            raise FineTuneError("POST /files/multipart/initiate answered without upload_id, file_id and parts")
        file_id = _server_id(file_id, "an initiate's file_id")
        try:
            etags = await self._send_parts(parts, part_size, count)
            completion = {
                "upload_id": upload_id,
                "file_id": file_id,
                "parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)],
            }
            answer = await self.send(
                "POST",
                "/files/multipart/complete",
                json_body=completion,
                idempotent=False,
                reconcile=self.ledger.reconciler(f"the file {file_id}", _file_finder(self.send, file_id, self.size)),
                op="files.create",
            )
        except BaseException:
            # Bounded, as the Uploads API's cleanup (_chunked): an interrupt must not wait on
            # every retry of the abort; an upload left behind expires.
            with anyio.move_on_after(10, shield=True):
                await self._abort(upload_id, file_id)
            raise
        record = answer.json()
        if isinstance(record, Mapping) and isinstance(record.get("file"), Mapping):
            record = record["file"]
        return file_object(record)

    async def _send_parts(self, parts: list[Any], part_size: int, count: int) -> dict[int, str]:
        """Each part to its signed URL, streamed from its slice; the ETag of each by number."""
        from .._chunked import file_slice

        if len(parts) != count:
            raise FineTuneError(f"POST /files/multipart/initiate answered {len(parts)} parts for {count} asked")
        source = self.upload.part.source
        whole = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else None
        path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        limiter = anyio.CapacityLimiter(self.sizes.max_concurrent_parts)
        etags: dict[int, str] = {}
        progress = self.upload.part.on_progress
        done = 0

        async def put(info: Mapping[str, Any]) -> None:
            nonlocal done
            number = info.get("PartNumber", info.get("part_number"))
            url = info.get("URL", info.get("UploadURL"))
            headers = info.get("Headers")
            if not isinstance(number, int) or not 1 <= number <= count or not isinstance(url, str):
                raise FineTuneError("POST /files/multipart/initiate answered a part without a number and a URL")
            offset = (number - 1) * part_size
            length = max(0, min(part_size, self.size - offset))
            signed_headers = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {}
            async with limiter:
                if whole is not None:
                    part = FilePart(name="file", filename=self._name, source=whole[offset : offset + length])
                    answer = await self.send.signed(
                        "PUT", url, body=part, size=length, headers=signed_headers, idempotent=True
                    )
                else:
                    assert path is not None  # create_file sends a path or bytes by parts
                    async with await anyio.open_file(path, "rb") as handle:
                        part = FilePart(name="file", filename=self._name, source=file_slice(handle, offset, length))
                        answer = await self.send.signed(
                            "PUT", url, body=part, size=length, headers=signed_headers, idempotent=True
                        )
            etag = str(answer.headers.get("ETag", "")).strip('"')
            if not etag:
                raise FineTuneError(f"the PUT of part {number} answered no ETag")
            etags[number] = etag
            done += length
            if progress is not None:
                progress(done, self.size)

        if not all(isinstance(info, Mapping) for info in parts):
            raise FineTuneError("POST /files/multipart/initiate answered a part that is not an object")
        try:
            async with anyio.create_task_group() as tg:
                for info in parts:
                    tg.start_soon(put, info)
        except BaseExceptionGroup as group:
            # The error the caller knows (an APIStatusError), not a group around it, also when
            # several parts failed at once (a store that is down fails them all).
            first = first_of_like_errors(group)
            if first is not None:
                raise first from None
            raise
        if sorted(etags) != list(range(1, count + 1)):
            raise FineTuneError("POST /files/multipart/initiate did not answer every part number once")
        return etags

    async def _abort(self, upload_id: str, file_id: str) -> None:
        try:
            await self.send(
                "POST",
                "/files/multipart/abort",
                json_body={"upload_id": upload_id, "file_id": file_id},
                idempotent=True,
                op="files.create",
            )
        except FineTuneError as exc:
            # The upload's own failure is what the caller hears; an upload left behind expires.
            log.warning("could not abort Together upload %s: %s", upload_id, type(exc).__name__)

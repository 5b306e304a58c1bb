"""The Uploads resource: ``/uploads`` (create, add parts, complete, cancel).

A large file arrives as parts streamed to blobs by the HTTP edge; completing the upload
concatenates them, in the order the client lists, into one :mod:`.files` file.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from ._util import APIError, bad_request, new_id, not_found, now
from ._validation import check_expires_after, check_filename, is_int, require_object
from .files import Files
from .store import PartRecord, Store, UploadRecord

__all__ = ["MAX_HELD_FACTOR", "MAX_PART_BYTES", "MAX_UPLOAD_BYTES", "UPLOAD_PURPOSES", "UPLOAD_TTL", "Uploads"]

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision")
MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024
MAX_PART_BYTES = 64 * 1024 * 1024
#: The parts of an upload may hold at most this many times its declared ``bytes``: room for
#: every part to be sent again after its answer was lost, and a bound on the disk it takes.
MAX_HELD_FACTOR = 2
#: Seconds an upload stays open for parts.
UPLOAD_TTL = 3600


def _concat(sources: list[Path], dest: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with dest.open("wb") as out:
        for src in sources:
            with src.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    return digest.hexdigest()


class Uploads:
    """Uploads over ``store``; a completed one becomes a file of ``files``."""

    def __init__(self, store: Store, files: Files) -> None:
        self._store = store
        self._files = files

    def _api(self, up: UploadRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": up.id,
            "object": "upload",
            "bytes": up.bytes,
            "created_at": up.created_at,
            "filename": up.filename,
            "purpose": up.purpose,
            "status": up.status,
            "expires_at": up.expires_at,
            "file": None,
        }
        if up.file_id is not None and up.file_id in self._store.files:
            out["file"] = self._store.files[up.file_id].to_api()
        return out

    def create(self, body: Any) -> dict[str, Any]:
        """``POST /uploads``: the ``Upload`` JSON; 400 for a body the API refuses."""
        body = require_object(body)
        for key in ("filename", "purpose", "bytes", "mime_type"):
            if key not in body:
                raise bad_request(f"Missing required parameter: '{key}'.", key)
        if not isinstance(body["filename"], str) or not body["filename"]:
            raise bad_request("Invalid 'filename': expected a non-empty string.", "filename")
        check_filename(body["filename"], "filename")
        if body["purpose"] not in UPLOAD_PURPOSES:
            raise bad_request(f"Invalid 'purpose': expected one of {list(UPLOAD_PURPOSES)}.", "purpose")
        if not is_int(body["bytes"]) or not 0 < body["bytes"] <= MAX_UPLOAD_BYTES:
            raise bad_request("Invalid 'bytes': must be between 1 and 8 GB.", "bytes")
        if not isinstance(body["mime_type"], str):
            raise bad_request("Invalid 'mime_type': expected a string.", "mime_type")
        expires = check_expires_after(body.get("expires_after"))
        created = int(now())
        up = UploadRecord(
            id=new_id("upload_", 24),
            filename=body["filename"],
            purpose=body["purpose"],
            bytes=body["bytes"],
            mime_type=body["mime_type"],
            created_at=created,
            expires_at=created + UPLOAD_TTL,
            file_expires_seconds=expires["seconds"] if expires is not None else None,
        )
        self._store.put_upload(up)
        return self._api(up)

    def pending(self, upload_id: str) -> UploadRecord:
        """The upload if parts can still be added to it; 404 or 400 otherwise."""
        up = self._store.uploads.get(upload_id)
        if up is None:
            raise not_found(f"No such Upload object: {upload_id}", "upload_id")
        if up.status == "pending" and now() > up.expires_at:
            up.status = "expired"
            self._store.put_upload(up)
            self._store.drop_part_blobs(up)
        if up.status != "pending":
            raise bad_request(f"Upload {upload_id} is {up.status}; no parts can be added.", "upload_id")
        return up

    def part_room(self, upload_id: str) -> int:
        """How many bytes the next part of a pending upload may hold: at most 64 MB, at most the
        upload's ``bytes``, and at most what keeps its parts within :data:`MAX_HELD_FACTOR`
        times its ``bytes`` (404 or 400 as :meth:`pending`)."""
        up = self.pending(upload_id)
        return max(0, min(MAX_PART_BYTES, up.bytes, MAX_HELD_FACTOR * up.bytes - self._held(up)))

    def _held(self, up: UploadRecord) -> int:
        return sum(self._store.parts[pid].size for pid in up.part_ids if pid in self._store.parts)

    def part_too_large(self, upload_id: str, size: int) -> APIError:
        """The 400 for a part of ``size`` bytes (or more) that does not fit ``upload_id``."""
        up = self.pending(upload_id)
        if size > MAX_PART_BYTES:
            return bad_request(f"An upload part is larger than the maximum of {MAX_PART_BYTES >> 20} MB.", "data")
        if size > up.bytes:
            return bad_request(
                f"The part is larger than the whole upload, which was created with bytes={up.bytes}.", "data"
            )
        return bad_request(
            f"The parts of upload {upload_id} already hold {self._held(up)} bytes; with this part they would hold "
            f"more than {MAX_HELD_FACTOR * up.bytes} bytes, {MAX_HELD_FACTOR} times the bytes={up.bytes} it was "
            "created with.",
            "data",
        )

    def add_part(self, upload_id: str, blob: str, size: int) -> dict[str, Any]:
        """Register a streamed part; the ``UploadPart`` JSON. 400 when it does not fit (parts
        streamed at the same time are each checked again here, one at a time)."""
        up = self.pending(upload_id)
        if size > min(MAX_PART_BYTES, up.bytes, MAX_HELD_FACTOR * up.bytes - self._held(up)):
            raise self.part_too_large(upload_id, size)
        part = PartRecord(id=new_id("part_", 24), upload_id=upload_id, created_at=int(now()), path=blob, size=size)
        up.part_ids.append(part.id)
        with self._store.transaction():
            self._store.put_part(part)
            self._store.put_upload(up)
        return {"id": part.id, "object": "upload.part", "created_at": part.created_at, "upload_id": upload_id}

    async def complete(self, upload_id: str, body: Any) -> dict[str, Any]:
        """``POST /uploads/{id}/complete``: concatenate parts in the given order into a file;
        the ``Upload`` JSON naming it. 404 or 400 as the API answers."""
        up = self.pending(upload_id)
        if not isinstance(body, dict) or not isinstance(body.get("part_ids"), list):
            raise bad_request("Missing required parameter: 'part_ids'.", "part_ids")
        part_ids = body["part_ids"]
        md5 = body.get("md5")
        if md5 is not None and not isinstance(md5, str):
            raise bad_request("Invalid 'md5': expected a string.", "md5")
        parts = self._listed_parts(upload_id, part_ids)
        total = sum(p.size for p in parts)
        if total != up.bytes:
            raise bad_request(
                f"The upload was created with bytes={up.bytes}, but the listed parts hold {total} bytes.", "bytes"
            )
        blob, path = self._files.new_blob()
        sources = [self._store.blob_path(p.path) for p in parts]
        # Concatenating may touch gigabytes: do it off the event loop.
        digest = await asyncio.to_thread(_concat, sources, path)
        if md5 is not None and md5.lower() != digest:
            path.unlink(missing_ok=True)
            raise bad_request("The md5 checksum does not match the uploaded bytes.", "md5")
        if up.status != "pending":  # cancelled while we were concatenating
            path.unlink(missing_ok=True)
            raise bad_request(f"Upload {upload_id} is {up.status}.", "upload_id")
        expires = None
        if up.file_expires_seconds is not None:
            expires = {"anchor": "created_at", "seconds": up.file_expires_seconds}
        with self._store.transaction():
            file_obj = self._files.add(
                filename=up.filename, purpose=up.purpose, blob=blob, size=total, expires_after=expires
            )
            up.status = "completed"
            up.file_id = file_obj["id"]
            self._store.put_upload(up)
        # After the commit: a kill in between leaves the parts' bytes unnamed (swept at start).
        self._store.drop_part_blobs(up)
        return self._api(up)

    def _listed_parts(self, upload_id: str, part_ids: list[Any]) -> list[PartRecord]:
        """The parts ``part_ids`` names, in that order; 400 for a repeat or a stranger."""
        if len(set(map(str, part_ids))) != len(part_ids):
            raise bad_request("Invalid 'part_ids': a part is listed twice.", "part_ids")
        parts: list[PartRecord] = []
        for pid in part_ids:
            part = self._store.parts.get(pid) if isinstance(pid, str) else None
            if part is None or part.upload_id != upload_id:
                raise bad_request(f"Invalid 'part_ids': {pid!r} is not a part of {upload_id}.", "part_ids")
            parts.append(part)
        return parts

    def cancel(self, upload_id: str) -> dict[str, Any]:
        """``POST /uploads/{id}/cancel``: the cancelled ``Upload`` JSON; 404 or 400 unless pending."""
        up = self.pending(upload_id)
        up.status = "cancelled"
        self._store.put_upload(up)
        self._store.drop_part_blobs(up)
        return self._api(up)

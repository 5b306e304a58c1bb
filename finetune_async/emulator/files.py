"""The Files resource: ``/files`` (create, list, retrieve, delete, content).

A file's bytes are streamed to a blob by the HTTP edge before :meth:`Files.add` names them;
a job's results file has no blob: its bytes are made from the job when read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._datasets import DatasetChecks
from ._lifecycle import results_csv
from ._util import bad_request, new_id, not_found, now
from ._validation import page_after
from .store import FileRecord, Store

__all__ = ["FILE_PURPOSES", "MAX_FILE_BYTES", "Files"]

FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
MAX_FILE_BYTES = 512 * 1024 * 1024


class Files:
    """Files over ``store``; deleting one drops its dataset checks from ``datasets``."""

    def __init__(self, store: Store, datasets: DatasetChecks) -> None:
        self._store = store
        self._datasets = datasets

    def new_blob(self) -> tuple[str, Path]:
        """A fresh blob name and its path, for streaming an upload to disk."""
        name = new_id("blob-", 20)
        return name, self._store.blob_path(name)

    def discard_blob(self, blob: str) -> None:
        """Remove a blob no file will name (a refused request's bytes)."""
        self._store.blob_path(blob).unlink(missing_ok=True)

    def add(
        self, *, filename: str, purpose: str, blob: str, size: int, expires_after: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Register bytes already written to ``blob`` as a file; the ``OpenAIFile`` JSON."""
        created = int(now())
        expires_at = None
        if expires_after is not None:
            expires_at = created + int(expires_after["seconds"])
        rec = FileRecord(
            id=new_id("file-", 22),
            filename=filename,
            purpose=purpose,
            bytes=size,
            created_at=created,
            path=blob,
            expires_at=expires_at,
        )
        self._store.put_file(rec)
        return rec.to_api()

    def get(self, file_id: str) -> FileRecord:
        """The file, or 404."""
        rec = self._store.files.get(file_id)
        if rec is None:
            raise not_found(f"No such File object: {file_id}", "id")
        return rec

    def content(self, rec: FileRecord) -> bytes | Path:
        """A file's bytes: made now for a job's results file, else the path of its blob."""
        if rec.results_of is not None:
            job = self._store.jobs.get(rec.results_of)
            # A deleted job (Azure's dated routes delete jobs) leaves its results file empty.
            return results_csv(job) if job is not None else b""
        return self._store.blob_path(rec.path)

    def listing(self, *, purpose: str | None, limit: int, order: str, after: str | None) -> dict[str, Any]:
        """``GET /files``: filtered by purpose, ordered by creation, paged by ``after``."""
        if order not in ("asc", "desc"):
            raise bad_request("Invalid 'order': expected 'asc' or 'desc'.", "order")
        items: Iterable[FileRecord] = self._store.files.values()
        if order == "desc":
            items = reversed(list(items))
        seq = [f for f in items if purpose is None or f.purpose == purpose]
        page, has_more = page_after(
            seq, after, limit, lambda f: f.id, f"Invalid 'after': no file {after!r} in this listing."
        )
        data = [f.to_api() for f in page]
        return {
            "object": "list",
            "data": data,
            # The spec types these as strings (not nullable), so an empty page carries "".
            "first_id": page[0].id if page else "",
            "last_id": page[-1].id if page else "",
            "has_more": has_more,
        }

    def delete(self, file_id: str) -> dict[str, Any]:
        """``DELETE /files/{id}``; 404 for an unknown file."""
        self.get(file_id)
        self._store.delete_file(file_id)
        self._datasets.forget(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

"""``client.files``: upload, list, fetch and delete files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import IO, Any, Literal

from .._ledger import file_matches
from .._transport import FilePart, Response
from ..models import FileDeleted, FileExpirationAfter, FileObject
from ..models._converter import to_json_param
from ..pagination import AsyncPaginator
from ._base import Resource, path_id

__all__ = ["FILES_API_LIMIT", "FileInput", "Files"]

#: The Files API takes at most 512 MB in one request; larger files go through the Uploads API.
FILES_API_LIMIT = 512 * 1024 * 1024

FileInput = str | os.PathLike[str] | bytes | IO[bytes] | tuple[str, bytes | IO[bytes]]


class Files(Resource):
    """The Files API (``/files``)."""

    __slots__ = ()

    async def create(
        self,
        *,
        file: FileInput,
        purpose: str = "fine-tune",
        expires_after: FileExpirationAfter | Mapping[str, Any] | None = None,
        filename: str | None = None,
        on_progress: Callable[[int, int], object] | None = None,
        state_file: str | os.PathLike[str] | None = None,
    ) -> FileObject:
        """Upload a file and return its :class:`FileObject`.

        ``file`` is a path (streamed from disk, never read whole), bytes, a binary file
        object (streamed from its current position), or a ``(filename, bytes | file)`` pair.
        A file larger than the Files API's 512 MB limit is sent through the Uploads API in
        64 MB parts instead, transparently (resumable with ``state_file``, see
        :meth:`Uploads.upload_file_chunked`). ``on_progress(bytes_sent, total)`` reports
        progress for paths. Never creates two files for one call: see the transport's retry
        rule.

        Raises :class:`~finetune_async.BadRequestError` for a refused file, and the
        transport's errors.
        """
        name, source, size = _describe_input(file, filename)
        if size is not None and size > FILES_API_LIMIT and isinstance(source, (str, os.PathLike)):
            upload = await self._client.uploads.upload_file_chunked(
                file=source, purpose=purpose, filename=name, on_progress=on_progress, state_file=state_file
            )
            if upload.file is None:  # pragma: no cover - the API always returns the file
                raise RuntimeError(f"upload {upload.id} completed without a file")
            return upload.file
        form = {"purpose": purpose}
        if expires_after is not None:
            exp = to_json_param(expires_after)
            form["expires_after[anchor]"] = str(exp["anchor"])
            form["expires_after[seconds]"] = str(exp["seconds"])

        async def find(since: float) -> FileObject | None:
            return await self._find_created(purpose=purpose, filename=name, size=size, since=since)

        created = await self._request(
            FileObject,
            "POST",
            "/files",
            form=form,
            files=[
                FilePart(
                    name="file",
                    filename=name,
                    source=source,
                    content_type=_content_type(name),
                    on_progress=on_progress,
                )
            ],
            idempotent=False,
            reconcile=self._ledger.reconciler(f"a file {name!r}", find),
        )
        self._ledger.claim(created.id)
        return created

    async def _find_created(
        self, *, purpose: str, filename: str, size: int | None, since: float
    ) -> FileObject | None:
        """A file with this name and size created after ``since`` and not yet handed out, if any.

        ``since`` already allows for clock skew (the ledger subtracted it).
        """
        ledger = self._ledger
        async for candidate in self.list(purpose=purpose, order="desc", limit=100):
            if candidate.created_at < since:
                break
            if file_matches(candidate, purpose=purpose, filename=filename, size=size) and ledger.claim(candidate.id):
                return candidate
        return None

    async def retrieve(self, file_id: str) -> FileObject:
        """The file's :class:`FileObject`. Raises :class:`~finetune_async.NotFoundError`."""
        return await self._request(FileObject, "GET", f"/files/{path_id(file_id, 'file_id')}")

    def list(
        self,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
    ) -> AsyncPaginator[FileObject]:
        """Files, newest first by default: await for a page, ``async for`` for all."""
        return self._paginate(FileObject, "/files", {"purpose": purpose, "limit": limit, "order": order}, after=after)

    async def delete(self, file_id: str) -> FileDeleted:
        """Delete a file. Raises :class:`~finetune_async.NotFoundError` if it does not exist."""
        return await self._request(FileDeleted, "DELETE", f"/files/{path_id(file_id, 'file_id')}")

    async def content(self, file_id: str) -> bytes:
        """The file's bytes (for example a job's result CSV), read whole into memory.

        Raises :class:`~finetune_async.NotFoundError`, and
        :class:`~finetune_async.ResponseTooLargeError` past the client's ``max_file_bytes``
        (1 GiB by default, counted after decompression).
        """
        path = f"/files/{path_id(file_id, 'file_id')}/content"
        result = await self._transport.request("GET", path, file_content=True)
        assert isinstance(result, Response)
        return result.content

    async def wait_for_processing(
        self, file_id: str, *, poll_interval: float = 1.0, max_wait_seconds: float = 30 * 60
    ) -> FileObject:
        """Poll until the file is ``processed`` (or ``error``) and return it.

        Raises :class:`TimeoutError` after ``max_wait_seconds``.
        """
        from ..polling import wait_for_file_processing

        return await wait_for_file_processing(
            self._client, file_id, poll_interval=poll_interval, max_wait_seconds=max_wait_seconds
        )


def _describe_input(file: FileInput, filename: str | None) -> tuple[str, Any, int | None]:
    """(filename, source for the transport, size in bytes when known)."""
    if isinstance(file, tuple):
        name, source = file
        return filename or name, source, _size_of(source)
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        return filename or os.path.basename(path), path, os.path.getsize(path)
    if isinstance(file, (bytes, bytearray, memoryview)):
        return filename or "upload.jsonl", bytes(file), len(file)
    handle_name = getattr(file, "name", None)
    guessed = os.path.basename(handle_name) if isinstance(handle_name, str) else "upload.jsonl"
    return filename or guessed, file, _size_of(file)


def _size_of(source: Any) -> int | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    try:
        fileno = source.fileno()
        position = source.tell()
    except (AttributeError, OSError, ValueError):
        return None
    return int(os.fstat(fileno).st_size - position)


def _content_type(name: str) -> str:
    if name.endswith(".jsonl"):
        return "application/jsonl"
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".csv"):
        return "text/csv"
    return "application/octet-stream"

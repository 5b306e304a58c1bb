"""``client.uploads``: the Uploads API, for files larger than one request can carry."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import IO, TYPE_CHECKING

import attrs

from .._bodies import FilePart
from .._ledger import UploadStarted
from ..models import FileObject, Upload, UploadPart
from ..models._converter import structure
from ._base import CallOptions, Resource, path_id, request_options
from ._response import endpoint

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

    from ..client import AsyncClient

__all__ = ["DEFAULT_PART_SIZE", "Parts", "Uploads"]

#: The Uploads API takes parts of at most 64 MB.
DEFAULT_PART_SIZE = 64 * 1024 * 1024


class Parts(Resource):
    """``client.uploads.parts``: add a part to a pending upload."""

    __slots__ = ()

    @endpoint
    async def create(
        self,
        upload_id: str,
        *,
        data: bytes | IO[bytes] | Callable[[], AsyncIterator[bytes]],
        **options: Unpack[CallOptions],
    ) -> UploadPart:
        """Add one part (at most 64 MB) and return its :class:`UploadPart`.

        ``data`` is bytes, a binary file object, or a factory of async byte chunks (used by
        the chunked uploader to stream a slice of a file). Sending a part twice only leaves
        an unused part, so parts are retried like reads.
        """
        self._require("uploads.parts.create")
        return await self._request(
            UploadPart,
            "POST",
            f"/uploads/{path_id(upload_id, 'upload_id')}/parts",
            files=[FilePart(name="data", filename="blob", source=data)],
            idempotent=True,
            options=options,
            op="uploads.parts.create",
        )


class Uploads(Resource):
    """The Uploads API (``/uploads``)."""

    __slots__ = ("parts",)

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.parts = Parts(client)

    @endpoint
    async def create(
        self, *, bytes: int, filename: str, mime_type: str, purpose: str, **options: Unpack[CallOptions]
    ) -> Upload:
        """Start an upload of ``bytes`` bytes; returns the pending :class:`Upload`.

        A pending upload costs nothing and expires after an hour, so this create is retried
        like a read: a lost answer leaves at most an unused pending upload behind.
        """
        self._require("uploads.create")
        upload = await self._request(
            Upload,
            "POST",
            "/uploads",
            json_body={"bytes": bytes, "filename": filename, "mime_type": mime_type, "purpose": purpose},
            idempotent=True,
            options=options,
            op="uploads.create",
        )
        self._ledger.upload_started(upload.id, filename=filename, size=bytes, purpose=purpose)
        return upload

    @endpoint
    async def complete(
        self, upload_id: str, *, part_ids: Sequence[str], md5: str | None = None, **options: Unpack[CallOptions]
    ) -> Upload:
        """Finish the upload with the parts in this order; the result carries the new file.

        If the answer is lost, the file may exist already, or appear later: for uploads this
        client started, the SDK looks for it over the settle window before sending the request
        again (an upload completes once, so a late second completion is refused by the server).
        """
        self._require("uploads.complete")
        path = f"/uploads/{path_id(upload_id, 'upload_id')}/complete"
        body: dict[str, object] = {"part_ids": list(part_ids)}
        if md5 is not None:
            body["md5"] = md5
        ledger = self._ledger
        info = ledger.upload(upload_id)
        opts = request_options(options)
        lookups = opts.without_body()

        async def find(since: float) -> Upload | None:
            assert info is not None
            found = await self._client.files._find_created(
                purpose=info.purpose, filename=info.filename, size=info.bytes, since=since, options=lookups
            )
            return None if found is None else _completed(upload_id, info, found)

        upload = await self._request(
            Upload,
            "POST",
            path,
            json_body=body,
            idempotent=False,
            reconcile=ledger.reconciler(f"the file of upload {upload_id}", find) if info is not None else None,
            options=opts,
            op="uploads.complete",
        )
        if upload.file is not None:
            ledger.claim(upload.file.id)
        ledger.upload_ended(upload_id)
        return upload

    @endpoint
    async def cancel(self, upload_id: str, **options: Unpack[CallOptions]) -> Upload:
        """Cancel a pending upload; returns it with status ``cancelled``."""
        self._require("uploads.cancel")
        path = f"/uploads/{path_id(upload_id, 'upload_id')}/cancel"
        upload = await self._request(Upload, "POST", path, idempotent=True, options=options, op="uploads.cancel")
        self._ledger.upload_ended(upload_id)
        return upload

    async def upload_file_chunked(
        self,
        *,
        file: str | os.PathLike[str],
        purpose: str = "fine-tune",
        part_size: int = DEFAULT_PART_SIZE,
        filename: str | None = None,
        mime_type: str | None = None,
        max_concurrent: int = 4,
        on_progress: Callable[[int, int], object] | None = None,
        state_file: str | os.PathLike[str] | None = None,
    ) -> Upload:
        """Upload a whole file in parts sent concurrently (at most ``max_concurrent`` at once).

        Each part is streamed from disk and retried on its own; the md5 of the file is sent
        with the completion so the server checks what it received. ``on_progress(bytes_done,
        total)`` is called as parts finish. With ``state_file``, progress is recorded there and
        running the same call again after a crash sends only the missing parts (within the
        upload's hour of life). Returns the completed :class:`Upload`; its ``file`` is usable
        at once. Raises ``ValueError`` for a bad ``part_size`` and the transport's errors.
        """
        from .._chunked import upload_file_chunked

        return await upload_file_chunked(
            self._client,
            os.fspath(file),
            purpose=purpose,
            part_size=part_size,
            filename=filename,
            mime_type=mime_type,
            max_concurrent=max_concurrent,
            on_progress=on_progress,
            state_file=os.fspath(state_file) if state_file is not None else None,
        )


def _completed(upload_id: str, info: UploadStarted, file: FileObject) -> Upload:
    """The completed upload as the API would have answered, rebuilt from the file found."""
    pending = structure(
        {
            "id": upload_id,
            "object": "upload",
            "bytes": info.bytes,
            "created_at": file.created_at,
            "expires_at": file.created_at + 3600,
            "filename": info.filename,
            "purpose": info.purpose,
            "status": "completed",
        },
        Upload,
    )
    return attrs.evolve(pending, file=file)

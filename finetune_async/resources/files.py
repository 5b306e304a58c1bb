"""``client.files``: upload, list, fetch and delete files."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal

from .._bodies import FilePart
from .._ledger import file_matches
from .._options import RequestOptions
from .._transport import Response
from ..models import FileDeleted, FileExpirationAfter, FileObject
from ..models._converter import DecodeError, structure, to_json_param
from ..pagination import AsyncPaginator
from ..providers._base import FileUpload
from ._base import CallOptions, ProviderSend, Resource, path_id, request_options
from ._response import BinaryContent, endpoint

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["FILES_API_LIMIT", "FileContent", "FileInput", "Files"]

#: The Files API takes at most 512 MB in one request; larger files go through the Uploads API.
FILES_API_LIMIT = 512 * 1024 * 1024

#: The bytes of a file: bytes, a binary file object, or a path (streamed from disk).
FileContent = bytes | IO[bytes] | os.PathLike[str]
#: What ``files.create(file=...)`` takes: the official SDK's shapes (a path as a str too).
FileInput = (
    str
    | FileContent
    | tuple[str, FileContent]
    | tuple[str, FileContent, str | None]
    | tuple[str, FileContent, str | None, Mapping[str, str]]
)


class Files(Resource):
    """The Files API (``/files``)."""

    __slots__ = ()

    @endpoint
    async def create(
        self,
        *,
        file: FileInput,
        purpose: str = "fine-tune",
        expires_after: FileExpirationAfter | Mapping[str, Any] | None = None,
        filename: str | None = None,
        on_progress: Callable[[int, int], object] | None = None,
        state_file: str | os.PathLike[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> FileObject:
        """Upload a file and return its :class:`FileObject`.

        Where the provider needs a file to be ``processed`` before a job may use it
        (``client.provider.capabilities.files_must_be_processed``, Azure), call
        :meth:`wait_for_processing` before ``fine_tuning.jobs.create`` (``run_batch`` and the
        CLI's ``create`` do).

        ``file`` takes the official SDK's shapes: bytes, a binary file object (streamed from its
        current position), a path (a ``str`` too; streamed from disk, never read whole), or a
        tuple ``(filename, content)``, ``(filename, content, content_type)`` or ``(filename,
        content, content_type, {})`` whose content is any of those but a ``str``. The file part
        carries ``content_type`` when given, else one guessed from the name (``.jsonl``:
        ``application/jsonl``). ``filename=`` overrides the name.

        A file larger than the Files API's 512 MB limit (``capabilities.max_file_bytes``) is
        sent through the Uploads API in 64 MB parts instead, transparently (resumable with ``state_file``, see
        :meth:`Uploads.upload_file_chunked`). ``on_progress(bytes_sent, total)`` reports
        progress for paths. Never creates two files for one call: see the transport's retry
        rule. Per-call options as for every method (``extra_body`` keys become form fields).

        Raises :class:`TypeError` or :class:`ValueError` naming ``file`` for a shape it does not
        take (before anything is sent), :class:`~finetune_async.UnsupportedByProviderError` for
        a file over the limit where there is no Uploads API, or ``expires_after`` where files do
        not expire (before anything is sent), :class:`~finetune_async.BadRequestError` for a refused
        file, and the transport's errors.
        """
        name, source, size, content_type = _describe_input(file, filename)
        opts = request_options(options)
        provider = self._client._provider
        caps = provider.capabilities
        if expires_after is not None and not caps.file_expiration:
            raise provider.refuse("files.create", "expires_after (files do not expire there)")
        # A provider's own upload flow takes what it says (Together's and Fireworks' signed URLs
        # go past OpenAI's one-request 512 MB); OpenAI's wire takes at most 512 MB in one request.
        own_way = provider.uploads_its_own_way
        limit = caps.max_file_bytes if own_way else min(FILES_API_LIMIT, caps.max_file_bytes)
        if (
            size is not None
            and size > limit
            and (own_way or not caps.uploads or isinstance(source, (str, os.PathLike)))
        ):
            if own_way:
                raise provider.refuse("files.create", f"a file of {size:,} bytes: it takes at most {limit:,}")
            if not caps.uploads:
                raise provider.refuse(
                    "files.create",
                    f"a file of {size:,} bytes: one request takes at most {limit:,}, "
                    "and there is no Uploads API to send it in parts",
                )
            if opts.body is not None:
                raise ValueError(
                    "extra_body cannot be sent with a file over 512 MB: it goes through the Uploads API, "
                    "a request per part"
                )
            from .._chunked import upload_file_chunked
            from .uploads import DEFAULT_PART_SIZE

            upload = await upload_file_chunked(
                self._client,
                os.fspath(source),
                purpose=purpose,
                part_size=DEFAULT_PART_SIZE,
                filename=name,
                mime_type=content_type,
                max_concurrent=4,
                on_progress=on_progress,
                state_file=os.fspath(state_file) if state_file is not None else None,
                options=options,
            )
            if upload.file is None:  # pragma: no cover - the API always returns the file
                raise RuntimeError(f"upload {upload.id} completed without a file")
            return upload.file
        form = {"purpose": purpose}
        if expires_after is not None:
            exp = to_json_param(expires_after)
            form["expires_after[anchor]"] = str(exp["anchor"])
            form["expires_after[seconds]"] = str(exp["seconds"])
        # Merged here, not in the transport: the file is recognised by the purpose it is sent with.
        form = opts.merge_form(form, ("file",))
        sent_purpose = form.get("purpose", purpose)
        rest = opts.without_body()

        part = FilePart(
            name="file",
            filename=name,
            source=source,
            content_type=content_type or _content_type(name),
            on_progress=on_progress,
        )
        if provider.uploads_its_own_way:
            created = await self._create_its_own_way(
                FileUpload(part=part, size=size, purpose=sent_purpose, form=form), rest
            )
            self._ledger.claim(created.id)
            return created

        async def find(since: float) -> FileObject | None:
            return await self._find_created(purpose=sent_purpose, filename=name, size=size, since=since, options=rest)

        created = await self._request(
            FileObject,
            "POST",
            "/files",
            form=form,
            files=[part],
            idempotent=False,
            reconcile=self._ledger.reconciler(f"a file {name!r}", find),
            options=rest,
            op="files.create",
        )
        self._ledger.claim(created.id)
        return created

    async def _create_its_own_way(self, upload: FileUpload, options: RequestOptions) -> FileObject:
        """The file a provider with its own upload flow made (:meth:`Provider.create_file`)."""
        provider = self._client._provider
        send = ProviderSend(self, options)
        body = await provider.create_file(send, upload)
        try:
            obj = structure(body, FileObject)
        except DecodeError as exc:
            raise DecodeError(FileObject, exc.errors, endpoint="files.create") from exc
        return obj

    async def _find_created(
        self, *, purpose: str, filename: str, size: int | None, since: float, options: CallOptions | Any = None
    ) -> FileObject | None:
        """A file with this name and size created after ``since`` and not yet handed out, if any.

        ``since`` already allows for clock skew (the ledger subtracted it). ``options`` are the
        create's (its headers and query: the same project), without its body.
        """
        ledger = self._ledger
        listing = self._paginate(
            FileObject,
            "/files",
            {"purpose": purpose, "order": "desc", "limit": 100},
            options=options or {},
            op="files.list",
        )
        async for candidate in listing:
            if candidate.created_at < since:
                break
            if file_matches(candidate, purpose=purpose, filename=filename, size=size) and ledger.claim(candidate.id):
                return candidate
        return None

    @endpoint
    async def retrieve(self, file_id: str, **options: Unpack[CallOptions]) -> FileObject:
        """The file's :class:`FileObject`. Raises :class:`~finetune_async.NotFoundError`."""
        return await self._request(
            FileObject, "GET", f"/files/{path_id(file_id, 'file_id')}", options=options, op="files.retrieve"
        )

    @endpoint
    def list(
        self,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncPaginator[FileObject]:
        """Files, newest first by default: await for a page, ``async for`` for all."""
        params = {"purpose": purpose, "limit": limit, "order": order}
        return self._paginate(FileObject, "/files", params, after=after, options=options, op="files.list")

    @endpoint
    async def delete(self, file_id: str, **options: Unpack[CallOptions]) -> FileDeleted:
        """Delete a file. Raises :class:`~finetune_async.NotFoundError` if it does not exist."""
        return await self._request(
            FileDeleted, "DELETE", f"/files/{path_id(file_id, 'file_id')}", options=options, op="files.delete"
        )

    @endpoint
    async def content(self, file_id: str, **options: Unpack[CallOptions]) -> BinaryContent:
        """The file's contents (for example a job's result CSV), read whole into memory, as a
        :class:`~finetune_async.BinaryContent`: ``.content`` (bytes), ``.text``, ``.json()``,
        ``.write_to_file(path)``, as in the official SDK. To write a large file to disk without
        holding it, ``async with client.files.with_streaming_response.content(file_id) as r:
        await r.stream_to_file(path)``.

        Raises :class:`~finetune_async.NotFoundError`, and
        :class:`~finetune_async.ResponseTooLargeError` past the client's ``max_file_bytes``
        (1 GiB by default, counted after decompression).
        """
        path = f"/files/{path_id(file_id, 'file_id')}/content"
        result = await self._call(
            "GET", path, file_content=True, options=options, parse_stream=BinaryContent.of, op="files.content"
        )
        assert isinstance(result, Response)
        return BinaryContent.of(result)

    async def wait_for_processing(
        self, file_id: str, *, poll_interval: float = 1.0, max_wait_seconds: float = 30 * 60
    ) -> FileObject:
        """Poll until the file is ``processed`` (or ``error``) and return it.

        Raises :class:`~finetune_async.WaitTimeoutError` (a :class:`TimeoutError`) after ``max_wait_seconds``.
        """
        from ..polling import wait_for_file_processing

        return await wait_for_file_processing(
            self._client, file_id, poll_interval=poll_interval, max_wait_seconds=max_wait_seconds
        )


def _describe_input(file: object, filename: str | None) -> tuple[str, Any, int | None, str | None]:
    """(filename, source for the transport, size in bytes when known, content type if given) of
    ``file``.

    Raises :class:`TypeError` or :class:`ValueError` naming ``file`` for a shape it does not take.
    """
    content_type: str | None = None
    if isinstance(file, tuple):
        if not 2 <= len(file) <= 4:
            raise TypeError(
                f"file=: a tuple must be (filename, content), (filename, content, content_type) or "
                f"(filename, content, content_type, headers), not one of {len(file)} items"
            )
        name, source = file[0], file[1]
        if not isinstance(name, str):
            raise TypeError(f"file=: a tuple's first item is the filename, a str, not {type(name).__name__}")
        if len(file) >= 3:
            content_type = file[2]
            if content_type is not None and not isinstance(content_type, str):
                raise TypeError(
                    f"file=: a tuple's third item is the content type, a str, not {type(content_type).__name__}"
                )
        if len(file) == 4 and file[3]:
            raise ValueError("file=: per-part headers (a tuple's fourth item) are not supported; pass {} or none")
        if isinstance(source, str):
            raise TypeError(
                "file=: a tuple's content is bytes, a binary file object or a path, not a str "
                "(for text, pass text.encode(); for a path, pathlib.Path(...))"
            )
        name = filename or name
        resolved, size = _content_source(source, in_tuple=True)
    elif isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        if not isinstance(path, str):
            raise TypeError("file=: a path must be a str or os.PathLike[str], not bytes")
        name = filename or os.path.basename(path)
        resolved, size = path, os.path.getsize(path)
    else:
        resolved, size = _content_source(file, in_tuple=False)
        handle_name = getattr(file, "name", None)
        guessed = os.path.basename(handle_name) if isinstance(handle_name, str) else "upload.jsonl"
        name = filename or guessed
    if not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValueError(f"file=: the filename must be non-empty and hold no control characters, not {name[:80]!r}")
    if content_type is not None and (not content_type or any(ord(ch) < 32 or ord(ch) == 127 for ch in content_type)):
        raise ValueError("file=: the content type must be non-empty and hold no line break or control character")
    return name, resolved, size, content_type


def _content_source(source: object, *, in_tuple: bool) -> tuple[Any, int | None]:
    """(source for the transport, size when known) of a file's content."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), len(source)
    if in_tuple and isinstance(source, os.PathLike):
        path = os.fspath(source)
        if isinstance(path, str):
            return path, os.path.getsize(path)
    if isinstance(source, io.TextIOBase):
        raise TypeError("file=: a text-mode file cannot be uploaded: open it in binary mode ('rb')")
    if callable(getattr(source, "read", None)):
        return source, _size_of(source)
    kinds = "bytes, a binary file object, a path, or a (filename, content[, content_type]) tuple"
    raise TypeError(f"file= takes {kinds}, not {type(source).__name__}")


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

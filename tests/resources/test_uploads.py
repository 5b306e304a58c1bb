"""client.uploads against the emulator over loopback HTTP."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

DATA = jsonl(supervised_rows(40))


async def test_parts_then_complete_with_md5(client: ft.AsyncClient) -> None:
    upload = await client.uploads.create(
        bytes=len(DATA), filename="parts.jsonl", mime_type="application/jsonl", purpose="fine-tune"
    )
    assert upload.status == ft.UploadStatus.PENDING
    third = len(DATA) // 3
    chunks = [DATA[:third], DATA[third : 2 * third], DATA[2 * third :]]
    # Parts may be sent in any order; the completion names the order.
    parts = {i: await client.uploads.parts.create(upload.id, data=chunks[i]) for i in (2, 0, 1)}
    assert all(p.upload_id == upload.id for p in parts.values())
    done = await client.uploads.complete(
        upload.id, part_ids=[parts[i].id for i in range(3)], md5=hashlib.md5(DATA).hexdigest()
    )
    assert done.status == ft.UploadStatus.COMPLETED
    assert done.file is not None
    assert done.file.bytes == len(DATA)
    assert (await client.files.content(done.file.id)).content == DATA


async def test_wrong_md5_is_refused(client: ft.AsyncClient) -> None:
    upload = await client.uploads.create(
        bytes=len(DATA), filename="x.jsonl", mime_type="application/jsonl", purpose="fine-tune"
    )
    part = await client.uploads.parts.create(upload.id, data=io.BytesIO(DATA))
    with pytest.raises(ft.BadRequestError):
        await client.uploads.complete(upload.id, part_ids=[part.id], md5="0" * 32)


async def test_cancel(client: ft.AsyncClient) -> None:
    upload = await client.uploads.create(
        bytes=10, filename="c.jsonl", mime_type="application/jsonl", purpose="fine-tune"
    )
    cancelled = await client.uploads.cancel(upload.id)
    assert cancelled.status == ft.UploadStatus.CANCELLED
    with pytest.raises(ft.BadRequestError):
        await client.uploads.parts.create(upload.id, data=b"0123456789")


async def test_upload_file_chunked_sends_parts_concurrently(client: ft.AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "chunked.jsonl"
    path.write_bytes(DATA)
    progress: list[tuple[int, int]] = []
    done = await client.uploads.upload_file_chunked(
        file=path, part_size=1000, max_concurrent=3, on_progress=lambda d, t: progress.append((d, t))
    )
    assert done.status == "completed"
    assert done.file is not None
    assert (await client.files.content(done.file.id)).content == DATA
    assert len(progress) == -(-len(DATA) // 1000)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert progress[-1] == (len(DATA), len(DATA))


async def test_upload_file_chunked_rejects_bad_part_size(client: ft.AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(DATA)
    with pytest.raises(ValueError, match="part_size"):
        await client.uploads.upload_file_chunked(file=path, part_size=65 * 1024 * 1024)


async def test_files_create_reports_progress_for_a_path(client: ft.AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    path.write_bytes(DATA * 20)
    seen: list[tuple[int, int]] = []
    created = await client.files.create(file=path, on_progress=lambda d, t: seen.append((d, t)))
    assert created.bytes == len(DATA) * 20
    assert seen
    assert seen[-1] == (len(DATA) * 20, len(DATA) * 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


class Crash(Exception):
    pass


async def test_chunked_upload_resumes_after_a_crash(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "resume.jsonl"
    path.write_bytes(DATA)
    state = tmp_path / "resume.state.json"
    parts_sent: list[str] = []
    crash_at = [4]

    def count_parts(info: ft.RequestInfo) -> None:
        if info.path.endswith("/parts"):
            parts_sent.append(info.path)
            if len(parts_sent) == crash_at[0]:
                raise Crash  # the process dies while sending the 4th part

    n_parts = -(-len(DATA) // 1000)
    async with ft.AsyncClient(api_key="sk-test", base_url=emulator.base_url, request_hooks=[count_parts]) as client:
        with pytest.raises(Crash):
            await client.uploads.upload_file_chunked(file=path, part_size=1000, max_concurrent=1, state_file=state)
        saved = json.loads(state.read_text())
        assert len(saved["parts"]) == 3
        parts_sent.clear()
        crash_at[0] = -1
        done = await client.uploads.upload_file_chunked(file=path, part_size=1000, max_concurrent=2, state_file=state)
    assert done.file is not None
    assert await _content(emulator, done.file.id) == DATA
    # Only the parts that had not been sent went out again.
    assert len(parts_sent) == n_parts - 3
    assert not state.exists()


async def test_changed_file_is_not_resumed(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "changed.jsonl"
    path.write_bytes(DATA)
    state = tmp_path / "changed.state.json"
    async with ft.AsyncClient(api_key="sk-test", base_url=emulator.base_url, max_retries=0) as client:
        emulator.faults.inject("POST:/v1/uploads/*/parts", "500", count=1)
        with pytest.raises(ft.InternalServerError):
            await client.uploads.upload_file_chunked(file=path, part_size=1000, max_concurrent=1, state_file=state)
        changed = DATA.replace(b"What", b"WHAT")
        path.write_bytes(changed)
        done = await client.uploads.upload_file_chunked(file=path, part_size=1000, state_file=state)
        assert done.file is not None
        assert (await client.files.content(done.file.id)).content == changed


async def _content(emulator: Emulator, file_id: str) -> bytes:
    async with ft.AsyncClient(api_key="sk-test", base_url=emulator.base_url) as client:
        return (await client.files.content(file_id)).content

"""client.files against the emulator over loopback HTTP."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.resources import files as files_module
from tests.data import jsonl, supervised_rows

DATA = jsonl(supervised_rows(12))


async def test_create_from_path_streams_and_round_trips(client: ft.AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(DATA)
    created = await client.files.create(file=path, purpose="fine-tune")
    assert created.filename == "train.jsonl"
    assert created.bytes == len(DATA)
    assert created.purpose == "fine-tune"
    assert created.request_id is not None
    assert created.request_id.startswith("req_")
    fetched = await client.files.retrieve(created.id)
    assert fetched.id == created.id
    assert await client.files.content(created.id) == DATA


@pytest.mark.parametrize(
    "make",
    [
        lambda: DATA,
        lambda: io.BytesIO(DATA),
        lambda: ("named.jsonl", DATA),
        lambda: ("named.jsonl", io.BytesIO(DATA)),
    ],
    ids=["bytes", "file-object", "tuple-bytes", "tuple-file"],
)
async def test_create_from_other_sources(client: ft.AsyncClient, make: object) -> None:
    created = await client.files.create(file=make(), purpose="fine-tune")  # type: ignore[operator]
    assert created.bytes == len(DATA)
    assert await client.files.content(created.id) == DATA


async def test_expires_after_is_sent(client: ft.AsyncClient) -> None:
    created = await client.files.create(
        file=("x.jsonl", DATA), purpose="fine-tune", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    assert created.expires_at == created.created_at + 3600


async def test_list_pages_lazily_in_both_orders(client: ft.AsyncClient) -> None:
    ids = [(await client.files.create(file=(f"f{i}.jsonl", DATA))).id for i in range(5)]
    first = await client.files.list(limit=2, order="asc")
    assert [f.id for f in first.data] == ids[:2]
    assert first.has_more
    assert first.has_next_page()
    second = await first.next_page()
    assert [f.id for f in second.data] == ids[2:4]
    walked = [f.id async for f in client.files.list(limit=2, order="asc")]
    assert walked == ids
    newest_first = [f.id async for f in client.files.list(limit=3, purpose="fine-tune")]
    assert newest_first == ids[::-1]


async def test_delete_then_not_found(client: ft.AsyncClient) -> None:
    created = await client.files.create(file=("gone.jsonl", DATA))
    deleted = await client.files.delete(created.id)
    assert deleted.deleted is True
    assert deleted.id == created.id
    with pytest.raises(ft.NotFoundError) as caught:
        await client.files.retrieve(created.id)
    assert caught.value.status_code == 404
    assert caught.value.request_id


async def test_wait_for_processing(client: ft.AsyncClient) -> None:
    created = await client.files.create(file=("p.jsonl", DATA))
    processed = await client.files.wait_for_processing(created.id, poll_interval=0.05, max_wait_seconds=10)
    assert processed.status == "processed"


async def test_file_over_the_files_api_limit_goes_through_uploads(
    client: ft.AsyncClient, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files_module, "FILES_API_LIMIT", 1000)
    path = tmp_path / "big.jsonl"
    path.write_bytes(DATA)
    assert len(DATA) > 1000
    created = await client.files.create(file=path)
    assert created.filename == "big.jsonl"
    assert await client.files.content(created.id) == DATA

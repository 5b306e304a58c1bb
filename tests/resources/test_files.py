"""client.files against the emulator over loopback HTTP."""

from __future__ import annotations

import email
import email.policy
import io
from pathlib import Path

import pytest
from aiohttp import web

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.resources import files as files_module
from tests.data import jsonl, supervised_rows
from tests.scripted import Seen, json_response, scripted_server

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
    assert (await client.files.content(created.id)).content == DATA


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
    assert (await client.files.content(created.id)).content == DATA


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
    assert (await client.files.content(created.id)).content == DATA


# --- the official SDK's file shapes (issue 14) ------------------------------------------------


def _file_json(request_name: str = "x.jsonl") -> dict[str, object]:
    return {
        "id": "file-1",
        "object": "file",
        "bytes": 3,
        "created_at": 1,
        "filename": request_name,
        "purpose": "fine-tune",
        "status": "processed",
    }


def _file_parts(seen: list[Seen]) -> list[tuple[str | None, str | None, bytes]]:
    """(filename, content type, bytes) of each file part of the recorded multipart bodies."""
    parts: list[tuple[str | None, str | None, bytes]] = []
    for request in seen:
        head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
        message = email.message_from_bytes(head + request.body, policy=email.policy.HTTP)
        for part in message.iter_parts():
            if part.get_filename() is not None:
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                parts.append((part.get_filename(), part.get("Content-Type"), payload))
    return parts


@pytest.mark.parametrize(
    ("make", "name", "content_type"),
    [
        (lambda p: ("dpo.jsonl", DATA, "application/jsonl"), "dpo.jsonl", "application/jsonl"),
        (lambda p: ("data.bin", DATA, "text/plain"), "data.bin", "text/plain"),
        (lambda p: ("named.jsonl", io.BytesIO(DATA), "application/x-ndjson"), "named.jsonl", "application/x-ndjson"),
        (lambda p: ("from-path.jsonl", p), "from-path.jsonl", "application/jsonl"),
        (lambda p: ("four.jsonl", DATA, "application/jsonl", {}), "four.jsonl", "application/jsonl"),
        (lambda p: ("plain.csv", DATA, None), "plain.csv", "text/csv"),
        (lambda p: p, "train.jsonl", "application/jsonl"),
        (lambda p: p.open("rb"), "train.jsonl", "application/jsonl"),
    ],
    ids=[
        "3-tuple",
        "3-tuple-other-type",
        "3-tuple-file",
        "2-tuple-path",
        "4-tuple",
        "3-tuple-none",
        "path",
        "open-file",
    ],
)
async def test_file_shapes_of_the_official_sdk(tmp_path: Path, make: object, name: str, content_type: str) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(DATA)
    given = make(path)  # type: ignore[operator]

    async def handler(request: web.Request) -> web.Response:
        return json_response(_file_json())

    async with (
        scripted_server(handler) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url) as client,
    ):
        await client.files.create(file=given, purpose="fine-tune")
    if hasattr(given, "close"):
        given.close()
    assert _file_parts(server.seen) == [(name, content_type, DATA)]


async def test_a_tuple_upload_round_trips_through_the_emulator(client: ft.AsyncClient) -> None:
    created = await client.files.create(file=("dpo.jsonl", DATA, "application/jsonl"), purpose="fine-tune")
    assert created.filename == "dpo.jsonl"
    assert created.bytes == len(DATA)
    assert (await client.files.content(created.id)).content == DATA


@pytest.mark.parametrize(
    ("file", "error", "match"),
    [
        (("only-a-name.jsonl",), TypeError, "file"),
        (("a.jsonl", DATA, "application/jsonl", {}, "extra"), TypeError, "file"),
        ((b"name", DATA), TypeError, "file"),
        (("a.jsonl", "text, not bytes"), TypeError, "file.*str"),
        (("a.jsonl", 12), TypeError, "file"),
        (("a.jsonl", DATA, 5), TypeError, "content type"),
        (("a.jsonl", DATA, "application/jsonl", {"X-Part": "1"}), ValueError, "headers"),
        (("", DATA), ValueError, "file"),
        (("a\r\nX-Injected: 1.jsonl", DATA), ValueError, "file"),
        (("a.jsonl", DATA, "text/plain\r\nX-Injected: 1"), ValueError, "content type"),
        (io.StringIO("text"), TypeError, "file.*text"),
        (12, TypeError, "file"),
        ([b"a"], TypeError, "file"),
    ],
    ids=[
        "1-tuple",
        "5-tuple",
        "bytes-name",
        "str-data",
        "int-data",
        "int-type",
        "part-headers",
        "empty-name",
        "crlf-name",
        "crlf-type",
        "text-file",
        "int",
        "list",
    ],
)
async def test_bad_file_shapes_are_refused_naming_file(file: object, error: type, match: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return json_response(_file_json())

    async with (
        scripted_server(handler) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url) as client,
    ):
        with pytest.raises(error, match=match):
            await client.files.create(file=file)  # type: ignore[arg-type]
    assert server.seen == []

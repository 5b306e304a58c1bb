"""``with_raw_response`` and ``with_streaming_response`` on ``ft.Client``: plain calls, plain
``with`` blocks and iterators, and a list's ``parse()`` as a page that pages on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import finetune_async as ft
from finetune_async import sync
from finetune_async.emulator import Emulator
from tests.sync.conftest import MODEL, dataset

pytestmark = pytest.mark.finetune_emulator(job_seconds=0.5)


@pytest.fixture
def client(finetune_emulator_sync: Emulator) -> Iterator[ft.Client]:
    with ft.Client(api_key="sk-test", base_url=finetune_emulator_sync.base_url) as client:
        yield client


def test_a_raw_list_parses_to_a_page_that_pages_on(client: ft.Client) -> None:
    made = [client.files.create(file=(f"t{i}.jsonl", dataset())).id for i in range(3)]
    raw = client.files.with_raw_response.list(limit=1)
    assert isinstance(raw, sync.SyncRawResponse)
    assert raw.status_code == 200
    assert raw.request_id
    assert raw.json()["object"] == "list"
    page = raw.parse()
    assert isinstance(page, sync.SyncPage)
    assert len(page.data) == 1
    assert sorted(f.id for f in page) == sorted(made)  # every page, fetched as it is walked
    assert raw.parse() is not None
    nested = client.with_raw_response.fine_tuning.jobs.list()
    assert isinstance(nested.parse(), sync.SyncPage)


def test_a_streamed_file_is_read_in_pieces_with_plain_iterators(client: ft.Client, tmp_path: Path) -> None:
    data = dataset(200)
    file = client.files.create(file=("big.jsonl", data))
    with client.files.with_streaming_response.content(file.id) as response:
        assert isinstance(response, sync.SyncStreamedResponse)
        assert response.status_code == 200
        assert not response.is_closed
        chunks = list(response.iter_bytes(1000))
    assert response.is_closed
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 1000
    with client.with_streaming_response.files.content(file.id) as response:
        lines = list(response.iter_lines())
    assert lines == data.decode().splitlines()
    with client.files.with_streaming_response.content(file.id) as response:
        response.stream_to_file(tmp_path / "copy.jsonl")
    assert (tmp_path / "copy.jsonl").read_bytes() == data
    with client.files.with_streaming_response.content(file.id) as response:
        assert response.parse().content == data
    # A JSON call through the streaming view: its parse() is what the plain call returns.
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
    with client.fine_tuning.jobs.with_streaming_response.retrieve(job.id) as response:
        assert response.json()["id"] == job.id
        assert response.parse().id == job.id


def test_an_error_status_raises_on_entering_the_block(client: ft.Client) -> None:
    with pytest.raises(ft.NotFoundError), client.files.with_streaming_response.content("file-missing"):
        pass
    with pytest.raises(ft.NotFoundError):
        client.files.with_raw_response.retrieve("file-missing")

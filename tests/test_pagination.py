"""Pagination (finetune_async/pagination.py) against the emulator: lazy, ordered, leak-free."""

from __future__ import annotations

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

DATA = jsonl(supervised_rows(10))


async def _files(client: ft.AsyncClient, n: int) -> list[str]:
    return [(await client.files.create(file=(f"p{i}.jsonl", DATA), purpose="fine-tune")).id for i in range(n)]


async def test_walk_fetches_each_page_only_when_reached(emulator: Emulator) -> None:
    listed: list[str] = []

    def count(info: ft.RequestInfo) -> None:
        if info.method == "GET" and info.path.endswith("/files"):
            listed.append(info.params.get("after", "-"))

    async with ft.AsyncClient(api_key="sk-test-pages", base_url=emulator.base_url, request_hooks=[count]) as client:
        ids = await _files(client, 7)
        walked = client.files.list(limit=3, order="asc")
        assert listed == []  # nothing is sent until the paginator is awaited or iterated
        seen: list[str] = []
        async for item in walked:
            seen.append(item.id)
            if len(seen) == 3:
                # Three items in, only the first page has been asked for.
                assert listed == ["-"]
        assert seen == ids
        # Three pages (3 + 3 + 1), each cursor the last id of the page before.
        assert listed == ["-", ids[2], ids[5]]


async def test_iterating_a_page_continues_through_later_pages(client: ft.AsyncClient) -> None:
    ids = await _files(client, 5)
    second = await (await client.files.list(limit=2, order="asc")).next_page()
    assert [f.id for f in second.data] == ids[2:4]
    assert [f.id async for f in second] == ids[2:]
    pages = [len(page.data) async for page in second.iter_pages()]
    assert pages == [2, 1]


async def test_breaking_out_leaves_nothing_running(client: ft.AsyncClient) -> None:
    await _files(client, 4)
    items = client.files.list(limit=1).__aiter__()
    first = await items.__anext__()
    # Closing the generator mid-walk (what `break` does) must not leave a request behind;
    # warnings are errors in this run, so an un-awaited coroutine would fail the test.
    await items.aclose()  # type: ignore[attr-defined]
    assert first.id.startswith("file-")


async def test_empty_list_and_last_page(client: ft.AsyncClient) -> None:
    assert [f async for f in client.files.list(limit=5)] == []
    page = await client.files.list(limit=5)
    assert page.data == []
    assert not page.has_more
    assert not page.has_next_page()
    assert page.next_cursor() is None

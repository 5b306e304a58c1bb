"""Answers of the wrong kind raise ``ft.DecodeError`` naming the endpoint (issue 13, "a hostile world").

A server of the tests' own answers 200 with what no endpoint should answer: text that is not
JSON, JSON that is not an object, a page whose ``data`` is not a list, and pages that say
``has_more`` but never move on. Each must raise :class:`ft.DecodeError` (a ``FineTuneError``)
whose message names the request, and none may hang.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from aiohttp import web

import finetune_async as ft
from tests.scripted import Server, job_json, json_response, scripted_server

Call = Callable[[ft.AsyncClient], Awaitable[object]]

CHECKPOINT = "ft:gpt-4o-mini-2024-07-18:org::abc123:ckpt-step-10"


async def _first_page(paginator: Any) -> object:
    return await paginator


async def _walk(paginator: Any) -> object:
    return [item async for item in paginator]


OBJECT_CALLS: list[tuple[str, Call]] = [
    ("GET /fine_tuning/jobs/ftjob-abc", lambda c: c.fine_tuning.jobs.retrieve("ftjob-abc")),
    ("POST /fine_tuning/jobs/ftjob-abc/cancel", lambda c: c.fine_tuning.jobs.cancel("ftjob-abc")),
    (
        "POST /fine_tuning/jobs",
        lambda c: c.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file="file-abc"),
    ),
    ("GET /files/file-abc", lambda c: c.files.retrieve("file-abc")),
    ("DELETE /models/ft:gpt-4o-mini:org::abc", lambda c: c.models.delete("ft:gpt-4o-mini:org::abc")),
    ("POST /uploads/upload_abc/cancel", lambda c: c.uploads.cancel("upload_abc")),
]

PAGE_CALLS: list[tuple[str, Call]] = [
    ("GET /fine_tuning/jobs", lambda c: _first_page(c.fine_tuning.jobs.list())),
    ("GET /fine_tuning/jobs", lambda c: _walk(c.fine_tuning.jobs.list())),
    ("GET /files", lambda c: _walk(c.files.list())),
    ("GET /models", lambda c: _walk(c.models.list())),
    ("GET /fine_tuning/jobs/ftjob-abc/events", lambda c: _walk(c.fine_tuning.jobs.list_events("ftjob-abc"))),
    (
        f"GET /fine_tuning/checkpoints/{CHECKPOINT}/permissions",
        lambda c: c.fine_tuning.checkpoints.permissions.retrieve(CHECKPOINT),
    ),
    (
        f"POST /fine_tuning/checkpoints/{CHECKPOINT}/permissions",
        lambda c: c.fine_tuning.checkpoints.permissions.create(CHECKPOINT, project_ids=["proj_abc"]),
    ),
]

NOT_JSON = [
    pytest.param(b"<html><body>502 Bad Gateway</body></html>", "text/html", id="html"),
    pytest.param(b"", "application/json", id="empty"),
    pytest.param(b'{"id": "ftjob-abc"', "application/json", id="truncated"),
    pytest.param(b"\xff\xfe\x00{", "application/json", id="not-utf8"),
]

NOT_AN_OBJECT = [pytest.param(raw, id=raw) for raw in ("[]", "null", "5", '"ftjob-abc"', "true", "[{}]")]

NOT_A_PAGE = [
    pytest.param(raw, id=raw)
    for raw in (
        *("[]", "null", "5", '"x"'),
        '{"data": 5}',
        '{"data": "abc"}',
        '{"data": {}}',
        '{"data": null}',
        '{"object": "list"}',
        '{"data": [5]}',
        '{"data": [], "has_more": "yes"}',
        '{"data": [], "has_more": false, "last_id": 7}',
    )
]


def _client(server: Server) -> ft.AsyncClient:
    return ft.AsyncClient(api_key="sk-test-wrong", base_url=server.base_url)


async def _raises_decode_error(raw: bytes, content_type: str, endpoint: str, call: Call) -> ft.DecodeError:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=raw, content_type=content_type, headers={"x-request-id": "req_wrong"})

    async with scripted_server(handler) as server, _client(server) as client:
        with anyio.fail_after(10), pytest.raises(ft.DecodeError) as info:
            await call(client)
        method, path = endpoint.split(" ", 1)
        # Decoding is not a transient failure: the answer is asked for once.
        assert server.count(method, "/v1" + path) == 1
    error = info.value
    assert isinstance(error, ft.FineTuneError)
    assert endpoint in str(error)
    assert error.endpoint == endpoint
    return error


@pytest.mark.parametrize(("raw", "content_type"), NOT_JSON)
@pytest.mark.parametrize(("endpoint", "call"), OBJECT_CALLS + PAGE_CALLS, ids=lambda v: v if isinstance(v, str) else "")
async def test_an_answer_that_is_not_json(raw: bytes, content_type: str, endpoint: str, call: Call) -> None:
    error = await _raises_decode_error(raw, content_type, endpoint, call)
    assert "not JSON" in str(error)


@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
@pytest.mark.parametrize(("endpoint", "call"), OBJECT_CALLS, ids=lambda v: v if isinstance(v, str) else "")
async def test_json_that_is_not_an_object(raw: str, endpoint: str, call: Call) -> None:
    error = await _raises_decode_error(raw.encode(), "application/json", endpoint, call)
    assert "@ $" in str(error)


@pytest.mark.parametrize("raw", NOT_A_PAGE)
@pytest.mark.parametrize(("endpoint", "call"), PAGE_CALLS, ids=lambda v: v if isinstance(v, str) else "")
async def test_json_that_is_not_a_page(raw: str, endpoint: str, call: Call) -> None:
    await _raises_decode_error(raw.encode(), "application/json", endpoint, call)


async def test_the_messages_say_what_was_wrong() -> None:
    error = await _raises_decode_error(b"[]", "application/json", "GET /fine_tuning/jobs/ftjob-abc", OBJECT_CALLS[0][1])
    assert str(error) == (
        "cannot decode FineTuningJob from GET /fine_tuning/jobs/ftjob-abc: expected an object, got an array @ $"
    )
    error = await _raises_decode_error(b'{"data": 5}', "application/json", "GET /files", PAGE_CALLS[2][1])
    assert str(error) == "cannot decode Page from GET /files: expected an array, got a number @ $.data"
    error = await _raises_decode_error(b'{"data": [5]}', "application/json", "GET /files", PAGE_CALLS[2][1])
    assert str(error).startswith("cannot decode FileObject from GET /files: ")
    assert "@ $.data[0]" in str(error)


# ------------------------------------------------------------------ pages that never end


def _page(*ids: str, has_more: bool = True, last_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "list", "data": [job_json(i) for i in ids], "has_more": has_more}
    if last_id is not None:
        body["last_id"] = last_id
    return body


async def _walk_jobs(pages: Callable[[str | None], dict[str, Any]]) -> tuple[ft.DecodeError, list[str | None]]:
    """Walk ``jobs.list()`` on a server answering ``pages(after)``; the error and the cursors asked."""
    asked: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        after = request.query.get("after")
        asked.append(after)
        return json_response(pages(after))

    async with scripted_server(handler) as server, _client(server) as client:
        with anyio.fail_after(10), pytest.raises(ft.DecodeError) as info:
            async for _ in client.fine_tuning.jobs.list(limit=1):
                pass
    assert "GET /fine_tuning/jobs" in str(info.value)
    return info.value, asked


async def test_a_page_with_the_same_last_id_forever() -> None:
    error, asked = await _walk_jobs(lambda after: _page("ftjob-1", last_id="ftjob-1"))
    # The second page was asked for after ftjob-1 and ended at ftjob-1 again: stop there.
    assert asked == [None, "ftjob-1"]
    assert "'ftjob-1', where it started" in str(error)


async def test_a_page_with_has_more_and_no_last_id() -> None:
    error, asked = await _walk_jobs(lambda after: {"object": "list", "data": [], "has_more": True})
    assert asked == [None]
    assert "no last id" in str(error)


async def test_a_page_with_has_more_and_no_last_id_repeated_forever() -> None:
    # Without last_id the cursor is the last item's id; a server that repeats the page is caught.
    error, asked = await _walk_jobs(lambda after: _page("ftjob-1"))
    assert asked == [None, "ftjob-1"]
    assert "where it started" in str(error)


async def test_pages_that_lead_back_to_one_already_walked() -> None:
    cycle = {None: _page("ftjob-1"), "ftjob-1": _page("ftjob-2"), "ftjob-2": _page("ftjob-1")}
    error, asked = await _walk_jobs(lambda after: cycle[after])
    assert asked == [None, "ftjob-1", "ftjob-2"]
    assert "already walked" in str(error)


async def test_next_page_of_a_page_that_does_not_move() -> None:
    async def handler(request: web.Request) -> web.Response:
        return json_response(_page("ftjob-1", last_id="ftjob-1"))

    async with scripted_server(handler) as server, _client(server) as client:
        with anyio.fail_after(10):
            first = await client.fine_tuning.jobs.list()
            second = await first.next_page()
            with pytest.raises(ft.DecodeError, match="GET /fine_tuning/jobs"):
                second.has_next_page()
            with pytest.raises(ft.DecodeError, match="GET /fine_tuning/jobs"):
                await second.next_page()


async def test_stream_events_stops_on_a_page_that_does_not_move() -> None:
    event = {
        "id": "ftevent-1",
        "object": "fine_tuning.job.event",
        "created_at": 1_700_000_000,
        "level": "info",
        "message": "step 1",
        "type": "message",
    }

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/events"):
            return json_response({"object": "list", "data": [event], "has_more": True})
        return json_response(job_json("ftjob-abc", status="running"))

    async with scripted_server(handler) as server, _client(server) as client:
        with anyio.fail_after(10), pytest.raises(ft.DecodeError, match="GET /fine_tuning/jobs/ftjob-abc/events"):
            async for _ in ft.stream_events(client, "ftjob-abc", poll_interval=0.01):
                pass
    assert server.count("GET", "/v1/fine_tuning/jobs/ftjob-abc/events") == 2


def test_decode_error_keeps_its_old_constructor() -> None:
    error = ft.DecodeError(ft.FineTuningJob, ["required field missing @ $.id"])
    assert str(error) == "cannot decode FineTuningJob: required field missing @ $.id"
    assert error.endpoint is None
    assert error.errors == ["required field missing @ $.id"]

"""Ids from outside never address another endpoint (issue 13, "a hostile world").

Every resource builds its paths with ``path_id``: an id is either refused with a ValueError
naming the parameter, before anything is sent, or it arrives at the server as exactly one path
segment that decodes back to the id. The server is the scripted loopback server; what it
records is the request target as it came off the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import anyio.from_thread
import attrs
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

import finetune_async as ft
from finetune_async.resources._base import path_id
from tests.scripted import error_response, scripted_server

ID = object()  # where the id goes in an endpoint's path

Call = Callable[[ft.AsyncClient, Any], Awaitable[object]]


@attrs.frozen
class Endpoint:
    """A resource method taking an id, and the request it should make."""

    name: str
    param: str
    method: str
    segments: tuple[object, ...]
    call: Call


async def _page(paginator: Any) -> object:
    return await paginator


ENDPOINTS = [
    Endpoint("files.retrieve", "file_id", "GET", ("files", ID), lambda c, i: c.files.retrieve(i)),
    Endpoint("files.delete", "file_id", "DELETE", ("files", ID), lambda c, i: c.files.delete(i)),
    Endpoint("files.content", "file_id", "GET", ("files", ID, "content"), lambda c, i: c.files.content(i)),
    Endpoint(
        "uploads.parts.create",
        "upload_id",
        "POST",
        ("uploads", ID, "parts"),
        lambda c, i: c.uploads.parts.create(i, data=b"x"),
    ),
    Endpoint(
        "uploads.complete",
        "upload_id",
        "POST",
        ("uploads", ID, "complete"),
        lambda c, i: c.uploads.complete(i, part_ids=["part_1"]),
    ),
    Endpoint("uploads.cancel", "upload_id", "POST", ("uploads", ID, "cancel"), lambda c, i: c.uploads.cancel(i)),
    Endpoint(
        "jobs.retrieve",
        "fine_tuning_job_id",
        "GET",
        ("fine_tuning", "jobs", ID),
        lambda c, i: c.fine_tuning.jobs.retrieve(i),
    ),
    *(
        Endpoint(
            f"jobs.{action}",
            "fine_tuning_job_id",
            "POST",
            ("fine_tuning", "jobs", ID, action),
            lambda c, i, action=action: getattr(c.fine_tuning.jobs, action)(i),
        )
        for action in ("cancel", "pause", "resume")
    ),
    Endpoint(
        "jobs.list_events",
        "fine_tuning_job_id",
        "GET",
        ("fine_tuning", "jobs", ID, "events"),
        lambda c, i: _page(c.fine_tuning.jobs.list_events(i)),
    ),
    Endpoint(
        "jobs.checkpoints.list",
        "fine_tuning_job_id",
        "GET",
        ("fine_tuning", "jobs", ID, "checkpoints"),
        lambda c, i: _page(c.fine_tuning.jobs.checkpoints.list(i)),
    ),
    Endpoint(
        "permissions.create",
        "fine_tuned_model_checkpoint",
        "POST",
        ("fine_tuning", "checkpoints", ID, "permissions"),
        lambda c, i: c.fine_tuning.checkpoints.permissions.create(i, project_ids=["proj_1"]),
    ),
    Endpoint(
        "permissions.retrieve",
        "fine_tuned_model_checkpoint",
        "GET",
        ("fine_tuning", "checkpoints", ID, "permissions"),
        lambda c, i: c.fine_tuning.checkpoints.permissions.retrieve(i),
    ),
    Endpoint(
        "permissions.delete",
        "fine_tuned_model_checkpoint",
        "DELETE",
        ("fine_tuning", "checkpoints", ID, "permissions", "cp_abc"),
        lambda c, i: c.fine_tuning.checkpoints.permissions.delete(i, "cp_abc"),
    ),
    Endpoint(
        "permissions.delete",
        "permission_id",
        "DELETE",
        ("fine_tuning", "checkpoints", "ft:gpt-4o-mini:org::ckpt-step-1", "permissions", ID),
        lambda c, i: c.fine_tuning.checkpoints.permissions.delete("ft:gpt-4o-mini:org::ckpt-step-1", i),
    ),
    Endpoint("models.retrieve", "model", "GET", ("models", ID), lambda c, i: c.models.retrieve(i)),
    Endpoint("models.delete", "model", "DELETE", ("models", ID), lambda c, i: c.models.delete(i)),
]


@attrs.frozen
class Received:
    """A request as the server read it off the wire."""

    method: str
    raw_path: str
    path: str
    query_string: str


@attrs.define
class Rig:
    """A scripted server answering 404 to everything, and a client of it, on a loop in a thread."""

    portal: anyio.from_thread.BlockingPortal
    client: ft.AsyncClient
    received: list[Received]

    def send(self, endpoint: Endpoint, value: object) -> BaseException | None:
        """Call ``endpoint`` with ``value``; the error it raised (None if it returned)."""
        self.received.clear()

        async def run() -> BaseException | None:
            try:
                with anyio.fail_after(10):
                    await endpoint.call(self.client, value)
            except (ValueError, ft.NotFoundError) as exc:
                return exc
            return None

        return self.portal.call(run)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    # Module-scoped, on a loop of its own: hypothesis runs hundreds of examples against one
    # server and client, and calls the test once per example (so the test itself is sync).
    received: list[Received] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        received.append(Received(request.method, request.raw_path, request.path, request.query_string))
        return error_response(404, "no such thing")

    @asynccontextmanager
    async def serving() -> AsyncIterator[ft.AsyncClient]:
        async with (
            scripted_server(handler) as server,
            ft.AsyncClient(api_key="sk-test-ids", base_url=server.base_url, max_retries=0) as client,
        ):
            yield client

    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(serving()) as client,
    ):
        yield Rig(portal, client, received)


def check(rig: Rig, endpoint: Endpoint, value: object) -> bool:
    """Refused naming the parameter, or sent to exactly the intended endpoint; True if sent."""
    outcome = rig.send(endpoint, value)
    if isinstance(outcome, ValueError):
        assert str(outcome).startswith(f"{endpoint.param} must be an id such as "), outcome
        assert rig.received == [], "a refused id must not be sent"
        return False
    assert isinstance(outcome, ft.NotFoundError), outcome
    assert isinstance(value, str)
    [got] = rig.received
    assert got.method == endpoint.method
    assert got.query_string == ""
    want = ["", "v1", *(value if s is ID else s for s in endpoint.segments)]
    raw = got.raw_path.split("/")
    assert len(raw) == len(want), f"{value!r} was sent as {got.raw_path!r}"
    for segment, expected in zip(raw, want, strict=True):
        assert unquote(segment, errors="strict") == expected, f"{value!r} was sent as {got.raw_path!r}"
    # The server's own decoding agrees.
    assert got.path == "/".join(want)
    return True


CRAFTED = [
    ".",
    "..",
    "...",
    ".a",
    "a.",
    "",
    " ",
    "\t",
    "\u3000",
    "%20",
    "%20%20",
    "/",
    "a/b",
    "../cancel",
    "\\",
    "a\\b",
    "?",
    "a?b",
    "#",
    "a#b",
    "%2E",
    "%2e",
    "%2E%2E",
    "%2e%2E",
    ".%2E",
    "%2F",
    "a%2Fb",
    "%2f",
    "%5C",
    "%5c",
    "%3F",
    "%23",
    "%252E%252E",
    "%252F",
    "%25",
    "%",
    "50%",
    "%zz",
    "%2",
    "%E9",
    "%C3%A9",
    "\x00",
    "a\x00b",
    "a\nb",
    "\r",
    "\x7f",
    "\x85",
    "\ud800",
    "a b",
    " ftjob-abc",
    "é",
    "日本語",
    "🙂",
    "a+b",
    "a;b",
    "a=b&c",
    "@",
    "!$'()*,",
    "[]",
    '<>"{}|^`',
    "ft:gpt-4o-mini:org:suffix:id",
    "ft:gpt-4o-mini-2024-07-18:org::ckpt-step-10",
    "~",
    "-",
    "_",
]

ids = st.one_of(
    st.sampled_from(CRAFTED),
    st.text(),
    # Mostly the characters that matter to a URL path, so combinations of them come up.
    st.text(alphabet=st.sampled_from("./\\?#%2EeFf5Cc3 :~+;\x00\nab"), min_size=1, max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ENDPOINTS), ids)
def test_an_id_is_refused_or_addresses_its_own_endpoint(rig: Rig, endpoint: Endpoint, value: str) -> None:
    check(rig, endpoint, value)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ENDPOINTS), st.from_regex(r"[A-Za-z0-9._:~-]+", fullmatch=True))
def test_a_plain_id_is_sent_as_it_is(rig: Rig, endpoint: Endpoint, value: str) -> None:
    if value in (".", ".."):
        return
    assert check(rig, endpoint, value)
    [got] = rig.received
    assert value in got.raw_path.split("/")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.name}:{e.param}")
def test_crafted_ids(rig: Rig, endpoint: Endpoint) -> None:
    sent = {value for value in CRAFTED if check(rig, endpoint, value)}
    # Not everything is refused: only what would leave its segment or cannot be sent.
    assert {"...", ".a", "a b", "é", "a+b", "a;b", "%25", "50%", "ft:gpt-4o-mini:org:suffix:id"} <= sent


def _endpoint(name: str, param: str | None = None) -> Endpoint:
    return next(e for e in ENDPOINTS if e.name == name and (param is None or e.param == param))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jobs.cancel", ".."),  # was POST /v1/fine_tuning/cancel
        ("files.content", ".."),  # was GET /v1/content
        ("models.delete", ".."),  # was DELETE /v1/
        ("jobs.retrieve", "."),
        ("files.retrieve", "."),
        ("models.retrieve", "."),
        ("jobs.retrieve", ""),
        ("files.content", ""),
        ("models.delete", ""),
        ("jobs.cancel", "%2E%2E"),
        ("files.content", "a/../../models"),
        ("models.retrieve", "gpt-4o?x=1"),
    ],
)
def test_dot_and_empty_ids_are_refused_before_sending(rig: Rig, name: str, value: str) -> None:
    endpoint = _endpoint(name)
    outcome = rig.send(endpoint, value)
    assert isinstance(outcome, ValueError)
    example = {"fine_tuning_job_id": "ftjob-abc123", "file_id": "file-abc123"}.get(endpoint.param)
    if example is not None:
        assert str(outcome) == f"{endpoint.param} must be an id such as {example!r}, not {value!r}"
    assert rig.received == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.name}:{e.param}")
def test_an_id_that_is_not_a_string_is_refused(rig: Rig, endpoint: Endpoint) -> None:
    for value in (None, 5, b"ftjob-abc", ["ftjob-abc"], 1.5, True):
        outcome = rig.send(endpoint, value)
        assert isinstance(outcome, ValueError)
        assert str(outcome).startswith(f"{endpoint.param} must be an id such as ")
        assert rig.received == []


def test_model_ids_keep_their_colons(rig: Rig) -> None:
    model = "ft:gpt-4o-mini-2024-07-18:my-org:weather:B7R9VjQd"
    assert check(rig, _endpoint("models.delete"), model)
    assert rig.received[0].raw_path == f"/v1/models/{model}"


def test_other_characters_are_percent_quoted_on_the_wire(rig: Rig) -> None:
    assert check(rig, _endpoint("files.content"), 'a b+[]"%é')
    assert rig.received[0].raw_path == "/v1/files/a%20b%2B%5B%5D%22%25%C3%A9/content"


@given(st.text())
def test_what_path_id_returns_is_what_the_url_carries(value: str) -> None:
    # The transport joins base_url and path as a string, and yarl, parsing it, decodes the
    # escapes of characters a path may hold as they are and then collapses dot segments.
    # path_id's answer is already in that form, so nothing it returns is changed on the way.
    try:
        segment = path_id(value, "file_id")
    except ValueError:
        return
    url = URL(f"http://127.0.0.1:1/v1/files/{segment}/content")
    assert url.raw_path == f"/v1/files/{segment}/content"
    assert url.path == f"/v1/files/{value}/content"


def test_yarl_decodes_escaped_dots_before_collapsing() -> None:
    # Why path_id refuses dot segments rather than quoting them: an escaped dot segment is
    # decoded and collapsed all the same when the URL is parsed.
    assert URL("http://127.0.0.1:1/v1/files/%2E%2E/content").raw_path == "/v1/content"
    assert URL("http://127.0.0.1:1/v1/fine_tuning/jobs/%2e%2E/cancel").raw_path == "/v1/fine_tuning/cancel"

"""Redirects over real loopback HTTP: a base URL that answers 3xx never moves a credential.

Two scripted servers on two ports are two origins. The first answers redirects; the second
records whatever reaches it. The transport follows a redirect itself, only to the same origin,
at most a few hops, and never turns a create into a GET.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import finetune_async as ft

from .scripted import Server, job_json, json_response, scripted_server

API_KEY = "sk-redirect-secret-0123456789abcdef"
ENTRA_TOKEN = "entra-redirect-secret-token-fedcba9876"
ORGANIZATION = "org-redirect-secret"
PROJECT = "proj-redirect-secret"
AZURE_VERSION = "2024-10-21"
#: The request headers that carry who the caller is: none may reach another origin.
CREDENTIAL_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project")
SECRETS = (API_KEY, ENTRA_TOKEN)
CLIENT_KINDS = ["bearer", "azure-key", "azure-entra"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_client(kind: str, origin: str, **kwargs: Any) -> ft.AsyncClient:
    """A client of ``origin`` (scheme://host:port) authenticating the way ``kind`` says."""
    if kind == "bearer":
        return ft.AsyncClient(
            api_key=API_KEY, base_url=origin + "/v1", organization=ORGANIZATION, project=PROJECT, **kwargs
        )
    if kind == "azure-key":
        return ft.AsyncClient.azure(endpoint=origin, api_key=API_KEY, api_version=AZURE_VERSION, **kwargs)

    async def provider() -> str:
        # An opaque token is fetched afresh for every request.
        return ENTRA_TOKEN

    return ft.AsyncClient.azure(endpoint=origin, azure_ad_token_provider=provider, api_version=AZURE_VERSION, **kwargs)


def prefix_of(kind: str) -> str:
    return "/v1" if kind == "bearer" else "/openai"


async def answer_anything(request: web.Request) -> web.Response:
    """The other origin: answers every request as a job (which a create must never return)."""
    return json_response(job_json("ftjob-from-the-other-origin"))


@asynccontextmanager
async def two_origins(make_handler: Callable[[str], Handler]) -> AsyncIterator[tuple[Server, Server]]:
    """(origin, other): ``make_handler(other_origin)`` answers on the first server."""
    async with scripted_server(answer_anything, prefix="") as other:

        async def handler(request: web.Request) -> web.StreamResponse:
            return await inner(request)

        inner = make_handler(other.base_url)
        async with scripted_server(handler, prefix="") as origin:
            yield origin, other


def redirect_to(base: str | None, status: int) -> Callable[[str], Handler]:
    """Every request is redirected with ``status`` to the same path and query under ``base``
    (None: the other origin)."""

    def make(other: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            target = (other if base is None else base) + request.path_qs
            return web.Response(status=status, headers={"Location": target})

        return handler

    return make


async def outcome(call: Awaitable[object]) -> object:
    """What ``call`` returned, or the exception it raised (so a test checks the wire first)."""
    try:
        return await call
    except Exception as exc:
        return exc


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable from it through ``__cause__`` and ``__context__``."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is f for f in found):
            continue
        found.append(item)
        todo += [item.__cause__, item.__context__]
    return found


def assert_no_secret(exc: BaseException) -> None:
    """No secret in the repr, str, args or attributes of anything along the exception's chain."""
    for item in exception_chain(exc):
        texts = [repr(item), str(item), repr(item.args), repr(getattr(item, "__dict__", {}))]
        texts.append(repr(getattr(item, "request_info", None)))
        for text in texts:
            for secret in SECRETS:
                assert secret not in text, f"{type(item).__name__} carries a credential"


def assert_no_credentials(server: Server) -> None:
    for seen in server.seen:
        sent = {name.lower() for name in seen.headers}
        leaked = sent & set(CREDENTIAL_HEADERS)
        assert not leaked, f"{seen.method} {seen.path} received {leaked}"


# --- Another origin never sees a credential ----------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_cross_origin_redirect_of_a_read_sends_no_credential(kind: str, status: int) -> None:
    async with two_origins(redirect_to(None, status)) as (origin, other), make_client(kind, origin.base_url) as client:
        error = await outcome(client.fine_tuning.jobs.retrieve("ftjob-abc"))
    assert_no_credentials(other)
    assert other.seen == []
    assert isinstance(error, ft.RedirectError), error
    assert error.status_code == status
    assert isinstance(error, ft.APIStatusError)
    # The Location is named without its query; the message says why it was not followed.
    assert error.location == f"{other.base_url}{prefix_of(kind)}/fine_tuning/jobs/ftjob-abc"
    assert "api-version" not in str(error)
    assert "another origin" in str(error)
    assert_no_secret(error)
    # A redirect is an answer, not a failure worth another try.
    assert len(origin.seen) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_cross_origin_redirect_of_a_create_sends_nothing_there(kind: str, status: int) -> None:
    async with two_origins(redirect_to(None, status)) as (origin, other), make_client(kind, origin.base_url) as client:
        error = await outcome(client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-train"))
    assert_no_credentials(other)
    assert other.seen == []
    assert isinstance(error, ft.RedirectError), error
    assert error.status_code == status
    assert_no_secret(error)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_redirect_to_another_port_of_the_same_host_is_another_origin(kind: str) -> None:
    """Same host, same scheme, another port: still another origin."""
    async with two_origins(redirect_to(None, 307)) as (origin, other), make_client(kind, origin.base_url) as client:
        assert origin.base_url.split(":")[1] == other.base_url.split(":")[1]
        with pytest.raises(ft.RedirectError):
            await client.files.retrieve("file-abc")
    assert other.seen == []


# --- A create is never answered by a GET ------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303])
@pytest.mark.parametrize("where", ["same-origin", "other-origin"])
async def test_a_create_is_never_answered_by_a_get(status: int, where: str) -> None:
    def make(other: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            if request.method == "POST":
                base = "" if where == "same-origin" else other
                return web.Response(status=status, headers={"Location": f"{base}/v1/moved/job"})
            # What a GET would get: a job, which must never come back as the created one.
            return json_response(job_json("ftjob-a-get-answered-this"))

        return handler

    async with two_origins(make) as (origin, other), make_client("bearer", origin.base_url) as client:
        error = await outcome(client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-train"))
    assert not isinstance(error, ft.FineTuningJob), "a GET's answer came back as the created job"
    assert [s.method for s in origin.seen] == ["POST"]
    assert other.seen == []
    assert isinstance(error, ft.RedirectError), error
    assert error.status_code == status
    assert error.method == "POST"
    assert error.location is not None
    assert error.location.endswith("/v1/moved/job")


# --- Same-origin redirects are followed ----------------------------------------------------------


def moved_within(status: int) -> Callable[[str], Handler]:
    """The first answer for each path moves it under ``/moved`` on the same origin."""

    def make(other: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            if request.path.startswith("/moved"):
                if request.path.endswith("/files"):
                    return json_response(file_json())
                return json_response(job_json())
            return web.Response(status=status, headers={"Location": "/moved" + request.path_qs})

        return handler

    return make


def file_json() -> dict[str, Any]:
    return {
        "id": "file-abc",
        "object": "file",
        "bytes": 11,
        "created_at": 1_700_000_000,
        "filename": "train.jsonl",
        "purpose": "fine-tune",
        "status": "processed",
    }


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_same_origin_redirect_of_a_read_is_followed_once(kind: str, status: int) -> None:
    async with two_origins(moved_within(status)) as (origin, _other), make_client(kind, origin.base_url) as client:
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert job.id == "ftjob-abc"
    path = f"{prefix_of(kind)}/fine_tuning/jobs/ftjob-abc"
    assert [(s.method, s.path) for s in origin.seen] == [("GET", path), ("GET", "/moved" + path)]
    if kind != "bearer":
        # The Location's query is the one sent: here it kept the api-version.
        assert origin.seen[1].query == {"api-version": AZURE_VERSION}


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_same_origin_307_308_of_a_create_is_posted_again_once(kind: str, status: int) -> None:
    async with two_origins(moved_within(status)) as (origin, _other), make_client(kind, origin.base_url) as client:
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-train")
    assert job.id == "ftjob-abc"
    path = f"{prefix_of(kind)}/fine_tuning/jobs"
    assert [(s.method, s.path) for s in origin.seen] == [("POST", path), ("POST", "/moved" + path)]
    first, second = (json.loads(s.body) for s in origin.seen)
    assert first == second
    assert first["model"] == "gpt-4o-mini"
    assert origin.seen[1].headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [307, 308])
async def test_same_origin_307_of_an_upload_from_a_path_reopens_the_file(status: int, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 1000)
    async with two_origins(moved_within(status)) as (origin, _other), make_client("bearer", origin.base_url) as client:
        created = await client.files.create(file=path)
    assert created.id == "file-abc"
    assert [(s.method, s.path) for s in origin.seen] == [("POST", "/v1/files"), ("POST", "/moved/v1/files")]
    assert path.read_bytes() in origin.seen[1].body


@pytest.mark.parametrize("status", [307, 308])
async def test_same_origin_307_of_an_upload_from_a_stream_is_not_replayed(status: int) -> None:
    """A file object may not be readable twice: the redirect is refused, not half-followed."""
    stream = io.BytesIO(b'{"a": 1}\n' * 1000)
    async with two_origins(moved_within(status)) as (origin, _other), make_client("bearer", origin.base_url) as client:
        with pytest.raises(ft.RedirectError, match="cannot be sent again") as caught:
            await client.files.create(file=("train.jsonl", stream))
    assert [(s.method, s.path) for s in origin.seen] == [("POST", "/v1/files")]
    assert caught.value.status_code == status


# --- Loops and too many hops -------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "requests"), [("self", 1), ("pair", 2)])
@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_redirect_loop_raises_without_the_key_anywhere(
    kind: str, status: int, shape: str, requests: int
) -> None:
    def make(other: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            query = f"?{request.query_string}" if request.query_string else ""
            if shape == "self":
                target = request.path_qs
            elif request.path.endswith("/loop"):
                target = request.path.removesuffix("/loop") + query
            else:
                target = request.path + "/loop" + query
            return web.Response(status=status, headers={"Location": target})

        return handler

    async with two_origins(make) as (origin, _other), make_client(kind, origin.base_url) as client:
        error = await outcome(client.fine_tuning.jobs.retrieve("ftjob-abc"))
    assert isinstance(error, BaseException)
    assert_no_secret(error)
    assert all(isinstance(e, ft.FineTuneError) for e in exception_chain(error))
    assert isinstance(error, ft.RedirectError), error
    assert "loop" in str(error)
    assert len(origin.seen) == requests


async def test_too_many_hops_raise() -> None:
    def make(other: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            hop = int(request.query.get("hop", "0"))
            return web.Response(status=307, headers={"Location": f"{request.path}?hop={hop + 1}"})

        return handler

    async with two_origins(make) as (origin, _other), make_client("bearer", origin.base_url) as client:
        with pytest.raises(ft.RedirectError, match="too many") as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    # The first request and five hops, then the sixth redirect is refused.
    assert len(origin.seen) == 6
    assert caught.value.location is not None
    assert "hop" not in caught.value.location
    assert_no_secret(caught.value)


async def test_a_redirect_without_a_location_is_an_error() -> None:
    def make(other: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=302)

        return handler

    async with two_origins(make) as (origin, _other), make_client("bearer", origin.base_url) as client:
        with pytest.raises(ft.RedirectError, match="no Location") as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert caught.value.location is None


async def test_a_location_carrying_userinfo_is_refused_and_not_shown() -> None:
    def make(other: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            host = request.host
            return web.Response(status=307, headers={"Location": f"http://someone:hunter2@{host}/moved"})

        return handler

    async with two_origins(make) as (origin, _other), make_client("bearer", origin.base_url) as client:
        with pytest.raises(ft.RedirectError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert "hunter2" not in str(caught.value)
    assert "someone" not in repr(caught.value.__dict__)
    assert len(origin.seen) == 1


# --- Every error the transport raises has a clean chain -----------------------------------------


async def test_connection_errors_carry_no_aiohttp_exception_in_their_chain() -> None:
    """``raise ... from None`` hides the context but keeps it: aiohttp's exceptions (some hold
    the request's headers) must not be reachable from ours."""

    async def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async with scripted_server(drop, prefix="") as server:
        async with make_client("azure-key", server.base_url, max_retries=1) as client:
            with pytest.raises(ft.APIConnectionError) as dropped:
                await client.fine_tuning.jobs.retrieve("ftjob-abc")
        base = server.base_url
    async with make_client("azure-key", base, max_retries=0) as client:
        with pytest.raises(ft.APIConnectionError) as refused:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    for caught in (dropped, refused):
        assert all(isinstance(e, ft.FineTuneError) for e in exception_chain(caught.value)), [
            type(e).__name__ for e in exception_chain(caught.value)
        ]
        assert_no_secret(caught.value)

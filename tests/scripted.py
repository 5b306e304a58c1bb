"""A tiny scripted HTTP server for transport tests: each test says what the server answers.

Real loopback HTTP through aiohttp.web, so the SDK's real transport is exercised; the
emulator covers whole-API behaviour, this covers exact status/header sequences.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@attrs.define
class Server:
    base_url: str
    seen: list[Seen] = attrs.field(factory=list)

    def count(self, method: str, path: str) -> int:
        return sum(1 for s in self.seen if s.method == method and s.path == path)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, request_id: str = "req_test"
) -> web.Response:
    all_headers = {"x-request-id": request_id, **(headers or {})}
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json", headers=all_headers
    )


def error_response(
    status: int,
    message: str = "nope",
    code: str | None = None,
    headers: dict[str, str] | None = None,
    request_id: str = "req_err",
) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return json_response(body, status, headers, request_id)


@asynccontextmanager
async def scripted_server(handler: Handler, *, prefix: str = "/v1") -> AsyncIterator[Server]:
    """Serve ``handler`` for every path on 127.0.0.1; yields the server with ``seen`` requests."""
    server = Server(base_url="")

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        server.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base_url = f"http://127.0.0.1:{port}{prefix}"
    try:
        yield server
    finally:
        await runner.cleanup()


def job_json(job_id: str = "ftjob-abc", status: str = "queued", **extra: Any) -> dict[str, Any]:
    """A FineTuningJob body as the API sends it."""
    body: dict[str, Any] = {
        "id": job_id,
        "object": "fine_tuning.job",
        "created_at": 1_700_000_000,
        "error": None,
        "fine_tuned_model": None,
        "finished_at": None,
        "hyperparameters": {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"},
        "model": "gpt-4o-mini-2024-07-18",
        "organization_id": "org-test",
        "result_files": [],
        "status": status,
        "trained_tokens": None,
        "training_file": "file-train",
        "validation_file": None,
        "seed": 42,
    }
    body.update(extra)
    return body

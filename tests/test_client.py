"""AsyncClient: Azure OpenAI, token providers, and that the API key never leaks."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from aiohttp import web

import finetune_async as ft

from .scripted import error_response, job_json, json_response, scripted_server

# Built at run time so that nothing shaped like a real key is committed.
SECRET = "-".join(["sk", "proj", "SECRETSECRETSECRET0123456789"])


def _jwt(exp: float) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(exp)})}.sig"


async def test_azure_paths_query_and_api_key_header() -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/jobs"):
            return json_response({"object": "list", "data": [job_json()], "has_more": False})
        return json_response(job_json())

    async with (
        scripted_server(handler, prefix="") as server,
        ft.AsyncClient.azure(endpoint=server.base_url, api_key="azure-key", api_version="2025-04-01-preview") as client,
    ):
        await client.fine_tuning.jobs.retrieve("ftjob-abc")
        await client.fine_tuning.jobs.list(limit=5)
    first, second = server.seen
    assert first.path == "/openai/fine_tuning/jobs/ftjob-abc"
    assert first.query == {"api-version": "2025-04-01-preview"}
    assert first.headers["api-key"] == "azure-key"
    assert "Authorization" not in first.headers
    assert second.query == {"api-version": "2025-04-01-preview", "limit": "5"}


async def test_azure_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    async with scripted_server(lambda r: _ok(), prefix="") as server:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.base_url)
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-azure-key")
        monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
        async with ft.AsyncClient.azure() as client:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert server.seen[0].headers["api-key"] == "env-azure-key"
    assert server.seen[0].query["api-version"] == "2024-10-21"


async def _ok() -> web.Response:
    return json_response(job_json())


def test_azure_needs_endpoint_and_credentials_not_a_version(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ft.FineTuneError, match="AZURE_OPENAI_ENDPOINT"):
        ft.AsyncClient.azure(api_key="k", api_version="v")
    # No api-version: Azure's v1 route.
    client = ft.AsyncClient.azure(endpoint="https://x.openai.azure.com", api_key="k")
    assert client.base_url == "https://x.openai.azure.com/openai/v1"
    with pytest.raises(ft.FineTuneError, match="azure_ad_token_provider"):
        ft.AsyncClient.azure(endpoint="https://x.openai.azure.com", api_version="v")


async def test_entra_token_is_cached_until_it_expires() -> None:
    calls: list[float] = []
    expiry = [time.time() + 3600]

    async def provider() -> str:
        calls.append(time.time())
        return _jwt(expiry[0])

    async with (
        scripted_server(lambda r: _ok(), prefix="") as server,
        ft.AsyncClient.azure(endpoint=server.base_url, azure_ad_token_provider=provider, api_version="v1") as client,
    ):
        for _ in range(3):
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
        assert len(calls) == 1
        # A token about to expire is fetched afresh before it is used.
        expiry[0] = time.time() + 10
        client._transport._auth._expires_at = time.time() + 5  # type: ignore[attr-defined]
        await client.fine_tuning.jobs.retrieve("ftjob-abc")
        assert len(calls) == 2
    tokens = {s.headers["Authorization"] for s in server.seen}
    assert all(t.startswith("Bearer ") for t in tokens)
    assert "api-key" not in server.seen[0].headers


async def test_entra_access_token_object_and_refresh_after_401() -> None:
    class AccessToken:
        def __init__(self, token: str, expires_on: float) -> None:
            self.token, self.expires_on = token, expires_on

    issued: list[str] = []

    async def provider() -> AccessToken:
        token = f"tok-{len(issued)}"
        issued.append(token)
        return AccessToken(token, time.time() + 3600)

    async def handler(request: web.Request) -> web.Response:
        if request.headers["Authorization"] == "Bearer tok-0":
            return error_response(401, "token revoked")
        return json_response(job_json())

    async with (
        scripted_server(handler, prefix="") as server,
        ft.AsyncClient.azure(endpoint=server.base_url, azure_ad_token_provider=provider, api_version="v1") as client,
    ):
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert job.id == "ftjob-abc"
    assert issued == ["tok-0", "tok-1"]


async def test_api_key_never_in_repr_str_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def handler(request: web.Request) -> web.Response:
        return error_response(
            401, "Incorrect API key provided", code="invalid_api_key", headers={"retry-after-ms": "1"}
        )

    async with scripted_server(handler) as server:
        client = ft.AsyncClient(api_key=SECRET, base_url=server.base_url, organization="org-x")
        texts = [repr(client), str(client), repr(client._transport), repr(client._transport._auth)]
        with pytest.raises(ft.AuthenticationError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
        err = caught.value
        texts += [str(err), repr(err), repr(err.body), repr(dict(err.headers)), str(err.url)]
        # A 500 that is retried logs each retry.
        await client.close()
        azure = ft.AsyncClient.azure(endpoint=server.base_url, api_key=SECRET, api_version="v")
        texts += [repr(azure), repr(azure._transport._auth)]
        await azure.close()
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.__dict__) for record in caplog.records]
    assert caplog.records, "expected the transport to log at DEBUG"
    for text in texts:
        assert SECRET not in text
        assert SECRET[-12:] not in text


async def test_api_key_not_logged_across_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="finetune_async")
    handler_calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal handler_calls
        handler_calls += 1
        if handler_calls == 1:
            return error_response(500, headers={"retry-after-ms": "1"})
        return json_response(job_json())

    async with scripted_server(handler) as server, ft.AsyncClient(api_key=SECRET, base_url=server.base_url) as c:
        await c.fine_tuning.jobs.retrieve("ftjob-abc")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "retrying" in messages
    assert SECRET not in messages

"""Requests to signed URLs (a provider's upload or download address) over real loopback HTTP.

A provider's own flow may hand out a URL on another origin (an object store's signed PUT, a
metrics file's GET): the transport sends there with nothing of the client's, no credential, no
default header, no call option, and never shows the URL's query (its signature) in an error,
a log line or a hook.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async._bodies import FilePart
from finetune_async._transport import RequestInfo

from .scripted import error_response, scripted_server

API_KEY = "sk-signed-secret-0123456789abcdef"
SIGNATURE = "X-Sig=sig-secret-fedcba9876543210"
CREDENTIAL_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project")


def client_of(base_url: str, **kwargs: object) -> ft.AsyncClient:
    return ft.AsyncClient(
        api_key=API_KEY,
        base_url=base_url,
        organization="org-signed",
        project="proj-signed",
        default_headers={"X-Team": "ml"},
        max_retries=2,
        **kwargs,  # type: ignore[arg-type]
    )


async def ok(request: web.Request) -> web.Response:
    return web.Response(status=200, body=b"stored")


@pytest.mark.anyio
async def test_a_signed_put_carries_the_body_and_no_credential(tmp_path: Path) -> None:
    data = b"line\n" * 5000
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    seen: list[RequestInfo] = []
    async with (
        scripted_server(ok, prefix="") as storage,
        scripted_server(ok) as api,
        client_of(api.base_url, request_hooks=[seen.append]) as client,
    ):
        part = FilePart(name="file", filename="train.jsonl", source=str(path))
        response = await client._transport.request_signed(
            "PUT",
            f"{storage.base_url}/bucket/train.jsonl?{SIGNATURE}",
            body=part,
            size=len(data),
            headers={"x-amz-meta-purpose": "fine-tune"},
        )
    assert response.status == 200
    assert api.seen == []
    (put,) = storage.seen
    assert put.method == "PUT"
    assert put.path == "/bucket/train.jsonl"
    assert put.query == {"X-Sig": "sig-secret-fedcba9876543210"}
    assert put.body == data
    headers = {k.lower(): v for k, v in put.headers.items()}
    for name in (*CREDENTIAL_HEADERS, "x-team"):
        assert name not in headers, name
    assert API_KEY not in repr(put.headers)
    # Sent with its length, not chunked: object stores refuse a chunked signed PUT.
    assert headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in headers
    assert headers["content-type"] == "application/octet-stream"
    assert headers["x-amz-meta-purpose"] == "fine-tune"
    assert headers["user-agent"].startswith("finetune-async/")
    (info,) = seen
    assert info.signed
    assert info.path == "/bucket/train.jsonl"
    assert "X-Sig" not in info.url
    assert info.params == {}


@pytest.mark.anyio
async def test_a_streamed_body_is_sent_with_its_length() -> None:
    chunks = [b"a" * 1000, b"b" * 24]

    def factory():  # type: ignore[no-untyped-def]
        async def gen():  # type: ignore[no-untyped-def]
            for chunk in chunks:
                yield chunk

        return gen()

    async with scripted_server(ok, prefix="") as storage, scripted_server(ok) as api, client_of(api.base_url) as client:
        part = FilePart(name="part", filename="part-1", source=factory)
        await client._transport.request_signed("PUT", f"{storage.base_url}/p1?{SIGNATURE}", body=part, size=1024)
    (put,) = storage.seen
    assert put.body == b"".join(chunks)
    assert put.headers["Content-Length"] == "1024"


@pytest.mark.anyio
async def test_a_signed_put_is_retried_and_its_errors_hide_the_signature(caplog: pytest.LogCaptureFixture) -> None:
    answers = [503, 503, 200]

    async def flaky(request: web.Request) -> web.Response:
        status = answers.pop(0)
        return web.Response(status=status, body=b"busy" if status != 200 else b"ok")

    caplog.set_level(logging.DEBUG, logger="finetune_async")
    async with (
        scripted_server(flaky, prefix="") as storage,
        scripted_server(ok) as api,
        client_of(api.base_url) as client,
    ):
        client._transport.retry = ft.RetryPolicy(max_retries=2, initial=0.0, max_backoff=0.0)
        response = await client._transport.request_signed("PUT", f"{storage.base_url}/x?{SIGNATURE}", body=None)
    assert response.status == 200
    assert len(storage.seen) == 3
    assert "sig-secret" not in caplog.text
    assert API_KEY not in caplog.text

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=403, body=b"<Error><Code>SignatureDoesNotMatch</Code></Error>")

    async with (
        scripted_server(refuse, prefix="") as storage,
        scripted_server(ok) as api,
        client_of(api.base_url) as client,
    ):
        with pytest.raises(ft.PermissionDeniedError) as caught:
            await client._transport.request_signed("GET", f"{storage.base_url}/metrics.jsonl?{SIGNATURE}")
    text = f"{caught.value!s} {caught.value!r} {caught.value.url}"
    assert "sig-secret" not in text
    assert API_KEY not in text
    assert "/metrics.jsonl" in text


@pytest.mark.anyio
async def test_a_signed_urls_redirect_is_not_followed() -> None:
    async with scripted_server(ok, prefix="") as elsewhere:

        async def moved(request: web.Request) -> web.Response:
            return web.Response(status=307, headers={"Location": f"{elsewhere.base_url}/y?{SIGNATURE}"})

        async with (
            scripted_server(moved, prefix="") as storage,
            scripted_server(ok) as api,
            client_of(api.base_url) as client,
        ):
            with pytest.raises(ft.RedirectError) as caught:
                await client._transport.request_signed("PUT", f"{storage.base_url}/x?{SIGNATURE}", body=None)
        assert elsewhere.seen == []
    assert caught.value.status_code == 307
    assert "sig-secret" not in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "http://storage.example/x?sig=1",  # plain http where the API is https
        "ftp://storage.example/x",
        "https://user:pw@storage.example/x",
        "https:///x",
        "file:///etc/passwd",
    ],
)
async def test_a_signed_url_that_is_not_https_is_refused_before_sending(url: str) -> None:
    async with ft.AsyncClient(api_key=API_KEY, base_url="https://api.example/v1") as client:
        with pytest.raises(ValueError, match="signed URL") as caught:
            await client._transport.request_signed("GET", url)
        assert client._transport.connections_in_use() == 0
    assert "pw" not in str(caught.value)
    assert "sig=1" not in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=80))
def test_any_url_text_that_is_not_https_is_refused_with_valueerror(text: str) -> None:
    import anyio

    # An https URL would go to the network (none here): the parametrized test covers those.
    assume(not text.lower().startswith("https://"))

    async def attempt() -> None:
        async with ft.AsyncClient(api_key=API_KEY, base_url="https://api.invalid/v1", max_retries=0) as client:
            with pytest.raises(ValueError, match="signed URL") as caught:
                await client._transport.request_signed("GET", text)
            assert API_KEY not in str(caught.value)
            assert client._transport.connections_in_use() == 0

    anyio.run(attempt)


@pytest.mark.anyio
async def test_an_error_answer_of_the_api_is_unaffected() -> None:
    async def denied(request: web.Request) -> web.Response:
        return error_response(401, "bad key")

    async with scripted_server(denied) as api, client_of(api.base_url) as client:
        with pytest.raises(ft.AuthenticationError):
            await client.files.list()
    assert api.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.anyio
async def test_a_providers_flow_may_read_a_redirect_answer_without_following_it() -> None:
    # Together answers an upload's announce with a 302 whose Location is the signed URL: the
    # flow reads it (answer_redirects) and nothing is sent there by the transport itself.
    async with scripted_server(ok, prefix="") as storage:

        async def announce(request: web.Request) -> web.Response:
            return web.Response(
                status=302, headers={"Location": f"{storage.base_url}/put?{SIGNATURE}", "X-Together-File-Id": "file-1"}
            )

        async with scripted_server(announce) as api, client_of(api.base_url) as client:
            response = await client._transport.request(
                "POST", "/files", form={"purpose": "fine-tune"}, idempotent=True, answer_redirects=True
            )
            assert response.status == 302
            assert response.headers["X-Together-File-Id"] == "file-1"
            assert response.headers["Location"].startswith(storage.base_url)
            # Without it, the same answer is a RedirectError (a POST's 302 to another origin).
            with pytest.raises(ft.RedirectError):
                await client._transport.request("POST", "/files", form={"purpose": "fine-tune"})
        assert storage.seen == []


@pytest.mark.anyio
async def test_a_broken_answer_from_a_signed_url_does_not_show_its_signature() -> None:
    import asyncio

    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with scripted_server(ok) as api, client_of(api.base_url) as client:
            client._transport.retry = ft.RetryPolicy(max_retries=0)
            with pytest.raises(ft.APIConnectionError) as caught:
                await client._transport.request_signed("GET", f"http://127.0.0.1:{port}/obj?{SIGNATURE}")
    finally:
        server.close()
        await server.wait_closed()
    text = f"{caught.value!s} {caught.value!r} {caught.value.url}"
    assert "sig-secret" not in text
    assert "/obj" in text

"""Size caps on answers over real loopback HTTP: a gzip bomb or a huge body stops at the cap.

The client's caps are set small (1 MiB) so the bombs stay small and the tests fast; a bomb
inflates to 200 MB, so reading it whole would show in the process's peak memory.
"""

from __future__ import annotations

import functools
import gzip
import json
import resource
import zlib

import pytest
from aiohttp import web

import finetune_async as ft
from finetune_async._transport import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_RESPONSE_BYTES, ERROR_BODY_LIMIT

from .scripted import job_json, json_response, scripted_server

CAP = 1024 * 1024
BOMB_INFLATED = 200 * 1024 * 1024
JOB_PATH = "/v1/fine_tuning/jobs/ftjob-abc"
CONTENT_PATH = "/v1/files/file-abc/content"


@functools.cache
def gzip_bomb() -> bytes:
    """200 MB of zeros, gzip-compressed (about 200 KB), built by streaming."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(BOMB_INFLATED // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def bomb(status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=gzip_bomb(),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json", "x-request-id": "req_bomb"},
    )


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def client_of(base_url: str, **kwargs: object) -> ft.AsyncClient:
    return ft.AsyncClient(api_key="sk-test-caps", base_url=base_url, **kwargs)  # type: ignore[arg-type]


async def chunked(request: web.Request, size: int) -> web.StreamResponse:
    """A body of ``size`` bytes with no Content-Length (chunked transfer encoding)."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    block = b" " * 65536
    sent = 0
    try:
        while sent < size:
            await response.write(block)
            sent += len(block)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        # The client stopped reading at its cap and closed the connection: expected.
        pass
    return response


# --- 2xx answers ------------------------------------------------------------------------------


async def test_a_gzip_bomb_stops_at_the_cap_with_bounded_memory() -> None:
    async def handler(request: web.Request) -> web.Response:
        return bomb()

    gzip_bomb()  # built before measuring
    before = peak_rss_mb()
    async with scripted_server(handler) as server, client_of(server.base_url, max_response_bytes=CAP) as client:
        with pytest.raises(ft.ResponseTooLargeError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    grown = peak_rss_mb() - before
    assert grown < 100, f"peak RSS grew by {grown:.0f} MB reading a bomb capped at 1 MiB"
    error = caught.value
    assert error.limit == CAP
    assert error.method == "GET"
    assert JOB_PATH in str(error)
    assert "1,048,576" in str(error)
    assert "max_response_bytes" in str(error)
    # Not retried: the same request would get the same answer.
    assert server.count("GET", JOB_PATH) == 1
    assert not isinstance(error, (ft.APIStatusError, ft.APIConnectionError))


async def test_a_plain_oversized_body_with_a_length_raises() -> None:
    body = json.dumps({**job_json(), "padding": "x" * (3 * CAP)}).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with scripted_server(handler) as server, client_of(server.base_url, max_response_bytes=CAP) as client:
        with pytest.raises(ft.ResponseTooLargeError, match="max_response_bytes"):
            await client.fine_tuning.jobs.retrieve("ftjob-abc")


async def test_a_plain_oversized_chunked_body_raises() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await chunked(request, 50 * CAP)

    before = peak_rss_mb()
    async with scripted_server(handler) as server, client_of(server.base_url, max_response_bytes=CAP) as client:
        with pytest.raises(ft.ResponseTooLargeError):
            await client.fine_tuning.jobs.list()
    assert peak_rss_mb() - before < 40


async def test_a_body_exactly_at_the_cap_is_read_and_one_byte_more_is_not() -> None:
    body = json.dumps(job_json()).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with scripted_server(handler) as server:
        async with client_of(server.base_url, max_response_bytes=len(body)) as client:
            assert (await client.fine_tuning.jobs.retrieve("ftjob-abc")).id == "ftjob-abc"
        async with client_of(server.base_url, max_response_bytes=len(body) - 1) as client:
            with pytest.raises(ft.ResponseTooLargeError):
                await client.fine_tuning.jobs.retrieve("ftjob-abc")


@pytest.mark.parametrize("encoding", ["gzip", "chunked"])
async def test_answers_under_the_cap_decode_through_the_counted_path(encoding: str) -> None:
    body = json.dumps(job_json()).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        if encoding == "gzip":
            return web.Response(
                body=gzip.compress(body), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(body), 100):
            await response.write(body[i : i + 100])
        await response.write_eof()
        return response

    async with scripted_server(handler) as server, client_of(server.base_url, max_response_bytes=CAP) as client:
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert job.id == "ftjob-abc"
    assert job.seed == 42


async def test_no_cap_reads_any_size() -> None:
    body = json.dumps({**job_json(), "padding": "x" * (3 * CAP)}).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with scripted_server(handler) as server, client_of(server.base_url, max_response_bytes=None) as client:
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert len(job.model_extra["padding"]) == 3 * CAP


# --- Error answers ----------------------------------------------------------------------------


async def test_an_error_answer_that_is_a_gzip_bomb_keeps_its_status_without_the_body() -> None:
    async def handler(request: web.Request) -> web.Response:
        return bomb(500)

    gzip_bomb()
    before = peak_rss_mb()
    # The default caps: an error body is read to ERROR_BODY_LIMIT at most, whatever the client's cap.
    async with scripted_server(handler) as server, client_of(server.base_url, max_retries=1) as client:
        with pytest.raises(ft.InternalServerError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert peak_rss_mb() - before < 100
    error = caught.value
    assert error.status_code == 500
    assert error.request_id == "req_bomb"
    assert f"{ERROR_BODY_LIMIT:,}-byte cap" in str(error)
    # Still a 500, so still retried per the policy.
    assert server.count("GET", JOB_PATH) == 2


async def test_an_error_answer_with_a_huge_plain_body_is_capped() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=503)
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(100):
                await response.write(b"E" * CAP)
        except ConnectionError:
            pass
        return response

    async with scripted_server(handler) as server, client_of(server.base_url, max_retries=0) as client:
        with pytest.raises(ft.InternalServerError, match="cap") as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert caught.value.status_code == 503


async def test_a_small_error_answer_is_unchanged() -> None:
    async def handler(request: web.Request) -> web.Response:
        body = {"error": {"message": "no such job", "type": "invalid_request_error", "param": None, "code": None}}
        return json_response(body, 404, request_id="req_404")

    async with scripted_server(handler) as server, client_of(server.base_url, max_response_bytes=CAP) as client:
        with pytest.raises(ft.NotFoundError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert caught.value.message == "no such job"


# --- files.content has its own cap ----------------------------------------------------------------


async def test_file_content_is_capped_by_max_file_bytes_not_max_response_bytes() -> None:
    content = b"step,train_loss\n" + b"1,0.5\n" * (2 * CAP // 6)

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/v1/files/file-bomb/content":
            return bomb()
        return web.Response(body=content, content_type="application/octet-stream")

    async with scripted_server(handler) as server:
        async with client_of(server.base_url, max_response_bytes=CAP) as client:
            assert (await client.files.content("file-abc")).content == content
        async with client_of(server.base_url, max_file_bytes=CAP) as client:
            with pytest.raises(ft.ResponseTooLargeError, match="max_file_bytes") as caught:
                await client.files.content("file-abc")
            assert CONTENT_PATH in str(caught.value)
            before = peak_rss_mb()
            with pytest.raises(ft.ResponseTooLargeError):
                await client.files.content("file-bomb")
            assert peak_rss_mb() - before < 100


async def test_caps_default_and_reach_azure_and_views() -> None:
    client = ft.AsyncClient(api_key="sk-test-caps", base_url="http://127.0.0.1:9/v1")
    assert client._transport.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 64 * 1024 * 1024
    assert client._transport.max_file_bytes == DEFAULT_MAX_FILE_BYTES == 1024**3
    view = client.with_options(max_retries=0)
    assert view._transport.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
    await client.close()
    azure = ft.AsyncClient.azure(
        endpoint="http://127.0.0.1:9",
        api_key="k",
        api_version="2024-10-21",
        max_response_bytes=CAP,
        max_file_bytes=None,
    )
    assert azure._transport.max_response_bytes == CAP
    assert azure._transport.max_file_bytes is None
    await azure.close()
    with pytest.raises(ValueError, match="max_response_bytes"):
        ft.AsyncClient(api_key="k", max_response_bytes=0)

"""``.with_raw_response`` and ``.with_streaming_response`` on every resource (issue 14).

``client.<resource>.with_raw_response.<method>(...)`` answers a :class:`ft.RawResponse`: status,
headers, request id and body, and ``parse()`` giving exactly what the plain call gives. Against
the emulator over loopback; every request is checked against the spec by the client fixture.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows
from tests.scripted import error_response, json_response, scripted_server

DATA = jsonl(supervised_rows(10))
MODEL = "gpt-4o-mini-2024-07-18"
GRADER = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "x", "operation": "eq"}


async def finished_job(client: ft.AsyncClient) -> ft.FineTuningJob:
    file = await client.files.create(file=("t.jsonl", DATA))
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
    with anyio.fail_after(20):
        while (job := await client.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
            await anyio.sleep(0.02)
    return job


async def test_raw_retrieve_has_status_headers_body_and_parses_to_the_model(client: ft.AsyncClient) -> None:
    file = await client.files.create(file=("t.jsonl", DATA))
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
    raw = await client.fine_tuning.jobs.with_raw_response.retrieve(job.id)
    assert isinstance(raw, ft.RawResponse)
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["Content-Type"] == raw.headers["content-type"]
    assert raw.request_id is not None
    assert raw.request_id.startswith("req_")
    assert raw.method == "GET"
    assert str(raw.url).endswith(f"/v1/fine_tuning/jobs/{job.id}")
    assert raw.json()["id"] == job.id
    assert raw.text == raw.content.decode()
    assert raw.read() == raw.content
    parsed = raw.parse()
    assert isinstance(parsed, ft.FineTuningJob)
    assert parsed.id == job.id
    assert parsed.request_id == raw.request_id
    assert parsed is raw.parse()  # parsed once
    assert "200" in repr(raw)
    assert "GET" in repr(raw)


async def test_raw_list_parses_to_the_page_the_plain_call_gives(client: ft.AsyncClient) -> None:
    for i in range(3):
        await client.files.create(file=(f"f{i}.jsonl", DATA))
    raw = await client.files.with_raw_response.list(limit=2, order="asc")
    assert raw.status_code == 200
    assert raw.json()["object"] == "list"
    page = raw.parse()
    assert isinstance(page, ft.Page)
    plain = await client.files.list(limit=2, order="asc")
    assert [f.id for f in page.data] == [f.id for f in plain.data]
    assert page.has_more
    following = await page.next_page()  # the parsed page pages on like the plain one
    assert [f.id for f in following.data] == [f.id for f in (await plain.next_page()).data]


async def test_raw_create_keeps_the_create_once_ledger(client: ft.AsyncClient, emulator: Emulator) -> None:
    file = await client.files.create(file=("t.jsonl", DATA))
    raw = await client.fine_tuning.jobs.with_raw_response.create(
        model=MODEL, training_file=file.id, extra_headers={"X-Probe": "p"}
    )
    job = raw.parse()
    assert raw.method == "POST"
    assert job.metadata is not None
    assert "ft_create" in job.metadata
    assert client.ledger.handed_out(job.id)


async def test_every_endpoint_answers_raw_and_nested_resources_too(client: ft.AsyncClient) -> None:
    """One tour of the API through with_raw_response: each parse() is what the plain call gives."""
    job = await finished_job(client)
    file_id = job.training_file
    jobs = client.fine_tuning.jobs.with_raw_response
    checks: list[tuple[ft.RawResponse[Any], type]] = [
        (await client.files.with_raw_response.retrieve(file_id), ft.FileObject),
        (await client.files.with_raw_response.content(file_id), ft.BinaryContent),
        (await client.files.with_raw_response.create(file=("r.jsonl", DATA)), ft.FileObject),
        (await jobs.retrieve(job.id), ft.FineTuningJob),
        (await jobs.list(limit=2), ft.Page),
        (await jobs.list_events(job.id, limit=2), ft.Page),
        (await jobs.checkpoints.list(job.id), ft.Page),
        (await client.fine_tuning.with_raw_response.jobs.checkpoints.list(job.id), ft.Page),
        (await client.with_raw_response.fine_tuning.jobs.retrieve(job.id), ft.FineTuningJob),
        (await client.fine_tuning.alpha.graders.with_raw_response.validate(grader=GRADER), ft.ValidateGraderResponse),
        (
            await client.fine_tuning.alpha.graders.with_raw_response.run(grader=GRADER, model_sample="x"),
            ft.RunGraderResponse,
        ),
        (await client.models.with_raw_response.list(), ft.Page),
    ]
    checkpoint = checks[6][0].parse().data[0].fine_tuned_model_checkpoint
    permissions = client.fine_tuning.checkpoints.permissions.with_raw_response
    created = await permissions.create(checkpoint, project_ids=["proj_1"])
    checks += [(created, ft.Page), (await permissions.retrieve(checkpoint), ft.Page)]
    checks.append((await permissions.delete(checkpoint, created.parse().data[0].id), ft.PermissionDeleted))
    assert job.fine_tuned_model is not None
    checks.append((await client.models.with_raw_response.retrieve(job.fine_tuned_model), ft.Model))
    checks.append((await client.models.with_raw_response.delete(job.fine_tuned_model), ft.ModelDeleted))
    upload = await client.uploads.with_raw_response.create(
        bytes=len(DATA), filename="u.jsonl", mime_type="application/jsonl", purpose="fine-tune"
    )
    part = await client.uploads.parts.with_raw_response.create(upload.parse().id, data=DATA)
    done = await client.uploads.with_raw_response.complete(
        upload.parse().id, part_ids=[part.parse().id], md5=hashlib.md5(DATA).hexdigest()
    )
    spare = (
        await client.uploads.create(bytes=1, filename="c.jsonl", mime_type="application/jsonl", purpose="fine-tune")
    ).id
    checks += [
        (upload, ft.Upload),
        (part, ft.UploadPart),
        (done, ft.Upload),
        (await client.uploads.with_raw_response.cancel(spare), ft.Upload),
    ]
    other = await client.fine_tuning.jobs.create(model=MODEL, training_file=file_id)
    checks.append((await jobs.cancel(other.id), ft.FineTuningJob))
    checks.append((await client.files.with_raw_response.delete(file_id), ft.FileDeleted))
    for raw, kind in checks:
        assert raw.status_code == 200, raw
        assert raw.request_id, raw
        assert isinstance(raw.parse(), kind), (raw, raw.parse())
    assert done.parse().file is not None


async def test_helpers_are_not_offered_raw(client: ft.AsyncClient) -> None:
    with pytest.raises(AttributeError, match="wait"):
        client.fine_tuning.jobs.with_raw_response.wait  # noqa: B018
    with pytest.raises(AttributeError, match="retrieve"):
        client.fine_tuning.jobs.with_raw_response.retreive  # noqa: B018
    assert "retrieve" in dir(client.fine_tuning.jobs.with_raw_response)
    assert set(dir(client.with_raw_response)) == {"files", "fine_tuning", "models", "uploads"}
    with pytest.raises(AttributeError, match="close"):
        client.with_raw_response.close  # noqa: B018


async def test_a_raw_call_that_fails_raises_the_same_error(client: ft.AsyncClient) -> None:
    with pytest.raises(ft.NotFoundError):
        await client.fine_tuning.jobs.with_raw_response.retrieve("ftjob-missing")


# --- files.content and its streaming form --------------------------------------------------


async def test_files_content_is_a_binary_content_object(client: ft.AsyncClient, tmp_path: Path) -> None:
    job = await finished_job(client)
    content = await client.files.content(job.result_files[0])
    assert isinstance(content, ft.BinaryContent)
    assert content.text.startswith("step,train_loss")
    assert content.content == content.read() == content.text.encode()
    assert content.encoding in (None, "utf-8")
    assert b"".join(content.iter_bytes(7)) == content.content
    assert next(content.iter_lines()) == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert await content.aread() == content.content
    assert b"".join([chunk async for chunk in content.aiter_bytes(5)]) == content.content
    # The official SDK's aiter_bytes is a coroutine giving an iterator: both spellings work.
    assert b"".join([chunk async for chunk in await content.aiter_bytes()]) == content.content
    target = tmp_path / "result.csv"
    content.write_to_file(target)
    assert target.read_bytes() == content.content
    data = await client.files.create(file=("d.jsonl", b'{"a": 1}'))
    assert (await client.files.content(data.id)).json() == {"a": 1}


async def test_streaming_content_reads_in_chunks_to_a_file(client: ft.AsyncClient, tmp_path: Path) -> None:
    body = DATA * 200
    file = await client.files.create(file=("big.jsonl", body))
    target = tmp_path / "copy.jsonl"
    async with client.files.with_streaming_response.content(file.id) as response:
        assert isinstance(response, ft.StreamedResponse)
        assert response.status_code == 200
        assert response.request_id
        assert not response.is_closed
        await response.stream_to_file(target)
    assert response.is_closed
    assert target.read_bytes() == body
    async with client.files.with_streaming_response.content(file.id) as response:
        chunks = [chunk async for chunk in response.iter_bytes(4096)]
    assert b"".join(chunks) == body
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= 4096
    async with client.files.with_streaming_response.content(file.id) as response:
        parsed = await response.parse()
    assert isinstance(parsed, ft.BinaryContent)
    assert parsed.content == body


async def test_streaming_other_endpoints_reads_then_parses(client: ft.AsyncClient) -> None:
    file = await client.files.create(file=("t.jsonl", DATA))
    async with client.files.with_streaming_response.retrieve(file.id) as response:
        assert response.status_code == 200
        assert (await response.json())["id"] == file.id
        parsed = await response.parse()
    assert isinstance(parsed, ft.FileObject)
    assert parsed.id == file.id


async def test_streaming_stops_at_the_file_cap_and_closes_the_connection() -> None:
    chunk = b"x" * 65536

    async def handler(request: web.Request) -> web.StreamResponse:
        if not request.path.endswith("/content"):
            return error_response(404)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        for _ in range(64):  # 4 MiB, chunked, no Content-Length
            await response.write(chunk)
        await response.write_eof()
        return response

    async with (
        scripted_server(handler) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url, max_file_bytes=1024 * 1024) as client,
    ):
        received = 0

        async def read_all() -> None:
            nonlocal received
            async with client.files.with_streaming_response.content("file-abc") as response:
                async for part in response.iter_bytes():
                    received += len(part)

        with pytest.raises(ft.ResponseTooLargeError, match="max_file_bytes"):
            await read_all()
        assert 0 < received <= 1024 * 1024
        with pytest.raises(ft.ResponseTooLargeError):
            await client.files.content("file-abc")
        # The client is still usable after an abandoned stream.
        async with client.files.with_streaming_response.content("file-abc") as response:
            assert response.status_code == 200


async def test_a_stream_left_unread_is_released_on_exit() -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/content"):
            return web.Response(body=b"abc" * 1000, content_type="application/octet-stream")
        return json_response({"id": "file-abc"})

    async with (
        scripted_server(handler) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url, connection_limit=1) as client,
    ):
        for _ in range(3):  # with one connection, a leaked stream would block the next request
            with anyio.fail_after(5):
                async with client.files.with_streaming_response.content("file-abc") as response:
                    assert response.status_code == 200
        with anyio.fail_after(5):
            assert (await client.files.content("file-abc")).content == b"abc" * 1000


async def test_a_streaming_error_status_raises_on_entry() -> None:
    async with (
        scripted_server(lambda request: _not_found()) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url) as client,
    ):
        with pytest.raises(ft.NotFoundError):
            async with client.files.with_streaming_response.content("file-abc"):
                pytest.fail("entered the block of a failed request")


async def _not_found() -> web.Response:
    return error_response(404, "No such file")


async def test_a_stalled_or_dropped_stream_raises_the_sdks_errors() -> None:
    """The call's timeout runs while the body is read; a connection that ends early is an
    APIConnectionError. Neither keeps aiohttp's exception as its context."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        await response.write(b"first piece")
        if "stall" in request.path:
            await anyio.sleep(1)
        else:
            assert request.transport is not None
            request.transport.close()
        return response

    async with (
        scripted_server(handler) as server,
        ft.AsyncClient(api_key="sk-test", base_url=server.base_url, max_retries=0) as client,
    ):
        for file_id, error in (("file-stall", ft.APITimeoutError), ("file-drop", ft.APIConnectionError)):
            pieces: list[bytes] = []

            async def read(file_id: str = file_id, pieces: list[bytes] = pieces) -> None:
                async with client.files.with_streaming_response.content(
                    file_id, timeout=ft.Timeout(total=None, read=0.3)
                ) as response:
                    async for piece in response.iter_bytes():
                        pieces.append(piece)

            with pytest.raises(error) as caught:
                await read()
            assert pieces == [b"first piece"]
            assert caught.value.__context__ is None
            assert caught.value.__cause__ is None

"""Fault injection: each kind, over real HTTP, with the official SDK as the client."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from finetune_async.emulator import Emulator, EmulatorState, Fault, FaultRule, Faults, Store, create_app
from finetune_async.emulator.faults import DEFAULT_KINDS, DEFAULT_LATE, KINDS
from tests.data import jsonl, supervised_rows

from .conftest import OpenAIClient

CREATE = "POST:/v1/fine_tuning/jobs"


async def _train_file(client: openai.AsyncOpenAI) -> str:
    return (await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")).id


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("500", 500), ("503", 503)])
async def test_error_kinds_answer_and_do_not_apply(
    emulator: Emulator, openai_client: OpenAIClient, kind: str, status: int
) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, kind, count=1)
    with pytest.raises(openai.APIStatusError) as info:
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert info.value.status_code == status
    assert info.value.response.headers["x-request-id"].startswith("req_")
    if kind == "429":
        assert isinstance(info.value, openai.RateLimitError)
        assert info.value.response.headers["retry-after-ms"] == "1000"
        assert info.value.response.headers["retry-after"] == "1"
        assert info.value.code == "rate_limit_exceeded"
    assert not emulator.state.store.jobs  # not applied
    # The injection is used up: the next create goes through.
    await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert len(emulator.state.store.jobs) == 1
    assert emulator.faults.history == [("POST:/v1/fine_tuning/jobs", kind)]


async def test_reset_drops_the_connection_without_applying(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, "reset")
    with pytest.raises(openai.APIConnectionError):
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert not emulator.state.store.jobs


async def test_lost_response_applies_the_action(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, "lost")
    with pytest.raises(openai.APIConnectionError):
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert len(emulator.state.store.jobs) == 1  # created, but the client never heard
    # A lost file upload also creates the file.
    emulator.faults.inject("POST:/v1/files", "lost")
    with pytest.raises(openai.APIConnectionError):
        await _train_file(client)
    assert len(emulator.state.store.files) == 2


async def test_latency_rate_routes_and_runtime_changes(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    emulator.faults.configure("latency=0.2,routes=GET:/v1/models")
    started = time.perf_counter()
    await client.models.list()
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    await client.files.list()
    assert time.perf_counter() - started < 0.2  # other routes untouched

    emulator.faults.configure("rate=1,kinds=503,routes=GET:/v1/files/*")
    with pytest.raises(openai.InternalServerError):
        await client.files.retrieve("file-x")
    assert (await client.models.list()).data  # not a matching route
    emulator.faults.clear()
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve("file-x")


async def test_header_forces_a_fault(emulator: Emulator) -> None:
    headers = {"Authorization": "Bearer sk-test"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{emulator.base_url}/models", headers={"x-emulator-fault": "500"}) as resp:
            assert resp.status == 500
            assert (await resp.json())["error"]["type"] == "server_error"
        async with session.get(f"{emulator.base_url}/models", headers={"x-emulator-fault": "nope"}) as resp:
            assert resp.status == 400
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.get(f"{emulator.base_url}/models", headers={"x-emulator-fault": "reset"}):
                pass


async def test_faults_given_at_start_and_azure_routes_match_v1_names(openai_client: OpenAIClient) -> None:
    async with Emulator(faults="rate=1,kinds=429,routes=GET:/v1/models") as emu:
        client = openai_client(emu.base_url)
        with pytest.raises(openai.RateLimitError):
            await client.models.list()
        async with aiohttp.ClientSession() as session:
            url = f"{emu.azure_endpoint}/openai/models?api-version=2024-10-21"
            async with session.get(url, headers={"api-key": "k"}) as resp:
                assert resp.status == 429


def test_spec_grammar() -> None:
    faults = Faults.parse(
        "rate=0.3,kinds=429+500+503+reset+lost,latency=0.05,routes=POST:/v1/fine_tuning/jobs+POST:/v1/files;"
        "latency=0.01-0.02,seed=4"
    )
    assert faults.rules == [
        FaultRule(
            rate=0.3,
            kinds=("429", "500", "503", "reset", "lost"),
            latency=(0.05, 0.05),
            routes=("POST:/v1/fine_tuning/jobs", "POST:/v1/files"),
        ),
        FaultRule(latency=(0.01, 0.02)),
    ]
    assert faults.seed == 4
    assert not Faults.parse("").active
    assert not Faults.parse("off").active
    for bad in ("rate=2", "kinds=418", "bogus=1", "rate", "latency=0.2-0.1"):
        with pytest.raises(ValueError, match=r"rate|kind|key|latency"):
            Faults.parse(bad)


def test_decisions_are_reproducible_with_a_seed() -> None:
    def draws() -> list[str | None]:
        faults = Faults(rate=0.5, kinds=("429", "reset"), seed=11)
        return [faults.decide("GET", "/v1/models", "/v1/models").kind for _ in range(50)]

    first = draws()
    assert first == draws()
    assert {"429", "reset", None} == set(first)


def test_injection_matches_templates_globs_and_counts() -> None:
    faults = Faults()
    faults.inject("GET:/v1/fine_tuning/jobs/*", "500", count=2)
    tpl = "/v1/fine_tuning/jobs/{fine_tuning_job_id}"
    assert faults.decide("POST", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs").kind is None
    assert faults.decide("GET", tpl, "/v1/fine_tuning/jobs/ftjob-1").kind == "500"
    assert faults.decide("GET", tpl, "/v1/fine_tuning/jobs/ftjob-1").kind == "500"
    assert faults.decide("GET", tpl, "/v1/fine_tuning/jobs/ftjob-1").kind is None
    faults.inject(tpl, "lost")  # no method: any method, matched against the template
    assert faults.decide("DELETE", tpl, "/v1/fine_tuning/jobs/x").kind == "lost"


# -- late: the server acts after the client gave up -------------------------------------------


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the late action never happened"
        await asyncio.sleep(0.05)


def _no_warnings(caplog: pytest.LogCaptureFixture) -> None:
    # Writing to a client that is gone must fail quietly: no traceback, no "Error handling request".
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_late_spec_grammar_and_validation() -> None:
    assert "late" in KINDS
    assert "late" not in DEFAULT_KINDS
    assert FaultRule().kinds == DEFAULT_KINDS == ("429", "500", "503", "reset", "lost")
    assert Faults(rate=0.5).rules[0].kinds == DEFAULT_KINDS  # opt-in only
    faults = Faults.parse("rate=0.5,kinds=late+500,late=2.5,routes=POST:/v1/fine_tuning/jobs;rate=0.1,kinds=late")
    assert faults.rules == [
        FaultRule(rate=0.5, kinds=("late", "500"), late=2.5, routes=("POST:/v1/fine_tuning/jobs",)),
        FaultRule(rate=0.1, kinds=("late",), late=DEFAULT_LATE),
    ]
    assert Faults(rate=1, kinds=("late",), late=0.7).decide("GET", "/v1/models", "/v1/models") == Fault(
        "late", 0.0, 1.0, 0.7
    )
    for bad in ("kinds=late,late=-1", "kinds=late,late=abc", "kinds=late,late=inf", "kinds=late,late=nan"):
        with pytest.raises(ValueError, match="late must be"):
            Faults.parse(bad)
    with pytest.raises(ValueError, match="kinds include late"):
        Faults.parse("rate=0.5,late=1")  # the default kinds never draw late
    with pytest.raises(ValueError, match="late must be"):
        FaultRule(kinds=("late",), late=-0.5)

    faults = Faults()
    faults.inject(CREATE, "late", seconds=2.5)
    faults.inject(CREATE, "late")
    assert faults.decide("POST", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs") == Fault("late", late=2.5)
    assert faults.decide("POST", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs").late == DEFAULT_LATE
    assert faults.history == [(CREATE, "late"), (CREATE, "late")]
    with pytest.raises(ValueError, match="only applies to late"):
        faults.inject(CREATE, "500", seconds=1)
    with pytest.raises(ValueError, match="late must be"):
        faults.inject(CREATE, "late", seconds=-1)

    # The x-emulator-fault header: "late" (default seconds) or "late:SECONDS".
    assert faults.decide("GET", "/v1/models", "/v1/models", "late") == Fault("late", late=DEFAULT_LATE)
    assert faults.decide("GET", "/v1/models", "/v1/models", "late:0.25") == Fault("late", late=0.25)
    for bad in ("500:1", "late:x", "late:-2"):
        with pytest.raises(ValueError, match="late"):
            faults.decide("GET", "/v1/models", "/v1/models", bad)


async def test_late_job_create_is_applied_after_the_client_gave_up(
    emulator: Emulator, openai_client: OpenAIClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, "late", seconds=1.0)
    sent = time.time()
    with pytest.raises(openai.APITimeoutError):
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train, timeout=0.3)
    assert time.time() - sent < 1.0  # the client gave up (and hung up) before the server acted
    assert (await client.fine_tuning.jobs.list()).data == []  # not applied yet, not listed

    async def listed() -> bool:
        return bool((await client.fine_tuning.jobs.list()).data)

    await _eventually(listed)
    jobs = (await client.fine_tuning.jobs.list()).data
    assert len(jobs) == 1
    assert jobs[0].training_file == train
    assert jobs[0].created_at >= int(sent + 1.0)  # created at the late time, not when it was sent
    assert emulator.state.store.jobs[jobs[0].id].created_at >= sent + 1.0 - 0.01
    assert emulator.faults.history == [(CREATE, "late")]
    _no_warnings(caplog)


async def test_late_job_create_answers_a_client_that_waits(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, "late", seconds=0.5)
    sent = time.time()
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train, timeout=10)
    assert time.time() - sent >= 0.5
    assert job.created_at >= int(sent + 0.5)
    assert [j.id for j in (await client.fine_tuning.jobs.list()).data] == [job.id]


async def test_late_file_upload_multipart(
    emulator: Emulator, openai_client: OpenAIClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = openai_client(emulator.base_url)
    data = jsonl(supervised_rows(12))
    emulator.faults.inject("POST:/v1/files", "late", seconds=1.0)
    sent = time.time()
    with pytest.raises(openai.APITimeoutError):
        await client.files.create(file=("t.jsonl", data), purpose="fine-tune", timeout=0.3)
    assert (await client.files.list()).data == []

    async def listed() -> bool:
        return bool((await client.files.list()).data)

    await _eventually(listed)
    (late,) = (await client.files.list()).data
    assert late.filename == "t.jsonl"
    assert late.created_at >= int(sent + 1.0)
    assert (await client.files.content(late.id)).content == data  # the buffered body, parsed whole

    # A client that waits gets the file, N seconds late.
    emulator.faults.inject("POST:/v1/files", "late", seconds=0.3)
    sent = time.time()
    waited = await client.files.create(file=("v.jsonl", data), purpose="fine-tune", timeout=10)
    assert time.time() - sent >= 0.3
    assert waited.bytes == len(data)
    assert (await client.files.content(waited.id)).content == data
    assert emulator.faults.history == [("POST:/v1/files", "late")] * 2
    _no_warnings(caplog)


async def test_late_upload_parts_and_complete(
    emulator: Emulator, openai_client: OpenAIClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = openai_client(emulator.base_url)
    data = jsonl(supervised_rows(12))

    async def upload_with_late_part() -> tuple[str, str]:
        upload = await client.uploads.create(
            bytes=len(data), filename="u.jsonl", mime_type="text/jsonl", purpose="fine-tune"
        )
        # The part is multipart too: under late it is buffered, then parsed by the handler.
        emulator.faults.inject("POST:/v1/uploads/{upload_id}/parts", "late", seconds=0.2)
        sent = time.time()
        part = await client.uploads.parts.create(upload.id, data=data, timeout=10)
        assert time.time() - sent >= 0.2
        return upload.id, part.id

    upload_id, part_id = await upload_with_late_part()
    emulator.faults.inject("POST:/v1/uploads/*/complete", "late", seconds=1.0)
    sent = time.time()
    with pytest.raises(openai.APITimeoutError):
        await client.uploads.complete(upload_id, part_ids=[part_id], timeout=0.3)
    assert (await client.files.list()).data == []
    assert emulator.state.store.uploads[upload_id].status == "pending"

    async def listed() -> bool:
        return bool((await client.files.list()).data)

    await _eventually(listed)
    (made,) = (await client.files.list()).data
    assert emulator.state.store.uploads[upload_id].status == "completed"
    assert emulator.state.store.uploads[upload_id].file_id == made.id
    assert made.created_at >= int(sent + 1.0)
    assert (await client.files.content(made.id)).content == data

    # A client that waits gets the completed upload.
    upload_id, part_id = await upload_with_late_part()
    emulator.faults.inject("POST:/v1/uploads/*/complete", "late", seconds=0.3)
    sent = time.time()
    done = await client.uploads.complete(upload_id, part_ids=[part_id], timeout=10)
    assert time.time() - sent >= 0.3
    assert done.status == "completed"
    assert done.file is not None
    assert (await client.files.content(done.file.id)).content == data
    _no_warnings(caplog)


async def test_late_at_a_rate_by_header_and_on_azure_routes(openai_client: OpenAIClient) -> None:
    async with Emulator(faults="rate=1,kinds=late,late=0.2,routes=GET:/v1/models") as emu:
        client = openai_client(emu.base_url)
        sent = time.perf_counter()
        assert (await client.models.list()).data
        assert time.perf_counter() - sent >= 0.2
        async with aiohttp.ClientSession() as session:
            sent = time.perf_counter()
            url = f"{emu.azure_endpoint}/openai/models?api-version=2024-10-21"
            async with session.get(url, headers={"api-key": "k"}) as resp:
                assert resp.status == 200
            assert time.perf_counter() - sent >= 0.2
            assert emu.faults.history == [("GET:/v1/models", "late")] * 2

            emu.faults.clear()
            auth = {"Authorization": "Bearer sk-test"}
            sent = time.perf_counter()
            async with session.get(f"{emu.base_url}/files", headers={**auth, "x-emulator-fault": "late:0.2"}) as resp:
                assert resp.status == 200
                assert (await resp.json())["object"] == "list"
            assert time.perf_counter() - sent >= 0.2
            async with session.get(f"{emu.base_url}/files", headers={**auth, "x-emulator-fault": "late:x"}) as resp:
                assert resp.status == 400


@pytest.mark.parametrize("handler_cancellation", [False, True])
async def test_late_action_outlives_the_connection(
    caplog: pytest.LogCaptureFixture, handler_cancellation: bool
) -> None:
    # aiohttp's default (and the emulator's runner): a client hanging up does not cancel the
    # handler, so the late action answers into a closed connection. With handler_cancellation
    # the request is cancelled instead. Either way the action runs, once, after the client left.
    store = Store(None)
    state = EmulatorState(store, job_seconds=1.0)
    faults = Faults()
    app = create_app(state, faults)
    seen: list[str] = []

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        if request.path.endswith("/jobs"):
            seen.append("answered, client gone" if request.transport is None else "answered")
        return response

    app.middlewares.insert(0, observe)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, handler_cancellation=handler_cancellation, shutdown_timeout=1
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.start(asyncio.get_running_loop())
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer sk-test"}) as session:
            form = aiohttp.FormData()
            form.add_field("purpose", "fine-tune")
            form.add_field("file", jsonl(supervised_rows(12)), filename="t.jsonl")
            async with session.post(f"{base}/files", data=form) as resp:
                train = (await resp.json())["id"]
            faults.inject(CREATE, "late", seconds=0.5)
            with pytest.raises(asyncio.TimeoutError):
                await session.post(
                    f"{base}/fine_tuning/jobs",
                    json={"model": "gpt-4o-mini", "training_file": train},
                    timeout=aiohttp.ClientTimeout(total=0.1),
                )
            assert not store.jobs

            async def settled() -> bool:
                return bool(store.jobs) and bool(seen)

            await _eventually(settled)
            assert len(store.jobs) == 1
            assert seen == ["cancelled" if handler_cancellation else "answered, client gone"]
    finally:
        state.stop()
        await runner.cleanup()
        store.close()
    _no_warnings(caplog)


async def test_late_request_whose_client_hangs_up_mid_body_is_not_applied(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # The body never arrived whole, so nothing was accepted: no job, no answer, no traceback.
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    writer.write(
        b"POST /v1/fine_tuning/jobs HTTP/1.1\r\nHost: emulator\r\nAuthorization: Bearer sk-test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\nx-emulator-fault: late:0.1\r\n\r\n"
        b'{"model": "gpt-4o-mini", '
    )
    await writer.drain()

    async def decided() -> bool:
        return bool(emulator.faults.history)

    await _eventually(decided)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)
    assert await reader.read() == b""
    assert not emulator.state.store.jobs
    _no_warnings(caplog)


async def test_closing_the_emulator_cancels_late_actions_still_waiting(
    openai_client: OpenAIClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with Emulator(job_seconds=1.0) as emu:
        client = openai_client(emu.base_url)
        train = await _train_file(client)
        state = emu.state
        emu.faults.inject(CREATE, "late", seconds=30)
        with pytest.raises(openai.APITimeoutError):
            await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train, timeout=0.2)
    # No late action outlives the server: none is left running, and none acted.
    pending = [t for t in asyncio.all_tasks() if "_act" in repr(t.get_coro())]
    assert pending == []
    assert not state.store.jobs
    _no_warnings(caplog)

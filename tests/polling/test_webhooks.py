"""Webhook signatures (Standard Webhooks, as OpenAI signs them), parsing, and waking waiters."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async._watch import watch_of
from finetune_async.emulator import sign_webhook
from tests.dialects import Dialect, skip_unless
from tests.polling.conftest import GOOD, assert_idle, upload

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"another secret, another key!!!!!").decode()
NOW = 1_700_000_000
BODY = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "fine_tuning.job.succeeded",
        "created_at": NOW,
        "data": {"id": "ftjob-1"},
    }
).encode()


def headers(body: bytes = BODY, *, secret: str = SECRET, msg_id: str = "msg_1", ts: int = NOW) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_webhook(secret, msg_id, ts, body),
    }


def verify(body: bytes | str, hdrs: dict[str, str], **kwargs: object) -> None:
    ft.verify_webhook_signature(body, hdrs, secret=SECRET, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_valid_signature_and_event() -> None:
    verify(BODY, headers())
    verify(BODY.decode(), {k.upper(): v for k, v in headers().items()})  # a str body, any header case
    event = ft.parse_webhook_event(BODY)
    assert event is not None
    assert (event.id, event.type, event.job_id, event.created_at) == (
        "evt_1",
        "fine_tuning.job.succeeded",
        "ftjob-1",
        NOW,
    )
    assert event.status == ft.JobStatus.SUCCEEDED


@pytest.mark.parametrize("kind", ["failed", "cancelled"])
def test_other_job_events(kind: str) -> None:
    body = BODY.replace(b"succeeded", kind.encode())
    event = ft.unwrap_webhook(body, headers(body), secret=SECRET, tolerance=10**10)
    assert event is not None
    assert event.status == kind


def test_tampered_body_is_refused() -> None:
    with pytest.raises(ft.InvalidWebhookSignatureError, match="no webhook signature"):
        verify(BODY.replace(b"ftjob-1", b"ftjob-2"), headers())


def test_tampered_id_or_timestamp_is_refused() -> None:
    hdrs = headers()
    with pytest.raises(ft.InvalidWebhookSignatureError):
        verify(BODY, {**hdrs, "webhook-id": "msg_2"})
    with pytest.raises(ft.InvalidWebhookSignatureError):
        verify(BODY, {**hdrs, "webhook-timestamp": str(NOW + 1)})


def test_expired_and_future_timestamps_are_refused() -> None:
    with pytest.raises(ft.InvalidWebhookSignatureError, match="too old"):
        verify(BODY, headers(ts=NOW - 301))
    with pytest.raises(ft.InvalidWebhookSignatureError, match="too new"):
        verify(BODY, headers(ts=NOW + 301))
    verify(BODY, headers(ts=NOW - 299))
    verify(BODY, headers(ts=NOW - 3000), tolerance=3600)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(ft.InvalidWebhookSignatureError):
        verify(BODY, headers(secret=OTHER))
    with pytest.raises(ValueError, match="base64"):
        ft.verify_webhook_signature(BODY, headers(), secret="whsec_not base64!", now=NOW)


def test_multiple_signatures_any_may_match() -> None:
    good = headers()["webhook-signature"]
    rotated = headers(secret=OTHER)["webhook-signature"]
    verify(BODY, {**headers(), "webhook-signature": f"{rotated} {good}"})
    verify(BODY, {**headers(), "webhook-signature": f"v2,{good[3:]} {good}"})
    with pytest.raises(ft.InvalidWebhookSignatureError):
        verify(BODY, {**headers(), "webhook-signature": f"{rotated} v2,{good[3:]} garbage"})


def test_missing_or_malformed_headers_are_refused() -> None:
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        hdrs = headers()
        del hdrs[name]
        with pytest.raises(ft.InvalidWebhookSignatureError, match="missing"):
            verify(BODY, hdrs)
    with pytest.raises(ft.InvalidWebhookSignatureError, match="integer"):
        verify(BODY, {**headers(), "webhook-timestamp": "soon"})


def test_parse_rejects_non_events_and_skips_other_types() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        ft.parse_webhook_event(b"{nope")
    with pytest.raises(ValueError, match="event object"):
        ft.parse_webhook_event(b"[1]")
    with pytest.raises(ValueError, match="lacks"):
        ft.parse_webhook_event(b'{"type": "fine_tuning.job.succeeded", "data": {}}')
    assert ft.parse_webhook_event(b'{"type": "batch.completed", "data": {"id": "b"}}') is None


bodies = st.binary(max_size=512)
ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
times = st.integers(min_value=NOW - 300, max_value=NOW + 300)
keys = st.binary(min_size=1, max_size=64).map(lambda k: "whsec_" + base64.b64encode(k).decode())


@given(body=bodies, msg_id=ids, ts=times, secret=keys)
def test_property_signed_payloads_verify(body: bytes, msg_id: str, ts: int, secret: str) -> None:
    hdrs = headers(body, secret=secret, msg_id=msg_id, ts=ts)
    ft.verify_webhook_signature(body, hdrs, secret=secret, now=NOW)


@given(body=bodies, msg_id=ids, secret=keys, flip=st.integers(min_value=0, max_value=511), bit=st.integers(0, 7))
def test_property_any_changed_byte_is_refused(body: bytes, msg_id: str, secret: str, flip: int, bit: int) -> None:
    hdrs = headers(body, secret=secret, msg_id=msg_id)
    changed = bytearray(body + b"x")
    changed[flip % len(changed)] ^= 1 << bit
    with pytest.raises(ft.InvalidWebhookSignatureError):
        ft.verify_webhook_signature(bytes(changed), hdrs, secret=secret, now=NOW)


@given(body=bodies, msg_id=ids, ts=st.integers(), signature=st.text(max_size=200), secret=keys)
def test_property_arbitrary_headers_never_verify_nor_crash(
    body: bytes, msg_id: str, ts: int, signature: str, secret: str
) -> None:
    hdrs = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}
    with pytest.raises(ft.InvalidWebhookSignatureError):
        ft.verify_webhook_signature(body, hdrs, secret=secret, now=NOW)


@given(payload=st.binary(max_size=300) | st.text(max_size=300))
def test_property_parse_never_crashes(payload: bytes | str) -> None:
    with contextlib.suppress(ValueError):
        ft.parse_webhook_event(payload)


async def serve_hub(hub: ft.WebhookHub) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", hub.aiohttp_handler())
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


@pytest.fixture
async def hub_server() -> AsyncIterator[tuple[ft.WebhookHub, str, list[ft.FineTuningWebhookEvent]]]:
    received: list[ft.FineTuningWebhookEvent] = []
    hub = ft.WebhookHub(SECRET, on_event=received.append)
    runner, url = await serve_hub(hub)
    try:
        yield hub, url, received
    finally:
        await runner.cleanup()


async def test_handler_answers(hub_server: tuple[ft.WebhookHub, str, list[ft.FineTuningWebhookEvent]]) -> None:
    import aiohttp

    hub, url, received = hub_server
    now = int(time.time())
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=BODY, headers=headers(ts=now)) as resp:
            assert resp.status == 200
        async with http.post(url, data=BODY, headers=headers(ts=now)) as resp:  # a redelivery
            assert resp.status == 200
        async with http.post(url, data=BODY, headers=headers(secret=OTHER, ts=now)) as resp:
            assert resp.status == 400
        async with http.post(url, data=b"[]", headers=headers(b"[]", ts=now)) as resp:
            assert resp.status == 400
    assert [e.job_id for e in received] == ["ftjob-1"]
    assert "redacted" in repr(hub)


async def test_webhook_wakes_wait_for_job_promptly(dialect: Dialect) -> None:
    """Polling is slowed to a crawl: only the emulator's signed webhook can end these waits quickly."""
    skip_unless(dialect, "webhooks", "the test attaches a webhook hub")
    received: list[ft.FineTuningWebhookEvent] = []
    hub = ft.WebhookHub(SECRET, on_event=received.append)
    runner, url = await serve_hub(hub)
    try:
        async with (
            dialect.emulator(job_seconds=1.0, webhook_url=url, webhook_secret=SECRET) as emu,
            dialect.client(emu.base_url) as client,
        ):
            hub.attach(client)
            good = await upload(client, GOOD, "good.jsonl")
            job_ids = [
                (await client.fine_tuning.jobs.create(model=dialect.model, training_file=good)).id for _ in range(3)
            ]
            lags: list[float] = []
            streamed: list[str] = []

            async def wait(job_id: str) -> None:
                job = await ft.wait_for_job(client, job_id, poll_interval=60, timeout=20)
                finished = emu.state.store.jobs[job_id].finished_at
                assert job.status == "succeeded"
                assert finished is not None
                lags.append(time.time() - finished)

            async def stream(job_id: str) -> None:
                async for event in ft.stream_events(client, job_id, poll_interval=60):
                    streamed.append(event.message)

            with anyio.fail_after(15):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait, job_ids[0])
                    tg.start_soon(wait, job_ids[1])
                    tg.start_soon(stream, job_ids[2])
                    tg.start_soon(functools.partial(ft.wait_for_job, client, job_ids[2], poll_interval=60))
            # Each ended well before its first poll was due (60 s): the webhook woke it.
            assert max(lags) < 5
            assert streamed[-1] == "The job has successfully completed"
            assert sorted(e.job_id for e in received) == sorted(job_ids)
            hub.detach(client)
            assert watch_of(client).webhooks == 0
            assert_idle(client)
    finally:
        await runner.cleanup()


async def test_jobs_ending_together_are_read_a_page_at_a_time(dialect: Dialect) -> None:
    """A burst of webhooks for jobs that started together: the announced jobs are read from
    the listing, a page of them at a time, not retrieved one by one."""
    skip_unless(dialect, "webhooks", "the test attaches a webhook hub")
    paths: list[str] = []

    def hook(info: ft.RequestInfo) -> None:
        if info.method == "GET":
            paths.append(info.path)

    hub = ft.WebhookHub(SECRET)
    runner, url = await serve_hub(hub)
    try:
        async with (
            dialect.emulator(job_seconds=2.0, webhook_url=url, webhook_secret=SECRET) as emu,
            dialect.client(emu.base_url, request_hooks=[hook]) as client,
        ):
            hub.attach(client)
            good = await upload(client, GOOD, "good.jsonl")
            ids = [
                (await client.fine_tuning.jobs.create(model=dialect.model, training_file=good)).id for _ in range(150)
            ]
            paths.clear()
            with anyio.fail_after(30):
                jobs = await ft.wait_for_jobs(client, ids)
            assert [j.status for j in jobs] == ["succeeded"] * len(ids)
            retrieves = [p for p in paths if p.rsplit("/", 1)[-1].startswith("ftjob-")]
            # Finding the 150 jobs takes two pages; their ends, a few more (they end over the
            # half second it took to create them). Retrieving each would take 150 requests.
            assert len(paths) <= 12, paths
            assert len(retrieves) <= 3, retrieves
            assert watch_of(client).requests == len(paths)
            assert_idle(client)
    finally:
        await runner.cleanup()


# -- a hostile or unlucky world -------------------------------------------------------------------


async def test_a_delivery_counts_only_once_on_event_returned() -> None:
    """``on_event`` raising answers 500; OpenAI's redelivery calls it again, and only a
    delivery it returned from counts as handled."""
    import aiohttp

    calls: list[str] = []

    def flaky(event: ft.FineTuningWebhookEvent) -> None:
        calls.append(event.job_id)
        if len(calls) == 1:
            raise RuntimeError("the database was away")

    hub = ft.WebhookHub(SECRET, on_event=flaky)
    runner, url = await serve_hub(hub)
    try:
        now = int(time.time())
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=BODY, headers=headers(ts=now)) as resp:
                assert resp.status == 500
            async with http.post(url, data=BODY, headers=headers(ts=now)) as resp:
                assert resp.status == 200
            async with http.post(url, data=BODY, headers=headers(ts=now)) as resp:
                assert resp.status == 200
        assert calls == ["ftjob-1", "ftjob-1"]
    finally:
        await runner.cleanup()


async def test_a_redelivery_while_the_first_is_handled_waits_for_it() -> None:
    started = anyio.Event()
    release = anyio.Event()
    calls: list[str] = []

    async def slow(event: ft.FineTuningWebhookEvent) -> None:
        calls.append(event.job_id)
        started.set()
        await release.wait()

    hub = ft.WebhookHub(SECRET, on_event=slow)
    now = int(time.time())
    outcomes: list[ft.FineTuningWebhookEvent | None] = []

    async def deliver() -> None:
        outcomes.append(await hub.receive(BODY, headers(ts=now)))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(deliver)
            await started.wait()
            tg.start_soon(deliver)
            await anyio.sleep(0.05)
            assert len(outcomes) == 0  # the second one waits for the first
            release.set()
    assert calls == ["ftjob-1"]
    assert [e.job_id for e in outcomes if e is not None] == ["ftjob-1", "ftjob-1"]


async def test_a_redelivery_after_a_failure_in_flight_runs_on_event_itself() -> None:
    started = anyio.Event()
    release = anyio.Event()
    calls: list[int] = []

    async def fails_first(event: ft.FineTuningWebhookEvent) -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            started.set()
            await release.wait()
            raise RuntimeError("boom")

    hub = ft.WebhookHub(SECRET, on_event=fails_first)
    now = int(time.time())
    errors: list[BaseException] = []

    async def first() -> None:
        try:
            await hub.receive(BODY, headers(ts=now))
        except RuntimeError as exc:
            errors.append(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await started.wait()
            tg.start_soon(hub.receive, BODY, headers(ts=now))
            await anyio.sleep(0.05)
            release.set()
    assert calls == [0, 1]
    assert len(errors) == 1


@pytest.mark.parametrize(
    "stamp",
    [
        "1" + "0" * 400,
        "9" * 5000,
        "-" + "9" * 400,
        "1e9",
        "+1700000000",
        "\uff11\uff17" + "\uff10" * 8,  # fullwidth digits: int() would take them
        "\u0661\u0667" + "\u0660" * 8,  # Arabic-Indic digits: so would it
        "0x10",
        "",
    ],
)
def test_bad_timestamps_are_refused_as_bad_signatures(stamp: str) -> None:
    hdrs = {**headers(), "webhook-timestamp": stamp}
    with pytest.raises(ft.InvalidWebhookSignatureError):
        verify(BODY, hdrs)
    with pytest.raises(ft.InvalidWebhookSignatureError):  # against the real (float) clock
        ft.verify_webhook_signature(BODY, hdrs, secret=SECRET)


async def test_bad_timestamps_answer_400_over_http(
    hub_server: tuple[ft.WebhookHub, str, list[ft.FineTuningWebhookEvent]],
) -> None:
    import aiohttp

    _, url, received = hub_server
    async with aiohttp.ClientSession() as http:
        for stamp in ("1" + "0" * 400, "9" * 5000, "-" + "9" * 400):
            hdrs = {**headers(), "webhook-timestamp": stamp}
            async with http.post(url, data=BODY, headers=hdrs) as resp:
                assert resp.status == 400, stamp
                assert "timestamp" in await resp.text()
    assert received == []


async def test_a_signed_body_nested_too_deeply_answers_400(
    hub_server: tuple[ft.WebhookHub, str, list[ft.FineTuningWebhookEvent]],
) -> None:
    import aiohttp

    _, url, _ = hub_server
    body = b"[" * 200_000 + b"]" * 200_000
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers=headers(body, ts=int(time.time()))) as resp,
    ):
        assert resp.status == 400
    with pytest.raises(ValueError, match="not JSON"):
        ft.parse_webhook_event(body)


@pytest.mark.parametrize("secret", ["", "   ", "whsec_", "whsec_ ", "whsec_not base64!", "whsec_" + "A" * 3, "\n"])
def test_empty_or_malformed_secrets_are_refused_at_construction(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret") as info:
        ft.WebhookHub(secret)
    assert secret.strip() == "" or secret not in str(info.value)
    with pytest.raises(ValueError, match="webhook secret"):
        ft.verify_webhook_signature(BODY, headers(), secret=secret, now=NOW)


@given(ts=st.text(max_size=30) | st.integers().map(str) | st.integers(min_value=10**18).map(str))
def test_property_any_timestamp_header_verifies_or_is_refused(ts: str) -> None:
    hdrs = {**headers(), "webhook-timestamp": ts}
    try:
        verify(BODY, hdrs)
    except ft.InvalidWebhookSignatureError:
        return
    assert ts == str(NOW)

"""Webhooks: fine_tuning.job.* events POSTed with standard-webhooks signatures, retried on failure."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from finetune_async.emulator import Emulator
from finetune_async.emulator.webhooks import sign
from tests.data import jsonl, supervised_rows

from .conftest import OpenAIClient

SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes.......").decode()


@asynccontextmanager
async def receiver(fail_first: int = 0) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A minimal HTTP server on loopback recording each POST (headers, body); the first ones get 500."""
    received: list[dict[str, Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers["content-length"]))
        received.append({"request_line": lines[0], "headers": headers, "body": body})
        status = "500 Internal Server Error" if len(received) <= fail_first else "200 OK"
        writer.write(f"HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hooks/openai", received
    finally:
        server.close()
        await server.wait_closed()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(sig.partition(",")[2], expected) for sig in headers["webhook-signature"].split())


async def test_signed_webhooks_for_each_terminal_status(openai_client: OpenAIClient) -> None:
    async with (
        receiver(fail_first=1) as (url, received),
        Emulator(job_seconds=0.2, webhook_url=url, webhook_secret=SECRET, webhook_retry_delays=(0.05, 0.05)) as emu,
    ):
        client = openai_client(emu.base_url)
        good = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
        small = await client.files.create(file=("s.jsonl", jsonl(supervised_rows(2))), purpose="fine-tune")
        ok = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=good.id)
        bad = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=small.id)
        stopped = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=good.id)
        await client.fine_tuning.jobs.cancel(stopped.id)
        assert emu.webhooks is not None
        with anyio.fail_after(10):
            # Nobody polls: the scheduler alone must finish the jobs and send their webhooks.
            while sum(d.delivered for d in emu.webhooks.deliveries) < 3:
                await anyio.sleep(0.05)
        await emu.webhooks.wait_idle()

    assert len(received) == 4  # the first delivery got a 500 and was retried
    ids = [r["headers"]["webhook-id"] for r in received]
    assert ids.count(ids[0]) == 2
    for r in received:
        body = json.loads(r["body"])
        assert r["request_line"] == "POST /hooks/openai HTTP/1.1"
        assert r["headers"]["content-type"] == "application/json"
        assert verify(SECRET, r["headers"], r["body"])
        assert body["object"] == "event"
        assert body["id"].startswith("evt_")
        assert body["id"] == r["headers"]["webhook-id"]
        assert isinstance(body["created_at"], int)
    events = {json.loads(r["body"])["type"]: json.loads(r["body"])["data"]["id"] for r in received}
    assert events == {
        "fine_tuning.job.succeeded": ok.id,
        "fine_tuning.job.failed": bad.id,
        "fine_tuning.job.cancelled": stopped.id,
    }
    assert not verify(SECRET, {**received[-1]["headers"]}, received[-1]["body"] + b" ")


def test_sign_matches_the_standard_webhooks_recipe() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, "evt_1", 1700000000, body)
    assert header.startswith("v1,")
    assert verify(SECRET, {"webhook-id": "evt_1", "webhook-timestamp": "1700000000", "webhook-signature": header}, body)

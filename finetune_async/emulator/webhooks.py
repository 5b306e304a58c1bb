"""Webhooks the emulator sends: ``fine_tuning.job.succeeded`` / ``.failed`` / ``.cancelled``.

Shaped and signed as OpenAI sends them (Standard Webhooks): the body is
``{"id": "evt_…", "object": "event", "type": …, "created_at": …, "data": {"id": "ftjob-…"}}``
and the headers are ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed by the
base64-decoded part of the secret after ``whsec_`` (a secret without that prefix is used as
raw UTF-8 bytes).

Deliveries run in the background on a few worker tasks (owned by the sender, cancelled and
awaited by :meth:`WebhookSender.aclose`), each POSTing over its own keep-alive connection, as a
webhook sender under load does: a burst of a thousand job ends is a thousand requests on a few
open connections, not a thousand TCP handshakes. A delivery that fails is retried after
``retry_delays`` (waiting in its own timer, not holding a worker); request handling never waits
for them. The HTTP POST is written on asyncio streams: aiohttp's client belongs to the SDK's
transport, and a webhook needs nothing more than one request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio

from ._util import new_id

__all__ = ["Delivery", "WebhookSender", "sign"]

#: Seconds a delivery worker with nothing to send keeps its connection open before it ends.
LINGER = 2.0


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :])
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (``v1,<base64>``) for one delivery."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


@dataclass
class Delivery:
    """One webhook event and how its delivery went (for tests to inspect)."""

    event: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    delivered: bool = False
    error: str | None = None


class WebhookSender:
    """Queues job-terminal events and POSTs them, signed, to ``url``, ``concurrency`` at a time."""

    def __init__(
        self,
        url: str,
        secret: str | None,
        *,
        retry_delays: Sequence[float] = (0.5, 2.0, 5.0),
        timeout: float = 10.0,
        concurrency: int = 4,
    ) -> None:
        self.url = url
        self.secret = secret
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.deliveries: list[Delivery] = []
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._workers: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        # Deliveries queued, being sent or waiting for a retry; wait_idle waits for none.
        self._unsettled = 0
        self._settled: asyncio.Event | None = None
        self._closed = False

    def notify(self, event_type: str, job_id: str) -> None:
        """Queue an event for ``job_id`` (never blocks; called from synchronous state code)."""
        event = {
            "id": new_id("evt_", 32),
            "object": "event",
            "type": event_type,
            "created_at": int(time.time()),
            "data": {"id": job_id},
        }
        delivery = Delivery(event)
        self.deliveries.append(delivery)
        if self._closed:
            return
        self._unsettled += 1
        self._enqueue(delivery)

    def _enqueue(self, delivery: Delivery) -> None:
        if self._closed:
            return
        self._queue.put_nowait(delivery)
        if len(self._workers) < self.concurrency:
            task = asyncio.get_running_loop().create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    def _settle(self) -> None:
        self._unsettled -= 1
        if self._unsettled == 0 and self._settled is not None:
            self._settled.set()

    async def wait_idle(self) -> None:
        """Wait until every delivery queued so far has finished (delivered or given up)."""
        while self._unsettled and not self._closed:
            self._settled = asyncio.Event()
            await self._settled.wait()

    async def aclose(self) -> None:
        """Cancel the deliveries still in flight and wait for them to end."""
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        tasks = list(self._workers)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._settled is not None:
            self._settled.set()

    async def _work(self) -> None:
        conn = _Connection(self.url)
        try:
            while True:
                delivery: Delivery | None = None
                with anyio.move_on_after(LINGER):
                    delivery = await self._queue.get()
                if delivery is None:
                    return  # idle for a while: end (and close the connection); the next burst starts anew
                await self._attempt(conn, delivery)
        finally:
            await conn.close()

    async def _attempt(self, conn: _Connection, delivery: Delivery) -> None:
        body = json.dumps(delivery.event, separators=(",", ":")).encode()
        delivery.attempts += 1
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
            "webhook-id": delivery.event["id"],
            "webhook-timestamp": str(timestamp),
        }
        if self.secret:
            headers["webhook-signature"] = sign(self.secret, delivery.event["id"], timestamp, body)
        try:
            with anyio.fail_after(self.timeout):
                status = await conn.post(headers, body)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            await conn.close()
            delivery.error = f"{type(exc).__name__}: {exc}"
        else:
            delivery.status = status
            if 200 <= status < 300:
                delivery.delivered = True
                delivery.error = None
                self._settle()
                return
            delivery.error = f"HTTP {status}"
        if delivery.attempts > len(self.retry_delays):
            self._settle()  # given up
            return
        delay = self.retry_delays[delivery.attempts - 1]

        def retry() -> None:
            self._timers.discard(timer)
            self._enqueue(delivery)

        timer = asyncio.get_running_loop().call_later(delay, retry)
        self._timers.add(timer)


class _Connection:
    """One HTTP/1.1 keep-alive connection to the webhook URL, (re)opened when needed."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported webhook URL {url!r}")
        self.tls = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, headers: dict[str, str], body: bytes) -> int:
        """POST ``body``; the answer's status. A kept-alive connection the receiver has closed
        meanwhile is reopened once (nothing of the answer was read: the request is sent again)."""
        reused = self._streams is not None
        try:
            return await self._post(headers, body)
        except (OSError, asyncio.IncompleteReadError):
            await self.close()
            if not reused:
                raise
        return await self._post(headers, body)

    async def _post(self, headers: dict[str, str], body: bytes) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection(
                self.hostname, self.port, ssl=ssl.create_default_context() if self.tls else None
            )
        reader, writer = self._streams
        head = [f"POST {self.target} HTTP/1.1", f"host: {self.host}", f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readuntil(b"\r\n")
        fields = status_line.decode("latin-1").split()
        if len(fields) < 2 or not fields[1].isdigit():
            raise ValueError(f"malformed HTTP status line {status_line!r}")
        status = int(fields[1])
        length: int | None = None
        chunked = close = False
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = "close" in value
        if fields[0] == "HTTP/1.0":
            close = True
        if chunked:
            while (size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
                await reader.readexactly(size + 2)
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
        elif length is not None:
            await reader.readexactly(length)
        else:
            await reader.read()  # the answer ends with the connection
            close = True
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

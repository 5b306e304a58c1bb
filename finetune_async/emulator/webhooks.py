"""Webhooks the emulator sends: ``fine_tuning.job.succeeded`` / ``.failed`` / ``.cancelled``.

Shaped and signed as OpenAI sends them (Standard Webhooks): the body is
``{"id": "evt_…", "object": "event", "type": …, "created_at": …, "data": {"id": "ftjob-…"}}``
and the headers are ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed by the
base64-decoded part of the secret after ``whsec_`` (a secret without that prefix is used as
raw UTF-8 bytes).

Deliveries run in the background, one task each (owned by the sender, cancelled and awaited
by :meth:`WebhookSender.aclose`), and are retried
after ``retry_delays`` when the receiver fails or is unreachable; request handling never waits
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
    """Queues job-terminal events and POSTs them, signed, to ``url``."""

    def __init__(
        self,
        url: str,
        secret: str | None,
        *,
        retry_delays: Sequence[float] = (0.5, 2.0, 5.0),
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.secret = secret
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
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
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        # Held here until done, so close() can cancel and await every delivery still in flight.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait until every delivery started so far has finished (delivered or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the deliveries still in flight and wait for them to end."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, delivery: Delivery) -> None:
        body = json.dumps(delivery.event, separators=(",", ":")).encode()
        for delay in (0.0, *self.retry_delays):
            if delay:
                await anyio.sleep(delay)
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
                    status = await _post(self.url, headers, body)
            except (OSError, TimeoutError, ValueError) as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
                continue
            delivery.status = status
            if 200 <= status < 300:
                delivery.delivered = True
                delivery.error = None
                return
            delivery.error = f"HTTP {status}"


async def _post(url: str, headers: dict[str, str], body: bytes) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported webhook URL {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=ssl.create_default_context() if tls else None
    )
    try:
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        head = [f"POST {target} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}", "connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split()
        if len(fields) < 2 or not fields[1].isdigit():
            raise ValueError(f"malformed HTTP status line {status_line!r}")
        return int(fields[1])
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

"""OpenAI webhooks: verify their signatures, read the fine-tuning job events, wake waiters.

OpenAI signs webhooks the Standard Webhooks way: headers ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``, a space-separated list of
``v1,<base64 HMAC-SHA256>`` (several during a secret rotation) over
``"{webhook-id}.{webhook-timestamp}.{body}"``, keyed by the base64-decoded part of the
``whsec_…`` secret after the prefix. :func:`verify_webhook_signature` checks that (in constant
time, with a timestamp tolerance against replays); :func:`unwrap_webhook` also parses the
body into a :class:`FineTuningWebhookEvent`.

To make :func:`~finetune_async.wait_for_job` return the moment a job ends instead of at its
next poll, attach a :class:`WebhookHub` to the client and route the webhook to it::

    hub = ft.WebhookHub(secret=os.environ["OPENAI_WEBHOOK_SECRET"])
    hub.attach(client)
    app.router.add_post("/webhooks/openai", hub.aiohttp_handler())   # or: await hub.receive(body, headers)

Polling goes on as the fallback (less often: a missed webhook costs at most a couple of
minutes), so a lost or late webhook never loses a job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from ._callbacks import call_maybe_async
from ._retry import header_value
from .errors import FineTuneError
from .models import JobStatus

if TYPE_CHECKING:
    from aiohttp import web

    from ._watch import WatchState
    from .client import AsyncClient

__all__ = [
    "DEFAULT_TOLERANCE",
    "JOB_EVENT_TYPES",
    "FineTuningWebhookEvent",
    "InvalidWebhookSignatureError",
    "WebhookHub",
    "parse_webhook_event",
    "unwrap_webhook",
    "verify_webhook_signature",
]

#: Seconds a webhook's timestamp may be away from our clock (either way) before it is refused.
DEFAULT_TOLERANCE = 300.0

#: The fine-tuning job events OpenAI sends.
JOB_EVENT_TYPES = frozenset({"fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled"})


class InvalidWebhookSignatureError(FineTuneError, ValueError):
    """The webhook's signature headers are missing, malformed, too old or too new, or no
    signature matches the secret: do not trust its body."""


# Standard Webhooks send whole Unix seconds; twelve digits reach the year 33658. Anything else
# (a sign, an exponent, other scripts' digits, which int() would accept) is not a timestamp.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _secret_key(secret: str) -> bytes:
    """The HMAC key of ``secret``; ValueError (never quoting the secret) when it cannot be one."""
    if not isinstance(secret, str):
        raise TypeError("the webhook secret must be a str")
    if secret != secret.strip():
        # A trailing newline from a secrets file is the usual way to end up here.
        raise ValueError("the webhook secret has leading or trailing whitespace")
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the webhook secret after 'whsec_' is not valid base64") from None
    else:
        key = secret.encode()
    if not key:
        # An empty key makes every signature computable by anyone.
        raise ValueError("the webhook secret is empty")
    return key


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest())


def verify_webhook_signature(
    payload: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that ``payload`` (the raw request body) was signed with ``secret``.

    ``headers`` is any mapping of the request's headers (names in any case). Returns None when
    one of the ``v1`` signatures matches and the timestamp is within ``tolerance`` seconds of
    ``now`` (default: the current time). Raises :class:`InvalidWebhookSignatureError`
    otherwise, and :class:`ValueError` for a secret that is empty, padded with whitespace, or a
    ``whsec_`` secret that is not base64 (the message never quotes the secret).
    """
    key = _secret_key(secret)
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    msg_id = header_value(headers, "webhook-id")
    timestamp = header_value(headers, "webhook-timestamp")
    signatures = header_value(headers, "webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise InvalidWebhookSignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    stamp = timestamp.strip()
    if not _TIMESTAMP.fullmatch(stamp):
        raise InvalidWebhookSignatureError("webhook-timestamp is not an integer number of seconds")
    sent_at = int(stamp)
    current = time.time() if now is None else now
    if current - sent_at > tolerance:
        raise InvalidWebhookSignatureError("webhook timestamp is too old")
    if sent_at - current > tolerance:
        raise InvalidWebhookSignatureError("webhook timestamp is too new")
    expected = _signature(key, msg_id, stamp, body)
    matched = False
    for part in signatures.split():
        version, _, signature = part.partition(",")
        # Compare every candidate (no early exit), each in constant time.
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            matched = True
    if not matched:
        raise InvalidWebhookSignatureError("no webhook signature matches the secret")


@attrs.frozen(kw_only=True)
class FineTuningWebhookEvent:
    """A ``fine_tuning.job.*`` webhook: ``type`` (e.g. ``fine_tuning.job.succeeded``), the
    ``job_id`` it is about, its own ``id`` and ``created_at``, and the raw ``data`` object."""

    id: str
    type: str
    created_at: int
    job_id: str
    data: dict[str, Any] = attrs.field(factory=dict)

    @property
    def status(self) -> JobStatus:
        """The job status the event announces (``succeeded``, ``failed`` or ``cancelled``)."""
        return JobStatus(self.type.rsplit(".", 1)[-1])


def parse_webhook_event(payload: bytes | str) -> FineTuningWebhookEvent | None:
    """Read a webhook body; the event if it is about a fine-tuning job, None for other event
    types (batches, responses, …). Does not check the signature (see :func:`unwrap_webhook`).

    Raises :class:`ValueError` when the body is not the JSON of a webhook event.
    """
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to be an event
        raise ValueError("the webhook body is not JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ValueError("the webhook body is not an event object")
    event_type = obj["type"]
    if not event_type.startswith("fine_tuning.job."):
        return None
    data = obj.get("data")
    event_id = obj.get("id")
    created_at = obj.get("created_at")
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("id"), str)
        or not isinstance(event_id, str)
        or not isinstance(created_at, int)
        or isinstance(created_at, bool)
    ):
        raise ValueError("the fine-tuning webhook event lacks id, created_at or data.id")
    return FineTuningWebhookEvent(id=event_id, type=event_type, created_at=created_at, job_id=data["id"], data=data)


def unwrap_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: str,
    tolerance: float = DEFAULT_TOLERANCE,
) -> FineTuningWebhookEvent | None:
    """Verify the signature, then parse: the fine-tuning job event, or None for another type.

    Raises :class:`InvalidWebhookSignatureError` (not signed with ``secret``, or outside the
    tolerance) and :class:`ValueError` (a signed body that is not an event).
    """
    verify_webhook_signature(payload, headers, secret=secret, tolerance=tolerance)
    return parse_webhook_event(payload)


EventHandler = Callable[[FineTuningWebhookEvent], "Awaitable[object] | object"]


class WebhookHub:
    """Receives verified webhooks and wakes the waiters of every attached client at once.

    ``hub.attach(client)``; then feed it each request, either with :meth:`aiohttp_handler`
    or ``await hub.receive(body, headers)`` from any web framework. Each job-end event makes
    the client fetch that job before anything else, so :func:`~finetune_async.wait_for_job`,
    :func:`~finetune_async.wait_for_jobs` and the event streams return within one request.
    ``on_event`` (plain or async) also sees every fine-tuning event, once it returned, even when
    OpenAI delivers it again; when it raises, the webhook is answered 500 and the redelivery
    calls it again (at-least-once, like OpenAI's own delivery).
    """

    #: How many recent webhook ids are remembered to drop redeliveries.
    REMEMBER = 4096

    def __init__(
        self, secret: str, *, tolerance: float = DEFAULT_TOLERANCE, on_event: EventHandler | None = None
    ) -> None:
        _secret_key(secret)  # a malformed secret fails here, not at the first webhook
        self._secret = secret
        self.tolerance = tolerance
        self.on_event = on_event
        self._watches: list[WatchState] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._handling: dict[str, anyio.Event] = {}

    def __repr__(self) -> str:
        return f"WebhookHub(clients={len(self._watches)}, secret=<redacted>)"

    def attach(self, client: AsyncClient) -> None:
        """Wake ``client``'s waiters on webhooks (and poll less often: polling is now the fallback).

        Raises :class:`~finetune_async.UnsupportedByProviderError` when the client's provider
        sends no webhooks (``client.provider.capabilities.webhooks``): polling would slow down
        for events that never come.
        """
        provider = client.provider
        if not provider.capabilities.webhooks:
            raise provider.refuse("webhooks", "fine-tuning webhooks")
        watch = client._watch
        if watch not in self._watches:
            self._watches.append(watch)
            watch.webhooks += 1

    def detach(self, client: AsyncClient) -> None:
        """Undo :meth:`attach` (no-op if not attached)."""
        watch = client._watch
        if watch in self._watches:
            self._watches.remove(watch)
            watch.webhooks -= 1

    def dispatch(self, event: FineTuningWebhookEvent) -> None:
        """Wake the waiters of ``event.job_id`` in every attached client (for already verified events)."""
        for watch in self._watches:
            watch.notify(event.job_id)

    async def receive(self, payload: bytes | str, headers: Mapping[str, str]) -> FineTuningWebhookEvent | None:
        """Verify and handle one webhook request; the event, or None for other event types.

        Raises :class:`InvalidWebhookSignatureError` (answer 400: it was not OpenAI) and
        :class:`ValueError` for a signed body that is not an event; whatever ``on_event`` raises
        (answer 5xx: the delivery is not counted as handled, so OpenAI's retry calls
        ``on_event`` again). A redelivery of a handled webhook returns its event without calling
        ``on_event``; one that arrives while the first is still being handled waits for it.
        """
        event = unwrap_webhook(payload, headers, secret=self._secret, tolerance=self.tolerance)
        if event is None:
            return None
        msg_id = header_value(headers, "webhook-id") or event.id
        while (busy := self._handling.get(msg_id)) is not None:
            # The same delivery is being handled right now: its outcome decides whether this
            # one still has work to do, so wait for it rather than run on_event twice at once.
            await busy.wait()
        if msg_id in self._seen:
            return event  # a redelivery of one already handled
        done = anyio.Event()
        self._handling[msg_id] = done
        try:
            self.dispatch(event)
            if self.on_event is not None:
                await call_maybe_async(self.on_event, event)
            # Only now is it handled: if on_event raised (or we were cancelled), the sender's
            # retry must reach on_event again.
            self._seen[msg_id] = None
            if len(self._seen) > self.REMEMBER:
                self._seen.popitem(last=False)
        finally:
            del self._handling[msg_id]
            done.set()
        return event

    def aiohttp_handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        """An aiohttp request handler: ``app.router.add_post("/webhooks/openai", hub.aiohttp_handler())``.

        Answers 200 for a verified webhook (also one of another type, which is ignored) and
        400 when the signature or the body is not valid.
        """
        # Imported here: the SDK proper only uses aiohttp's client; the server side is needed
        # only by those who mount this handler.
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                await self.receive(body, request.headers)
            except InvalidWebhookSignatureError as exc:
                return web.Response(status=400, text=f"invalid webhook signature: {exc}")
            except ValueError as exc:
                return web.Response(status=400, text=f"invalid webhook body: {exc}")
            return web.Response(status=200, text="ok")

        return handle

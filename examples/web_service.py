"""A web service that starts a fine-tune on request and serves its live progress.

    python examples/web_service.py                      # embedded emulator, http://127.0.0.1:8080
    curl -X POST localhost:8080/fine-tunes               # -> {"id": "ftjob-..."}
    curl -N localhost:8080/fine-tunes/ftjob-.../events   # server-sent events, live, until it ends
    curl localhost:8080/fine-tunes/ftjob-.../result      # waits for the end, then the job as JSON

Nothing blocks: each request awaits the SDK, and the event stream is
``ft.stream_events`` (oldest first, each event once). Webhooks are wired too: set
``OPENAI_WEBHOOK_SECRET`` and point OpenAI's webhook at ``/webhooks/openai`` and waiting
requests return the moment a job ends (with the emulator this is set up for you).

``--smoke`` starts the service, asks it for one fine-tune, follows the stream to the end and
exits (used by the tests).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
from aiohttp import web

import finetune_async as ft

MODEL = "gpt-4o-mini-2024-07-18"


class Service:
    """What the handlers share; filled in once the client exists (after the port is bound)."""

    client: ft.AsyncClient
    training_file: str
    hub: ft.WebhookHub | None = None


SERVICE: web.AppKey[Service] = web.AppKey("service", Service)


def sample_dataset(n: int = 20) -> bytes:
    rows = [
        {"messages": [{"role": "user", "content": f"Say {i}."}, {"role": "assistant", "content": str(i)}]}
        for i in range(n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


async def create_fine_tune(request: web.Request) -> web.Response:
    """POST /fine-tunes (optional JSON body: model, training_file) -> 202 {"id": ...}."""
    body: dict[str, Any] = {}
    if request.can_read_body:
        with contextlib.suppress(ValueError):
            body = await request.json()
    client = request.app[SERVICE].client
    try:
        job = await client.fine_tuning.jobs.create(
            model=body.get("model", MODEL), training_file=body.get("training_file", request.app[SERVICE].training_file)
        )
    except ft.BadRequestError as exc:
        return web.json_response({"error": exc.message}, status=400)
    return web.json_response({"id": job.id, "status": str(job.status)}, status=202)


async def known_job(request: web.Request) -> ft.FineTuningJob:
    """The job named in the URL: a 400 for an id that is not one, a 404 for a job that does not exist."""
    try:
        return await request.app[SERVICE].client.fine_tuning.jobs.retrieve(request.match_info["job_id"])
    except ft.NotFoundError:
        raise web.HTTPNotFound() from None
    except ft.FineTuneError:
        raise
    except ValueError as exc:
        # The id comes from our own URL: the SDK refuses one that would address another
        # endpoint ("..", "a/b", "%2E%2E", ...) before sending anything, and so do we.
        raise web.HTTPBadRequest(text=json.dumps({"error": str(exc)}), content_type="application/json") from None


async def show_fine_tune(request: web.Request) -> web.Response:
    """GET /fine-tunes/{id} -> the job as the API returns it."""
    return web.json_response(ft.to_dict(await known_job(request)))


async def result(request: web.Request) -> web.Response:
    """GET /fine-tunes/{id}/result -> waits until the job ends, then the job."""
    job = await known_job(request)
    job = await ft.wait_for_job(request.app[SERVICE].client, job.id, timeout=3600, raise_on_failure=False)
    return web.json_response(ft.to_dict(job))


async def events(request: web.Request) -> web.StreamResponse:
    """GET /fine-tunes/{id}/events -> text/event-stream: one ``progress`` per job event, then ``done``."""
    client = request.app[SERVICE].client
    # Checked before the stream starts: once it has, the status can no longer say what went wrong.
    job_id = (await known_job(request)).id
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    # The stream is closed as soon as the client goes away (aclosing), so no poll outlives it.
    async with contextlib.aclosing(ft.stream_events(client, job_id)) as stream:
        async for event in stream:
            payload = {"id": event.id, "created_at": event.created_at, "message": event.message, "data": event.data}
            await response.write(f"event: progress\ndata: {json.dumps(payload)}\n\n".encode())
    job = await client.fine_tuning.jobs.retrieve(job_id)
    final = {"status": str(job.status), "fine_tuned_model": job.fine_tuned_model}
    await response.write(f"event: done\ndata: {json.dumps(final)}\n\n".encode())
    await response.write_eof()
    return response


def build_app(service: Service) -> web.Application:
    app = web.Application()
    app[SERVICE] = service
    app.router.add_post("/fine-tunes", create_fine_tune)
    app.router.add_get("/fine-tunes/{job_id}", show_fine_tune)
    app.router.add_get("/fine-tunes/{job_id}/result", result)
    app.router.add_get("/fine-tunes/{job_id}/events", events)
    app.router.add_post("/webhooks/openai", receive_webhook)
    return app


async def receive_webhook(request: web.Request) -> web.Response:
    """POST /webhooks/openai: verified by the hub, which wakes the waiters of the job at once."""
    service = request.app[SERVICE]
    if service.hub is None:
        raise web.HTTPNotFound()
    return await service.hub.aiohttp_handler()(request)


@contextlib.asynccontextmanager
async def serve(args: argparse.Namespace) -> AsyncIterator[str]:
    """Run the service (and, without OPENAI_API_KEY, an emulator that sends it webhooks); its URL."""
    service = Service()
    async with contextlib.AsyncExitStack() as stack:
        # Bind first: the emulator needs our address for its webhooks.
        runner = web.AppRunner(build_app(service), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, args.host, args.port).start()
        url = f"http://{args.host}:{runner.addresses[0][1]}"
        if os.environ.get("OPENAI_API_KEY"):
            secret = os.environ.get("OPENAI_WEBHOOK_SECRET")
            client = await stack.enter_async_context(ft.AsyncClient())
        else:
            from finetune_async.emulator import Emulator

            secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
            emu = await stack.enter_async_context(
                Emulator(job_seconds=args.job_seconds, webhook_url=f"{url}/webhooks/openai", webhook_secret=secret)
            )
            client = await stack.enter_async_context(ft.AsyncClient(api_key="sk-emulator", base_url=emu.base_url))
            print(f"(no OPENAI_API_KEY: using an embedded emulator at {emu.base_url})", flush=True)
        service.client = client
        service.training_file = (
            args.training_file or (await client.files.create(file=("sample.jsonl", sample_dataset()))).id
        )
        if secret:
            service.hub = ft.WebhookHub(secret)
            service.hub.attach(client)
        yield url


async def smoke(url: str) -> int:
    """Ask the service for a fine-tune and follow its event stream to the end."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/fine-tunes") as resp:
            job_id = (await resp.json())["id"]
        print(f"started {job_id}")
        count = 0
        async with http.get(f"{url}/fine-tunes/{job_id}/events") as resp:
            event_name = ""
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event_name = line[len("event: ") :]
                elif line.startswith("data: "):
                    data = json.loads(line[len("data: ") :])
                    if event_name == "progress":
                        count += 1
                    else:
                        print(f"{count} events, then: {data}")
                        async with http.get(f"{url}/fine-tunes/{job_id}/result") as final:
                            job = await final.json()
                        print(f"result: {job['status']} {job['fine_tuned_model']}")
                        return 0 if job["status"] == "succeeded" else 1
    return 1


async def main(args: argparse.Namespace) -> int:
    async with serve(args) as url:
        if args.smoke:
            started = time.monotonic()
            code = await smoke(url)
            print(f"smoke test finished in {time.monotonic() - started:.1f}s")
            return code
        print(f"serving on {url}  (POST /fine-tunes, GET /fine-tunes/{{id}}/events)", flush=True)
        await anyio.sleep_forever()
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--training-file", default=None, help="an uploaded file id (default: upload a sample)")
    p.add_argument("--job-seconds", type=float, default=20.0, help="emulator only: how long a job takes")
    p.add_argument("--smoke", action="store_true", help="run one fine-tune through the service and exit")
    return p.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(anyio.run(main, parse_args()))

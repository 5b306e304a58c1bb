"""A scripted loopback server that answers as Azure OpenAI does, for the Azure provider's tests.

Until the emulator's Azure dialect lands (``Emulator(provider="azure")``, branch wt-dialects),
this is what our Azure client is tested against: the v1 route ``/openai/v1/...`` and the dated
route ``/openai/...?api-version=``, a new job ``pending`` first, a create answered ``201`` with
a ``Location`` (with or without a body), ``-1`` hyperparameters, jobs without
``organization_id``, errors with ``inner_error``, and ``apim-request-id`` as the only request id.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.parser import BytesParser
from email.policy import default
from typing import Any

import attrs
from aiohttp import web

from tests.scripted import Server, scripted_server

PREVIEW = "2025-04-01-preview"

#: The requests the latest server received (its ``seen``), for tests that count them.
LAST_SEEN: list[Any] = []


@attrs.define
class AzureState:
    """What the fake holds, and switches a test flips."""

    v1: bool = True
    #: Answer a job create with an empty 201 body (the client then reads the Location).
    empty_create: bool = False
    #: The Location a job create answers instead of the job's own (a server's mistake or worse).
    create_location: str | None = None
    files: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    jobs: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: How many times each job was read: its status moves on with each read.
    reads: dict[str, int] = attrs.field(factory=dict)
    copies: list[dict[str, Any]] = attrs.field(factory=list)
    ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))
    clock: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1_700_000_000))


# A job's statuses, one per read after the create (the last one stays).
LIFECYCLE = ("pending", "pending", "validating_files", "running", "running", "succeeded")


def _answer(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, request_id: str = "apim-1"
) -> web.Response:
    all_headers = {"apim-request-id": request_id, **(headers or {})}
    if body is None:
        return web.Response(status=status, headers=all_headers)
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json", headers=all_headers
    )


def azure_error(status: int, code: str, message: str, inner: Any = None, request_id: str = "apim-err") -> web.Response:
    body = {"error": {"code": code, "message": message, "param": None, "type": None, "inner_error": inner}}
    return _answer(body, status, request_id=request_id)


def _page(items: list[dict[str, Any]], query: Any) -> dict[str, Any]:
    after = query.get("after")
    limit = int(query.get("limit", 20))
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    chunk = items[:limit]
    return {"object": "list", "data": chunk, "has_more": len(items) > limit}


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], str, bytes]:
    """A multipart body's fields, and its file part's name and bytes (read with the stdlib:
    the scripted server has read the request already)."""
    message = BytesParser(policy=default).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, str] = {}
    filename, data = "", b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if part.get_filename() is not None:
            filename, data = str(part.get_filename()), payload
        else:
            fields[str(name)] = payload.decode()
    return fields, filename, data


@asynccontextmanager
async def azure_server(state: AzureState) -> AsyncIterator[tuple[Server, str]]:
    """Serve ``state``; yields the scripted server and the endpoint to give ``AsyncClient.azure``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        prefix = "/openai/v1" if state.v1 else "/openai"
        path = request.path
        if not path.startswith(prefix + "/"):
            return azure_error(404, "404", "Resource not found")
        if not state.v1 and request.query.get("api-version") is None:
            return azure_error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        if state.v1 and request.query.get("api-version") not in (None, "v1", "preview"):
            return azure_error(400, "BadRequest", "API version not supported")
        if request.headers.get("api-key") is None and not request.headers.get("Authorization", "").startswith(
            "Bearer "
        ):
            return azure_error(401, "401", "Access denied due to invalid subscription key.")
        parts = path[len(prefix) + 1 :].split("/")
        location_base = f"{request.scheme}://{request.host}{prefix}"
        version = "" if state.v1 else f"?api-version={request.query['api-version']}"
        if parts == ["files"] and request.method == "POST":
            form, filename, data = _form(request.headers["Content-Type"], await request.read())
            file_id = f"file-{next(state.ids):032x}"
            record = {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": next(state.clock),
                "filename": filename,
                "purpose": form["purpose"],
                "status": "pending",
            }
            if "expires_after[seconds]" in form:
                record["expires_at"] = record["created_at"] + int(str(form["expires_after[seconds]"]))
            state.files[file_id] = record
            state.reads[file_id] = 0
            return _answer(record, 201, {"Location": f"{location_base}/files/{file_id}{version}"})
        if len(parts) == 2 and parts[0] == "files" and request.method == "GET":
            record = state.files.get(parts[1])
            if record is None:
                return azure_error(404, "fileNotFound", f"File {parts[1]} not found.")
            state.reads[parts[1]] += 1
            record["status"] = "processed" if state.reads[parts[1]] >= 2 else "running"
            return _answer(record)
        if parts[:2] == ["fine_tuning", "jobs"]:
            return await jobs(request, parts[2:], location_base, version)
        return azure_error(404, "404", "Resource not found")

    async def jobs(request: web.Request, rest: list[str], location_base: str, version: str) -> web.StreamResponse:
        if not rest and request.method == "POST":
            body = await request.json()
            training = state.files.get(body.get("training_file"))
            if training is None or training["status"] != "processed":
                return azure_error(
                    400,
                    "invalidPayload",
                    "The specified training file is not processed yet.",
                    inner={"code": "fileNotReady", "file_id": body.get("training_file")},
                )
            job_id = f"ftjob-{next(state.ids):032x}"
            job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "created_at": next(state.clock),
                "model": body["model"],
                "training_file": body["training_file"],
                "validation_file": body.get("validation_file"),
                "hyperparameters": {"n_epochs": -1, "batch_size": -1, "learning_rate_multiplier": 1.0},
                "status": "pending",
                "seed": body.get("seed", 1234),
                "metadata": body.get("metadata"),
            }
            if "method" in body:
                job["method"] = body["method"]
            state.jobs[job_id] = job
            state.reads[job_id] = 0
            location = {"Location": state.create_location or f"{location_base}/fine_tuning/jobs/{job_id}{version}"}
            return _answer(None if state.empty_create else job, 201, location)
        if not rest and request.method == "GET":
            newest = sorted(state.jobs.values(), key=lambda j: j["created_at"], reverse=True)
            return _answer(_page(newest, request.query))
        job = state.jobs.get(rest[0])
        if job is None:
            return azure_error(
                404, "NotFound", f"Job {rest[0]} not found.", inner={"code": "jobNotFound"}, request_id="apim-404"
            )
        if len(rest) == 1 and request.method == "GET":
            if job["status"] not in ("paused", "cancelled"):
                state.reads[job["id"]] += 1
                job["status"] = LIFECYCLE[min(state.reads[job["id"]], len(LIFECYCLE) - 1)]
                if job["status"] == "succeeded":
                    job["fine_tuned_model"] = f"{job['model']}.ft-{job['id'][6:]}"
                    job["finished_at"] = next(state.clock)
            return _answer(job)
        if len(rest) == 1 and request.method == "DELETE":
            if state.v1:
                return azure_error(404, "404", "Resource not found")
            del state.jobs[rest[0]]
            return _answer(None, 204)
        action = rest[1]
        if action == "pause" and request.method == "POST":
            job["status"] = "paused"
            return _answer(job)
        if action == "resume" and request.method == "POST":
            job["status"] = "running"
            return _answer(job)
        if action == "cancel" and request.method == "POST":
            job["status"] = "cancelled"
            return _answer(job)
        if action == "events" and request.method == "GET":
            events = [
                {
                    "id": f"ftevent-{job['id'][6:]}-{n}",
                    "object": "fine_tuning.job.event",
                    "created_at": job["created_at"] + n,
                    "level": "info",
                    "message": message,
                    "type": "message",
                }
                for n, message in enumerate(("Job enqueued", "Training started", "Job succeeded"), 1)
                if n <= {"pending": 1, "validating_files": 1, "running": 2}.get(job["status"], 3)
            ]
            return _answer(_page(events[::-1], request.query))
        if action == "checkpoints" and len(rest) == 4 and rest[3] == "copy":
            if request.headers.get("aoai-copy-ft-checkpoints") != "preview":
                return azure_error(400, "PreviewHeaderMissing", "The aoai-copy-ft-checkpoints header is required.")
            if request.method == "POST":
                body = await request.json()
                state.copies.append(body)
                details = [{**body, "status": "InProgress"}]
            else:
                details = [{**c, "status": "Succeeded"} for c in state.copies]
            return _answer(
                {
                    "checkpointedModelName": f"{job['model']}.ft-{rest[2]}",
                    "fineTuningJobId": job["id"],
                    "copiedAccountDetails": details,
                }
            )
        return azure_error(404, "404", "Resource not found")

    async with scripted_server(handler, prefix="") as server:
        global LAST_SEEN
        LAST_SEEN = server.seen
        yield server, server.base_url

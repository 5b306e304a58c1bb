"""The seam itself: capabilities, refusals before sending, and the wire hooks a provider with
another wire (issue 17: Together, Fireworks) plugs into, shown with a toy one."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import finetune_async as ft
from finetune_async._auth import ApiKeyAuth
from finetune_async.providers import Capabilities, Operation, Provider, WireRequest, capabilities_of, grader_types
from tests.scripted import json_response, scripted_server


def test_grader_types_walks_multi_graders() -> None:
    grader = {
        "type": "multi",
        "graders": {"a": {"type": "python"}, "b": {"type": "multi", "graders": [{"type": "score_model"}]}},
    }
    assert grader_types(grader) == {"multi", "python", "score_model"}
    assert grader_types(None) == set()


def test_unsupported_operations_follow_capabilities() -> None:
    caps = Capabilities(pause_resume=False, uploads=False)
    assert set(caps.unsupported()) >= {"jobs.pause", "jobs.resume", "uploads.create", "jobs.delete"}
    assert "jobs.retrieve" not in caps.unsupported()
    assert capabilities_of("openai").pause_resume
    assert not capabilities_of("azure").uploads
    with pytest.raises(ValueError, match="provider must be one of"):
        capabilities_of("mistral")


def test_openai_is_one_provider_like_the_others() -> None:
    client = ft.AsyncClient(api_key="sk-x", base_url="http://127.0.0.1:9/v1")
    provider = client.provider
    assert provider.name == "openai"
    assert not provider.translates
    assert provider.request_id_headers == ("x-request-id",)
    assert "sk-x" not in repr(provider)
    assert provider.capabilities == Capabilities()
    assert client.with_options(max_retries=0).provider is provider


def test_validate_dataset_refuses_a_method_the_provider_lacks(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n')
    assert ft.validate_dataset(path, "supervised", provider="azure").method == "supervised"
    toy = _Toy(base_url="http://x", auth=ApiKeyAuth("k"))
    # The validator's own refusal (it sends nothing): a ValueError naming the provider.
    with pytest.raises(ValueError, match="toy does not take dpo fine-tuning; its methods: supervised"):
        ft.validate_dataset(path, "dpo", provider=toy)
    assert ft.validate_dataset(path, "supervised", provider=toy).provider == "toy"


class _Toy(Provider):
    """A provider with another wire, as Together's: ``/fine-tunes``, camelCase, ``name`` as id,
    its own statuses, no pause, no metadata, jobs not listed newest first, events unpaged."""

    name = "toy"
    capabilities = Capabilities(
        methods=frozenset({"supervised"}),
        pause_resume=False,
        job_metadata=False,
        jobs_listed_newest_first=False,
        paged_events=False,
        uploads=False,
        webhooks=False,
    )
    translates = True
    STATUS = {"queued": "queued", "training": "running", "compressing": "running", "done": "succeeded"}

    def to_wire(self, operation: Operation, request: WireRequest) -> WireRequest:
        path = re.sub(r"^/fine_tuning/jobs", "/fine-tunes", request.path)
        body = request.json_body
        if operation == "jobs.create":
            body = {"baseModel": body["model"], "trainingFile": body["training_file"]}
        return WireRequest(method=request.method, path=path, params=None, json_body=body)

    def from_wire(self, operation: Operation, body: Any) -> Any:
        if operation == "jobs.list_events":
            # The whole list, oldest first on this wire: newest first, as OpenAI's, on ours.
            events = [
                {
                    "id": e["name"],
                    "object": "fine_tuning.job.event",
                    "created_at": e["at"],
                    "level": "info",
                    "message": e["text"],
                }
                for e in body["items"]
            ]
            return {"object": "list", "data": events[::-1], "has_more": False}
        if operation in ("jobs.create", "jobs.retrieve"):
            return {
                "id": body["name"],
                "object": "fine_tuning.job",
                "created_at": body["createdAt"],
                "error": None,
                "fine_tuned_model": body.get("outputName"),
                "finished_at": None,
                "hyperparameters": {},
                "model": body["baseModel"],
                "organization_id": "",
                "result_files": [],
                "seed": 0,
                "status": self.STATUS[body["state"]],
                "provider_status": body["state"],
                "trained_tokens": None,
                "training_file": body["trainingFile"],
                "validation_file": None,
            }
        return body


async def test_a_provider_with_another_wire_plugs_into_the_same_calls_and_helpers() -> None:
    states = iter(["queued", "training", "compressing", "done"])
    job: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST" and request.path == "/v1/fine-tunes":
            job.update(json.loads(await request.read()), name="ft-toy-1", createdAt=1, state="queued")
            return json_response(job)
        if request.path == "/v1/fine-tunes/ft-toy-1":
            job["state"] = next(states, "done")
            if job["state"] == "done":
                job["outputName"] = "toy/model-ft"
            return json_response(job)
        if request.path == "/v1/fine-tunes/ft-toy-1/events":
            return json_response({"items": [{"name": f"ev-{n}", "at": n, "text": f"step {n}"} for n in (1, 2)]})
        return json_response({"error": {"message": "no"}}, 404)

    async with scripted_server(handler) as server:
        toy = _Toy(base_url=server.base_url, auth=ApiKeyAuth("k"))
        async with ft.AsyncClient(_provider=toy) as client:
            created = await client.fine_tuning.jobs.create(model="llama", training_file="file-1")
            assert created.id == "ft-toy-1"
            assert created.status == ft.JobStatus.QUEUED
            # No metadata on this wire: no ft_create marker was sent.
            assert job["baseModel"] == "llama"
            assert "metadata" not in job
            final = await ft.wait_for_job(client, created.id, poll_interval=0.01)
            assert final.status == ft.JobStatus.SUCCEEDED
            assert final.provider_status == "done"
            assert final.fine_tuned_model == "toy/model-ft"
            events = [e.message async for e in ft.stream_events(client, created.id, poll_interval=0.01)]
            assert events == ["step 1", "step 2"]
            with pytest.raises(ft.UnsupportedByProviderError, match=r"toy cannot do jobs\.pause"):
                await client.fine_tuning.jobs.pause(created.id)
            with pytest.raises(ft.UnsupportedByProviderError, match="'dpo'"):
                await client.fine_tuning.jobs.create(model="llama", training_file="file-1", method={"type": "dpo"})
            with pytest.raises(ft.UnsupportedByProviderError, match="metadata"):
                await client.fine_tuning.jobs.create(model="llama", training_file="file-1", metadata={"a": "b"})
            seen = [(s.method, s.path) for s in server.seen]
    # The watcher retrieved the job (no listing to page through), never GET /fine-tunes.
    assert ("GET", "/v1/fine-tunes") not in seen
    assert all(path.startswith("/v1/fine-tunes") for _, path in seen)

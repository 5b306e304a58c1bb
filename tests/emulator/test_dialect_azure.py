"""The emulator's ``azure`` dialect: Azure OpenAI's v1 and dated routes, as the official SDK and raw HTTP see them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any

import aiohttp
import anyio
import openai
import pytest

from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows
from tests.spec import requires_spec, validate

DATED = "2025-04-01-preview"
KEY = {"api-key": "azure-key"}
COPY = {"aoai-copy-ft-checkpoints": "preview", **KEY}


@pytest.fixture
async def azure() -> AsyncIterator[Emulator]:
    async with Emulator(provider="azure", job_seconds=1.0) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def wait_for(client: Any, job_id: str, statuses: Collection[str], within: float = 15.0) -> list[str]:
    """Every status read until one of ``statuses``."""
    seen: list[str] = []
    with anyio.fail_after(within):
        while not seen or seen[-1] not in statuses:
            seen.append((await client.fine_tuning.jobs.retrieve(job_id)).status)
            await anyio.sleep(0.01)
    return seen


async def _upload(http: aiohttp.ClientSession, url: str, rows: int = 12) -> str:
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    form.add_field("file", jsonl(supervised_rows(rows)), filename="t.jsonl")
    async with http.post(url, data=form, headers=KEY) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["id"])


async def _processed(http: aiohttp.ClientSession, url: str) -> None:
    with anyio.fail_after(5):
        while True:
            async with http.get(url, headers=KEY) as resp:
                if (await resp.json())["status"] == "processed":
                    return
            await anyio.sleep(0.01)


async def test_azure_client_on_the_dated_route(azure: Emulator) -> None:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=azure.azure_endpoint, api_key="azure-key", api_version=DATED, max_retries=0
    ) as client:
        # A file reads pending for a twentieth of a job (at most 1 s): for this upload, the
        # longest window, so that the create below comes inside it however loaded the machine.
        azure.state.job_seconds = 20.0
        train = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
        azure.state.job_seconds = 1.0
        assert train.status == "pending"
        with pytest.raises(openai.BadRequestError) as refused:
            await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
        assert refused.value.code == "fileNotProcessed"
        assert (await client.files.wait_for_processing(train.id, poll_interval=0.01)).status == "processed"

        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
        assert job.status == "pending"
        seen = await wait_for(client, job.id, {"succeeded", "failed"})
        assert seen[-1] == "succeeded"
        order = ["pending", "validating_files", "queued", "running", "succeeded"]
        assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)  # never backwards
        events = [e async for e in client.fine_tuning.jobs.list_events(job.id)]
        assert events[-1].message.startswith("Created fine-tuning job")
        checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
        assert checkpoints
        assert checkpoints[0].fine_tuning_job_id == job.id

        with pytest.raises(openai.NotFoundError) as missing:
            await client.fine_tuning.jobs.retrieve("ftjob-nope")
        headers = missing.value.response.headers
        assert headers["apim-request-id"]
        assert "x-request-id" not in headers
        assert isinstance(missing.value.body, dict)
        assert set(missing.value.body) == {"code", "message", "param", "type", "inner_error"}


@requires_spec
async def test_openai_client_on_the_v1_route(azure: Emulator, http: aiohttp.ClientSession) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{azure.azure_endpoint}/openai/v1/", api_key="azure-key", max_retries=0
    ) as client:
        train = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
        await client.files.wait_for_processing(train.id, poll_interval=0.01)
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
        assert job.status == "validating_files"  # OpenAI's six on the v1 route
        seen = await wait_for(client, job.id, {"succeeded", "failed"})
        assert seen[-1] == "succeeded"
        assert "pending" not in seen
        assert [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=3)]
        assert [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert azure.base_url == f"{azure.azure_endpoint}/openai/v1"
    # The v1 route's answers are OpenAI's shapes.
    v1 = f"{azure.base_url}/fine_tuning/jobs"
    async with http.get(f"{v1}/{job.id}", headers=KEY) as resp:
        validate(await resp.json(), "FineTuningJob")
    async with http.get(f"{v1}/{job.id}/checkpoints", headers=KEY) as resp:
        validate(await resp.json(), "ListFineTuningJobCheckpointsResponse")
    async with http.get(f"{azure.base_url}/files/{train.id}", headers=KEY) as resp:
        validate(await resp.json(), "OpenAIFile")


async def test_dated_create_is_201_with_location(azure: Emulator, http: aiohttp.ClientSession) -> None:
    dated = f"{azure.azure_endpoint}/openai"
    file_id = await _upload(http, f"{dated}/files?api-version={DATED}")
    await _processed(http, f"{dated}/files/{file_id}?api-version={DATED}")
    body = {"model": "gpt-4o-mini", "training_file": file_id, "hyperparameters": {"n_epochs": -1}}
    async with http.post(f"{dated}/fine_tuning/jobs?api-version={DATED}", json=body, headers=KEY) as resp:
        assert resp.status == 201
        job = await resp.json()
        location = resp.headers["Location"]
    assert job["status"] == "pending"
    assert job["hyperparameters"]["n_epochs"] == -1  # auto, as Azure writes it
    assert location == f"{dated}/fine_tuning/jobs/{job['id']}?api-version={DATED}"
    async with http.get(location, headers=KEY) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] == job["id"]
    # On the v1 route the same request is a 200 and reads OpenAI's "auto".
    async with http.post(f"{azure.base_url}/fine_tuning/jobs", json=body, headers=KEY) as resp:
        assert resp.status == 200
        assert "Location" not in resp.headers
        v1_job = await resp.json()
    assert v1_job["status"] == "validating_files"
    assert v1_job["hyperparameters"]["n_epochs"] == "auto"


async def test_api_version_rules_auth_and_headers(http: aiohttp.ClientSession) -> None:
    async with Emulator(provider="azure", api_keys=["good-key"]) as azure:
        v1 = f"{azure.azure_endpoint}/openai/v1/fine_tuning/jobs"
        dated = f"{azure.azure_endpoint}/openai/fine_tuning/jobs"
        good = {"api-key": "good-key"}
        for query in ({}, {"api-version": "v1"}, {"api-version": "preview"}):
            async with http.get(v1, params=query, headers=good) as resp:
                assert resp.status == 200, query
        async with http.get(v1, params={"api-version": "2024-10-21"}, headers=good) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
            assert error["param"] == "api-version"
        for query in ({}, {"api-version": "banana"}, {"api-version": "2023-05-15"}):
            async with http.get(dated, params=query, headers=good) as resp:
                assert resp.status == 404, query
                assert (await resp.json())["error"] == {
                    "code": "404",
                    "message": "Resource not found",
                    "param": None,
                    "type": None,
                    "inner_error": None,
                }
        for version in ("2024-10-21", DATED):
            async with http.get(dated, params={"api-version": version}, headers=good) as resp:
                assert resp.status == 200
                assert resp.headers["apim-request-id"]
                assert "x-request-id" not in resp.headers
        # The key: api-key or Bearer (an Entra token); only the configured ones.
        async with http.get(v1, headers={"Authorization": "Bearer good-key"}) as resp:
            assert resp.status == 200
        for headers in ({}, {"api-key": "bad-key"}, {"Authorization": "Bearer expired-token"}):
            async with http.get(v1, headers=headers) as resp:
                assert resp.status == 401, headers
                error = (await resp.json())["error"]
                assert error["code"] == "401"
                assert "inner_error" in error
                assert "bad-key" not in error["message"]
    async with Emulator(provider="azure") as azure:
        # Without configured keys any non-empty Entra token is accepted.
        url = f"{azure.base_url}/fine_tuning/jobs"
        async with http.get(url, headers={"Authorization": "Bearer eyJ0eXAi.any.token"}) as resp:
            assert resp.status == 200


async def test_routes_azure_has_and_has_not(azure: Emulator, http: aiohttp.ClientSession) -> None:
    upload = {"purpose": "fine-tune", "filename": "t.jsonl", "bytes": 10, "mime_type": "text/jsonl"}
    async with http.post(f"{azure.base_url}/uploads", json=upload, headers=KEY) as resp:
        assert resp.status == 404  # no Uploads API on the v1 route
    async with http.post(f"{azure.azure_endpoint}/openai/uploads?api-version={DATED}", json=upload, headers=KEY) as r:
        assert r.status == 200
    perms = f"{azure.base_url}/fine_tuning/checkpoints/ft:x:y/permissions"
    async with http.get(perms, headers=KEY) as resp:
        assert resp.status == 404


async def test_python_grader_is_refused(azure: Emulator, http: aiohttp.ClientSession) -> None:
    python = {"type": "python", "name": "p", "source": "def grade(sample, item):\n    return 1.0\n"}
    for grader in (python, {"type": "multi", "name": "m", "graders": {"a": python}, "calculate_output": "a"}):
        body = {
            "model": "o4-mini",
            "training_file": "file-a",
            "validation_file": "file-b",
            "method": {"type": "reinforcement", "reinforcement": {"grader": grader}},
        }
        async with http.post(f"{azure.base_url}/fine_tuning/jobs", json=body, headers=KEY) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
            assert error["param"] == "method.reinforcement.grader"
            assert "Python" in error["message"]


async def test_pause_resume_copy_and_delete(http: aiohttp.ClientSession) -> None:
    async with Emulator(provider="azure", job_seconds=3.0) as azure:
        dated = f"{azure.azure_endpoint}/openai"
        q = f"?api-version={DATED}"
        file_id = await _upload(http, f"{dated}/files{q}", rows=40)
        await _processed(http, f"{dated}/files/{file_id}{q}")
        body = {"model": "gpt-4o-mini", "training_file": file_id, "hyperparameters": {"batch_size": 1, "n_epochs": 3}}
        async with http.post(f"{dated}/fine_tuning/jobs{q}", json=body, headers=KEY) as resp:
            job_id = (await resp.json())["id"]
        job_url = f"{dated}/fine_tuning/jobs/{job_id}"
        with anyio.fail_after(5):
            while True:
                async with http.get(job_url + q, headers=KEY) as resp:
                    if (await resp.json())["status"] == "running":
                        break
                await anyio.sleep(0.02)
        async with http.delete(job_url + q, headers=KEY) as resp:
            assert resp.status == 400  # a running job is cancelled before it is deleted
        async with http.post(f"{job_url}/pause{q}", headers=KEY) as resp:
            assert (await resp.json())["status"] == "paused"
        async with http.post(f"{job_url}/resume{q}", headers=KEY) as resp:
            assert (await resp.json())["status"] == "running"
        with anyio.fail_after(10):
            while True:
                async with http.get(job_url + q, headers=KEY) as resp:
                    if (await resp.json())["status"] == "succeeded":
                        break
                await anyio.sleep(0.05)

        async with http.get(f"{azure.base_url}/fine_tuning/jobs/{job_id}/checkpoints", headers=KEY) as resp:
            ckpt = (await resp.json())["data"][0]
        copy_url = f"{azure.base_url}/fine_tuning/jobs/{job_id}/checkpoints/{ckpt['id']}/copy"
        target = {
            "destinationResourceId": "/subscriptions/s/resourceGroups/g/providers/x/accounts/b",
            "region": "swedencentral",
        }
        async with http.post(copy_url, json=target, headers=KEY) as resp:
            assert resp.status == 400  # the preview header is required
            assert (await resp.json())["error"]["param"] == "aoai-copy-ft-checkpoints"
        async with http.post(copy_url, json={"region": "eastus"}, headers=COPY) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["param"] == "destinationResourceId"
        async with http.post(copy_url, json=target, headers=COPY) as resp:
            assert resp.status == 200
            copied = await resp.json()
        assert copied == {
            "checkpointedModelName": ckpt["fine_tuned_model_checkpoint"],
            "fineTuningJobId": job_id,
            "copiedAccountDetails": [{**target, "status": "InProgress"}],
        }
        async with http.get(f"{dated}/fine_tuning/jobs/{job_id}/checkpoints/{ckpt['id']}/copy{q}", headers=COPY) as r:
            assert (await r.json())["copiedAccountDetails"] == [{**target, "status": "Completed"}]
        async with http.post(copy_url.replace(ckpt["id"], "ftckpt-nope"), json=target, headers=COPY) as resp:
            assert resp.status == 404

        async with http.delete(f"{azure.base_url}/fine_tuning/jobs/{job_id}", headers=KEY) as resp:
            assert resp.status in (404, 405)  # the v1 route has no delete
        async with http.delete(job_url + q, headers=KEY) as resp:
            assert resp.status == 204
        async with http.get(job_url + q, headers=KEY) as resp:
            assert resp.status == 404


async def test_fault_rules_name_v1_paths_on_both_routes(azure: Emulator, http: aiohttp.ClientSession) -> None:
    for url in (
        f"{azure.base_url}/fine_tuning/jobs",
        f"{azure.azure_endpoint}/openai/fine_tuning/jobs?api-version={DATED}",
    ):
        azure.faults.inject("POST:/v1/fine_tuning/jobs", "503")
        async with http.post(url, json={}, headers=KEY) as resp:
            assert resp.status == 503, url
            error = (await resp.json())["error"]
            assert error["type"] == "server_error"
            assert "inner_error" in error
            assert resp.headers["apim-request-id"]

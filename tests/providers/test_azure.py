"""Our Azure client against the emulator's Azure dialect (``Emulator(provider="azure")``: the
lifecycle on the v1 route with no api-version and on a dated one, pause/resume and checkpoint
copy, Azure's errors), and against a loopback server answering as Azure does
(tests/providers/azure_server.py) for what the dialect does not do: an empty 201 read from its
Location (and one whose Location leaves the base URL), an expiring Entra token, the refusals
before sending, and Azure's ``inner_error`` bodies.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.providers import AzureProvider
from tests.conftest import SpecChecker
from tests.data import jsonl, supervised_rows
from tests.dialects import AZURE_DATED
from tests.providers.azure_server import PREVIEW, AzureState, azure_server

LINES = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


@pytest.fixture
async def state() -> AzureState:
    return AzureState()


@pytest.fixture
async def endpoint(state: AzureState) -> AsyncIterator[str]:
    async with azure_server(state) as (_, url):
        yield url


def azure(endpoint: str, spec_checker: SpecChecker | None = None, **kwargs: Any) -> ft.AsyncClient:
    hooks = [spec_checker] if spec_checker is not None else []
    return ft.AsyncClient.azure(endpoint=endpoint, api_key="azure-key", request_hooks=hooks, **kwargs)


# -- on the emulator's Azure dialect ----------------------------------------------------------

TRAIN = jsonl(supervised_rows(12))
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def emu() -> AsyncIterator[Emulator]:
    """One Azure emulator for the module's dialect tests: each makes its own files and jobs."""
    async with Emulator(provider="azure", job_seconds=1.0) as emulator:
        yield emulator


class Requests:
    """A request hook: every request sent (method, path, query), each body checked against
    OpenAI's spec (``spec``)."""

    def __init__(self, spec: SpecChecker | None = None) -> None:
        self.spec = spec
        self.sent: list[ft.RequestInfo] = []

    def __call__(self, info: ft.RequestInfo) -> None:
        self.sent.append(info)
        # A job's delete is Azure's own (dated routes): not an operation of OpenAI's spec.
        if self.spec is not None and info.method != "DELETE":
            self.spec(info)


def on_emulator(emu: Emulator, api_version: str | None = None, **kwargs: Any) -> ft.AsyncClient:
    return ft.AsyncClient.azure(endpoint=emu.azure_endpoint, api_key="azure-key", api_version=api_version, **kwargs)


@pytest.mark.parametrize("api_version", [None, AZURE_DATED], ids=["v1", "dated"])
async def test_lifecycle_upload_create_wait_events(
    emu: Emulator, api_version: str | None, spec_checker: SpecChecker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Done when: our Azure client (no api-version given) uploads, creates, waits to success,
    streams events; and the same on a dated route (201 + Location, pending first, delete)."""
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    requests = Requests(spec_checker)
    async with on_emulator(emu, api_version, request_hooks=[requests]) as client:
        assert client.provider.name == "azure"
        if api_version is None:
            assert client.base_url == emu.azure_endpoint + "/openai/v1"
        else:
            assert client.base_url == emu.azure_endpoint + "/openai"
        file = await client.files.create(file=("train.jsonl", TRAIN))
        assert file.status == "pending"  # Azure processes a file before a job may name it
        assert file.request_id is not None
        assert UUID.fullmatch(file.request_id)  # no x-request-id: apim-request-id
        file = await client.files.wait_for_processing(file.id, poll_interval=0.02)
        assert file.status == ft.FileStatus.PROCESSED
        job = await client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=file.id)
        if api_version is None:
            assert job.status == ft.JobStatus.VALIDATING_FILES
        else:
            # The dated route answers 201 + Location with the job, pending, its auto
            # hyperparameters as -1 (read as "auto").
            assert job.status == ft.JobStatus.PENDING
            assert job.provider_status == "pending"
            assert job.hyperparameters.n_epochs == "auto"
            assert job.hyperparameters.batch_size == "auto"
        final = await ft.wait_for_job(client, job.id, timeout=20)
        assert final.status == ft.JobStatus.SUCCEEDED
        assert final.fine_tuned_model
        events = [e.message async for e in ft.stream_events(client, job.id)]
        assert events[-1] == "The job has successfully completed"
        ckpts = [c async for c in ft.stream_checkpoints(client, job.id)]
        assert ckpts
        if client.provider.capabilities.delete_job:
            await client.fine_tuning.jobs.delete(job.id)
            with pytest.raises(ft.NotFoundError):
                await client.fine_tuning.jobs.retrieve(job.id)
    paths = [info.url.removeprefix(emu.azure_endpoint) for info in requests.sent]
    if api_version is None:
        # No api-version on the v1 route; every request under /openai/v1.
        assert all(p.startswith("/openai/v1/") for p in paths), paths
        assert all("api-version" not in info.params for info in requests.sent)
    else:
        assert all(p.startswith("/openai/") and not p.startswith("/openai/v1/") for p in paths), paths
        assert all(info.params.get("api-version") == api_version for info in requests.sent)
    assert ("POST", "/fine_tuning/jobs") in spec_checker.operations


@pytest.mark.parametrize("api_version", [None, AZURE_DATED], ids=["v1", "dated"])
async def test_404_carries_azure_code_and_apim_request_id(emu: Emulator, api_version: str | None) -> None:
    """Done when: a 404 carries Azure's request id."""
    async with on_emulator(emu, api_version) as client:
        with pytest.raises(ft.NotFoundError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-missing")
    err = caught.value
    assert err.status_code == 404
    assert err.request_id is not None
    assert UUID.fullmatch(err.request_id)
    assert err.request_id in str(err)
    assert isinstance(err.code, str)  # Azure's code is never null
    assert err.code
    assert err.inner_error is None  # Azure fills it only for content filtering


async def test_a_job_on_an_unprocessed_file_is_refused(emu: Emulator) -> None:
    async with on_emulator(emu) as client:
        file = await client.files.create(file=("train.jsonl", TRAIN))
        with pytest.raises(ft.BadRequestError) as caught:
            await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
    assert caught.value.code == "fileNotProcessed"
    assert caught.value.param == "training_file"
    assert caught.value.request_id is not None


async def test_pause_resume_and_checkpoint_copy_with_its_preview_header() -> None:
    async with (
        # Long enough to pause mid-run.
        Emulator(provider="azure", job_seconds=2.5) as slow,
        on_emulator(slow) as client,
    ):
        file = await client.files.create(file=("train.jsonl", TRAIN))
        await client.files.wait_for_processing(file.id, poll_interval=0.02)
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
        with anyio.fail_after(20):
            async for event in ft.stream_events(client, job.id, poll_interval=0.05):
                if event.message == "Fine-tuning job started":
                    break
        assert (await client.fine_tuning.jobs.pause(job.id)).status == ft.JobStatus.PAUSED
        assert (await client.fine_tuning.jobs.resume(job.id)).status == ft.JobStatus.RUNNING
        assert (await ft.wait_for_job(client, job.id, timeout=20)).status == "succeeded"
        ckpt = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data[0]
        # The dialect answers 400 to a copy without Azure's preview header: the provider adds it.
        copy = await client.fine_tuning.jobs.checkpoints.copy(
            job.id, ckpt.id, destination_resource_id="/subscriptions/s/accounts/dest", region="westus"
        )
        assert isinstance(copy, ft.CheckpointCopy)
        assert copy.fineTuningJobId == job.id
        assert copy.copiedAccountDetails == [
            {"destinationResourceId": "/subscriptions/s/accounts/dest", "region": "westus", "status": "InProgress"}
        ]
        status = await client.fine_tuning.jobs.checkpoints.retrieve_copy(job.id, ckpt.id)
        assert status.copiedAccountDetails is not None
        assert status.copiedAccountDetails[0]["status"] == "Completed"


# -- on the scripted server: what the dialect does not do ------------------------------------


async def test_inner_error_is_kept_with_azure_code(endpoint: str) -> None:
    """Azure's ``inner_error`` (the dialect answers it null): kept on the error with the code."""
    async with azure(endpoint) as client:
        with pytest.raises(ft.NotFoundError) as caught:
            await client.fine_tuning.jobs.retrieve("ftjob-missing")
        file = await client.files.create(file=("train.jsonl", LINES))
        with pytest.raises(ft.BadRequestError) as refused:
            await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
    assert caught.value.request_id == "apim-404"
    assert caught.value.code == "NotFound"
    assert caught.value.inner_error == {"code": "jobNotFound"}
    assert refused.value.code == "invalidPayload"
    assert refused.value.inner_error == {"code": "fileNotReady", "file_id": file.id}


async def test_dated_route_and_201_without_a_body_read_from_location(endpoint: str, state: AzureState) -> None:
    state.v1 = False
    state.empty_create = True
    async with azure(endpoint, api_version=PREVIEW) as client:
        assert client.base_url == endpoint + "/openai"
        file = await client.files.create(file=("train.jsonl", LINES))
        await client.files.wait_for_processing(file.id, poll_interval=0.01)
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
        # The empty 201's Location was read: the job as a GET of it answered (one read: still pending).
        assert job.id in state.jobs
        assert job.status == ft.JobStatus.PENDING
        assert job.organization_id == ""
        await client.fine_tuning.jobs.delete(job.id)
        assert job.id not in state.jobs


@pytest.mark.parametrize(
    "location",
    [
        "https://elsewhere.example/openai/fine_tuning/jobs/ftjob-1",
        "/openai/../other/fine_tuning/jobs/ftjob-1",
        "/openai/%2e%2e/other",
        "/elsewhere/fine_tuning/jobs/ftjob-1",
    ],
)
async def test_an_empty_201_whose_location_leaves_the_base_url_is_not_followed(
    endpoint: str, state: AzureState, location: str
) -> None:
    state.v1 = False
    state.empty_create = True
    state.create_location = location
    sent: list[str] = []
    async with ft.AsyncClient.azure(
        endpoint=endpoint, api_key="azure-key", api_version=PREVIEW, request_hooks=[lambda info: sent.append(info.url)]
    ) as client:
        file = await client.files.create(file=("train.jsonl", LINES))
        await client.files.wait_for_processing(file.id, poll_interval=0.01)
        sent.clear()
        with pytest.raises(ft.DecodeError, match="Location"):
            await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
    assert len(sent) == 1, sent  # the create itself, and nothing after it


async def test_refused_before_sending(endpoint: str, state: AzureState, tmp_path: Path) -> None:
    from tests.providers import azure_server as module

    async with azure(endpoint) as client:
        before = len(module.LAST_SEEN)
        grader = {
            "type": "multi",
            "graders": {
                "exact": {
                    "type": "string_check",
                    "name": "x",
                    "input": "{{sample.output_text}}",
                    "reference": "a",
                    "operation": "eq",
                },
                "code": {"type": "python", "name": "py", "source": "def grade(s, i): return 1"},
            },
            "calculate_output": "exact + code",
        }
        with pytest.raises(ft.UnsupportedByProviderError, match="python grader") as caught:
            await client.fine_tuning.jobs.create(
                model="o4-mini",
                training_file="file-x",
                method={"type": "reinforcement", "reinforcement": {"grader": grader}},
            )
        assert caught.value.provider == "azure"
        assert caught.value.operation == "jobs.create"
        with pytest.raises(ft.UnsupportedByProviderError, match=r"uploads\.create"):
            await client.uploads.create(
                bytes=10, filename="a.jsonl", mime_type="application/jsonl", purpose="fine-tune"
            )
        with pytest.raises(ft.UnsupportedByProviderError, match=r"jobs\.delete"):
            await client.fine_tuning.jobs.delete("ftjob-x")
        with pytest.raises(ft.UnsupportedByProviderError, match=r"checkpoints\.permissions\.create"):
            await client.fine_tuning.checkpoints.permissions.create("ft:x:ckpt", project_ids=["p"])
        with pytest.raises(ft.UnsupportedByProviderError, match="webhooks"):
            ft.WebhookHub(secret="whsec_" + "A" * 32).attach(client)
        assert len(module.LAST_SEEN) == before


async def test_entra_token_that_expires_is_fetched_again(endpoint: str, state: AzureState) -> None:
    class AccessToken:
        def __init__(self, token: str, expires_on: float) -> None:
            self.token, self.expires_on = token, expires_on

    issued: list[str] = []

    async def provider() -> AccessToken:
        issued.append(f"entra-{len(issued)}")
        # Inside the refresh margin by the next request: never used past its expiry.
        return AccessToken(issued[-1], time.time() + 60.5 if len(issued) == 1 else time.time() + 3600)

    from tests.providers import azure_server as module

    async with ft.AsyncClient.azure(endpoint=endpoint, azure_ad_token_provider=provider) as client:
        with pytest.raises(ft.NotFoundError):
            await client.fine_tuning.jobs.retrieve("ftjob-1")
        # Past its expiry less the refresh margin (60 s): the next request fetches a new one.
        await anyio.sleep(0.6)
        for _ in range(2):
            with pytest.raises(ft.NotFoundError):
                await client.fine_tuning.jobs.retrieve("ftjob-1")
    assert issued == ["entra-0", "entra-1"]
    sent = [s.headers["Authorization"] for s in module.LAST_SEEN[-3:]]
    assert sent == ["Bearer entra-0", "Bearer entra-1", "Bearer entra-1"]
    assert all("api-key" not in s.headers for s in module.LAST_SEEN[-3:])


def test_routes_and_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    v1 = ft.AsyncClient.azure(endpoint="https://r.openai.azure.com/", api_key="k")
    assert isinstance(v1.provider, AzureProvider)
    assert v1.base_url == "https://r.openai.azure.com/openai/v1"
    assert v1._transport._query == {}
    caps = v1.provider.capabilities
    assert (caps.uploads, caps.checkpoint_copy, caps.delete_job, caps.pause_resume) == (False, True, False, True)
    assert (caps.python_grader, caps.webhooks, caps.checkpoint_permissions) == (False, False, False)
    preview = ft.AsyncClient.azure(endpoint="https://r.openai.azure.com", api_key="k", api_version="preview")
    assert preview.base_url == "https://r.openai.azure.com/openai/v1"
    assert preview._transport._query == {"api-version": "preview"}
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    dated = ft.AsyncClient.azure(endpoint="https://r.openai.azure.com/openai", api_key="k")
    assert dated.base_url == "https://r.openai.azure.com/openai"
    assert dated._transport._query == {"api-version": "2024-10-21"}
    assert dated.provider.capabilities.uploads
    assert dated.provider.capabilities.delete_job
    assert not dated.provider.capabilities.checkpoint_copy
    # client.provider is read-only.
    with pytest.raises(AttributeError):
        v1.provider = dated.provider  # type: ignore[misc]

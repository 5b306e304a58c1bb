"""Our Fireworks client against the emulator's Fireworks dialect (``Emulator(provider="fireworks")``).

Every request the client sends in these tests is checked against Fireworks' published spec
(tests/spec.py's ``FIREWORKS_SPEC``: its path is an operation, its query parameters are declared
ones, its body fits the request schema), and answers generated from the spec's response schemas
go through the provider's mapping and decode.
"""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async._auth import ApiKeyAuth
from finetune_async.emulator import Emulator
from finetune_async.models import FileObject, FineTuningJob
from finetune_async.models._converter import structure
from finetune_async.pagination import Page
from finetune_async.providers import FireworksProvider, capabilities_of
from finetune_async.providers.fireworks import _LISTING, _display_name, _metadata_of, digest
from tests.conftest import SpecChecker
from tests.data import dpo_rows, jsonl, supervised_rows
from tests.spec import FIREWORKS_SPEC

MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
ACCOUNT = "acme"
JOBS = "POST:/v1/fine_tuning/jobs"
FILES = "POST:/v1/files"

requires_spec = FIREWORKS_SPEC.requires


@attrs.define
class Recorder:
    """A request hook: every request sent, each checked against Fireworks' spec when it is here."""

    sent: list[ft.RequestInfo] = attrs.field(factory=list)
    spec: SpecChecker = attrs.field(factory=lambda: SpecChecker(spec=FIREWORKS_SPEC, check_query=True))

    def __call__(self, info: ft.RequestInfo) -> None:
        self.sent.append(info)
        self.spec(info)

    def posts(self, suffix: str) -> list[ft.RequestInfo]:
        return [i for i in self.sent if i.method == "POST" and i.path.endswith(suffix)]


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(provider="fireworks", job_seconds=1.0) as emulator:
        yield emulator


def origin(emu: Emulator) -> str:
    return f"http://127.0.0.1:{emu.port}"


def fireworks(emu: Emulator, recorder: Recorder | None = None, **kwargs: Any) -> ft.AsyncClient:
    kwargs.setdefault("settle_window", 1.0)
    return ft.AsyncClient.fireworks(
        api_key="fw-key",
        account_id=ACCOUNT,
        base_url=origin(emu),
        request_hooks=[recorder] if recorder is not None else [],
        **kwargs,
    )


async def upload(client: ft.AsyncClient, rows: bytes | None = None, name: str = "train.jsonl") -> str:
    file = await client.files.create(file=(name, rows if rows is not None else jsonl(supervised_rows(12))))
    return (await client.files.wait_for_processing(file.id, poll_interval=0.02)).id


# -- files ---------------------------------------------------------------------------------------


@requires_spec
async def test_a_file_is_a_dataset_made_uploaded_and_ready(emu: Emulator, tmp_path: Path) -> None:
    recorder = Recorder()
    path = tmp_path / "My Train.jsonl"
    path.write_bytes(jsonl(supervised_rows(7)) + b"\n\n")
    async with fireworks(emu, recorder) as client:
        file = await client.files.create(file=path)
        assert file.status == "processed"
        assert file.filename == "My Train.jsonl"
        assert file.bytes == path.stat().st_size
        assert file.purpose == "fine-tune"
        assert file.id.startswith("my-train-")
        assert file.model_extra["example_count"] == "7"  # counted before sending: blank lines are not examples
        creates = recorder.posts("/datasets")
        assert len(creates) == 1
        assert creates[0].json["datasetId"] == file.id
        assert creates[0].json["dataset"] == {
            "displayName": "My Train.jsonl",
            "userUploaded": {},
            "format": "CHAT",
            "exampleCount": "7",
        }
        assert len(recorder.posts(f"/datasets/{file.id}:upload")) == 1
        assert recorder.posts(":upload")[0].files == ("file",)

        again = await client.files.wait_for_processing(file.id, poll_interval=0.02)
        assert again.id == file.id
        assert again.status == "processed"
        got = await client.files.retrieve(file.id)
        assert got.filename == "My Train.jsonl"
        assert got.created_at == file.created_at

        other = await client.files.create(file=("b.jsonl", jsonl(supervised_rows(3))), extra_body={"format": "CHAT"})
        third = await client.files.create(file=("c.jsonl", jsonl(supervised_rows(3))))
        walked = [f.id async for f in client.files.list(limit=2)]
        assert walked == [third.id, other.id, file.id]  # newest first, across pages
        first = await client.files.list(limit=2)
        assert first.has_more
        assert [f.id for f in (await first.next_page()).data] == [file.id]

        deleted = await client.files.delete(other.id)
        assert (deleted.id, deleted.deleted) == (other.id, True)
        with pytest.raises(ft.NotFoundError) as caught:
            await client.files.retrieve(other.id)
        assert caught.value.code == "NOT_FOUND"
    assert {(m, t) for m, t in recorder.spec.operations} >= {
        ("POST", "/v1/accounts/{account_id}/datasets"),
        ("POST", "/v1/accounts/{account_id}/datasets/{dataset_id}:upload"),
        ("GET", "/v1/accounts/{account_id}/datasets/{dataset_id}"),
        ("GET", "/v1/accounts/{account_id}/datasets"),
        ("DELETE", "/v1/accounts/{account_id}/datasets/{dataset_id}"),
    }


# Fault rules name a dataset's create as OpenAI's file create.
@pytest.mark.parametrize("route", ["POST:/v1/files", "POST:/v1/accounts/*/datasets/*:upload"])
async def test_a_lost_dataset_request_makes_one_dataset(emu: Emulator, route: str) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        emu.faults.inject(route, "lost")
        file = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(5))))
        assert file.status == "processed"
        listed = [f.id async for f in client.files.list()]
    assert listed == [file.id]
    assert len(emu.state.store.files) == 1
    # The fault was met: the answer was lost, and still one dataset.
    assert [kind for _, kind in emu.faults.history] == ["lost"]


# -- jobs ----------------------------------------------------------------------------------------


@requires_spec
async def test_a_supervised_job_from_create_to_its_model(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        train = await upload(client)
        valid = await upload(client, jsonl(supervised_rows(4)), "valid.jsonl")
        job = await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=train,
            validation_file=valid,
            suffix="Support Bot",
            hyperparameters={"n_epochs": 2, "batch_size": 4, "learning_rate": 2e-4},
            extra_body={"loraRank": 16, "maxContextLength": 4096, "displayName": "my run"},
        )
        assert job.status == "validating_files"
        assert job.provider_status == "JOB_STATE_CREATING"
        assert job.model == MODEL
        assert (job.training_file, job.validation_file) == (train, valid)
        assert job.hyperparameters.n_epochs == 2
        assert job.hyperparameters.batch_size == 4
        assert job.hyperparameters.model_extra["learning_rate"] == 2e-4
        assert job.method is not None
        assert job.method.type == "supervised"
        assert job.metadata is not None
        assert set(job.metadata) == {"ft_create"}
        assert job.fine_tuned_model is None

        (sent,) = recorder.posts("/supervisedFineTuningJobs")
        chosen = sent.params["supervisedFineTuningJobId"]
        assert chosen == job.id
        body = sent.json
        assert body["dataset"] == f"accounts/{ACCOUNT}/datasets/{train}"
        assert body["evaluationDataset"] == f"accounts/{ACCOUNT}/datasets/{valid}"
        assert body["baseModel"] == MODEL
        assert (body["epochs"], body["batchSizeSamples"], body["learningRate"]) == (2, 4, 2e-4)
        assert (body["loraRank"], body["maxContextLength"]) == (16, 4096)
        assert body["outputModel"] == f"support-bot-{job.id[-8:]}"
        assert body["displayName"].startswith("my run ft c=")
        assert len(body["displayName"]) <= 63
        assert "metadata" not in body
        assert "seed" not in body

        got = await client.fine_tuning.jobs.retrieve(job.id)
        assert got.id == job.id
        assert got.created_at == job.created_at
        assert got.model_extra["name"] == f"accounts/{ACCOUNT}/supervisedFineTuningJobs/{job.id}"

        done = await client.fine_tuning.jobs.wait(job.id, poll_interval=0.02)
        assert done.status == "succeeded"
        assert done.provider_status == "JOB_STATE_COMPLETED"
        assert done.fine_tuned_model == f"accounts/{ACCOUNT}/models/support-bot-{job.id[-8:]}"
        assert done.finished_at is not None
        assert done.finished_at >= done.created_at
        assert done.model_extra["jobProgress"]["percent"] == 100


@requires_spec
async def test_a_dpo_job_always_says_dpo_and_is_cancelled_and_deleted(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        train = await upload(client, jsonl(dpo_rows(8)), "prefs.jsonl")
        job = await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=train,
            method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.25, "n_epochs": 3}}},
            extra_body={"loraRank": 8, "wandbConfig": {"enabled": False}},
        )
        assert job.id.startswith("dpo:")
        assert job.method is not None
        assert job.method.type == "dpo"
        assert job.method.dpo is not None
        assert job.method.dpo.hyperparameters is not None
        assert job.method.dpo.hyperparameters.beta == 0.25
        (sent,) = recorder.posts("/dpoJobs")
        assert sent.params["dpoJobId"] == job.id.removeprefix("dpo:")
        assert sent.json["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.25}}
        assert sent.json["trainingConfig"] == {"baseModel": MODEL, "epochs": 3, "loraRank": 8}
        assert sent.json["wandbConfig"] == {"enabled": False}

        cancelled = await client.fine_tuning.jobs.cancel(job.id)
        # :cancel answers {}: the job is read after it, winding down or done (both cancelled).
        assert cancelled.id == job.id
        assert cancelled.status == "cancelled"
        assert cancelled.provider_status in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
        (cancel,) = recorder.posts(":cancel")
        assert cancel.json == {}
        ended = await client.fine_tuning.jobs.wait(job.id, poll_interval=0.02, raise_on_failure=False)
        assert ended.status == "cancelled"
        with pytest.raises(ft.JobCancelledError):
            await client.fine_tuning.jobs.wait(job.id, poll_interval=0.02)

        await client.fine_tuning.jobs.delete(job.id)
        with pytest.raises(ft.NotFoundError) as caught:
            await client.fine_tuning.jobs.retrieve(job.id)
        assert "dpoJobs" in caught.value.message
    assert ("DELETE", "/v1/accounts/{account_id}/dpoJobs/{dpo_job_id}") in recorder.spec.operations


@requires_spec
async def test_list_reads_both_collections_newest_first_each_in_pages(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        train = await upload(client)
        prefs = await upload(client, jsonl(dpo_rows(6)), "p.jsonl")
        sft = [(await client.fine_tuning.jobs.create(model=MODEL, training_file=train)).id for _ in range(3)]
        dpo = [
            (await client.fine_tuning.jobs.create(model=MODEL, training_file=prefs, method={"type": "dpo"})).id
            for _ in range(2)
        ]
        recorder.sent.clear()
        walked = [job.id async for job in client.fine_tuning.jobs.list(limit=2)]
        assert walked == sft[::-1] + dpo[::-1]
        lists = [i for i in recorder.sent if i.method == "GET"]
        # The reinforcement collection (empty here) is read last.
        assert [i.path.rsplit("/", 1)[1] for i in lists] == ["supervisedFineTuningJobs"] * 2 + [
            "dpoJobs",
            "reinforcementFineTuningJobs",
        ]
        assert all(i.params["orderBy"] == "createTime desc" and i.params["pageSize"] == "2" for i in lists)

        first = await client.fine_tuning.jobs.list(limit=2)
        assert [j.id for j in first.data] == sft[:0:-1]
        assert first.has_more
        second = await client.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)
        assert [j.id for j in second.data] == [sft[0]]
        with pytest.raises(ft.ProviderParameterError) as caught:
            await client.fine_tuning.jobs.list(after="ft-never-listed")
        assert caught.value.param == "after"

        # The local metadata filter compares the digests the jobs keep, across both collections.
        marked = await client.fine_tuning.jobs.create(
            model=MODEL, training_file=prefs, method={"type": "dpo"}, metadata={"ft_create": "mine"}
        )
        assert marked.metadata == {"ft_create": digest("mine")}
        found = [j.id async for j in client.fine_tuning.jobs.list(limit=2, metadata={"ft_create": "mine"})]
        assert found == [marked.id]


# -- exactly once --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["supervised", "dpo"])
@pytest.mark.parametrize("mark_creates", [True, False])
async def test_a_lost_create_makes_one_job(emu: Emulator, mark_creates: bool, method: str) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder, mark_creates=mark_creates) as client:
        train = await upload(client, jsonl(dpo_rows(8)) if method == "dpo" else None)
        emu.faults.inject(JOBS, "lost")
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train, method={"type": method})
        listed = [j.id async for j in client.fine_tuning.jobs.list()]
    assert listed == [job.id]
    assert len(emu.state.store.jobs) == 1
    creates = recorder.posts("/dpoJobs" if method == "dpo" else "/supervisedFineTuningJobs")
    assert len(creates) == 1
    assert ("dpoJobId" in creates[0].params or "supervisedFineTuningJobId" in creates[0].params) is mark_creates


async def test_a_lost_cancel_is_seen_to_have_been_applied(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        train = await upload(client)
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train, hyperparameters={"n_epochs": 3})
        emu.faults.inject("POST:/v1/fine_tuning/jobs/*/cancel", "lost")
        cancelled = await client.fine_tuning.jobs.cancel(job.id)
        assert cancelled.status == "cancelled"
    assert len(recorder.posts(":cancel")) == 1


async def test_late_creates_make_one_job_each(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder, timeout=ft.Timeout(total=None, read=0.5), settle_window=1.0) as client:
        train = await upload(client)
        emu.faults.inject(JOBS, "late", count=6, seconds=1.5)
        jobs: dict[int, ft.FineTuningJob] = {}

        async def create(i: int) -> None:
            jobs[i] = await client.fine_tuning.jobs.create(model=MODEL, training_file=train)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(6):
                    tg.start_soon(create, i)
    assert len({j.id for j in jobs.values()}) == 6
    assert len(emu.state.store.jobs) == 6
    # Each attempt of one call chose the same id (a second attempt is a 409, never a second job).
    ids = [i.params["supervisedFineTuningJobId"] for i in recorder.posts("/supervisedFineTuningJobs")]
    assert set(ids) == {j.id for j in jobs.values()}


async def test_a_create_answered_409_for_its_own_id_returns_that_job(emu: Emulator) -> None:
    # Another client (a rerun after a crash) sends the create with the same marker: the same id.
    async with fireworks(emu) as first, fireworks(emu, settle_window=2.0) as second:
        train = await upload(first)
        made = await first.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"ft_create": "run-7"})
        again = await second.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"ft_create": "run-7"})
        assert again.id == made.id
        # In one client the job is handed out once: the same marker again is the conflict it is.
        with pytest.raises(ft.ConflictError) as caught:
            await second.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"ft_create": "run-7"})
        assert caught.value.code == "ALREADY_EXISTS"
    assert len(emu.state.store.jobs) == 1


async def test_run_batch_with_a_lost_create_makes_one_job_per_spec(emu: Emulator, tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        path = tmp_path / f"t{i}.jsonl"
        path.write_bytes(jsonl(supervised_rows(10 + i)))
        paths.append(path)
    specs = [ft.BatchSpec(training_file=p, model=MODEL, suffix=f"s{i}") for i, p in enumerate(paths)]
    journal = tmp_path / "j.sqlite"
    recorder = Recorder()
    async with fireworks(emu, recorder, max_poll_requests_per_second=None) as client:
        emu.faults.inject(JOBS, "lost")
        report = await ft.run_batch(client, specs, journal=journal, max_concurrent=3)
        assert report.ok, [r.error for r in report]
        assert report.created == 3
        # A fresh journal, the same batch id: its jobs are found by their displayName digests.
        again = await ft.run_batch(client, specs, journal=tmp_path / "k.sqlite", batch_id=report.batch_id)
        assert again.created == 0
        assert again.reattached == 3
    assert len(emu.state.store.jobs) == 3
    assert sorted(r.job_id or "" for r in report) == sorted(r.job_id or "" for r in again)
    assert len(recorder.posts("/supervisedFineTuningJobs")) == 3


# -- refusals and errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"hyperparameters": {"learning_rate_multiplier": 2.0}}, "hyperparameters.learning_rate_multiplier"),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 0.5}}}},
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        ({"hyperparameters": {"beta": 0.1}}, "hyperparameters.beta"),
        ({"seed": 7}, "seed"),
        ({"metadata": {"team": "ml"}}, "metadata.team"),
        ({"extra_body": {"notAField": 1}}, "notAField"),
        ({"integrations": [{"type": "wandb", "wandb": {"project": "p"}}]}, "integrations"),
        ({"method": {"type": "dpo"}, "validation_file": "v"}, "validation_file"),
        ({"method": {"type": "dpo"}, "extra_body": {"lossConfig": {"method": "GRPO"}}}, "lossConfig"),
    ],
)
async def test_what_has_no_fireworks_field_is_refused_before_sending(
    emu: Emulator, kwargs: dict[str, Any], param: str
) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        with pytest.raises(ft.ProviderParameterError) as caught:
            await client.fine_tuning.jobs.create(model=MODEL, training_file="t", **kwargs)
        assert caught.value.param == param
    assert recorder.sent == []


async def test_what_fireworks_cannot_do_is_refused_before_sending(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        jobs = client.fine_tuning.jobs
        with pytest.raises(ft.ProviderParameterError, match="evaluator") as no_evaluator:
            await jobs.create(model=MODEL, training_file="t", method={"type": "reinforcement"})
        assert no_evaluator.value.param == "evaluator"
        with pytest.raises(ft.UnsupportedByProviderError, match="events"):
            await jobs.list_events("ft-1")
        with pytest.raises(ft.UnsupportedByProviderError, match="checkpoint"):
            await jobs.checkpoints.list("ft-1")
        with pytest.raises(ft.UnsupportedByProviderError, match="checkpoint"):
            ft.stream_checkpoints(client, "ft-1")
        for call in (jobs.pause, jobs.resume):
            with pytest.raises(ft.UnsupportedByProviderError):
                await call("ft-1")
        with pytest.raises(ft.UnsupportedByProviderError, match="signed download URL"):
            await client.files.content("ds-1")
        with pytest.raises(ft.UnsupportedByProviderError):
            await client.uploads.create(bytes=1, filename="a", mime_type="application/jsonl", purpose="fine-tune")
        with pytest.raises(ft.UnsupportedByProviderError, match="expire"):
            await client.files.create(file=("a.jsonl", b"{}\n"), expires_after={"anchor": "created_at", "seconds": 9})
        with pytest.raises(ft.ProviderParameterError) as caught:
            await client.files.create(file=("a.jsonl", b"{}\n"), purpose="batch")
        assert caught.value.param == "purpose"
        with pytest.raises(ft.UnsupportedByProviderError):
            await client.models.list()
    assert recorder.sent == []
    caps = capabilities_of("fireworks")
    assert caps.methods == {"supervised", "dpo", "reinforcement"}
    assert (caps.events, caps.checkpoints, caps.uploads, caps.metadata_filter) == (False, False, False, False)
    assert (caps.delete_job, caps.files_must_be_processed) == (True, True)
    # What files.create lets through: over 150 MB, the dataset goes to a signed URL.
    assert caps.max_file_bytes == 5 * 2**40
    assert caps.metrics_endpoint


async def test_errors_are_mapped_from_googles_shape(emu: Emulator) -> None:
    async with fireworks(emu) as client:
        train = await upload(client)
        with pytest.raises(ft.NotFoundError) as missing:
            await client.fine_tuning.jobs.retrieve("ft-nope")
        assert missing.value.status_code == 404
        assert missing.value.code == "NOT_FOUND"
        assert "ft-nope" in missing.value.message
        with pytest.raises(ft.BadRequestError) as bad:
            await client.fine_tuning.jobs.create(model=MODEL, training_file=train, extra_body={"epochs": 0})
        assert bad.value.status_code == 400
        assert bad.value.code == "INVALID_ARGUMENT"
        assert bad.value.param == "epochs"
        with pytest.raises(ft.NotFoundError) as unknown:
            await client.fine_tuning.jobs.create(model=MODEL, training_file="not-a-dataset")
        assert "not-a-dataset" in unknown.value.message
        assert "fw-key" not in str(unknown.value) + repr(client) + repr(client.provider)


def test_constructor_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FIREWORKS_API_KEY", "FIREWORKS_ACCOUNT_ID", "FIREWORKS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ft.FineTuneError, match="FIREWORKS_API_KEY"):
        ft.AsyncClient.fireworks(account_id="a")
    with pytest.raises(ft.FineTuneError, match="FIREWORKS_ACCOUNT_ID"):
        ft.AsyncClient.fireworks(api_key="k")
    monkeypatch.setenv("FIREWORKS_API_KEY", "fw-secret")
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "team-a")
    client = ft.AsyncClient.fireworks()
    assert isinstance(client.provider, FireworksProvider)
    assert client.provider.account_id == "team-a"
    assert client.base_url == "https://api.fireworks.ai"
    assert "fw-secret" not in repr(client) + repr(client.provider)
    monkeypatch.setenv("FIREWORKS_BASE_URL", "https://proxy.example/v1/")
    assert ft.AsyncClient.fireworks().base_url == "https://proxy.example"
    assert ft.AsyncClient.fireworks(base_url="http://h:1", account_id="b").provider.account_id == "b"


# -- properties ----------------------------------------------------------------------------------

_KEYS = st.sampled_from(["ft_create", "ft_batch", "ft_spec"])


@settings(max_examples=200)
@given(
    metadata=st.dictionaries(_KEYS, st.text(min_size=1, max_size=40)),
    name=st.none() | st.text(max_size=80),
)
def test_metadata_rides_in_a_display_name_as_the_digests_kept_metadata_makes(
    metadata: dict[str, str], name: str | None
) -> None:
    provider = FireworksProvider(base_url="https://api.fireworks.ai", auth=ApiKeyAuth("k"), account_id="a")
    shown = _display_name(name, metadata)
    if not metadata:
        assert shown == name
        return
    assert shown is not None
    assert len(shown) <= 63
    assert _metadata_of(shown) == dict(provider.kept_metadata(metadata))


def _provider() -> FireworksProvider:
    return FireworksProvider(base_url="https://api.fireworks.ai", auth=ApiKeyAuth("k"), account_id=ACCOUNT)


@requires_spec
@settings(max_examples=60, deadline=None)
@given(body=FIREWORKS_SPEC.strategy("gatewaySupervisedFineTuningJob"))
def test_generated_supervised_jobs_decode(body: dict[str, Any]) -> None:
    job = structure(_provider().from_wire("jobs.retrieve", body), FineTuningJob)
    assert job.provider_status == body.get("state", "JOB_STATE_UNSPECIFIED")
    assert job.method is not None


@requires_spec
@settings(max_examples=60, deadline=None)
@given(body=FIREWORKS_SPEC.strategy("gatewayDpoJob"))
def test_generated_dpo_jobs_decode(body: dict[str, Any]) -> None:
    mapped = _provider().from_wire("jobs.retrieve", body)
    job = structure(mapped, FineTuningJob)
    if "trainingConfig" in body or "lossConfig" in body:
        assert job.id.startswith("dpo:")


@requires_spec
@settings(max_examples=40, deadline=None)
@given(
    sft=FIREWORKS_SPEC.strategy("gatewayListSupervisedFineTuningJobsResponse"),
    dpo=FIREWORKS_SPEC.strategy("gatewayListDpoJobsResponse"),
    datasets=FIREWORKS_SPEC.strategy("gatewayListDatasetsResponse"),
)
def test_generated_list_answers_decode(sft: dict[str, Any], dpo: dict[str, Any], datasets: dict[str, Any]) -> None:
    from finetune_async.resources._base import Resource

    provider = _provider()
    for operation, body, cls in (("jobs.list", sft, FineTuningJob), ("files.list", datasets, FileObject)):
        mapped = provider.from_wire(operation, body)  # type: ignore[arg-type]
        page = structure_page(Resource, mapped, cls)
        assert page.has_more or not body.get("nextPageToken")
    _LISTING.set("dpoJobs")
    page = structure_page(Resource, provider.from_wire("jobs.list", dpo), FineTuningJob)
    # The reinforcement collection comes after the DPO one: there is always a page more.
    assert page.has_more


def structure_page(resource: Any, body: dict[str, Any], cls: Any) -> Page[Any]:
    import json

    from finetune_async._transport import Response

    answer = Response(200, {}, json.dumps(body).encode(), None)
    page: Page[Any] = resource._decode_page(cls, answer, "GET /x")
    return page


@requires_spec
@settings(max_examples=60, deadline=None)
@given(body=FIREWORKS_SPEC.strategy("gatewayDataset"), size=st.none() | st.integers(0, 1 << 30))
def test_generated_datasets_decode(body: dict[str, Any], size: int | None) -> None:
    from finetune_async.providers.fireworks import _file

    file = structure(_provider().from_wire("files.retrieve", body), FileObject)
    assert file.status in ("processed", "uploaded", "error")
    assert structure(_file(body, size), FileObject).bytes == (size or 0)


@settings(max_examples=100)
@given(
    status=st.sampled_from([400, 401, 403, 404, 409, 429, 500, 503]),
    name=st.text(max_size=12),
    message=st.text(max_size=60),
)
def test_google_errors_map_by_status(status: int, name: str, message: str) -> None:
    error = _provider().status_error(status, {"error": {"code": status, "message": message, "status": name}})
    assert error.status_code == status
    assert error.code == name
    assert isinstance(error, ft.APIStatusError)
    expected = {400: ft.BadRequestError, 404: ft.NotFoundError, 409: ft.ConflictError, 429: ft.RateLimitError}
    if status in expected:
        assert isinstance(error, expected[status])
    if status >= 500:
        assert isinstance(error, ft.InternalServerError)


def test_an_answer_time_is_read_as_epoch_seconds() -> None:
    body = {"name": "accounts/a/supervisedFineTuningJobs/x", "createTime": "2026-01-02T03:04:05.678Z"}
    job = _provider().from_wire("jobs.retrieve", body)
    assert job["created_at"] == calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0))

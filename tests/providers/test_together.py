"""Our Together client against the emulator's Together dialect (``Emulator(provider="together")``).

Every request the client sends in these tests is checked against Together's published spec
(``providers/together-fine-tuning.yaml``: its path is an operation, its query parameters are
declared, its JSON or multipart body fits), and answers generated from the spec's response
schemas go through the provider's mapping and decode.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async._ledger import MARKER_KEY
from finetune_async.emulator import Emulator
from finetune_async.models import FileObject, FineTuningJob, FineTuningJobCheckpoint, FineTuningJobEvent
from finetune_async.models._converter import structure, structure_list
from finetune_async.providers import TogetherProvider, capabilities_of
from finetune_async.providers.together import (
    MAX_WANDB_NAME,
    METADATA_PREFIX,
    epoch_seconds,
    metadata_from_wandb_name,
    normalise_status,
    wandb_name_from_metadata,
)
from tests.conftest import SpecChecker
from tests.data import dpo_rows, jsonl, supervised_rows
from tests.spec import TOGETHER_SPEC

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
JOBS = "POST:/v1/fine_tuning/jobs"
# Fault rules name OpenAI's paths: the spec's upload route is POST:/v1/files to them.
UPLOAD = "POST:/v1/files"

pytestmark = TOGETHER_SPEC.requires


@attrs.define
class Recorder:
    """A request hook: every request sent, each checked against Together's spec."""

    sent: list[ft.RequestInfo] = attrs.field(factory=list)
    checker: SpecChecker = attrs.field(factory=lambda: SpecChecker(spec=TOGETHER_SPEC, check_query=True))

    def __call__(self, info: ft.RequestInfo) -> None:
        self.checker(info)
        self.sent.append(info)

    def bodies(self, method: str, path: str) -> list[Any]:
        return [info.json for info in self.sent if info.method == method and info.path == path]

    @property
    def operations(self) -> set[tuple[str, str]]:
        return self.checker.operations


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(provider="together", job_seconds=1.0) as emulator:
        yield emulator


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def together(emu: Emulator, recorder: Recorder | None = None, **kwargs: Any) -> ft.AsyncClient:
    hooks = [recorder] if recorder is not None else []
    kwargs.setdefault("settle_window", 1.0)
    return ft.AsyncClient.together(api_key="tg-key", base_url=emu.base_url, request_hooks=hooks, **kwargs)


async def upload(client: ft.AsyncClient, rows: list[dict[str, Any]] | None = None, name: str = "train.jsonl") -> str:
    data = jsonl(rows if rows is not None else supervised_rows(24))
    return (await client.files.create(file=(name, data), purpose="fine-tune")).id


async def all_jobs(client: ft.AsyncClient) -> list[ft.FineTuningJob]:
    return [job async for job in client.fine_tuning.jobs.list()]


# -- the lifecycle -------------------------------------------------------------------------


async def test_a_lora_job_from_upload_to_delete(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        assert client.provider.name == "together"
        assert client.base_url == emu.base_url
        uploaded = await client.files.create(file=("train.jsonl", jsonl(supervised_rows(24))))
        assert uploaded.status == ft.FileStatus.PROCESSED
        assert uploaded.filename == "train.jsonl"
        assert uploaded.bytes == len(jsonl(supervised_rows(24)))
        assert (await client.files.retrieve(uploaded.id)).id == uploaded.id
        assert [f.id async for f in client.files.list()] == [uploaded.id]
        assert (await client.files.content(uploaded.id)).content == jsonl(supervised_rows(24))

        job = await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=uploaded.id,
            hyperparameters={"n_epochs": 2, "batch_size": 4, "learning_rate": 2e-4},
            suffix="lora",
            seed=7,
            metadata={"team": "ml"},
            extra_body={
                "training_type": {"type": "Lora", "lora_r": 16, "lora_alpha": 32},
                "warmup_ratio": 0.1,
                "lr_scheduler": {"lr_scheduler_type": "linear", "lr_scheduler_args": {"min_lr_ratio": 0.1}},
                "n_checkpoints": 2,
            },
        )
        (sent,) = recorder.bodies("POST", "/fine-tunes")
        assert sent["n_epochs"] == 2
        assert sent["batch_size"] == 4
        assert sent["learning_rate"] == 2e-4
        assert sent["random_seed"] == 7
        assert sent["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
        assert sent["wandb_name"].startswith(METADATA_PREFIX)
        assert "metadata" not in sent
        assert "hyperparameters" not in sent
        assert "seed" not in sent

        assert job.status in (ft.JobStatus.VALIDATING_FILES, ft.JobStatus.QUEUED)
        assert job.provider_status in ("pending", "queued")
        assert job.metadata is not None
        assert job.metadata["team"] == "ml"
        assert MARKER_KEY in job.metadata
        assert job.hyperparameters.n_epochs == 2
        assert job.hyperparameters.batch_size == 4
        assert job.hyperparameters.model_extra["learning_rate"] == 2e-4
        assert job.method is not None
        assert job.method.type == ft.MethodType.SUPERVISED
        assert job.seed == 7
        assert job.fine_tuned_model is None
        assert job.model_extra["training_type"]["lora_r"] == 16

        got = await client.fine_tuning.jobs.retrieve(job.id)
        assert got.id == job.id
        assert got.metadata == job.metadata
        listed = await all_jobs(client)
        assert [j.id for j in listed] == [job.id]
        assert listed[0].metadata == job.metadata
        assert [j.id async for j in client.fine_tuning.jobs.list(metadata={"team": "ml"})] == [job.id]
        assert [j.id async for j in client.fine_tuning.jobs.list(metadata={"team": "other"})] == []

        with anyio.fail_after(30):
            done = await client.fine_tuning.jobs.wait(job.id)
        assert done.status == ft.JobStatus.SUCCEEDED
        assert done.provider_status == "completed"
        assert done.fine_tuned_model == done.model_extra["model_output_name"]
        assert done.trained_tokens is not None
        assert done.trained_tokens > 0
        assert done.finished_at is not None
        assert done.finished_at >= done.created_at

        events = (await client.fine_tuning.jobs.list_events(job.id)).data
        assert events, "a finished job has events"
        assert len({e.id for e in events}) == len(events)
        assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
        assert events[0].data is not None
        assert events[0].data["type"] == "job_complete"
        assert all(e.type == ft.EventType.MESSAGE for e in events)
        # The same events read twice have the same ids (the streams depend on it).
        again = (await client.fine_tuning.jobs.list_events(job.id)).data
        assert [e.id for e in again] == [e.id for e in events]
        streamed = [e async for e in client.fine_tuning.jobs.stream_events(job.id)]
        assert [e.id for e in streamed] == [e.id for e in reversed(events)]
        page = await client.fine_tuning.jobs.list_events(job.id, limit=2)
        assert [e.id for e in page.data] == [e.id for e in events[:2]]
        assert page.has_more
        rest = await client.fine_tuning.jobs.list_events(job.id, after=events[1].id)
        assert [e.id for e in rest.data] == [e.id for e in events[2:]]

        checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
        assert checkpoints[0].model_extra["checkpoint_type"] == "Final Merged"
        assert checkpoints[0].fine_tuning_job_id == job.id
        assert checkpoints[0].fine_tuned_model_checkpoint == done.fine_tuned_model
        assert len({c.id for c in checkpoints}) == len(checkpoints)

        metrics = await client.fine_tuning.jobs.metrics(job.id)
        assert metrics.metrics, "a finished job has metrics"
        steps = [m["train/global_step"] for m in metrics.metrics]
        assert steps == sorted(steps)
        assert all(m["train/loss"] >= 0 for m in metrics.metrics)

        await client.fine_tuning.jobs.delete(job.id)
        with pytest.raises(ft.NotFoundError):
            await client.fine_tuning.jobs.retrieve(job.id)
        deleted = await client.files.delete(uploaded.id)
        assert deleted.id == uploaded.id
        assert deleted.deleted
    assert recorder.operations >= {
        ("POST", "/files/upload"),
        ("GET", "/files"),
        ("GET", "/files/{id}"),
        ("DELETE", "/files/{id}"),
        ("GET", "/files/{id}/content"),
        ("POST", "/fine-tunes"),
        ("GET", "/fine-tunes"),
        ("GET", "/fine-tunes/{id}"),
        ("DELETE", "/fine-tunes/{id}"),
        ("GET", "/fine-tunes/{id}/events"),
        ("GET", "/fine-tunes/{id}/checkpoints"),
        ("GET", "/fine-tunes/{id}/metrics"),
    }


async def test_a_dpo_job_sends_dpo_beta(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        train = await upload(client, dpo_rows(12), "prefs.jsonl")
        job = await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=train,
            method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1, "batch_size": "auto"}}},
            extra_body={"training_type": {"type": "Full"}},
        )
        (sent,) = recorder.bodies("POST", "/fine-tunes")
        assert sent["training_method"] == {"method": "dpo", "dpo_beta": 0.2}
        assert "batch_size" not in sent  # "auto": Together's default
        assert sent["training_type"] == {"type": "Full"}
        assert job.method is not None
        assert job.method.type == ft.MethodType.DPO
        assert job.method.dpo is not None
        assert job.method.dpo.hyperparameters is not None
        assert job.method.dpo.hyperparameters.beta == 0.2
        with anyio.fail_after(30):
            done = await client.fine_tuning.jobs.wait(job.id)
        assert done.status == ft.JobStatus.SUCCEEDED


async def test_cancel_reads_running_until_together_says_cancelled(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        train = await upload(client, supervised_rows(40))
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train, hyperparameters={"n_epochs": 5})
        cancelled = await client.fine_tuning.jobs.cancel(job.id)
        assert cancelled.provider_status == "cancel_requested"
        assert cancelled.status == ft.JobStatus.RUNNING
        again = await client.fine_tuning.jobs.retrieve(job.id)
        assert again.status == ft.JobStatus.CANCELLED
        assert again.provider_status == "cancelled"
        assert again.finished_at is not None
        with pytest.raises(ft.JobCancelledError):
            await ft.wait_for_job(client, job.id, timeout=30)
        with pytest.raises(ft.BadRequestError):
            await client.fine_tuning.jobs.cancel(job.id)
    assert ("POST", "/fine-tunes/{id}/cancel") in recorder.operations


async def test_stream_events_follows_a_live_job(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        train = await upload(client)
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train)
        seen: list[ft.FineTuningJobEvent] = []
        with anyio.fail_after(30):
            async for event in client.fine_tuning.jobs.stream_events(job.id, poll_interval=0.05):
                seen.append(event)
        assert len({e.id for e in seen}) == len(seen)
        assert seen[-1].data is not None
        assert seen[-1].data["type"] == "job_complete"
        listed = (await client.fine_tuning.jobs.list_events(job.id)).data
        assert [e.id for e in seen] == [e.id for e in reversed(listed)]


async def test_many_jobs_are_watched_from_the_listing(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        train = await upload(client)
        jobs = [await client.fine_tuning.jobs.create(model=MODEL, training_file=train) for _ in range(3)]
        with anyio.fail_after(30):
            finished = [job async for job in ft.as_completed(client, [j.id for j in jobs])]
        assert {j.id for j in finished} == {j.id for j in jobs}
        assert all(j.status == ft.JobStatus.SUCCEEDED for j in finished)
        page = await client.fine_tuning.jobs.list(limit=2)
        assert [j.id for j in page.data] == [jobs[2].id, jobs[1].id]
        assert page.has_more
        assert [j.id for j in (await client.fine_tuning.jobs.list(after=jobs[1].id)).data] == [jobs[0].id]


# -- errors and refusals --------------------------------------------------------------------


async def test_errors_are_the_sdks_exceptions(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        with pytest.raises(ft.NotFoundError) as missing:
            await client.fine_tuning.jobs.retrieve("ft-nope")
        assert "ft-nope" in missing.value.message
        with pytest.raises(ft.NotFoundError):
            await client.fine_tuning.jobs.list_events("ft-nope")
        with pytest.raises(ft.NotFoundError):
            await client.files.retrieve("file-nope")
        train = await upload(client)
        with pytest.raises(ft.BadRequestError) as bad:
            await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=train)
        assert bad.value.param == "model"
        assert await all_jobs(client) == []


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"hyperparameters": {"learning_rate_multiplier": 2.0}}, "hyperparameters.learning_rate_multiplier"),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 2}}}},
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"hyperparameters": {"batch_size": "min"}}, "hyperparameters.batch_size"),
        ({"hyperparameters": {"learning_rate": 0}}, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"beta": 0.1}}, "hyperparameters.beta"),
        ({"integrations": [{"type": "wandb", "wandb": {"project": "p"}}]}, "integrations"),
        ({"extra_body": {"lora": True}}, "lora"),
        ({"extra_body": {"warmup_ratio": 2}}, "warmup_ratio"),
        ({"extra_body": {"training_type": {"type": "Lora"}}}, "training_type.lora_r"),
        ({"extra_body": {"training_type": {"type": "QLora"}}}, "training_type.type"),
        (
            {
                "extra_body": {
                    "lr_scheduler": {
                        "lr_scheduler_type": "cosine",
                        "lr_scheduler_args": {"min_lr_ratio": 0.0, "num_cycles": 0.5},
                    }
                }
            },
            "lr_scheduler.lr_scheduler_args",
        ),
        ({"extra_body": {"wandb_name": "my-run"}}, "wandb_name"),
        ({"metadata": {f"key-{i:02d}-{'x' * 50}": "v" * 60 for i in range(15)}}, "metadata"),
    ],
)
async def test_what_cannot_map_is_refused_before_sending(
    emu: Emulator, recorder: Recorder, kwargs: dict[str, Any], param: str
) -> None:
    async with together(emu, recorder) as client:
        with pytest.raises(ft.ProviderParameterError) as refused:
            await client.fine_tuning.jobs.create(model=MODEL, training_file="file-x", **kwargs)
    assert refused.value.param == param
    assert refused.value.provider == "together"
    assert recorder.sent == []


async def test_what_together_cannot_do_is_refused_before_sending(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        grader = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "operation": "eq"}
        with pytest.raises(ft.UnsupportedByProviderError, match="reinforcement"):
            await client.fine_tuning.jobs.create(
                model=MODEL,
                training_file="file-x",
                method={"type": "reinforcement", "reinforcement": {"grader": {**grader, "reference": "x"}}},
            )
        for call in (
            lambda: client.fine_tuning.jobs.pause("ft-x"),
            lambda: client.fine_tuning.jobs.resume("ft-x"),
            lambda: client.uploads.create(
                bytes=1, filename="a.jsonl", mime_type="application/jsonl", purpose="fine-tune"
            ),
            lambda: client.models.list(),
            lambda: client.files.create(
                file=("a.jsonl", b"{}\n"), expires_after={"anchor": "created_at", "seconds": 3600}
            ),
            lambda: client.files.create(file=("a.jsonl", b"{}\n"), purpose="assistants"),
        ):
            with pytest.raises(ft.UnsupportedByProviderError):
                await call()
    assert recorder.sent == []


async def test_a_file_too_large_for_one_request_is_refused(emu: Emulator, recorder: Recorder, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    size = int(50.1 * 2**30) + 1  # Together's largest file (its SDK's MAX_FILE_SIZE_GB), and a byte
    with big.open("wb") as fh:
        fh.truncate(size)  # sparse: nothing written
    async with together(emu, recorder) as client:
        with pytest.raises(ft.UnsupportedByProviderError, match=f"{size:,} bytes"):
            await client.files.create(file=big)
    assert recorder.sent == []


async def test_metrics_need_a_provider_with_a_metrics_endpoint() -> None:
    async with Emulator(job_seconds=1.0) as emu, ft.AsyncClient(api_key="sk-x", base_url=emu.base_url) as client:
        with pytest.raises(ft.UnsupportedByProviderError, match="metrics_endpoint"):
            await client.fine_tuning.jobs.metrics("ftjob-x")


def test_configure_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    monkeypatch.delenv("TOGETHER_BASE_URL", raising=False)
    with pytest.raises(ft.FineTuneError, match="TOGETHER_API_KEY"):
        ft.AsyncClient.together()
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-secret-key")
    client = ft.AsyncClient.together()
    assert client.base_url == "https://api.together.xyz/v1"
    assert "tg-secret-key" not in repr(client)
    assert "tg-secret-key" not in repr(client.provider)
    monkeypatch.setenv("TOGETHER_BASE_URL", "http://127.0.0.1:9/v1")
    assert ft.AsyncClient.together().base_url == "http://127.0.0.1:9/v1"
    caps = capabilities_of("together")
    assert caps.methods == {"supervised", "dpo"}
    assert not caps.paged_events
    assert not caps.paged_checkpoints
    assert not caps.uploads
    assert caps.delete_job
    assert isinstance(client.provider, TogetherProvider)


# -- exactly once -------------------------------------------------------------------------------


async def test_a_lost_create_makes_one_job(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        train = await upload(client)
        emu.faults.inject(JOBS, "lost", count=1)
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"k": "v"})
        assert [j.id for j in await all_jobs(client)] == [job.id]
        assert emu.faults.history.count((JOBS, "lost")) == 1
        # A second identical call gets its own job, never the first one's.
        emu.faults.inject(JOBS, "lost", count=1)
        second = await client.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"k": "v"})
        assert second.id != job.id
        assert len(await all_jobs(client)) == 2
    assert len(recorder.bodies("POST", "/fine-tunes")) == 2


async def test_a_late_create_is_settled_not_sent_again(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder, timeout=ft.Timeout(total=None, read=0.5), settle_window=10.0) as client:
        train = await upload(client)
        emu.faults.inject(JOBS, "late", count=2, seconds=1.5)

        async def create(i: int) -> ft.FineTuningJob:
            return await client.fine_tuning.jobs.create(model=MODEL, training_file=train)

        results: list[ft.FineTuningJob] = []

        async def run(i: int) -> None:
            results.append(await create(i))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for i in range(2):
                    tg.start_soon(run, i)
        listed = await all_jobs(client)
    assert len(recorder.bodies("POST", "/fine-tunes")) == 2
    assert sorted(j.id for j in results) == sorted(j.id for j in listed)
    assert len(listed) == 2


async def test_a_lost_upload_makes_one_file(emu: Emulator, recorder: Recorder) -> None:
    async with together(emu, recorder) as client:
        emu.faults.inject(UPLOAD, "lost", count=1)
        created = await client.files.create(file=("lost.jsonl", jsonl(supervised_rows(10))))
        assert created.filename == "lost.jsonl"
        assert [f.id async for f in client.files.list()] == [created.id]
        # The same name and size again: a file of its own.
        emu.faults.inject(UPLOAD, "lost", count=1)
        again = await client.files.create(file=("lost.jsonl", jsonl(supervised_rows(10))))
        assert again.id != created.id
    uploads = [i for i in recorder.sent if i.method == "POST" and i.path == "/files/upload"]
    assert len(uploads) == 2
    assert emu.faults.history.count((UPLOAD, "lost")) == 2


async def test_run_batch_makes_one_job_per_spec_with_lost_creates(
    emu: Emulator, recorder: Recorder, tmp_path: Path
) -> None:
    for i in range(3):
        (tmp_path / f"t{i}.jsonl").write_bytes(jsonl(supervised_rows(10 + i)))
    specs = [{"key": f"s{i}", "training_file": str(tmp_path / f"t{i}.jsonl"), "model": MODEL} for i in range(3)]
    async with together(emu, recorder) as client:
        emu.faults.inject(JOBS, "lost", count=2)
        with anyio.fail_after(60):
            report = await ft.run_batch(client, specs, journal=None, batch_id="tg-batch")
        assert report.ok, report.results
        assert report.created == 3
        jobs = await all_jobs(client)
    by_spec = Counter((j.metadata or {}).get("ft_spec") for j in jobs)
    assert by_spec == Counter({"s0": 1, "s1": 1, "s2": 1})
    assert all((j.metadata or {}).get("ft_batch") == "tg-batch" for j in jobs)
    assert emu.faults.history.count((JOBS, "lost")) == 2


# -- the mapping, on generated answers ---------------------------------------------------------


def provider() -> TogetherProvider:
    from finetune_async.providers.together import configure

    return configure(api_key="tg-key", base_url="http://127.0.0.1:9/v1")


def _mapped(operation: Any, body: Any) -> Any:
    return provider().from_wire(operation, copy.deepcopy(body))


_GENERATED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_GENERATED
@given(TOGETHER_SPEC.response_strategy("GET", "/fine-tunes/{id}"))
def test_generated_jobs_decode(body: Any) -> None:
    job = structure(_mapped("jobs.retrieve", body), FineTuningJob)
    assert job.provider_status == body["status"]
    assert str(job.status) == normalise_status(body["status"])


@_GENERATED
@given(TOGETHER_SPEC.response_strategy("GET", "/fine-tunes"))
def test_generated_job_lists_decode(body: Any) -> None:
    page = _mapped("jobs.list", body)
    jobs = structure_list(page["data"], FineTuningJob)
    assert len(jobs) == len(body["data"])
    assert [j.created_at for j in jobs] == sorted((j.created_at for j in jobs), reverse=True)


@_GENERATED
@given(TOGETHER_SPEC.response_strategy("POST", "/fine-tunes/{id}/cancel"))
def test_generated_cancel_answers_decode(body: Any) -> None:
    structure(_mapped("jobs.cancel", body), FineTuningJob)


@_GENERATED
@given(TOGETHER_SPEC.response_strategy("GET", "/fine-tunes/{id}/events"))
def test_generated_events_decode(body: Any) -> None:
    page = _mapped("jobs.list_events", body)
    events = structure_list(page["data"], FineTuningJobEvent)
    assert len(events) == len(body["data"])
    assert len({e.id for e in events}) == len(events)


@_GENERATED
@given(TOGETHER_SPEC.response_strategy("GET", "/fine-tunes/{id}/checkpoints"))
def test_generated_checkpoints_decode(body: Any) -> None:
    page = _mapped("jobs.checkpoints.list", body)
    assert len(structure_list(page["data"], FineTuningJobCheckpoint)) == len(body["data"])


@_GENERATED
@given(TOGETHER_SPEC.response_strategy("GET", "/fine-tunes/{id}/metrics"))
def test_generated_metrics_decode(body: Any) -> None:
    metrics = structure(_mapped("jobs.metrics", body), ft.FineTuningJobMetrics)
    assert len(metrics.metrics) == len(body.get("metrics", []))


@_GENERATED
@given(TOGETHER_SPEC.response_strategy("GET", "/files"), TOGETHER_SPEC.response_strategy("GET", "/files/{id}"))
def test_generated_files_decode(listing: Any, one: Any) -> None:
    page = _mapped("files.list", listing)
    assert len(structure_list(page["data"], FileObject)) == len(listing["data"])
    file = structure(_mapped("files.retrieve", one), FileObject)
    assert file.status == (ft.FileStatus.PROCESSED if one["Processed"] else ft.FileStatus.UPLOADED)


_TEXT = st.text(min_size=1, max_size=80)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_TEXT, st.text(max_size=200), max_size=16))
def test_metadata_survives_wandb_name(metadata: dict[str, str]) -> None:
    name = wandb_name_from_metadata(metadata)
    kept = provider().kept_metadata(metadata)
    assert (metadata_from_wandb_name(name) or {}) == kept
    assert all(len(value) <= 64 for value in kept.values())


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=__import__("datetime").datetime(1971, 1, 1), max_value=__import__("datetime").datetime(2200, 1, 1)
    ),
    st.sampled_from(["Z", "+00:00", "", "+0000"]),
    st.integers(0, 9),
)
def test_iso_times_read_as_epoch_seconds(moment: Any, zone: str, digits: int) -> None:
    from datetime import timezone

    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}{'0' * 3}"[:digits]
    expected = int(moment.replace(tzinfo=timezone.utc).timestamp())
    assert epoch_seconds(text + zone) == expected


def test_the_wandb_name_bound_is_enforced_on_the_wire() -> None:
    from finetune_async.providers import WireRequest

    body = {"model": MODEL, "training_file": "file-x", "metadata": {f"k{i}": "v" * 64 for i in range(16)}}
    with pytest.raises(ft.ProviderParameterError) as refused:
        provider().to_wire("jobs.create", WireRequest(method="POST", path="/fine_tuning/jobs", json_body=body))
    assert refused.value.param == "metadata"
    assert str(MAX_WANDB_NAME) in str(refused.value).replace(",", "")


def test_unknown_operations_are_refused() -> None:
    from finetune_async.providers import WireRequest

    with pytest.raises(ft.UnsupportedByProviderError):
        provider().to_wire("models.list", WireRequest(method="GET", path="/models"))


_POSITIVE = st.floats(min_value=1e-8, max_value=1.0, allow_nan=False)
_HYPERPARAMETERS = st.fixed_dictionaries(
    {},
    optional={
        "n_epochs": st.integers(1, 20) | st.just("auto"),
        "batch_size": st.integers(1, 128) | st.sampled_from(["max", "auto"]),
        "learning_rate": _POSITIVE | st.just("auto"),
        "warmup_ratio": st.floats(0, 1),
        "max_grad_norm": st.floats(0, 10),
        "weight_decay": st.floats(0, 1),
        "n_checkpoints": st.integers(1, 10),
        "n_evals": st.integers(0, 10),
    },
)
_EXTRA_BODY = st.fixed_dictionaries(
    {},
    optional={
        "training_type": st.just({"type": "Full"})
        | st.builds(
            lambda r, a: {"type": "Lora", "lora_r": r, "lora_alpha": a}, st.integers(1, 64), st.integers(1, 128)
        ),
        "lr_scheduler": st.just({"lr_scheduler_type": "cosine"})
        | st.builds(
            lambda ratio: {"lr_scheduler_type": "linear", "lr_scheduler_args": {"min_lr_ratio": ratio}}, st.floats(0, 1)
        ),
        "train_on_inputs": st.booleans() | st.just("auto"),
        "from_checkpoint": st.just("ft-abc:10"),
        "packing": st.booleans(),
        "max_seq_length": st.integers(512, 131072),
        "wandb_api_key": st.just("wb-key"),
        "wandb_project_name": st.text(max_size=20),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    hyperparameters=_HYPERPARAMETERS,
    extra=_EXTRA_BODY,
    kind=st.sampled_from(["supervised", "dpo", None]),
    beta=st.none() | st.floats(0, 2),
    in_method=st.booleans(),
    seed=st.none() | st.integers(0, 2**31),
    suffix=st.none() | st.text(min_size=1, max_size=20),
    metadata=st.none() | st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=100), max_size=8),
)
def test_every_create_we_send_fits_the_spec(
    hyperparameters: dict[str, Any],
    extra: dict[str, Any],
    kind: str | None,
    beta: float | None,
    in_method: bool,
    seed: int | None,
    suffix: str | None,
    metadata: dict[str, str] | None,
) -> None:
    """What jobs.create builds (OpenAI's body, extra_body merged, the marker added) is checked,
    mapped, and fits Together's create schema; what it asked for is on the wire."""
    from finetune_async.providers import WireRequest

    body: dict[str, Any] = {"model": MODEL, "training_file": "file-abc"}
    hp = dict(hyperparameters)
    if kind == "dpo" and beta is not None:
        hp["beta"] = beta
    if kind is not None:
        body["method"] = {"type": kind, kind: {"hyperparameters": hp} if in_method else {}}
    if kind is None or not in_method:
        body["hyperparameters"] = hp
    for key, value in (("seed", seed), ("suffix", suffix), ("metadata", metadata)):
        if value is not None:
            body[key] = value
    body.update(extra)
    tg = provider()
    tg.check_create(body)
    body["metadata"] = {**(metadata or {}), MARKER_KEY: "abcdefghijklmnop"}
    wire = tg.to_wire("jobs.create", WireRequest(method="POST", path="/fine_tuning/jobs", json_body=body)).json_body
    TOGETHER_SPEC.validate_request_body("POST", "/fine-tunes", json.loads(json.dumps(wire)))
    for key, value in hp.items():
        if key == "beta":
            assert wire["training_method"]["dpo_beta"] == value
        elif value == "auto":
            assert key not in wire
        else:
            assert wire[key] == value
    assert wire["training_method"]["method"] == ("dpo" if kind == "dpo" else "sft")
    assert metadata_from_wandb_name(wire["wandb_name"]) == tg.kept_metadata(body["metadata"])
    if seed is not None:
        assert wire["random_seed"] == seed


async def test_unmarked_creates_are_recognised_by_their_fields(emu: Emulator, recorder: Recorder) -> None:
    """mark_creates=False (so a W&B run may have a name of its own): a lost create is found by
    what it asked for, and only once."""
    async with together(emu, recorder, mark_creates=False) as client:
        train = await upload(client)
        emu.faults.inject(JOBS, "lost", count=1)
        job = await client.fine_tuning.jobs.create(
            model=MODEL, training_file=train, suffix="own", seed=3, extra_body={"wandb_name": "my-run"}
        )
        assert job.metadata is None
        assert job.model_extra["wandb_name"] == "my-run"
        assert [j.id for j in await all_jobs(client)] == [job.id]
    assert len(recorder.bodies("POST", "/fine-tunes")) == 1


async def test_typed_hyperparameters_go_where_a_dict_does(emu: Emulator, recorder: Recorder) -> None:
    from finetune_async.providers.together import TogetherHyperparameters

    with pytest.raises(ft.ProviderParameterError) as refused:
        TogetherHyperparameters(n_epochs=0)
    assert refused.value.param == "hyperparameters.n_epochs"
    with pytest.raises(ft.ProviderParameterError):
        TogetherHyperparameters(batch_size="auto")  # type: ignore[arg-type]
    hp = TogetherHyperparameters(n_epochs=1, batch_size="max", learning_rate=1e-4, beta=0.3)
    assert dict(hp) == {"n_epochs": 1, "batch_size": "max", "learning_rate": 1e-4, "beta": 0.3}
    async with together(emu, recorder) as client:
        train = await upload(client, dpo_rows(12), "prefs.jsonl")
        with pytest.raises(ft.ProviderParameterError, match="DPO"):
            await client.fine_tuning.jobs.create(model=MODEL, training_file=train, hyperparameters=hp)
        job = await client.fine_tuning.jobs.create(
            model=MODEL, training_file=train, method={"type": "dpo", "dpo": {"hyperparameters": hp}}
        )
    (sent,) = recorder.bodies("POST", "/fine-tunes")
    assert sent["training_method"] == {"method": "dpo", "dpo_beta": 0.3}
    assert (sent["n_epochs"], sent["batch_size"], sent["learning_rate"]) == (1, "max", 1e-4)
    assert job.hyperparameters.batch_size == 32  # the emulator's "max"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("pending", "validating_files"),
        ("queued", "queued"),
        ("running", "running"),
        ("compressing", "running"),
        ("uploading", "running"),
        ("cancel_requested", "running"),
        ("cancelled", "cancelled"),
        ("error", "failed"),
        ("completed", "succeeded"),
    ],
)
def test_each_together_status_has_its_openai_one(raw: str, status: str) -> None:
    body = {"id": "ft-1", "status": raw, "created_at": "2024-05-17T17:35:45.123Z", "updated_at": "2024-05-17T18:00:00Z"}
    body |= {"model_output_name": "me/model-ft-1", "message": "out of memory"}
    job = structure(_mapped("jobs.retrieve", body), FineTuningJob)
    assert str(job.status) == status
    assert job.provider_status == raw
    assert job.created_at == 1715967345
    assert (job.finished_at is not None) == (raw in ("cancelled", "error", "completed"))
    assert job.fine_tuned_model == ("me/model-ft-1" if raw == "completed" else None)
    assert (job.error is not None) == (raw == "error")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message": "Model not found"}, "Model not found"),
        ({"error": "no such job"}, "no such job"),
        ({"error": {"message": "Not found", "type": "invalid_request_error", "param": "id"}}, "Not found"),
        ("plain text", "plain text"),
    ],
)
def test_together_error_bodies_keep_their_message(body: Any, message: str) -> None:
    error = provider().status_error(404, body)
    assert isinstance(error, ft.NotFoundError)
    assert error.message == message
    assert error.body == body

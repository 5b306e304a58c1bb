"""client.fine_tuning.jobs (and .checkpoints) against the emulator over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.conftest import SpecChecker
from tests.data import dpo_rows, jsonl, reinforcement_rows, supervised_rows


async def upload(client: ft.AsyncClient, rows: list[dict[str, object]], name: str = "train.jsonl") -> str:
    return (await client.files.create(file=(name, jsonl(rows)), purpose="fine-tune")).id


async def until(client: ft.AsyncClient, job_id: str, *statuses: str, within: float = 20.0) -> ft.FineTuningJob:
    """Poll (test code may) until the job reaches one of ``statuses``."""
    with anyio.fail_after(within):
        while True:
            job = await client.fine_tuning.jobs.retrieve(job_id)
            if job.status in statuses:
                return job
            await anyio.sleep(0.05)


@pytest.fixture
async def slow_client(spec_checker: SpecChecker) -> AsyncIterator[ft.AsyncClient]:
    """A client of an emulator whose jobs take ten seconds, for steering running jobs."""
    async with (
        Emulator(job_seconds=10.0) as emu,
        ft.AsyncClient(api_key="sk-test", base_url=emu.base_url, request_hooks=[spec_checker]) as c,
    ):
        yield c


async def test_supervised_job_runs_to_success(client: ft.AsyncClient) -> None:
    training = await upload(client, supervised_rows(20))
    validation = await upload(client, supervised_rows(10), "valid.jsonl")
    method = ft.Method(
        type=ft.MethodType.SUPERVISED,
        supervised=ft.SupervisedMethod(hyperparameters=ft.SupervisedHyperparameters(n_epochs=2, batch_size=4)),
    )
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=training,
        validation_file=validation,
        method=method,
        suffix="unit",
        seed=7,
        metadata={"team": "sdk", "run": "1"},
        integrations=[ft.FineTuningJobIntegration(wandb=ft.FineTuningJobWandbIntegration(project="p"))],
    )
    assert job.status in ("validating_files", "queued")
    assert job.seed == 7
    assert job.metadata is not None
    # The SDK's per-create marker sits next to the caller's pairs (README, "Retries and duplicate creates").
    assert {k: v for k, v in job.metadata.items() if k != "ft_create"} == {"team": "sdk", "run": "1"}
    assert len(job.metadata["ft_create"]) >= 16
    assert job.method is not None
    assert job.method.type == "supervised"
    done = await until(client, job.id, "succeeded", "failed")
    assert done.status == ft.JobStatus.SUCCEEDED
    assert done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:")
    assert ":unit:" in done.fine_tuned_model
    assert done.trained_tokens
    assert done.finished_at
    csv = (await client.files.content(done.result_files[0])).content
    assert csv.startswith(b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy")

    events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=3)]
    assert len({e.id for e in events}) == len(events)
    assert events[0].message == "The job has successfully completed"
    assert any(e.type == ft.EventType.METRICS and e.data and "train_loss" in e.data for e in events)
    first_page = await client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert len(first_page.data) == 3
    assert first_page.has_more

    checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id, limit=1)]
    assert 1 <= len(checkpoints) <= 3
    assert all(c.fine_tuning_job_id == job.id for c in checkpoints)
    steps = [c.step_number for c in checkpoints]
    assert steps == sorted(steps, reverse=True)


async def test_method_and_hyperparameters_as_plain_dicts(client: ft.AsyncClient) -> None:
    training = await upload(client, supervised_rows(10))
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=training,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
        integrations=[{"type": "wandb", "wandb": {"project": "p", "tags": ["a"]}}],
    )
    assert job.method is not None
    assert job.method.supervised is not None
    hyper = job.method.supervised.hyperparameters
    assert hyper is not None
    assert hyper.n_epochs == 1


async def test_deprecated_top_level_hyperparameters(client: ft.AsyncClient) -> None:
    training = await upload(client, supervised_rows(10))
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=training,
        hyperparameters=ft.Hyperparameters(n_epochs=3, learning_rate_multiplier=0.5),
    )
    assert job.hyperparameters.n_epochs == 3


async def test_dpo_and_reinforcement_jobs(client: ft.AsyncClient) -> None:
    dpo = await client.fine_tuning.jobs.create(
        model="gpt-4o-2024-08-06",
        training_file=await upload(client, dpo_rows(10), "dpo.jsonl"),
        method=ft.Method(type=ft.MethodType.DPO, dpo=ft.DpoMethod(hyperparameters=ft.DpoHyperparameters(beta=0.1))),
    )
    assert dpo.method is not None
    assert dpo.method.type == "dpo"
    grader = ft.StringCheckGrader(
        type="string_check",
        name="exact",
        input="{{sample.output_text}}",
        reference="{{item.reference_answer}}",
        operation="eq",
    )
    rft = await client.fine_tuning.jobs.create(
        model="o4-mini-2025-04-16",
        training_file=await upload(client, reinforcement_rows(10), "rft.jsonl"),
        validation_file=await upload(client, reinforcement_rows(10), "rft-valid.jsonl"),
        method=ft.Method(
            type=ft.MethodType.REINFORCEMENT,
            reinforcement=ft.ReinforcementMethod(
                grader=grader, hyperparameters=ft.ReinforcementHyperparameters(reasoning_effort="low")
            ),
        ),
    )
    assert rft.method is not None
    assert rft.method.reinforcement is not None
    assert isinstance(rft.method.reinforcement.grader, ft.StringCheckGrader)
    assert (await until(client, dpo.id, "succeeded", "failed")).status == "succeeded"
    assert (await until(client, rft.id, "succeeded", "failed")).status == "succeeded"


async def test_list_filters_by_metadata_and_pages(client: ft.AsyncClient) -> None:
    training = await upload(client, supervised_rows(10))
    made = []
    for i in range(4):
        job = await client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18", training_file=training, metadata={"batch": "b1" if i % 2 else "b0"}
        )
        made.append(job.id)
    b1 = [j.id async for j in client.fine_tuning.jobs.list(metadata={"batch": "b1"}, limit=1)]
    assert b1 == [made[3], made[1]]
    page = await client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == [made[3], made[2]]
    after = await client.fine_tuning.jobs.list(limit=10, after=page.data[-1].id)
    assert [j.id for j in after.data] == [made[1], made[0]]
    assert not after.has_more
    assert not after.has_next_page()
    with pytest.raises(StopAsyncIteration):
        await after.next_page()


async def test_cancel_pause_resume(slow_client: ft.AsyncClient) -> None:
    client = slow_client
    training = await upload(client, supervised_rows(10))
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    await until(client, job.id, "running")
    paused = await client.fine_tuning.jobs.pause(job.id)
    assert paused.status == ft.JobStatus.PAUSED
    with pytest.raises(ft.BadRequestError):
        await client.fine_tuning.jobs.pause(job.id)
    resumed = await client.fine_tuning.jobs.resume(job.id)
    assert resumed.status != ft.JobStatus.PAUSED
    with pytest.raises(ft.BadRequestError):
        await client.fine_tuning.jobs.resume(job.id)
    cancelled = await client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == ft.JobStatus.CANCELLED
    with pytest.raises(ft.BadRequestError) as caught:
        await client.fine_tuning.jobs.cancel(job.id)
    assert caught.value.status_code == 400
    assert caught.value.message


async def test_errors_from_the_api(client: ft.AsyncClient) -> None:
    with pytest.raises(ft.NotFoundError):
        await client.fine_tuning.jobs.retrieve("ftjob-doesnotexist")
    training = await upload(client, supervised_rows(10))
    with pytest.raises(ft.BadRequestError) as caught:
        await client.fine_tuning.jobs.create(model="gpt-2", training_file=training)
    assert caught.value.param == "model"
    with pytest.raises(ft.BadRequestError):
        await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file="file-nope")


async def test_too_small_training_file_fails_the_job(client: ft.AsyncClient) -> None:
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=await upload(client, supervised_rows(3))
    )
    failed = await until(client, job.id, "failed", "succeeded")
    assert failed.status == ft.JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code
    assert "10" in failed.error.message


async def test_created_at_is_recent(client: ft.AsyncClient) -> None:
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=await upload(client, supervised_rows(10))
    )
    assert abs(job.created_at - time.time()) < 60


async def test_platform_wind_down_raises_training_not_available(client: ft.AsyncClient, emulator: Emulator) -> None:
    training = await upload(client, supervised_rows(10))
    emulator.state.training_available = False
    with pytest.raises(ft.TrainingNotAvailableError) as caught:
        await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    assert caught.value.status_code == 403
    assert caught.value.code == "training_not_available"
    assert "Azure" in str(caught.value)
    # Refused, not failed: it is not retried, and no job exists.
    assert (await client.fine_tuning.jobs.list()).data == []

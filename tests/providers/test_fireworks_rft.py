"""Reinforcement jobs on Fireworks: OpenAI's ``method={"type": "reinforcement"}`` as a
``reinforcementFineTuningJobs`` create, with the evaluator in ``extra_body``; ids ``rft:<id>``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.models import FineTuningJob
from finetune_async.models._converter import structure
from finetune_async.providers.fireworks import _LISTING
from tests.data import jsonl, reinforcement_rows
from tests.providers.test_fireworks import (
    JOBS,
    MODEL,
    Recorder,
    _provider,
    fireworks,
    requires_spec,
    structure_page,
    upload,
)
from tests.spec import FIREWORKS_SPEC

EVALUATOR = "accounts/acme/evaluators/math-check"
RFT = {"type": "reinforcement", "reinforcement": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}}


@pytest.fixture
async def emu() -> Any:
    async with Emulator(provider="fireworks", job_seconds=1.0) as emulator:
        yield emulator


async def rows(client: ft.AsyncClient) -> str:
    return await upload(client, jsonl(reinforcement_rows(12)), "rl.jsonl")


@requires_spec
async def test_a_reinforcement_job_from_create_to_its_model(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        train = await rows(client)
        valid = await rows(client)
        jobs = client.fine_tuning.jobs
        job = await jobs.create(
            model=MODEL,
            training_file=train,
            validation_file=valid,
            method=RFT,
            suffix="math",
            metadata={"ft_create": "rft-1"},
            extra_body={"evaluator": EVALUATOR, "lossConfig": {"method": "GRPO"}, "loraRank": 16},
        )
        assert job.id.startswith("rft:ft-")
        assert job.method is not None
        assert job.method.type == "reinforcement"
        assert job.model_extra["evaluator"] == EVALUATOR
        (create,) = recorder.posts("/reinforcementFineTuningJobs")
        assert create.params == {"reinforcementFineTuningJobId": job.id.removeprefix("rft:")}
        assert create.json["evaluator"] == EVALUATOR
        assert create.json["trainingConfig"]["loraRank"] == 16
        assert create.json["trainingConfig"]["epochs"] == 1
        assert create.json["evaluationDataset"].endswith(f"/datasets/{valid}")
        assert create.json["lossConfig"] == {"method": "GRPO"}

        got = await jobs.retrieve(job.id)
        assert (got.id, got.validation_file, got.training_file) == (job.id, valid, train)
        done = await jobs.wait(job.id, poll_interval=0.05)
        assert done.status == "succeeded"
        assert done.fine_tuned_model is not None
        assert done.fine_tuned_model.startswith("accounts/acme/models/math-")
        assert (await jobs.metrics(job.id)).metrics

        other = await jobs.create(model=MODEL, training_file=train, method=RFT, extra_body={"evaluator": EVALUATOR})
        cancelled = await jobs.cancel(other.id)
        assert cancelled.status == "cancelled"
        sft = await jobs.create(model=MODEL, training_file=await upload(client))
        listed = [j.id async for j in jobs.list(limit=1)]
        assert listed == [sft.id, other.id, job.id]  # supervised, then DPO (none), then reinforcement
        await jobs.delete(other.id)
        with pytest.raises(ft.NotFoundError) as caught:
            await jobs.retrieve(other.id)
        assert "reinforcementFineTuningJobs" in caught.value.message
    assert recorder.spec.operations >= {
        ("POST", "/v1/accounts/{account_id}/reinforcementFineTuningJobs"),
        ("GET", "/v1/accounts/{account_id}/reinforcementFineTuningJobs"),
        ("GET", "/v1/accounts/{account_id}/reinforcementFineTuningJobs/{reinforcement_fine_tuning_job_id}"),
        ("POST", "/v1/accounts/{account_id}/reinforcementFineTuningJobs/{reinforcement_fine_tuning_job_id}:cancel"),
        ("DELETE", "/v1/accounts/{account_id}/reinforcementFineTuningJobs/{reinforcement_fine_tuning_job_id}"),
        (
            "GET",
            "/v1/accounts/{account_id}/reinforcementFineTuningJobs/{reinforcement_fine_tuning_job_id}"
            ":getMetricsFileEndpoint",
        ),
    }


@pytest.mark.parametrize("mark_creates", [True, False])
async def test_a_lost_reinforcement_create_makes_one_job(emu: Emulator, mark_creates: bool) -> None:
    async with fireworks(emu, mark_creates=mark_creates) as client:
        train = await rows(client)
        emu.faults.inject(JOBS, "lost")
        job = await client.fine_tuning.jobs.create(
            model=MODEL, training_file=train, method=RFT, extra_body={"evaluator": EVALUATOR}
        )
        listed = [j.id async for j in client.fine_tuning.jobs.list()]
    assert [kind for _, kind in emu.faults.history] == ["lost"]
    assert listed == [job.id]
    assert len(emu.state.store.jobs) == 1


async def test_what_cannot_map_is_refused_before_sending(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        jobs = client.fine_tuning.jobs
        grader = {"type": "string_check", "name": "g", "input": "a", "reference": "b", "operation": "eq"}
        with pytest.raises(ft.ProviderParameterError) as caught:
            await jobs.create(
                model=MODEL,
                training_file="t",
                method={"type": "reinforcement", "reinforcement": {"grader": grader}},
                extra_body={"evaluator": EVALUATOR},
            )
        assert caught.value.param == "method.reinforcement.grader"
        assert "extra_body={'evaluator'" in str(caught.value)
        for bad in ({}, {"evaluator": "math-check"}, {"evaluator": 3}):
            with pytest.raises(ft.ProviderParameterError) as missing:
                await jobs.create(model=MODEL, training_file="t", method=RFT, extra_body=bad)
            assert missing.value.param == "evaluator"
        for key, value in (("reasoning_effort", "high"), ("learning_rate_multiplier", 2.0), ("beta", 0.1)):
            method = {"type": "reinforcement", "reinforcement": {"hyperparameters": {key: value}}}
            with pytest.raises(ft.ProviderParameterError) as hyper:
                await jobs.create(model=MODEL, training_file="t", method=method, extra_body={"evaluator": EVALUATOR})
            assert hyper.value.param == f"method.reinforcement.hyperparameters.{key}"
        with pytest.raises(ft.ProviderParameterError) as unknown:
            await jobs.create(
                model=MODEL, training_file="t", method=RFT, extra_body={"evaluator": EVALUATOR, "earlyStop": True}
            )
        assert unknown.value.param == "earlyStop"
    assert recorder.sent == []


@requires_spec
@settings(max_examples=60, deadline=None)
@given(body=FIREWORKS_SPEC.strategy("gatewayReinforcementFineTuningJob"))
def test_generated_reinforcement_jobs_decode(body: dict[str, Any]) -> None:
    job = structure(_provider().from_wire("jobs.retrieve", body), FineTuningJob)
    assert job.id.startswith("rft:")
    assert job.method is not None
    assert job.method.type == "reinforcement"
    assert job.provider_status == body.get("state", "JOB_STATE_UNSPECIFIED")


@requires_spec
@settings(max_examples=40, deadline=None)
@given(body=FIREWORKS_SPEC.strategy("gatewayListReinforcementFineTuningJobsResponse"))
def test_generated_reinforcement_lists_decode(body: dict[str, Any]) -> None:
    from finetune_async.resources._base import Resource

    _LISTING.set("reinforcementFineTuningJobs")
    page = structure_page(Resource, _provider().from_wire("jobs.list", body), FineTuningJob)
    # The last collection: a page more only where Fireworks says so.
    assert page.has_more == bool(body.get("nextPageToken"))
    assert all(job.id.startswith("rft:") for job in page.data)

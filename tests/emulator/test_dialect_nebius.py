"""The emulator's ``nebius`` dialect: Token Factory's hyperparameters, methods, line formats and checkpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from typing import Any

import aiohttp
import anyio
import openai
import pytest

from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
AUTH = {"Authorization": "Bearer nb-key"}


@pytest.fixture
async def nebius() -> AsyncIterator[Emulator]:
    async with Emulator(provider="nebius", job_seconds=1.0) as emu:
        yield emu


@pytest.fixture
async def client(nebius: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=nebius.base_url, api_key="nb-key", max_retries=0) as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def wait_for(client: Any, job_id: str, statuses: Collection[str] = ("succeeded", "failed")) -> Any:
    with anyio.fail_after(15):
        while True:
            job = await client.fine_tuning.jobs.retrieve(job_id)
            if job.status in statuses:
                return job
            await anyio.sleep(0.02)


async def test_a_lora_job_with_nebius_hyperparameters(client: openai.AsyncOpenAI) -> None:
    train = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(24))), purpose="fine-tune")
    hp = {"batch_size": 4, "learning_rate": 2e-4, "n_epochs": 2, "lora": True, "lora_r": 16, "lora_alpha": 32}
    job = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=train.id,
        suffix="lora",
        method={"type": "supervised", "supervised": {"hyperparameters": hp}},  # type: ignore[typeddict-item]
        extra_body={
            "tags": ["exp-1"],
            "from_checkpoint": {"repo": "me/base", "type": "hf", "token": "hf_secret"},
            "integrations": [{"type": "wandb", "wandb": {"project": "p", "api_key": "wandb-secret"}}],
        },
    )
    raw = job.model_dump(exclude_unset=True)
    assert raw["status"] == "validating_files"
    assert raw["hyperparameters"] == {
        "batch_size": 4, "learning_rate": 2e-4, "n_epochs": 2, "warmup_ratio": 0.0, "weight_decay": 0.0,
        "packing": True, "max_grad_norm": 1.0, "context_length": 8192, "lora": True, "lora_r": 16,
        "lora_alpha": 32, "lora_dropout": 0.0,
    }  # fmt: skip
    assert raw["method"]["type"] == "supervised"
    assert raw["tags"] == ["exp-1"]
    assert raw["total_steps"] == 12  # 24 examples / batch 4 x 2 epochs
    assert raw["trained_steps"] == 0
    assert "hf_secret" not in json.dumps(raw)
    assert "wandb-secret" not in json.dumps(raw)

    done = (await wait_for(client, job.id)).model_dump()
    assert done["status"] == "succeeded"
    assert done["trained_steps"] == done["total_steps"] == 12
    assert done["model"] == MODEL
    assert done["suffix"] == "lora"
    listed = (await client.fine_tuning.jobs.list()).data[0].model_dump()
    assert listed["trained_steps"] == 12

    events = [e async for e in client.fine_tuning.jobs.list_events(job.id)]
    assert any(e.type == "metrics" for e in events)
    checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert checkpoints
    result_files = checkpoints[0].model_dump()["result_files"]
    assert len(result_files) == 2
    config = await client.files.retrieve(result_files[0])
    assert config.filename == "adapter_config.json"
    content = json.loads((await client.files.content(result_files[0])).content)
    assert content["r"] == 16
    assert content["base_model_name_or_path"] == MODEL
    weights = await client.files.content(result_files[1])
    assert weights.content[8:] == b"{}"  # a valid (empty) safetensors file


async def test_checkpoint_by_id_and_project_id(nebius: Emulator, client: openai.AsyncOpenAI, http: Any) -> None:
    train = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train.id)
    await wait_for(client, job.id)
    base = f"{nebius.base_url}/fine_tuning/jobs/{job.id}/checkpoints"
    async with http.get(base, params={"ai_project_id": "project-e00abc"}, headers=AUTH) as resp:
        ckpt = (await resp.json())["data"][0]
    async with http.get(f"{base}/{ckpt['id']}", headers=AUTH) as resp:
        assert resp.status == 200
        assert await resp.json() == ckpt
    async with http.get(f"{base}/ftckpt-nope", headers=AUTH) as resp:
        assert resp.status == 404
    # A full (not LoRA) fine-tune's files.
    assert (await client.files.retrieve(ckpt["result_files"][1])).filename == "model.safetensors"


@pytest.mark.parametrize(
    ("hyperparameters", "param"),
    [
        ({"batch_size": 65}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"n_epochs": 21}, "n_epochs"),
        ({"lora_r": 4}, "lora_r"),
        ({"lora_r": 256}, "lora_r"),
        ({"context_length": 4096}, "context_length"),
        ({"context_length": 262144}, "context_length"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"warmup_ratio": 1.5}, "warmup_ratio"),
        ({"packing": "yes"}, "packing"),
        ({"learning_rate_multiplier": 2}, "learning_rate_multiplier"),
    ],
)
async def test_out_of_range_hyperparameters_are_400_naming_them(
    nebius: Emulator, http: Any, hyperparameters: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL, "training_file": "file-x", "hyperparameters": hyperparameters}
    async with http.post(f"{nebius.base_url}/fine_tuning/jobs", json=body, headers=AUTH) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == f"hyperparameters.{param}"
    assert param in error["message"]
    method = {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}
    async with http.post(
        f"{nebius.base_url}/fine_tuning/jobs",
        json={"model": MODEL, "training_file": "f", "method": method},
        headers=AUTH,
    ) as resp:
        assert (await resp.json())["error"]["param"] == f"method.supervised.hyperparameters.{param}"


@pytest.mark.parametrize("method", ["dpo", "reinforcement"])
async def test_dpo_and_reinforcement_are_refused(client: openai.AsyncOpenAI, method: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file="file-x",
            method={"type": method},  # type: ignore[typeddict-item]
        )
    assert refused.value.param == "method.type"
    assert "spec-draft" in refused.value.message


async def test_spec_draft_runs(client: openai.AsyncOpenAI) -> None:
    train = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=train.id,
        method={"type": "spec-draft"},  # type: ignore[typeddict-item]
    )
    assert job.model_dump()["method"]["type"] == "spec-draft"
    assert (await wait_for(client, job.id)).status == "succeeded"


@pytest.mark.parametrize(
    ("rows", "ok"),
    [
        ([{"text": f"document {i}"} for i in range(12)], True),
        ([{"prompt": f"{i} + {i} =", "completion": f" {2 * i}"} for i in range(12)], True),
        ([{"input_ids": [1, 2, 3, i]} for i in range(12)], True),
        ([{"text": "a"}] * 6 + [{"prompt": "p", "completion": "c"}] * 6, False),  # one format per file
        ([{"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]}] * 12, False),
        ([{"text": ""}] * 12, False),
        ([{"question": "q"}] * 12, False),
    ],
)
async def test_nebius_line_formats(client: openai.AsyncOpenAI, rows: list[dict[str, Any]], ok: bool) -> None:
    train = await client.files.create(file=("t.jsonl", jsonl(rows)), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train.id)
    done = await wait_for(client, job.id)
    assert done.status == ("succeeded" if ok else "failed"), done.error
    if not ok:
        assert "line" in done.error.message


async def test_what_nebius_does_not_serve(nebius: Emulator, http: Any) -> None:
    for method, path in [
        ("POST", "/fine_tuning/jobs/ftjob-x/pause"),
        ("POST", "/fine_tuning/jobs/ftjob-x/resume"),
        ("POST", "/uploads"),
        ("POST", "/fine_tuning/alpha/graders/run"),
        ("GET", "/fine_tuning/checkpoints/ft:x/permissions"),
    ]:
        async with http.request(method, nebius.base_url + path, json={}, headers=AUTH) as resp:
            assert resp.status == 404, path
            assert await resp.json() == {"detail": "Not Found"}
    async with http.get(f"{nebius.base_url}/fine_tuning/jobs", headers={"api-key": "nb-key"}) as resp:
        assert resp.status == 401  # Bearer only
    async with http.get(f"{nebius.base_url}/fine_tuning/jobs/ftjob-nope", headers=AUTH) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["param"] == "fine_tuning_job_id"


async def test_unknown_model_and_faults(nebius: Emulator, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x")
    assert refused.value.param == "model"
    nebius.faults.inject("POST:/v1/fine_tuning/jobs", "429")
    with pytest.raises(openai.RateLimitError):
        await client.fine_tuning.jobs.create(model=MODEL, training_file="file-x")

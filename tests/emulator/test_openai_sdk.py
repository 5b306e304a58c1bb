"""The emulator driven by the official ``openai`` SDK (a client not written here), over loopback HTTP.

Every JSON 200 answer is validated against the OpenAPI spec by ``spec_checker``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest

from finetune_async.emulator import Emulator
from tests.data import dpo_rows, jsonl, reinforcement_rows, supervised_rows

from .conftest import OpenAIClient, SpecChecker

WriteJsonl = Callable[[str, list[dict[str, Any]]], Path]
GRADER = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference_answer}}",
    "operation": "eq",
}


async def wait_for(client: Any, job_id: str, statuses: Collection[str], within: float = 15.0) -> Any:
    seen = []
    with anyio.fail_after(within):
        while True:
            job = await client.fine_tuning.jobs.retrieve(job_id)
            seen.append(job.status)
            if job.status in statuses:
                return job
            await anyio.sleep(0.02)


async def test_supervised_job_end_to_end(
    emulator: Emulator, spec_checker: SpecChecker, write_jsonl: WriteJsonl, openai_client: OpenAIClient
) -> None:
    client = openai_client(emulator.base_url, spec_checker)
    train = await client.files.create(file=write_jsonl("train.jsonl", supervised_rows(30)), purpose="fine-tune")
    valid = await client.files.create(file=write_jsonl("valid.jsonl", supervised_rows(5)), purpose="fine-tune")
    assert train.id.startswith("file-")
    assert train.filename == "train.jsonl"
    assert train.status == "processed"
    assert (await client.files.retrieve(train.id)).bytes == train.bytes
    listed = [f.id async for f in client.files.list(purpose="fine-tune", limit=1)]
    assert listed == [valid.id, train.id]  # newest first, auto-paginated one by one

    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=train.id,
        validation_file=valid.id,
        suffix="arith",
        seed=7,
        metadata={"team": "math"},
        hyperparameters={"n_epochs": 4, "batch_size": 2},
    )
    assert job.id.startswith("ftjob-")
    assert job.status == "validating_files"
    assert job.model == "gpt-4o-mini-2024-07-18"
    assert job.seed == 7
    assert job.metadata == {"team": "math"}

    running = await wait_for(client, job.id, {"running", "succeeded"})
    if running.status == "running":
        assert running.estimated_finish is not None
    done = await wait_for(client, job.id, {"succeeded"})
    assert re.fullmatch(r"ft:gpt-4o-mini-2024-07-18:emulator:arith:[A-Za-z0-9]{8}", done.fine_tuned_model)
    assert done.finished_at is not None
    assert done.estimated_finish is None
    assert done.hyperparameters.n_epochs == 4
    assert done.hyperparameters.batch_size == 2
    total_steps = 4 * 15
    assert done.trained_tokens
    assert done.trained_tokens > 0

    # Events: newest first; auto-pagination with small pages sees each exactly once.
    everything = (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data
    paged = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=7)]
    assert [e.id for e in paged] == [e.id for e in everything]
    assert len({e.id for e in paged}) == len(paged)
    assert [e.created_at for e in paged] == sorted((e.created_at for e in paged), reverse=True)
    messages = [e.message for e in reversed(everything)]
    assert messages[0] == f"Created fine-tuning job: {job.id}"
    assert messages[1] == f"Validating training file: {train.id} and validation file: {valid.id}"
    assert messages[2] == "Files validated, moving job to queued state"
    assert messages[3] == "Fine-tuning job started"
    assert messages[-1] == "The job has successfully completed"
    assert f"New fine-tuned model created: {done.fine_tuned_model}" in messages
    metrics = [e for e in everything if e.type == "metrics"]
    assert metrics
    assert metrics[0].message.startswith(f"Step {total_steps}/{total_steps}: training loss=")
    assert set(metrics[0].data) >= {
        "step", "total_steps", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy",
    }  # fmt: skip

    # Explicit paging: `after` is the last id of a page and gives the older events.
    first = await client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert first.has_more
    assert [e.id for e in first.data] == [e.id for e in everything[:3]]
    second = await client.fine_tuning.jobs.list_events(job.id, limit=3, after=first.data[-1].id)
    assert [e.id for e in second.data] == [e.id for e in everything[3:6]]
    last = await client.fine_tuning.jobs.list_events(job.id, limit=3, after=everything[-2].id)
    assert [e.id for e in last.data] == [everything[-1].id]
    assert last.has_more is False

    # Checkpoints for the last three epochs, newest first.
    ckpts = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id, limit=1)]
    assert [c.step_number for c in ckpts] == [60, 45, 30]
    assert ckpts[0].id.startswith("ftckpt-")
    assert ckpts[0].fine_tuned_model_checkpoint == f"{done.fine_tuned_model}:ckpt-step-60"
    assert ckpts[0].metrics.full_valid_loss is not None
    assert any(m.startswith("Checkpoint created at step 45") for m in messages)

    # The result file.
    (result_id,) = done.result_files
    meta = await client.files.retrieve(result_id)
    assert meta.purpose == "fine-tune-results"
    content = (await client.files.content(result_id)).content
    assert meta.bytes == len(content)
    csv = content.decode().splitlines()
    assert csv[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert len(csv) == 1 + total_steps
    assert csv[1].startswith("1,")
    # Made from the job when read: the same bytes every time, and nothing on disk to remove.
    assert (await client.files.content(result_id)).content == content

    # Listing jobs with the metadata filter.
    other = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=train.id)
    assert [j.id async for j in client.fine_tuning.jobs.list(metadata={"team": "math"})] == [job.id]
    assert [j.id async for j in client.fine_tuning.jobs.list(limit=1)] == [other.id, job.id]

    # Checkpoint permissions.
    ckpt_name = ckpts[0].fine_tuned_model_checkpoint
    perms = client.fine_tuning.checkpoints.permissions
    created = await perms.create(ckpt_name, project_ids=["proj_a", "proj_b"])
    assert [p.project_id for p in created.data] == ["proj_a", "proj_b"]
    assert created.data[0].id.startswith("cp_")
    page = await perms.list(ckpt_name)
    assert [p.project_id for p in page.data] == ["proj_b", "proj_a"]
    deleted = await perms.delete(created.data[0].id, fine_tuned_model_checkpoint=ckpt_name)
    assert deleted.deleted is True
    assert [p.project_id for p in (await perms.list(ckpt_name)).data] == ["proj_b"]

    # Models: the fine-tuned model is listed, retrievable and deletable; base models are not deletable.
    model_ids = [m.id async for m in client.models.list()]
    assert done.fine_tuned_model in model_ids
    assert "o4-mini-2025-04-16" in model_ids
    assert (await client.models.retrieve(done.fine_tuned_model)).owned_by == "org-emulator"
    assert (await client.models.delete(done.fine_tuned_model)).deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve(done.fine_tuned_model)
    with pytest.raises(openai.PermissionDeniedError):
        await client.models.delete("gpt-4o-mini-2024-07-18")

    for file_id in (valid.id, result_id):
        assert (await client.files.delete(file_id)).deleted is True
        with pytest.raises(openai.NotFoundError):
            await client.files.retrieve(file_id)
    spec_checker.assert_clean()
    assert spec_checker.checked > 20


async def test_dpo_and_reinforcement_jobs(
    emulator: Emulator, spec_checker: SpecChecker, openai_client: OpenAIClient
) -> None:
    client = openai_client(emulator.base_url, spec_checker)
    dpo_file = await client.files.create(file=("dpo.jsonl", jsonl(dpo_rows(12))), purpose="fine-tune")
    rft_train = await client.files.create(file=("rft.jsonl", jsonl(reinforcement_rows(12))), purpose="fine-tune")
    rft_valid = await client.files.create(file=("rftv.jsonl", jsonl(reinforcement_rows(4))), purpose="fine-tune")

    dpo = await client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=dpo_file.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    rft = await client.fine_tuning.jobs.create(
        model="o4-mini-2025-04-16",
        training_file=rft_train.id,
        validation_file=rft_valid.id,
        method={
            "type": "reinforcement",
            "reinforcement": {"grader": GRADER, "hyperparameters": {"reasoning_effort": "low"}},
        },
    )
    dpo_done = await wait_for(client, dpo.id, {"succeeded", "failed"})
    rft_done = await wait_for(client, rft.id, {"succeeded", "failed"})
    assert dpo_done.status == "succeeded", dpo_done.error
    assert rft_done.status == "succeeded", rft_done.error
    assert dpo_done.method.type == "dpo"
    assert dpo_done.method.dpo.hyperparameters.beta == 0.2
    assert rft_done.method.reinforcement.grader.type == "string_check"
    assert rft_done.method.reinforcement.hyperparameters.reasoning_effort == "low"
    assert dpo_done.fine_tuned_model.startswith("ft:gpt-4.1-mini-2025-04-14:emulator::")
    assert [c.step_number async for c in client.fine_tuning.jobs.checkpoints.list(dpo.id)]

    # What the API refuses up front.
    with pytest.raises(openai.BadRequestError, match="validation_file"):
        await client.fine_tuning.jobs.create(
            model="o4-mini",
            training_file=rft_train.id,
            method={"type": "reinforcement", "reinforcement": {"grader": GRADER}},
        )
    with pytest.raises(openai.BadRequestError, match="grader"):
        await client.fine_tuning.jobs.create(
            model="o4-mini", training_file=rft_train.id, validation_file=rft_valid.id, method={"type": "reinforcement"}
        )
    with pytest.raises(openai.BadRequestError) as info:
        await client.fine_tuning.jobs.create(model="o4-mini", training_file=rft_train.id)
    assert info.value.param == "method.type"
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.create(
            model="gpt-3.5-turbo", training_file=dpo_file.id, method={"type": "dpo", "dpo": {}}
        )
    spec_checker.assert_clean()


async def test_bad_training_files_fail_with_readable_errors(
    emulator: Emulator, spec_checker: SpecChecker, openai_client: OpenAIClient
) -> None:
    client = openai_client(emulator.base_url, spec_checker)
    small = await client.files.create(file=("small.jsonl", jsonl(supervised_rows(3))), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=small.id)
    assert job.status == "validating_files"
    assert job.error is None
    failed = await wait_for(client, job.id, {"failed", "succeeded"})
    assert failed.status == "failed"
    assert failed.error.code == "invalid_training_file"
    assert failed.error.param == "training_file"
    assert small.id in failed.error.message
    assert "at least 10" in failed.error.message
    assert failed.fine_tuned_model is None
    assert failed.result_files == []
    events = (await client.fine_tuning.jobs.list_events(job.id)).data
    assert any(e.level == "error" and "at least 10" in e.message for e in events)

    lines = jsonl(supervised_rows(12)).splitlines(keepends=True)
    lines[2] = b'{"messages": [{"role": "user", "content": "no answer"}]\n'  # line 3: not valid JSON
    broken = await client.files.create(file=("broken.jsonl", b"".join(lines)), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=broken.id)
    failed = await wait_for(client, job.id, {"failed", "succeeded"})
    assert failed.status == "failed"
    assert "line 3" in failed.error.message
    spec_checker.assert_clean()


async def test_cancel_pause_resume(spec_checker: SpecChecker, openai_client: OpenAIClient) -> None:
    async with Emulator(job_seconds=3.0) as emu:
        client = openai_client(emu.base_url, spec_checker)
        train = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(20))), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
        with pytest.raises(openai.BadRequestError, match="only a running job can be paused"):
            await client.fine_tuning.jobs.pause(job.id)
        await wait_for(client, job.id, {"running"})
        paused = await client.fine_tuning.jobs.pause(job.id)
        assert paused.status == "paused"
        assert paused.estimated_finish is None
        steps_then = len((await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data)
        await anyio.sleep(0.3)
        assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "paused"
        assert len((await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data) == steps_then
        with pytest.raises(openai.BadRequestError):
            await client.fine_tuning.jobs.pause(job.id)
        resumed = await client.fine_tuning.jobs.resume(job.id)
        assert resumed.status == "running"
        with pytest.raises(openai.BadRequestError, match="only a paused job can be resumed"):
            await client.fine_tuning.jobs.resume(job.id)
        cancelled = await client.fine_tuning.jobs.cancel(job.id)
        assert cancelled.status == "cancelled"
        assert cancelled.fine_tuned_model is None
        with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
            await client.fine_tuning.jobs.cancel(job.id)
        messages = [e.message for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data]
        # Newest first: cancelled, then (older) resumed, then paused.
        order = [
            messages.index(m)
            for m in ("Fine-tuning job cancelled", "Fine-tuning job resumed", "Fine-tuning job paused")
        ]
        assert order == sorted(order)
        assert messages[0] == "Fine-tuning job cancelled"
        await anyio.sleep(0.2)
        assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "cancelled"
        spec_checker.assert_clean()


async def test_errors_and_request_ids(emulator: Emulator, write_jsonl: WriteJsonl, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    for call in (
        client.fine_tuning.jobs.retrieve("ftjob-missing"),
        client.files.retrieve("file-missing"),
        client.models.retrieve("gpt-9"),
        client.fine_tuning.jobs.cancel("ftjob-missing"),
    ):
        with pytest.raises(openai.NotFoundError) as info:
            await call
        assert info.value.request_id
        assert info.value.request_id.startswith("req_")
        assert set(info.value.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]

    train = await client.files.create(file=write_jsonl("t.jsonl", supervised_rows(12)), purpose="fine-tune")
    other = await client.files.create(file=("notes.txt", b"hello"), purpose="assistants")
    bad_requests: list[dict[str, Any]] = [
        {"model": "gpt-4o-mini", "training_file": "file-nope"},
        {"model": "gpt-4o-mini", "training_file": other.id},
        {"model": "gpt-5-turbo", "training_file": train.id},
        {"model": "gpt-4o-mini", "training_file": train.id, "hyperparameters": {"n_epochs": 51}},
        {"model": "gpt-4o-mini", "training_file": train.id, "hyperparameters": {"batch_size": 0}},
        {"model": "gpt-4o-mini", "training_file": train.id, "hyperparameters": {"learning_rate_multiplier": 0}},
        {"model": "gpt-4o-mini", "training_file": train.id, "suffix": "x" * 65},
        {"model": "gpt-4o-mini", "training_file": train.id, "seed": -1},
        {"model": "gpt-4o-mini", "training_file": train.id, "seed": 2**31},
        {"model": "gpt-4o-mini", "training_file": train.id, "metadata": {f"k{i}": "v" for i in range(17)}},
        {"model": "gpt-4o-mini", "training_file": train.id, "metadata": {"k" * 65: "v"}},
        {"model": "gpt-4o-mini", "training_file": train.id, "metadata": {"k": "v" * 513}},
        {
            "model": "gpt-4o-mini",
            "training_file": train.id,
            "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 3}}},
        },
    ]
    for body in bad_requests:
        with pytest.raises(openai.BadRequestError) as info:
            await client.fine_tuning.jobs.create(**body)
        assert info.value.status_code == 400, body

    # Every answer carries a request id, success included.
    raw = await client.fine_tuning.jobs.with_raw_response.list()
    assert raw.headers["x-request-id"].startswith("req_")

    # 401: no key at all, and a wrong key when the emulator is told which keys are valid.
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{emulator.base_url}/models") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["type"] == "invalid_request_error"
        assert resp.headers["x-request-id"].startswith("req_")
    async with Emulator(api_keys={"sk-right"}) as strict:
        with pytest.raises(openai.AuthenticationError):
            await openai_client(strict.base_url, api_key="sk-wrong").models.list()
        assert (await openai_client(strict.base_url, api_key="sk-right").models.list()).data


async def test_uploads_api(emulator: Emulator, spec_checker: SpecChecker, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url, spec_checker)
    data = jsonl(supervised_rows(40))
    half = len(data) // 2
    upload = await client.uploads.create(
        bytes=len(data), filename="big.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert upload.id.startswith("upload_")
    assert upload.status == "pending"
    # Parts may arrive in any order; complete() gives the order.
    second = await client.uploads.parts.create(upload.id, data=data[half:])
    first = await client.uploads.parts.create(upload.id, data=data[:half])
    assert first.id.startswith("part_")
    with pytest.raises(openai.BadRequestError, match="md5"):
        await client.uploads.complete(upload.id, part_ids=[first.id, second.id], md5="0" * 32)
    with pytest.raises(openai.BadRequestError):
        await client.uploads.complete(upload.id, part_ids=[first.id])  # bytes do not add up
    done = await client.uploads.complete(upload.id, part_ids=[first.id, second.id], md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed"
    assert done.file is not None
    assert done.file.bytes == len(data)
    assert (await client.files.content(done.file.id)).content == data
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=done.file.id)
    assert (await wait_for(client, job.id, {"succeeded", "failed"})).status == "succeeded"

    cancelled = await client.uploads.create(bytes=10, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune")
    assert (await client.uploads.cancel(cancelled.id)).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        await client.uploads.parts.create(cancelled.id, data=b"0123456789")
    with pytest.raises(openai.NotFoundError):
        await client.uploads.cancel("upload_missing")
    spec_checker.assert_clean()


async def test_graders(emulator: Emulator, spec_checker: SpecChecker, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url, spec_checker)
    graders = client.fine_tuning.alpha.graders
    hit = await graders.run(grader=GRADER, model_sample="4", item={"reference_answer": "4"})
    miss = await graders.run(grader=GRADER, model_sample="5", item={"reference_answer": "4"})
    assert (hit.reward, miss.reward) == (1.0, 0.0)
    assert hit.metadata.name == "exact"
    assert hit.metadata.errors.invalid_variable_error is False
    ilike = {**GRADER, "operation": "ilike", "reference": "PARIS"}
    assert (await graders.run(grader=ilike, model_sample="It is Paris.", item={})).reward == 1.0
    fuzzy = {
        "type": "text_similarity",
        "name": "fuzzy",
        "input": "{{sample.output_text}}",
        "reference": "hello world",
        "evaluation_metric": "fuzzy_match",
    }
    score = (await graders.run(grader=fuzzy, model_sample="hello wrld")).reward
    assert 0.8 < score < 1.0
    model_grader = {"type": "score_model", "name": "judge", "model": "gpt-4.1", "input": []}
    judged = await graders.run(grader=model_grader, model_sample="x")
    assert judged.metadata.sampled_model_name == "gpt-4.1"
    assert judged.metadata.token_usage
    assert (await graders.validate(grader=GRADER)).grader is not None
    with pytest.raises(openai.BadRequestError):
        await graders.validate(grader={"type": "python", "name": "p", "source": "def grade(:"})
    with pytest.raises(openai.BadRequestError):
        await graders.validate(grader={"type": "string_check", "name": "s"})
    spec_checker.assert_clean()


async def test_azure_shape(emulator: Emulator, openai_client: OpenAIClient) -> None:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=emulator.azure_endpoint, api_key="azure-key", api_version="2024-10-21", max_retries=0
    ) as client:
        await _azure_flow(client, emulator, openai_client)

    import aiohttp

    async with aiohttp.ClientSession() as session:
        url = f"{emulator.azure_endpoint}/openai/fine_tuning/jobs"
        async with session.get(url, params={"api-version": "2024-10-21"}) as resp:
            assert resp.status == 401
        async with session.get(url, headers={"api-key": "k"}) as resp:
            assert resp.status == 404  # no api-version
        async with session.get(url, params={"api-version": "2024-10-21"}, headers={"api-key": "k"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "list"


async def _azure_flow(client: Any, emulator: Emulator, openai_client: OpenAIClient) -> None:
    train = await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=train.id)
    done = await wait_for(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded"
    assert [e.id async for e in client.fine_tuning.jobs.list_events(job.id, limit=5)]
    assert done.fine_tuned_model in [m.id async for m in client.models.list()]
    # The same state is visible through the OpenAI-shaped routes.
    assert (await openai_client(emulator.base_url).fine_tuning.jobs.retrieve(job.id)).status == "succeeded"


async def test_file_listing_order_and_legacy_models(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    ids = [
        (await client.files.create(file=(f"f{i}.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")).id
        for i in range(3)
    ]
    assert [f.id async for f in client.files.list(order="asc", limit=2)] == ids
    page = await client.files.list(order="asc", limit=1, after=ids[0])
    assert [f.id for f in page.data] == [ids[1]]
    assert page.has_more
    empty = await client.files.list(purpose="batch")
    assert empty.data == []
    assert empty.has_more is False

    legacy = b"".join(f'{{"prompt": "{i} + {i} =", "completion": " {2 * i}"}}\n'.encode() for i in range(12))
    train = await client.files.create(file=("legacy.jsonl", legacy), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model="babbage-002", training_file=train.id)
    assert (await wait_for(client, job.id, {"succeeded", "failed"})).status == "succeeded"
    chat = await client.fine_tuning.jobs.create(model="davinci-002", training_file=ids[0])
    failed = await wait_for(client, chat.id, {"succeeded", "failed"})
    assert failed.status == "failed"
    assert "line 1" in failed.error.message

"""Every operation of the spec, sent by this SDK, with each request body checked against the spec.

One tour of the whole API through one client: the spec checker records which operations were
sent, and the test fails if any operation of ``openai-fine-tuning.yaml`` was not.
"""

from __future__ import annotations

import hashlib

import anyio

import finetune_async as ft
from tests.conftest import SpecChecker
from tests.data import jsonl, supervised_rows
from tests.spec import load_spec, requires_spec

HTTP_METHODS = ("get", "post", "put", "delete", "patch")


def spec_operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in load_spec()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


@requires_spec
async def test_every_operation_is_sent_and_valid(client: ft.AsyncClient, spec_checker: SpecChecker) -> None:
    data = jsonl(supervised_rows(10))
    file = await client.files.create(file=("tour.jsonl", data))
    await client.files.retrieve(file.id)
    await client.files.list(limit=5)
    assert (await client.files.content(file.id)).content == data

    upload = await client.uploads.create(
        bytes=len(data), filename="u.jsonl", mime_type="application/jsonl", purpose="fine-tune"
    )
    part = await client.uploads.parts.create(upload.id, data=data)
    await client.uploads.complete(upload.id, part_ids=[part.id], md5=hashlib.md5(data).hexdigest())
    spare = await client.uploads.create(bytes=1, filename="c.jsonl", mime_type="application/jsonl", purpose="fine-tune")
    await client.uploads.cancel(spare.id)

    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file.id)
    await client.fine_tuning.jobs.list(metadata={"a": "b"})
    with anyio.fail_after(20):
        while (job := await client.fine_tuning.jobs.retrieve(job.id)).status != "running":
            await anyio.sleep(0.02)
    await client.fine_tuning.jobs.pause(job.id)
    await client.fine_tuning.jobs.resume(job.id)
    with anyio.fail_after(20):
        while (job := await client.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
            await anyio.sleep(0.02)
    await client.fine_tuning.jobs.list_events(job.id, limit=2)
    checkpoint = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data[0].fine_tuned_model_checkpoint
    other = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file.id)
    await client.fine_tuning.jobs.cancel(other.id)

    perms = await client.fine_tuning.checkpoints.permissions.create(checkpoint, project_ids=["proj_1"])
    await client.fine_tuning.checkpoints.permissions.retrieve(checkpoint)
    await client.fine_tuning.checkpoints.permissions.delete(checkpoint, perms.data[0].id)

    grader = ft.StringCheckGrader(
        type="string_check", name="g", input="{{sample.output_text}}", reference="x", operation="eq"
    )
    await client.fine_tuning.alpha.graders.run(grader=grader, model_sample="x")
    await client.fine_tuning.alpha.graders.validate(grader=grader)

    await client.models.list()
    assert job.fine_tuned_model is not None
    await client.models.retrieve(job.fine_tuned_model)
    await client.models.delete(job.fine_tuned_model)
    await client.files.delete(file.id)

    missing = spec_operations() - spec_checker.operations
    assert not missing, f"operations never sent: {sorted(missing)}"

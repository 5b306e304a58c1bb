"""client.fine_tuning.checkpoints.permissions against the emulator over loopback HTTP."""

from __future__ import annotations

import anyio
import pytest

import finetune_async as ft
from tests.data import jsonl, supervised_rows


async def finished_checkpoint(client: ft.AsyncClient) -> str:
    training = (await client.files.create(file=("t.jsonl", jsonl(supervised_rows(10))))).id
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    with anyio.fail_after(20):
        while (job := await client.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
            await anyio.sleep(0.05)
    page = await client.fine_tuning.jobs.checkpoints.list(job.id)
    return page.data[0].fine_tuned_model_checkpoint


async def test_create_retrieve_delete(client: ft.AsyncClient) -> None:
    checkpoint = await finished_checkpoint(client)
    permissions = client.fine_tuning.checkpoints.permissions
    created = await permissions.create(checkpoint, project_ids=["proj_a", "proj_b"])
    assert {p.project_id for p in created.data} == {"proj_a", "proj_b"}
    listed = await permissions.retrieve(checkpoint, limit=10)
    assert {p.id for p in listed.data} == {p.id for p in created.data}
    only_a = await permissions.retrieve(checkpoint, project_id="proj_a")
    assert [p.project_id for p in only_a.data] == ["proj_a"]
    deleted = await permissions.delete(checkpoint, created.data[0].id)
    assert deleted.deleted is True
    assert deleted.id == created.data[0].id
    with pytest.raises(ft.NotFoundError):
        await permissions.delete(checkpoint, created.data[0].id)
    remaining = await permissions.retrieve(checkpoint, order="ascending")
    assert [p.id for p in remaining.data] == [created.data[1].id]

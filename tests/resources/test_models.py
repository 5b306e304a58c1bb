"""client.models against the emulator over loopback HTTP."""

from __future__ import annotations

import anyio
import pytest

import finetune_async as ft
from tests.data import jsonl, supervised_rows


async def test_list_retrieve_and_delete_a_fine_tuned_model(client: ft.AsyncClient) -> None:
    models = [m async for m in client.models.list()]
    ids = {m.id for m in models}
    assert "gpt-4o-mini-2024-07-18" in ids
    base = await client.models.retrieve("gpt-4o-mini-2024-07-18")
    assert base.id == "gpt-4o-mini-2024-07-18"
    assert base.owned_by

    training = (await client.files.create(file=("t.jsonl", jsonl(supervised_rows(10))))).id
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training)
    with anyio.fail_after(20):
        while (job := await client.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
            await anyio.sleep(0.05)
    assert job.fine_tuned_model is not None
    tuned = await client.models.retrieve(job.fine_tuned_model)
    assert tuned.id == job.fine_tuned_model
    deleted = await client.models.delete(job.fine_tuned_model)
    assert deleted.deleted is True
    with pytest.raises(ft.NotFoundError):
        await client.models.retrieve(job.fine_tuned_model)


async def test_unknown_model_is_not_found(client: ft.AsyncClient) -> None:
    with pytest.raises(ft.NotFoundError):
        await client.models.retrieve("no-such-model")

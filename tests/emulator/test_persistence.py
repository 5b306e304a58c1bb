"""--data-dir: a restarted emulator still has its files, jobs, events and checkpoints; jobs carry on."""

from __future__ import annotations

from pathlib import Path

import anyio

from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

from .conftest import OpenAIClient


async def test_state_survives_a_restart(tmp_path: Path, openai_client: OpenAIClient) -> None:
    data_dir = tmp_path / "emu"
    body = jsonl(supervised_rows(12))
    async with Emulator(job_seconds=1.0, data_dir=data_dir) as emu:
        client = openai_client(emu.base_url)
        train = await client.files.create(file=("t.jsonl", body), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id, suffix="kept")
        done_early = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
        await client.fine_tuning.jobs.cancel(done_early.id)
        while (await client.fine_tuning.jobs.retrieve(job.id)).status != "running":
            await anyio.sleep(0.05)
        await anyio.sleep(0.3)
        events_before = [e.id for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data]
    assert (data_dir / "emulator.sqlite3").is_file()

    async with Emulator(job_seconds=1.0, data_dir=data_dir) as emu:
        client = openai_client(emu.base_url)
        assert (await client.files.retrieve(train.id)).bytes == len(body)
        assert (await client.files.content(train.id)).content == body
        assert (await client.fine_tuning.jobs.retrieve(done_early.id)).status == "cancelled"
        events_after = [e.id for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data]
        assert events_after[-len(events_before) :] == events_before  # same events, newer ones on top
        with anyio.fail_after(10):
            while (current := await client.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
                await anyio.sleep(0.05)
        assert current.fine_tuned_model
        assert ":kept:" in current.fine_tuned_model
        ckpts = [c.step_number async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
        assert len(ckpts) == 3
        assert [j.id async for j in client.fine_tuning.jobs.list()] == [done_early.id, job.id]
        result = current.result_files[0]

    # A job that finished while nobody was running: still there, and its model too.
    async with Emulator(data_dir=data_dir) as emu:
        client = openai_client(emu.base_url)
        assert (await client.models.retrieve(current.fine_tuned_model)).id == current.fine_tuned_model
        assert (await client.files.content(result)).text.startswith("step,train_loss")


async def test_in_memory_by_default_leaves_nothing_behind(openai_client: OpenAIClient) -> None:
    async with Emulator() as emu:
        blob_dir = emu.state.store.blob_dir
        client = openai_client(emu.base_url)
        await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
        assert any(blob_dir.iterdir())
    assert not blob_dir.exists()

"""The emulator reads and checks each training file once, however many jobs name it at once.

Four concurrent creates on one file used to validate it four times over (2.4 GB for a file with
a 256 MB line); now they wait on one check and share its result, which is kept per file until
the file is deleted.
"""

from __future__ import annotations

import asyncio
import io

import aiohttp
from aiohttp import web

from finetune_async.emulator import Emulator, EmulatorState, Faults, Store, create_app
from tests.data import jsonl, supervised_rows

AUTH = {"Authorization": "Bearer sk-once"}


async def _upload(session: aiohttp.ClientSession, base: str, data: bytes) -> str:
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    form.add_field("file", io.BytesIO(data), filename="train.jsonl")
    async with session.post(f"{base}/files", data=form) as resp:
        assert resp.status == 200
        return str((await resp.json())["id"])


async def _create(session: aiohttp.ClientSession, base: str, body: dict[str, object]) -> dict[str, object]:
    async with session.post(f"{base}/fine_tuning/jobs", json=body) as resp:
        answer: dict[str, object] = await resp.json()
        assert resp.status == 200, answer
        return answer


async def test_concurrent_creates_share_one_check(emulator: Emulator) -> None:
    base = emulator.base_url
    # Big enough that the check takes a while: the creates all arrive while it runs.
    rows = supervised_rows(20_000)
    async with aiohttp.ClientSession(headers=AUTH) as session:
        train = await _upload(session, base, jsonl(rows))
        bad = await _upload(session, base, jsonl(rows[:5]))
        body = {"model": "gpt-4o-mini", "training_file": train}
        jobs = await asyncio.gather(*(_create(session, base, body) for _ in range(4)))
        assert emulator.state.dataset_checks == 1
        assert len({j["id"] for j in jobs}) == 4
        assert all(emulator.state.store.jobs[str(j["id"])].n_examples == 20_000 for j in jobs)
        # Kept: a later create, and one with the same file as its validation file, check nothing.
        await _create(session, base, body)
        assert emulator.state.dataset_checks == 1
        # A file that fails its check is checked once too, and every job names its problem.
        bodies = [{"model": "gpt-4o-mini", "training_file": bad}] * 3
        await asyncio.gather(*(_create(session, base, b) for b in bodies))
        assert emulator.state.dataset_checks == 2
        failed = [j for j in emulator.state.store.jobs.values() if j.training_file == bad]
        assert len(failed) == 3
        assert all(j.invalid is not None and "at least 10" in j.invalid["message"] for j in failed)
        # Another method is another check; deleting the file drops what was kept about it.
        dpo = {"model": "gpt-4o-mini", "training_file": train, "method": {"type": "dpo"}}
        await _create(session, base, dpo)
        assert emulator.state.dataset_checks == 3
        async with session.delete(f"{base}/files/{train}") as resp:
            assert resp.status == 200
        assert not emulator.state.datasets.holds(train)


async def test_a_create_whose_client_hangs_up_does_not_cancel_the_check_for_the_others() -> None:
    # With handler_cancellation, aiohttp cancels a handler whose client hung up: the first
    # create is cancelled while it waits on the check, and the second still gets the result.
    store = Store(None)
    state = EmulatorState(store, job_seconds=1.0)
    runner = web.AppRunner(create_app(state, Faults()), handler_cancellation=True, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.start(asyncio.get_running_loop())
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    try:
        async with aiohttp.ClientSession(headers=AUTH) as session:
            # About a third of a second to check: the hang-up comes while it runs.
            train = await _upload(session, base, jsonl(supervised_rows(60_000)))
            body = {"model": "gpt-4o-mini", "training_file": train}
            impatient = asyncio.ensure_future(_create(session, base, body))
            await asyncio.sleep(0.05)
            patient = asyncio.ensure_future(_create(session, base, body))
            await asyncio.sleep(0.05)
            impatient.cancel()
            job = await patient
        assert store.jobs[str(job["id"])].n_examples == 60_000
        assert state.dataset_checks == 1
        assert len(store.jobs) == 1  # the cancelled create made nothing
    finally:
        state.stop()
        await runner.cleanup()
        store.close()

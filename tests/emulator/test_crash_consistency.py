"""``kill -9`` with ``--data-dir``: whatever a restart finds is whole.

The emulator runs in a child process and is killed with SIGKILL again and again while jobs are
created, polled and finished; then it is started once more and left to finish every job. Each
finished job must then have every event its lifecycle makes: a job's row and the events of the
same change are one transaction, so a kill keeps both or neither (before, a job could be
committed as succeeded with 63 of its 96 metric events). Half the kills come from outside at a
random instant; the other half come from inside, right after a job's row was written
(``tests/emulator/crash_runner.py``), the instant that used to leave a gap.
Blobs nobody references (half-written uploads, a concatenation cut short) are removed at start.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from finetune_async.emulator import Emulator
from tests.data import jsonl, supervised_rows

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"Authorization": "Bearer sk-crash"}
JOB_SECONDS = 1.0
ROUNDS = 4
JOBS_PER_ROUND = 30
#: 12 examples: batch size 1 and 8 epochs, so 96 steps, each with a metric event.
TRAIN = jsonl(supervised_rows(12))
LIFECYCLE = (
    "Files validated, moving job to queued state",
    "Fine-tuning job started",
    "The job has successfully completed",
)


class _Process:
    """The emulator in a child process with a data dir; :meth:`kill` is ``kill -9``.

    With ``kill_at``, the process SIGKILLs itself right after its ``kill_at``-th job write.
    """

    def __init__(self, data_dir: Path, kill_at: int | None = None) -> None:
        module = "tests.emulator.crash_runner" if kill_at is not None else "finetune_async.emulator"
        argv = [sys.executable, "-m", module, "--port", "0", "--data-dir", str(data_dir)]
        argv += ["--job-seconds", str(JOB_SECONDS)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        if kill_at is not None:
            env["EMULATOR_KILL_AT_JOB_WRITE"] = str(kill_at)
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, cwd=ROOT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if kill_at is not None and not line:
            # Killed while catching up on the jobs that ran on while it was down.
            self.proc.wait(timeout=5)
            self.base_url = ""
            return
        assert "listening on" in line, f"the emulator did not start: {line!r}"
        self.base_url = line.split("listening on", 1)[1].strip()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL the process (if it still runs); its exit status."""
        self.proc.kill()
        status = self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return status

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


async def _json(resp: aiohttp.ClientResponse) -> Any:
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _upload(session: aiohttp.ClientSession, base: str) -> str:
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    form.add_field("file", TRAIN, filename="train.jsonl")
    async with session.post(f"{base}/files", data=form) as resp:
        return str((await _json(resp))["id"])


async def _load(emu: _Process, train: str, rng: random.Random, seconds: float) -> None:
    """Create a burst of jobs and poll them as they run and finish, for ``seconds`` at most or
    until the emulator is gone."""
    base = emu.base_url
    job_ids: list[str] = []

    async def create(session: aiohttp.ClientSession) -> None:
        body = {"model": "gpt-4o-mini", "training_file": train}
        async with session.post(f"{base}/fine_tuning/jobs", json=body) as resp:
            job_ids.append((await _json(resp))["id"])

    async def poll(session: aiohttp.ClientSession, job_id: str) -> None:
        # Each poll materialises the steps due since the last one: a row and its events.
        while True:
            async with session.get(f"{base}/fine_tuning/jobs/{job_id}") as resp:
                if (await _json(resp))["status"] == "succeeded":
                    return
            await anyio.sleep(rng.uniform(0.1, 0.4))

    async def until_gone(request: Any, *args: Any) -> None:
        try:
            await request(*args)
        except aiohttp.ClientConnectionError:
            # Only a dead emulator drops a connection here (give the exit a moment to show).
            await anyio.to_thread.run_sync(emu.proc.wait, 5)

    with anyio.move_on_after(seconds):
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            async with anyio.create_task_group() as tg:
                for _ in range(JOBS_PER_ROUND):
                    tg.start_soon(until_gone, create, session)
            async with anyio.create_task_group() as tg:
                for job_id in job_ids:
                    tg.start_soon(until_gone, poll, session, job_id)


async def _events(session: aiohttp.ClientSession, base: str, job_id: str) -> list[dict[str, Any]]:
    async with session.get(f"{base}/fine_tuning/jobs/{job_id}/events", params={"limit": "1000"}) as resp:
        page = await _json(resp)
    assert not page["has_more"]
    return list(page["data"])


async def _check_every_job_is_whole(base: str) -> int:
    """Wait for every job to finish; assert each has all its events. The number of jobs."""
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        async with session.get(f"{base}/fine_tuning/jobs", params={"limit": "1000"}) as resp:
            jobs = (await _json(resp))["data"]
        with anyio.fail_after(30):
            for job in jobs:
                while job["status"] != "succeeded":
                    await anyio.sleep(0.05)
                    async with session.get(f"{base}/fine_tuning/jobs/{job['id']}") as resp:
                        job = await _json(resp)
                async with session.get(f"{base}/files/{job['result_files'][0]}/content") as resp:
                    assert resp.status == 200
                    total_steps = (await resp.text()).count("\n") - 1
                events = await _events(session, base, job["id"])
                messages = Counter(e["message"] for e in events)
                steps = sorted(e["data"]["step"] for e in events if e["type"] == "metrics")
                checkpoints = sum(n for m, n in messages.items() if m.startswith("Checkpoint created at step"))
                expected = (f"Created fine-tuning job: {job['id']}", *LIFECYCLE)
                wrong = {m: messages[m] for m in expected if messages[m] != 1}
                where = f"job {job['id']}: {len(steps)} of {total_steps} metric events, {checkpoints} of 3 "
                where += f"checkpoint events, lifecycle events not there once: {wrong}"
                assert steps == list(range(1, total_steps + 1)), where
                assert not wrong, where
                assert checkpoints == 3, where
    return len(jobs)


async def test_kill_9_under_load_leaves_no_gaps(tmp_path: Path) -> None:
    rng = random.Random(13)
    data_dir = tmp_path / "emu"
    emu = _Process(data_dir)
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        train = await _upload(session, emu.base_url)
    emu.kill()
    for round_ in range(ROUNDS):
        if round_ % 2:
            # From inside, right after a job's row was written: while catching up on the jobs
            # that ran on while it was down, among the creates, or as the jobs run and finish.
            # Each job is written at least twice (created, finished), so the point is reached.
            emu = _Process(data_dir, kill_at=rng.randint(1, JOBS_PER_ROUND * 2))
            if emu.alive():
                await _load(emu, train, rng, JOB_SECONDS * 5)
            assert not emu.alive(), "the emulator did not reach its kill point"
            assert emu.kill() == -signal.SIGKILL
        else:
            # From outside, at a random instant while the jobs run and finish.
            emu = _Process(data_dir)
            await _load(emu, train, rng, JOB_SECONDS * rng.uniform(0.9, 1.1))
            assert emu.alive()
            emu.kill()
    emu = _Process(data_dir)
    try:
        assert await _check_every_job_is_whole(emu.base_url) > 0
    finally:
        emu.stop()


async def test_orphan_blobs_are_removed_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "emu"
    async with Emulator(data_dir=data_dir) as emu, aiohttp.ClientSession(headers=HEADERS) as session:
        kept = await _upload(session, emu.base_url)
        async with session.post(
            f"{emu.base_url}/uploads",
            json={"filename": "big.jsonl", "purpose": "fine-tune", "bytes": 20, "mime_type": "text/jsonl"},
        ) as resp:
            upload = (await _json(resp))["id"]
        form = aiohttp.FormData()
        form.add_field("data", b"0123456789", filename="part")
        async with session.post(f"{emu.base_url}/uploads/{upload}/parts", data=form) as resp:
            await _json(resp)
        blobs = sorted(p.name for p in emu.state.store.blob_dir.iterdir())
    assert len(blobs) == 2  # the file and the part of the pending upload
    files = data_dir / "files"
    # What a kill leaves behind: an upload half streamed, a concatenation cut short.
    (files / "blob-halfwrittenupload").write_bytes(b"x" * 1000)
    (files / "blob-concatenationcut").write_bytes(b"y" * 10)
    async with Emulator(data_dir=data_dir) as emu, aiohttp.ClientSession(headers=HEADERS) as session:
        assert sorted(p.name for p in files.iterdir()) == blobs
        async with session.get(f"{emu.base_url}/files/{kept}/content") as resp:
            assert await resp.read() == TRAIN
        # The pending upload's part is still there to complete with.
        form = aiohttp.FormData()
        form.add_field("data", b"abcdefghij", filename="part")
        async with session.post(f"{emu.base_url}/uploads/{upload}/parts", data=form) as resp:
            second = (await _json(resp))["id"]
        first = emu.state.store.uploads[upload].part_ids[0]
        async with session.post(
            f"{emu.base_url}/uploads/{upload}/complete", json={"part_ids": [first, second]}
        ) as resp:
            done = await _json(resp)
        async with session.get(f"{emu.base_url}/files/{done['file']['id']}/content") as resp:
            assert await resp.read() == b"0123456789abcdefghij"
        parts = [emu.state.store.parts[p].path for p in (first, second)]
        assert not [p for p in parts if (files / p).exists()]
        completed = sorted(p.name for p in files.iterdir())
    # A kill after the completion was committed, before the parts' bytes were removed.
    (files / parts[0]).write_bytes(b"0123456789")
    async with Emulator(data_dir=data_dir) as emu, aiohttp.ClientSession(headers=HEADERS) as session:
        assert sorted(p.name for p in files.iterdir()) == completed
        async with session.get(f"{emu.base_url}/files/{done['file']['id']}/content") as resp:
            assert await resp.read() == b"0123456789abcdefghij"

"""Ways in: the pytest fixture (entry-point plugin), serve(), and ``python -m finetune_async.emulator``."""

from __future__ import annotations

import os
import signal
import sys

import aiohttp
import anyio
import pytest

from finetune_async.emulator import Emulator, main, serve


async def test_fixture_gives_a_running_emulator(finetune_emulator: Emulator) -> None:
    assert finetune_emulator.job_seconds == 1.0
    assert finetune_emulator.base_url.startswith("http://127.0.0.1:")
    assert finetune_emulator.base_url.endswith("/v1")
    headers = {"Authorization": "Bearer sk-test"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(f"{finetune_emulator.base_url}/models") as resp,
    ):
        assert resp.status == 200
    assert finetune_emulator.state.jobs_in_flight() == 0


@pytest.mark.finetune_emulator(job_seconds=7, faults="latency=0.01")
async def test_fixture_marker_configures_it(finetune_emulator: Emulator) -> None:
    assert finetune_emulator.job_seconds == 7
    assert finetune_emulator.faults.rules[0].latency == (0.01, 0.01)


async def test_serve_yields_the_base_url() -> None:
    async with serve(job_seconds=1) as base_url, aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/models", headers={"Authorization": "Bearer k"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "list"
            assert resp.headers["x-request-id"].startswith("req_")
        async with session.get(f"{base_url}/nowhere", headers={"Authorization": "Bearer k"}) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["message"].startswith("Invalid URL")


def test_main_rejects_a_bad_fault_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--faults", "rate=7"])
    assert info.value.code == 2
    assert "--faults" in capsys.readouterr().err


async def test_python_dash_m_serves_until_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "finetune_async.emulator", "--port", "0", "--job-seconds", "1"]
    async with await anyio.open_process(command, env=env) as proc:
        assert proc.stdout is not None
        output = b""
        with anyio.fail_after(20):
            while b"\n" not in output:
                output += await proc.stdout.receive()
        line = output.decode().splitlines()[0]
        assert "listening on http://127.0.0.1:" in line
        base_url = line.rsplit(" ", 1)[1].strip()
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{base_url}/models", headers={"Authorization": "Bearer k"}) as resp,
        ):
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            assert await proc.wait() == 0

"""The waiting examples run end to end against their embedded emulator (small sizes)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

import finetune_async as ft
from tests.dialects import openai_only

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("rate", ["20", "5"])
def test_wait_many(rate: str) -> None:
    out = run("examples/wait_many.py", "--jobs", "12", "--job-seconds", "1", "--rate", rate)
    assert "all 12 jobs ended" in out
    assert "12 succeeded" in out


def test_web_service() -> None:
    out = run("examples/web_service.py", "--smoke", "--port", "0", "--job-seconds", "2")
    assert "result: succeeded" in out


def _load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The example's own input checks: the emulator behind it is only a prop, one dialect is enough.
@openai_only
@pytest.mark.parametrize("tail", ["", "/events", "/result"])
async def test_web_service_refuses_a_malformed_id_with_its_own_400(client: ft.AsyncClient, tail: str) -> None:
    web_service = _load_example("web_service")
    service = web_service.Service()
    service.client = client
    service.training_file = "file-unused"
    runner = web.AppRunner(web_service.build_app(service), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/fine-tunes"
        async with aiohttp.ClientSession() as http:
            # Sent as written (encoded=True): the service sees "..", "a/b", " ", "a?b", "a\\b".
            for raw in ("%2E%2E", ".", "a%2Fb", "%20", "a%3Fb", "a%5Cb", "%252E%252E"):
                async with http.get(URL(f"{url}/{raw}{tail}", encoded=True)) as resp:
                    assert resp.status == 400, raw
                    body = await resp.json()
                    assert body["error"].startswith("fine_tuning_job_id must be an id such as "), body
            async with http.get(f"{url}/ftjob-nope{tail}") as resp:
                assert resp.status == 404
    finally:
        await runner.cleanup()

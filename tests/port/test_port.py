"""A working openai-python script moves over by changing its client line only."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

from finetune_async.emulator import Emulator
from tests.data import dpo_rows, jsonl, supervised_rows

SCRIPT = Path(__file__).with_name("openai_script.py")
LINES = {
    "openai": 'import openai; client = openai.AsyncOpenAI(base_url=BASE_URL, api_key="sk-port", max_retries=0)',
    "finetune_async": (
        'import finetune_async; client = finetune_async.AsyncClient(base_url=BASE_URL, api_key="sk-port")'
    ),
}


async def _run(variant: str, tmp_path: Path, base_url: str) -> dict[str, object]:
    text = SCRIPT.read_text(encoding="utf-8")
    assert text.count("CLIENT_LINE") == 1
    script = tmp_path / f"port_{variant}.py"
    script.write_text(text.replace("CLIENT_LINE", LINES[variant]), encoding="utf-8")
    train = tmp_path / "train.jsonl"
    train.write_bytes(jsonl(supervised_rows(12)))
    dpo = tmp_path / "dpo.jsonl"
    dpo.write_bytes(jsonl(dpo_rows(12)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FINETUNE_ASYNC_"))}
    with anyio.fail_after(60):
        proc = await anyio.run_process(
            [sys.executable, "-W", "error", str(script), base_url, str(train), str(dpo)], env=env, check=False
        )
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, f"{variant} failed:\n{stderr}"
    assert stderr == "", stderr  # no warning, no "Unclosed client session"
    result: dict[str, object] = json.loads(stdout)
    return result


@pytest.mark.parametrize("variant", ["openai", "finetune_async"])
async def test_an_openai_script_runs_with_only_its_client_line_changed(variant: str, tmp_path: Path) -> None:
    if variant == "openai":
        pytest.importorskip("openai")
    async with Emulator(job_seconds=3.0) as emu:
        seen = await _run(variant, tmp_path, emu.base_url)
    assert seen == {
        "uploads": ["train.jsonl", "dpo.jsonl", "fine-tune", len(jsonl(dpo_rows(12)))],
        "dpo": ["dpo", 0.1],
        "seed": 4242,
        "listed": [True, True],
        "status": "succeeded",
        "events": [seen["events"][0], True],  # type: ignore[index]
        "checkpoints": [True] * len(seen["checkpoints"]),  # type: ignore[arg-type]
        "dump": [True, True, True],
        "to_dict": "succeeded",
        "suffix_attribute": "port",
        "raw": [200, "application/json", True],
        "content": ["step", True],
        "cancelled": "cancelled",
    }

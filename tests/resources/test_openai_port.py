"""A script written for ``openai.AsyncOpenAI`` runs on ``ft.AsyncClient`` with only the client line
changed (issue 14, "Done when").

The one function below is an ordinary openai-python fine-tuning script: it never names this
package. It runs twice, once with the official SDK and once with ours, each against its own
emulator, and what it reports must agree. The parts that are other helpers' work in issue 14
(``model_dump_json()``, unknown fields as attributes) are not in it yet.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import openai

import finetune_async as ft
from finetune_async.emulator import Emulator
from tests.conftest import SpecChecker
from tests.data import dpo_rows, jsonl, supervised_rows

TERMINAL = ("succeeded", "failed", "cancelled")


async def ported_script(client: Any, workdir: Path) -> dict[str, Any]:
    """Fine-tune as the openai-python docs show; returns what a person would look at."""
    train_path = workdir / "train.jsonl"
    train_path.write_bytes(jsonl(supervised_rows(12)))
    with train_path.open("rb") as handle:
        train = await client.files.create(file=handle, purpose="fine-tune")
    dpo = await client.files.create(file=("dpo.jsonl", jsonl(dpo_rows(12)), "application/jsonl"), purpose="fine-tune")

    dpo_job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=dpo.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}},
        timeout=30,
        extra_headers={"X-Request-Source": "port-test"},
    )
    sft_job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=train.id,
        extra_body={"suffix": "ported", "metadata": {"team": "search"}},
    )
    listed = await client.fine_tuning.jobs.list(limit=10)
    cancelled = await client.fine_tuning.jobs.cancel(dpo_job.id)

    with anyio.fail_after(20):
        while (job := await client.fine_tuning.jobs.retrieve(sft_job.id)).status not in TERMINAL:
            await asyncio.sleep(0.05)
    messages = [event.message async for event in client.fine_tuning.jobs.list_events(sft_job.id, limit=5)]
    checkpoints = await client.fine_tuning.jobs.checkpoints.list(sft_job.id)

    raw = await client.fine_tuning.jobs.with_raw_response.retrieve(sft_job.id)
    parsed = raw.parse()

    content = await client.files.content(job.result_files[0])
    content.write_to_file(workdir / "metrics.csv")
    return {
        "train": (train.filename, train.bytes, train.purpose),
        "dpo": (dpo.filename, dpo.bytes),
        "dpo_method": dpo_job.method.type,
        "listed": sorted(j.id for j in listed.data) == sorted([dpo_job.id, sft_job.id]),
        "cancelled": cancelled.status,
        "status": job.status,
        "suffix": ":ported:" in job.fine_tuned_model,
        "metadata": job.metadata.get("team"),
        "last_event": messages[0],
        "events": len(messages) > 5,  # async for walks every page, not just the first five
        "checkpoints": len(checkpoints.data) > 0,
        "raw": (raw.status_code, raw.headers.get("x-request-id") == raw.request_id, parsed.id == sft_job.id),
        "csv_header": content.text.splitlines()[0],
        "csv_written": (workdir / "metrics.csv").read_bytes() == content.content,
    }


async def test_an_openai_script_runs_unchanged_on_this_client(tmp_path: Path, spec_checker: SpecChecker) -> None:
    reports = []
    for kind in ("openai", "finetune_async"):
        workdir = tmp_path / kind
        workdir.mkdir()
        async with Emulator(job_seconds=1.0) as emulator:
            # The only line that differs:
            if kind == "openai":
                client: Any = openai.AsyncOpenAI(api_key="sk-test-port", base_url=emulator.base_url, max_retries=0)
            else:
                client = ft.AsyncClient(
                    api_key="sk-test-port", base_url=emulator.base_url, request_hooks=[spec_checker]
                )
            async with client:
                reports.append(await ported_script(client, workdir))
    official, ours = reports
    assert ours == official
    assert ours["status"] == "succeeded"
    assert ours["cancelled"] == "cancelled"
    assert ours["train"] == ("train.jsonl", len(jsonl(supervised_rows(12))), "fine-tune")
    assert ours["csv_header"].startswith("step,train_loss")
    assert ours["raw"] == (200, True, True)
    assert ("POST", "/files") in spec_checker.operations  # every request of ours was checked against the spec

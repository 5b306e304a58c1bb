"""``examples/notebook_quickstart.py`` in a real Jupyter kernel, and as a plain ``-W error`` script.

The kernel runs an event loop while it executes cells (``asyncio.run`` fails there, as the first
cell shows): the synchronous client must not care. One kernel start, the emulator on fast jobs.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from finetune_async.emulator import Emulator
from finetune_async.models import JobStatus
from tests.sync.conftest import ROOT, child_env

pytestmark = pytest.mark.finetune_emulator(job_seconds=1)

EXAMPLE = ROOT / "examples" / "notebook_quickstart.py"

LOOP_CELL = """\
import asyncio
pause = asyncio.sleep(0)
try:
    asyncio.run(pause)
except RuntimeError as exc:
    pause.close()
    print("asyncio.run:", exc)
"""


def _cells() -> list[str]:
    source = EXAMPLE.read_text()
    body = source.split("# %%\n")[1:]  # the docstring before the first marker is no cell
    return [cell.strip() for cell in body]


def _stream_text(cell: Any, name: str) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o["name"] == name)


def _the_one_job(emu: Emulator) -> str:
    (job_id,) = emu.state.store.jobs
    return job_id


def test_the_quickstart_runs_in_a_jupyter_kernel(finetune_emulator_sync: Emulator) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(LOOP_CELL)] + [nbformat.v4.new_code_cell(c) for c in _cells()]
    env = child_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=finetune_emulator_sync.base_url)
    runner = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    runner.execute(env=env)

    outputs = [_stream_text(cell, "stdout") for cell in notebook.cells]
    assert "cannot be called from a running event loop" in outputs[0]
    # Nothing on stderr: no warning, no traceback, in any cell.
    assert [_stream_text(cell, "stderr") for cell in notebook.cells] == [""] * len(notebook.cells)
    everything = "".join(outputs)
    job_id = _the_one_job(finetune_emulator_sync)
    assert f"created: {job_id}" in everything
    assert f"listed: {job_id}" in everything
    assert "event: The job has successfully completed" in everything
    assert f"result: {JobStatus.SUCCEEDED}" in everything
    assert "closed: True" in everything
    uploaded = [f for f in finetune_emulator_sync.state.store.files.values() if f.filename == "train.jsonl"]
    assert len(uploaded) == 1


def test_the_same_code_runs_as_a_script_with_warnings_as_errors(finetune_emulator_sync: Emulator) -> None:
    env = child_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=finetune_emulator_sync.base_url)
    done = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    job_id = _the_one_job(finetune_emulator_sync)
    assert f"result: {JobStatus.SUCCEEDED}" in done.stdout
    assert f"listed: {job_id}" in done.stdout

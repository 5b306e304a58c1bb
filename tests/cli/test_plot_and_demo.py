"""``metrics --plot`` (a PNG that shows both curves) and ``demo`` end to end."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import EmulatorThread, cli_env, run_cli

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# matplotlib's default colour cycle, as the plot uses it: training blue, validation orange.
TRAIN_RGB = (0x1F, 0x77, 0xB4)
VALID_RGB = (0xFF, 0x7F, 0x0E)


@pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="matplotlib is not installed (pip install 'finetune-async[plot]')")
def test_metrics_plot_writes_a_png_with_both_curves(
    finished_job: str, emulators: EmulatorThread, tmp_path: Path
) -> None:
    import matplotlib.image
    import numpy as np

    png = tmp_path / "loss.png"
    proc = run_cli("metrics", finished_job, "--plot", str(png), base_url=emulators.url("fast"))
    assert proc.returncode == 0, proc.stderr
    assert f"Wrote {png}" in proc.stdout

    image = matplotlib.image.imread(str(png))
    height, width = image.shape[:2]
    assert (width, height) == (1000, 400)
    rgb = (image[..., :3] * 255).round().astype(int)
    for left, right in ((0, width // 2), (width // 2, width)):
        # The inside of each panel (away from titles, ticks and labels) is not blank...
        panel = rgb[int(height * 0.2) : int(height * 0.8), left + int(width * 0.08) : right - int(width * 0.03)]
        assert panel.std() > 10
        # ...and holds both curves: training (blue) and validation (orange) pixels.
        for colour in (TRAIN_RGB, VALID_RGB):
            near = np.abs(panel - np.array(colour)).sum(axis=-1) < 40
            assert near.sum() > 200, f"too few pixels of {colour} in the panel at x={left}"


def test_metrics_plot_without_matplotlib_says_what_to_install(emulators: EmulatorThread, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None; from finetune_async.cli import main; "
        f"sys.exit(main(['metrics', 'ftjob-any', '--plot', {str(tmp_path / 'x.png')!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env(emulators.url("fast")),
        check=False,
    )
    assert proc.returncode == 2
    assert "pip install 'finetune-async[plot]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_demo_without_a_key_runs_everything_on_the_emulator() -> None:
    # The flow is the subject, not its pace: a one-second job instead of the default nine.
    started = time.monotonic()
    proc = run_cli("demo", "--job-seconds", "1", api_key=None, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "local emulator" in out
    for step in ("Validate", "Upload", "Create the job", "Train", "Checkpoints", "Metrics"):
        assert step in out
    assert "40 examples, no problems" in out
    assert "billed tokens (estimate)" in out
    assert "Uploaded sample_train.jsonl" in out
    assert "Fine-tuning job started" in out
    assert "step 120/120 100%" in out
    assert "ckpt-step-120" in out
    assert "succeeded" in out
    assert "Final: train loss" in out
    assert elapsed < 30


def test_demo_with_a_key_still_runs_on_the_embedded_emulator() -> None:
    # Every SDK user has OPENAI_API_KEY set: the demo must neither ask to spend nor send the key.
    with socket.create_server(("127.0.0.1", 0)) as trap:
        trap.setblocking(False)
        url = f"http://127.0.0.1:{trap.getsockname()[1]}/v1"
        proc = run_cli("demo", "--job-seconds", "1", base_url=url, timeout=60)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody connected to OPENAI_BASE_URL
    assert proc.returncode == 0, proc.stderr
    assert "local emulator" in proc.stdout
    assert "OPENAI_API_KEY is not used" in proc.stdout
    assert "finetune-async demo --live" in proc.stdout
    assert "billed training tokens" not in proc.stdout + proc.stderr
    assert "succeeded" in proc.stdout


def test_demo_live_without_a_key_is_a_usage_error() -> None:
    proc = run_cli("demo", "--live", api_key=None)
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr


def test_demo_live_refuses_without_a_terminal(emulators: EmulatorThread) -> None:
    url = emulators.url("fast")
    before = len(emulators.emulators["fast"].state.store.files)
    proc = run_cli("demo", "--live", base_url=url)
    assert proc.returncode == 2
    assert "billed training tokens" in proc.stderr
    assert "--yes" in proc.stderr
    assert len(emulators.emulators["fast"].state.store.files) == before


def test_demo_live_with_yes_uses_the_configured_service(emulators: EmulatorThread) -> None:
    proc = run_cli("demo", "--live", "--yes", "--json", base_url=emulators.url("fast"))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["mode"] == "api"
    assert summary["job"]["status"] == "succeeded"
    assert len(summary["checkpoints"]) == 3
    assert summary["metrics"]["source"] == "result_file"
    assert summary["validation"]["ok"] is True

"""``finetune-async batch``: spec files, the command's output and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from finetune_async.cli._batch import batch, load_specs
from tests.dialects import OPENAI_MODEL as MODEL

from .conftest import ROOT, EmulatorProcess, child_env, write_datasets


def test_yaml_specs_take_defaults_and_resolve_paths_against_the_file(tmp_path: Path) -> None:
    write_datasets(tmp_path / "data", n_train=1)
    path = tmp_path / "specs.yaml"
    doc = {
        "batch_id": "b1",
        "defaults": {"model": MODEL, "validation_file": "data/valid.jsonl"},
        "specs": [
            {"training_file": "data/train0.jsonl", "hyperparameters": {"n_epochs": 2}},
            {"training_file": "file-abc123", "key": "given", "method": "dpo", "metadata": {"a": "b"}},
        ],
    }
    path.write_text(yaml.safe_dump(doc))
    specs, batch_id = load_specs(path)
    assert batch_id == "b1"
    assert specs[0].training_file == str(tmp_path / "data" / "train0.jsonl")
    assert specs[0].validation_file == str(tmp_path / "data" / "valid.jsonl")
    assert specs[1].training_file == "file-abc123"
    assert specs[1].key == "given"
    assert specs[1].method_param() == {"type": "dpo", "dpo": {}}
    # Keys come from the specs as written: the same file elsewhere gives the same keys.
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    (elsewhere / "specs.yaml").write_text(yaml.safe_dump(doc))
    assert [s.key for s in load_specs(elsewhere / "specs.yaml")[0]] == [s.key for s in specs]


def test_a_bare_name_that_names_no_file_is_kept_as_an_id(tmp_path: Path) -> None:
    # A Fireworks dataset id has no file- prefix: a name with no separator or extension that
    # names no file is passed on as written (run_batch reads it by the provider's id shape).
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "present").write_text("")
    path = tmp_path / "specs.yaml"
    refs = ["mine-1a2b3c4d", "train.jsonl", "data/x.jsonl", "data"]
    path.write_text(yaml.safe_dump({"specs": [{"training_file": r, "model": MODEL, "key": r} for r in refs]}))
    specs, _ = load_specs(path)
    assert [s.training_file for s in specs] == [
        "mine-1a2b3c4d",
        str(tmp_path / "train.jsonl"),
        str(tmp_path / "data" / "x.jsonl"),
        str(tmp_path / "data"),
    ]


def test_jsonl_specs(tmp_path: Path) -> None:
    path = tmp_path / "specs.jsonl"
    lines = [{"training_file": "t.jsonl", "model": MODEL, "suffix": f"x{i}"} for i in range(3)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "\n")
    specs, batch_id = load_specs(path)
    assert batch_id is None
    assert [s.suffix for s in specs] == ["x0", "x1", "x2"]
    assert len({s.key for s in specs}) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("specs: [{model: m}]", "missing spec field"),
        ("specs: [{training_file: t, model: m, color: red}]", "unknown spec field"),
        ("specs: [{training_file: t, model: m, method: magic}]", "unknown method"),
        ("other: 1", "unknown top-level"),
        ("just text", "expected a list"),
    ],
)
def test_bad_spec_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "specs.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_specs(path)


def test_the_command_runs_the_batch(tmp_path: Path, emulator_process: EmulatorProcess) -> None:
    """On every dialect, through each provider's environment variables (``FINETUNE_ASYNC_PROVIDER``,
    Azure's endpoint and key, Nebius' base URL and key)."""
    model = emulator_process.dialect.model
    _trains, _ = write_datasets(tmp_path / "data", n_train=1)
    (tmp_path / "data" / "short.jsonl").write_text("{}\n")
    specs = tmp_path / "specs.yaml"
    specs.write_text(
        yaml.safe_dump(
            {
                "defaults": {"model": model, "training_file": "data/train0.jsonl"},
                "specs": [{"key": "a", "suffix": "a"}, {"key": "b", "suffix": "b"}],
            }
        )
    )
    runner = CliRunner()
    env = child_env(emulator_process.base_url, emulator_process.dialect)

    def run(*args: str) -> Result:
        # standalone_mode=False, as the group's run() calls it: the command's return value is the exit status.
        return runner.invoke(batch, list(args), env=env, catch_exceptions=False, standalone_mode=False)

    result = run(str(specs), "--max-concurrent", "2")
    assert result.return_value == 0, result.output
    assert "succeeded" in result.output
    assert "reattached 0, created 2" in result.output
    assert (tmp_path / "specs.batch.sqlite").is_file()
    # A re-run says what it found.
    rerun = run(str(specs))
    assert rerun.return_value == 0, rerun.output
    assert "reattached 2, created 0" in rerun.output

    # Again, as JSON: the same jobs, nothing new created.
    again = run(str(specs), "--json")
    assert again.return_value == 0
    report = json.loads(again.stdout)
    assert report["ok"] is True
    assert (report["created"], report["reattached"], report["extra_jobs"]) == (0, 2, [])
    assert [r["key"] for r in report["results"]] == ["a", "b"]

    # A spec with a bad file: exit 1, and the problem is shown.
    specs.write_text(yaml.safe_dump({"specs": [{"key": "c", "model": model, "training_file": "data/short.jsonl"}]}))
    bad = run(str(specs), "--journal", str(tmp_path / "other.sqlite"))
    assert bad.return_value == 1
    assert "invalid" in bad.output


def test_the_command_is_part_of_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    # The group (cli/_app.py) holds the command of cli/_batch.py, which runs on the shared context.
    import finetune_async.cli._app as app
    import finetune_async.cli._batch as module
    import finetune_async.cli._context as context

    assert module.run_async is context.run_async
    assert app.cli.commands["batch"] is batch
    assert batch.name == "batch"
    assert app.run(["batch", "--help"]) == 0
    assert "SPECS" in capsys.readouterr().out


def test_the_sweep_example_runs_without_an_api_key() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    argv = [sys.executable, "examples/batch_sweep.py", "--epochs", "1", "2", "--lr", "1", "--job-seconds", "0.5"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "2/2 succeeded" in done.stdout

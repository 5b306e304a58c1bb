"""The report's shape: ok, problems, JSON output, raise_for_problems, validate_dataset on files."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

import finetune_async.datasets as ds
from finetune_async.datasets import DatasetReport, Problem, validate_dataset
from finetune_async.errors import DatasetError, FineTuneError

from ._lines import VALID, dumps


def test_public_names() -> None:
    assert set(ds.__all__) == {
        "AZURE",
        "FIREWORKS",
        "NEBIUS",
        "OPENAI",
        "TOGETHER",
        "ContextLimits",
        "DataRules",
        "LineFormat",
        "data_rules_for",
        "provider_names",
        "register_data_rules",
        "LEGACY_SHAPE",
        "MAX_LINE_BYTES",
        "DatasetReport",
        "DatasetStats",
        "Distribution",
        "Problem",
        "shape_of",
        "split_dataset",
        "validate_dataset",
        "validate_lines",
    }


def test_problem_is_frozen_and_positional() -> None:
    p = Problem(3, "invalid_json", "invalid JSON")
    assert p == Problem(line=3, code="invalid_json", message="invalid JSON")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.line = 4  # type: ignore[misc]
    assert str(p) == "line 3: [invalid_json] invalid JSON"
    assert str(Problem(None, "empty_file", "no examples")) == "file: [empty_file] no examples"


def test_validate_dataset_on_a_path(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join([dumps(VALID["supervised"])] * 10) + "\n")
    for arg in (path, str(path)):
        report = validate_dataset(arg)
        assert report.ok
        assert report.n_examples == 10
        assert report.path == str(path)
        assert report.method == "supervised"
        report.raise_for_problems()  # no error


def test_validate_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        validate_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="unknown method"):
        validate_dataset(tmp_path / "missing.jsonl", "chat")


def test_raise_for_problems_carries_every_kept_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{\n[]\n")
    report = validate_dataset(path)
    with pytest.raises(DatasetError) as info:
        report.raise_for_problems()
    err = info.value
    assert isinstance(err, FineTuneError)
    assert err.path == str(path)
    assert err.problems == report.problems
    assert [p.code for p in err.problems] == ["too_few_examples", "invalid_json", "not_an_object"]
    assert "line 1" in str(err)


def test_as_dict_and_to_json(tmp_path: Path) -> None:
    report = ds.validate_lines([dumps(VALID["supervised"])] * 9 + ["{"], max_problems=1)
    data = report.as_dict()
    assert data["ok"] is False
    assert data["n_problems"] == 1
    assert data["problems"] == [{"line": 10, "code": "invalid_json", "message": data["problems"][0]["message"]}]
    assert data["stats"]["n_examples"] == 9
    assert data["stats"]["tokens_per_example"]["median"] == report.stats.tokens_per_example.median
    assert json.loads(report.to_json()) == data
    assert "\n" in report.to_json(indent=2)


def test_report_is_frozen() -> None:
    report = DatasetReport(method="supervised")
    assert report.ok
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        report.n_examples = 3  # type: ignore[misc]


def test_bytes_like_lines_are_accepted_and_other_types_refused() -> None:
    line = dumps(VALID["supervised"]).encode()
    assert ds.validate_lines([bytearray(line)] * 5 + [memoryview(line)] * 5).ok
    with pytest.raises(TypeError, match="bytes or str"):
        ds.validate_lines([1])  # type: ignore[list-item]

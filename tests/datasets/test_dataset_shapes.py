"""Without a method the validator recognises what the lines are (chat, DPO, reinforcement) and
says which it assumed; with a method the lines do not match, it says what they look like
instead of listing every key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finetune_async.datasets import shape_of, validate_dataset, validate_lines
from tests.data import dpo_rows, jsonl, reinforcement_rows, supervised_rows

ROWS = {"supervised": supervised_rows, "dpo": dpo_rows, "reinforcement": reinforcement_rows}


def lines(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r) for r in rows]


@pytest.mark.parametrize("method", list(ROWS))
def test_without_a_method_the_shape_decides_and_says_so(method: str, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\n" + jsonl(ROWS[method](12)))  # a blank first line: the first object decides
    report = validate_dataset(path)
    assert [(p.line, p.code) for p in report.problems] == [(1, "blank_line")]
    assert report.method == method
    assert report.method_detected
    assert report.method_note == f"method not given: assumed {method}, from the shape of line 2"
    assert report.as_dict()["method_note"] == report.method_note


def test_a_given_method_is_not_second_guessed_when_it_fits() -> None:
    report = validate_lines(lines(supervised_rows(12)), method="supervised")
    assert report.ok
    assert not report.method_detected
    assert report.method_note is None


def test_a_dpo_file_checked_as_supervised_says_so_once() -> None:
    report = validate_lines(lines(dpo_rows(60)), method="supervised")
    assert report.n_problems == 1, report.problems
    (problem,) = report.problems
    assert problem.line is None
    assert problem.code == "method_mismatch"
    assert "every line looks like a dpo example" in problem.message
    assert "input, preferred_output, non_preferred_output" in problem.message
    assert "method='dpo'" in problem.message
    assert "unknown key" not in problem.message


@pytest.mark.parametrize(
    ("given", "actual"),
    [(g, a) for g in ROWS for a in ROWS if g != a],
)
def test_every_mismatch_names_the_shape(given: str, actual: str) -> None:
    report = validate_lines(lines(ROWS[actual](12)), method=given)
    assert [p.code for p in report.problems] == ["method_mismatch"], report.problems
    assert f"looks like a {actual} example" in report.problems[0].message
    assert f"method={actual!r}" in report.problems[0].message


def test_a_few_lines_of_another_shape_are_named_on_their_lines() -> None:
    mixed = lines(supervised_rows(12))
    mixed.insert(4, json.dumps(dpo_rows(1)[0]))
    report = validate_lines(mixed, method="supervised")
    assert [(p.line, p.code) for p in report.problems] == [(5, "wrong_method")]
    assert "looks like a dpo example" in report.problems[0].message
    # Detected from line 1, the same holds.
    detected = validate_lines(mixed)
    assert detected.method == "supervised"
    assert [(p.line, p.code) for p in detected.problems] == [(5, "wrong_method")]


def test_a_legacy_prompt_completion_file_is_named() -> None:
    legacy = [json.dumps({"prompt": f"{i} + {i} =", "completion": f" {2 * i}"}) for i in range(12)]
    report = validate_lines(legacy)
    assert [p.code for p in report.problems] == ["method_mismatch"]
    assert "prompt/completion" in report.problems[0].message
    assert "babbage-002" in report.problems[0].message


def test_broken_lines_of_the_right_shape_still_list_their_problems() -> None:
    rows = supervised_rows(12)
    rows[3]["messages"][1]["rol"] = "user"
    report = validate_lines(lines(rows), method="supervised")
    assert [(p.line, p.code) for p in report.problems] == [(4, "unknown_key")]


def test_nothing_parsed_still_assumes_supervised_and_says_why() -> None:
    report = validate_lines(["not json"] * 3)
    assert report.method == "supervised"
    assert report.method_note == "method not given: assumed supervised (no line showed a shape)"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(obj=st.dictionaries(st.sampled_from(["messages", "input", "preferred_output", "prompt", "completion", "x"]),
                           json_values, max_size=5))  # fmt: skip
def test_property_shape_of_any_object_is_a_known_name_or_none(obj: dict[str, Any]) -> None:
    assert shape_of(obj) in (None, "supervised", "dpo", "reinforcement", "prompt/completion")


@given(method=st.sampled_from(list(ROWS)), n=st.integers(min_value=1, max_value=20))
def test_property_valid_rows_are_recognised(method: str, n: int) -> None:
    for row in ROWS[method](n):
        assert shape_of(row) == method

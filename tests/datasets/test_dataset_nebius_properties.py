"""Properties of Nebius' line parsing, and a cross-check against the emulator's Nebius dialect.

The emulator (imported here only) is the other reading of the same rules: for generated files,
the SDK's validator and ``check_nebius`` must accept and refuse the same ones, and name the
same first bad line. Generated lines keep to what both read the same way: no blank lines (the
emulator skips them, the validator reports them), no NaN (the stdlib parser the emulator uses
takes it; strict JSON does not). A list or an object as a ``role`` is generated too: both refuse it.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from finetune_async.datasets import NEBIUS, validate_dataset, validate_lines
from finetune_async.datasets._formats import RULES, format_of
from finetune_async.emulator._datasets import check_dataset

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {
    "blank_line", "invalid_json", "not_an_object", "unknown_format", "mixed_formats", "wrong_method",
    "invalid_messages", "empty_messages", "invalid_message", "missing_role", "unknown_role", "role_not_allowed",
    "invalid_content", "last_message_not_assistant", "missing_prompt", "missing_completion", "invalid_prompt",
    "invalid_completion", "invalid_text", "empty_text", "invalid_input_ids", "empty_input_ids",
    "too_few_examples", "empty_file", "method_mismatch",
}  # fmt: skip
# The emulator's names for the formats.
EMULATOR_KIND = {"messages": "messages", "prompt_completion": "prompt_completion", "text": "text",
                 "pretokenized": "input_ids"}  # fmt: skip
ROLES = ["system", "developer", "user", "assistant", "tool"]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
flat = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=5), scalars, max_size=3)
role = st.sampled_from([*ROLES, "function", "bot", ""]) | flat
content = st.none() | st.text() | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text()})) | flat


@st.composite
def message(draw: st.DrawFn, *, valid: bool = False) -> Any:
    if not valid and draw(st.integers(0, 9)) == 0:
        return draw(flat)  # not an object
    msg: dict[str, Any] = {}
    if valid or draw(st.booleans()) or draw(st.booleans()):
        msg["role"] = draw(st.sampled_from(ROLES) if valid else role)
    if draw(st.booleans()):
        msg["content"] = draw(st.none() | st.text() if valid else content)
    if draw(st.booleans()):
        msg["name"] = draw(scalars)
    return msg


def valid_line(fmt: str) -> st.SearchStrategy[dict[str, Any]]:
    if fmt == "messages":
        return st.builds(
            lambda head, last, extra: {"messages": [*head, last], **extra},
            st.lists(message(valid=True), max_size=3),
            st.fixed_dictionaries({"role": st.just("assistant"), "content": st.none() | st.text()}),
            st.dictionaries(st.sampled_from(["id", "weight"]), scalars, max_size=1),
        )
    if fmt == "prompt_completion":
        return st.fixed_dictionaries({"prompt": st.text(), "completion": st.text()})
    if fmt == "text":
        return st.fixed_dictionaries({"text": st.text(min_size=1)})
    return st.fixed_dictionaries({"input_ids": st.lists(st.integers(), min_size=1, max_size=20)})


@st.composite
def any_line(draw: st.DrawFn) -> Any:
    """A line that may be of any format, broken, of several formats' keys at once, or no object."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(flat)
    if kind == 1:
        return draw(valid_line(draw(st.sampled_from(["messages", "prompt_completion", "text", "input_ids"]))))
    obj: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(["messages", "prompt", "completion", "text", "input_ids", "x"]),
                             min_size=1, max_size=3, unique=True)):  # fmt: skip
        if key == "messages":
            obj[key] = draw(st.lists(message(), max_size=4) | flat)
        elif key == "input_ids":
            obj[key] = draw(st.lists(st.integers() | scalars, max_size=4) | flat)
        else:
            obj[key] = draw(st.text() | flat)
    return obj


@st.composite
def nebius_file(draw: st.DrawFn) -> list[str]:
    """Valid lines of one format (sometimes too few), with a few arbitrary lines among them."""
    fmt = draw(st.sampled_from(["messages", "prompt_completion", "text", "input_ids"]))
    lines = draw(st.lists(valid_line(fmt), min_size=8, max_size=12))
    for _ in range(draw(st.integers(0, 2))):
        lines.insert(draw(st.integers(0, len(lines))), draw(any_line()))
    return [json.dumps(x) for x in lines]


def _emulator(lines: list[str]) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return check_dataset(path, "supervised", formats="nebius").problem


@SETTINGS
@given(lines=nebius_file())
def test_property_sdk_and_emulator_agree_on_nebius_files(lines: list[str]) -> None:
    problem = _emulator(lines)
    report = validate_lines(lines, provider="nebius")
    event("accepted" if problem is None else "refused")
    assert report.ok is (problem is None), (problem, report.problems)
    if problem is None:
        return
    # The same first bad line (or, with every line valid, both count too few examples).
    at = re.match(r"line (\d+): ", problem)
    first = next((p.line for p in report.problems if p.line is not None), None)
    assert first == (int(at.group(1)) if at else None), (problem, report.problems)


@SETTINGS
@given(line=any_line())
def test_property_each_line_is_read_as_the_emulator_reads_it(line: Any) -> None:
    lines = [json.dumps(line)] * 10
    problem = _emulator(lines)
    report = validate_lines(lines, provider="nebius")
    assert report.ok is (problem is None), (problem, report.problems)
    if report.ok:
        # The same format: a line of another one after them names the file's, in the emulator's words.
        other = {"prompt": "p", "completion": "c"} if report.line_format == "text" else {"text": "t"}
        problem = _emulator([*lines, json.dumps(other)])
        found = re.search(r"in a file of '(\w+)' lines", problem or "")
        assert found is not None, problem
        assert EMULATOR_KIND[found.group(1)] == report.line_format


@SETTINGS
@given(lines=st.lists(any_line(), max_size=12), method=st.sampled_from([None, "supervised", "spec-draft"]))
def test_property_every_problem_has_a_known_code_and_its_line(lines: list[Any], method: str | None) -> None:
    text = [json.dumps(x) for x in lines]
    report = validate_lines(text, method, provider=NEBIUS)
    assert report.n_problems == len(report.problems)  # under the default cap
    for p in report.problems:
        assert p.code in CODES, p
        assert p.line is None or 1 <= p.line <= len(lines)
    assert [p.line for p in report.problems if p.line is not None] == sorted(
        p.line for p in report.problems if p.line is not None
    )
    assert sum(p.code == "mixed_formats" for p in report.problems) <= 1
    assert report.stats.n_examples <= report.n_examples == len(lines)


@SETTINGS
@given(line=any_line())
def test_property_a_line_is_of_the_first_format_whose_key_it_has(line: Any) -> None:
    if not isinstance(line, dict):
        return
    fmt = format_of(line, NEBIUS.formats_for("supervised"))
    expected = next(
        (name for name, keys in (("messages", {"messages"}), ("prompt_completion", {"prompt", "completion"}),
                                 ("text", {"text"}), ("input_ids", {"input_ids"})) if keys & line.keys()),
        None,
    )  # fmt: skip
    assert (fmt.name if fmt else None) == expected


@SETTINGS
@given(line=any_line())
def test_property_fast_paths_accept_only_what_the_checks_accept(line: Any) -> None:
    """A format's fast path measures exactly what its check passes and its measure measures."""
    if not isinstance(line, dict):
        return
    from finetune_async.datasets._measure import Meter
    from finetune_async.datasets._tokens import get_token_counter

    for name in ("messages", "prompt_completion", "text", "input_ids"):
        rules = RULES[name]
        meter = Meter(get_token_counter(exact=False))
        out: list[tuple[str, str]] = []
        rules.check(line, out)
        fast = rules.fast(line, meter)
        if fast is not None:
            assert not out
            assert fast == rules.measure(line, meter)
        elif not out and name != "messages":
            raise AssertionError(f"{name}: the check passed {line!r} but the fast path did not")


def test_validate_dataset_agrees_with_the_emulator_on_a_file(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"line {i}"}) for i in range(10)] + [json.dumps({"prompt": "a", "completion": "b"})]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    problem = check_dataset(path, "supervised", formats="nebius").problem
    assert problem == "line 11: a 'prompt_completion' line in a file of 'text' lines"
    report = validate_dataset(path, provider="nebius")
    assert [(p.line, p.code) for p in report.problems] == [(11, "mixed_formats")]


@pytest.mark.parametrize("bad_role", [["user"], {"role": "user"}])
def test_a_list_or_object_role_is_refused_on_its_line_by_both(bad_role: Any) -> None:
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    bad = json.dumps({"messages": [{"role": bad_role, "content": "a"}, {"role": "assistant", "content": "b"}]})
    lines = [good] * 3 + [bad] + [good] * 8
    problem = _emulator(lines)
    assert problem is not None
    assert problem.startswith("line 4: "), problem
    report = validate_lines(lines, provider="nebius")
    assert [p.line for p in report.problems if p.line is not None] == [4], report.problems

"""A corpus of broken lines, one per rule: each must give its code, on its line, and nothing else."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

import finetune_async.datasets as ds
from finetune_async.datasets import validate_lines
from finetune_async.errors import DatasetError

from ._lines import ASSISTANT, RICH_SUPERVISED, TOOLS, USER, VALID, dumps, file_with
from .test_dataset_providers import NEBIUS_CASES
from .test_dataset_together_fireworks import FILE_CODES, TOGETHER_CASES


def sup(*messages: dict[str, Any], **top: Any) -> str:
    return dumps({"messages": list(messages), **top})


def sup_user(**user: Any) -> str:
    return sup({"role": "user", **user}, ASSISTANT)


def sup_assistant(**assistant: Any) -> str:
    return sup(USER, {"role": "assistant", **assistant})


def call(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    base.update(overrides)
    return base


def with_tools(tools: Any) -> str:
    return sup(USER, ASSISTANT, tools=tools)


def tool_def(**function: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", **function}}


def image(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def dpo(**changes: Any) -> str:
    obj = copy.deepcopy(VALID["dpo"])
    for key, value in changes.items():
        if value is _DELETE:
            del obj[key]
        else:
            obj[key] = value
    return dumps(obj)


def rft(*messages: dict[str, Any], **top: Any) -> str:
    return dumps({"messages": list(messages), **top})


_DELETE = object()
DPO_OUT = {"role": "assistant", "content": "Fine."}

# (id, method, line, expected code)
CASES: list[tuple[str, str, str | bytes, str]] = [
    # --- the line itself
    ("invalid-utf8", "supervised", b'{"messages": "\xff\xfe"}', "invalid_utf8"),
    ("invalid-utf8-dpo", "dpo", b"\xc3\x28", "invalid_utf8"),
    ("invalid-json", "supervised", '{"messages": [}', "invalid_json"),
    ("invalid-json-trailing", "supervised", '{"messages": []} x', "invalid_json"),
    ("invalid-json-two-values", "supervised", "{} {}", "invalid_json"),
    ("invalid-json-nan", "supervised", sup_assistant(content="x").replace('"x"', "NaN"), "invalid_json"),
    ("invalid-json-infinity", "reinforcement", '{"messages": [], "score": Infinity}', "invalid_json"),
    ("invalid-json-bom", "supervised", "\ufeff" + dumps(VALID["supervised"]), "invalid_json"),
    ("invalid-json-deep", "supervised", "[" * 100_000 + "]" * 100_000, "invalid_json"),
    ("blank-line", "supervised", "   \t", "blank_line"),
    ("empty-line", "dpo", "", "blank_line"),
    ("not-an-object-array", "supervised", "[1, 2]", "not_an_object"),
    ("not-an-object-string", "dpo", '"hello"', "not_an_object"),
    ("not-an-object-null", "reinforcement", "null", "not_an_object"),
    ("not-an-object-number", "supervised", "  42  ", "not_an_object"),
    # --- messages
    ("unknown-top-key", "supervised", sup(USER, ASSISTANT, extra=1), "unknown_key"),
    ("missing-messages", "supervised", "{}", "missing_messages"),
    ("missing-messages-rft", "reinforcement", '{"answer": 1}', "missing_messages"),
    ("messages-not-list", "supervised", '{"messages": "hi"}', "invalid_messages"),
    ("messages-object", "reinforcement", '{"messages": {"role": "user"}}', "invalid_messages"),
    ("empty-messages", "supervised", '{"messages": []}', "empty_messages"),
    ("message-not-object", "supervised", sup("hi", ASSISTANT), "invalid_message"),  # type: ignore[arg-type]
    ("missing-role", "supervised", sup({"content": "x"}, ASSISTANT), "missing_role"),
    ("unknown-role", "supervised", sup({"role": "bot", "content": "x"}, ASSISTANT), "unknown_role"),
    ("role-not-string", "supervised", sup({"role": ["user"], "content": "x"}, ASSISTANT), "unknown_role"),
    (
        "developer-supervised",
        "supervised",
        sup({"role": "developer", "content": "x"}, USER, ASSISTANT),
        "role_not_allowed",
    ),
    ("system-rft", "reinforcement", rft({"role": "system", "content": "x"}, USER), "role_not_allowed"),
    ("function-rft", "reinforcement", rft(USER, {"role": "function", "name": "f", "content": "x"}), "role_not_allowed"),
    (
        "developer-dpo",
        "dpo",
        dpo(input={"messages": [{"role": "developer", "content": "x"}, USER]}),
        "role_not_allowed",
    ),
    ("unknown-message-key", "supervised", sup_user(content="x", foo=1), "unknown_key"),
    ("unknown-assistant-key", "supervised", sup_assistant(content="x", temperature=1), "unknown_key"),
    (
        "unknown-tool-message-key",
        "supervised",
        sup(USER, ASSISTANT, {"role": "tool", "tool_call_id": "a", "content": "x", "name": "f"}),
        "unknown_key",
    ),
    ("no-assistant", "supervised", sup(USER), "missing_assistant_message"),
    (
        "no-assistant-system-only",
        "supervised",
        sup({"role": "system", "content": "x"}, USER),
        "missing_assistant_message",
    ),
    # --- content
    ("user-missing-content", "supervised", sup_user(), "missing_content"),
    ("user-null-content", "supervised", sup_user(content=None), "missing_content"),
    ("system-missing-content", "supervised", sup({"role": "system"}, USER, ASSISTANT), "missing_content"),
    ("developer-missing-content", "reinforcement", rft({"role": "developer"}, USER), "missing_content"),
    (
        "tool-missing-content",
        "supervised",
        sup(USER, ASSISTANT, {"role": "tool", "tool_call_id": "a"}),
        "missing_content",
    ),
    (
        "function-missing-content",
        "supervised",
        sup(USER, ASSISTANT, {"role": "function", "name": "f"}),
        "missing_content",
    ),
    ("assistant-no-content", "supervised", sup_assistant(), "missing_content"),
    ("assistant-null-content", "supervised", sup_assistant(content=None), "missing_content"),
    ("assistant-null-empty-calls", "supervised", sup_assistant(content=None, tool_calls=[]), "missing_content"),
    ("content-number", "supervised", sup_user(content=5), "invalid_content"),
    ("content-object", "supervised", sup_assistant(content={"text": "x"}), "invalid_content"),
    (
        "function-content-list",
        "supervised",
        sup(USER, ASSISTANT, {"role": "function", "name": "f", "content": []}),
        "invalid_content",
    ),
    ("refusal-not-string", "supervised", sup_assistant(content="x", refusal=3), "invalid_content"),
    ("empty-parts", "supervised", sup_user(content=[]), "empty_content"),
    ("part-not-object", "supervised", sup_user(content=["hi"]), "invalid_content_part"),
    ("part-missing-type", "supervised", sup_user(content=[{"text": "hi"}]), "invalid_content_part"),
    ("part-unknown-type", "supervised", sup_user(content=[{"type": "video", "video": {}}]), "invalid_content_part"),
    ("text-part-no-text", "supervised", sup_user(content=[{"type": "text"}]), "invalid_content_part"),
    ("text-part-number", "supervised", sup_user(content=[{"type": "text", "text": 1}]), "invalid_content_part"),
    ("text-part-extra-key", "supervised", sup_user(content=[{"type": "text", "text": "a", "x": 1}]), "unknown_key"),
    (
        "image-in-system",
        "supervised",
        sup({"role": "system", "content": [image("https://e.com/a.png")]}, USER, ASSISTANT),
        "invalid_content_part",
    ),
    (
        "image-in-tool",
        "supervised",
        sup(USER, ASSISTANT, {"role": "tool", "tool_call_id": "a", "content": [image("https://e.com/a.png")]}),
        "invalid_content_part",
    ),
    (
        "refusal-part-in-user",
        "supervised",
        sup_user(content=[{"type": "refusal", "refusal": "no"}]),
        "invalid_content_part",
    ),
    (
        "audio-part",
        "supervised",
        sup_user(content=[{"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}]),
        "unsupported_content_part",
    ),
    (
        "file-part",
        "supervised",
        sup_user(content=[{"type": "file", "file": {"file_id": "file-1"}}]),
        "unsupported_content_part",
    ),
    ("assistant-audio", "supervised", sup_assistant(content="x", audio={"id": "audio_1"}), "unsupported_audio"),
    (
        "image-in-assistant",
        "supervised",
        sup_assistant(content=[image("https://e.com/a.png")]),
        "image_in_assistant_message",
    ),
    ("image-http", "supervised", sup_user(content=[image("http://e.com/a.png")]), "invalid_image_url"),
    ("image-ftp", "supervised", sup_user(content=[image("ftp://e.com/a.png")]), "invalid_image_url"),
    ("image-url-number", "supervised", sup_user(content=[image(5)]), "invalid_image_url"),  # type: ignore[arg-type]
    (
        "image-url-missing",
        "supervised",
        sup_user(content=[{"type": "image_url", "image_url": {}}]),
        "invalid_image_url",
    ),
    (
        "image-url-string",
        "supervised",
        sup_user(content=[{"type": "image_url", "image_url": "https://e.com/a.png"}]),
        "invalid_image_url",
    ),
    ("image-data-not-base64", "supervised", sup_user(content=[image("data:image/png,rawbytes")]), "invalid_image_url"),
    ("image-data-empty", "supervised", sup_user(content=[image("data:image/png;base64,")]), "invalid_image_url"),
    (
        "image-data-not-image",
        "supervised",
        sup_user(content=[image("data:text/plain;base64,AAAA")]),
        "invalid_image_url",
    ),
    (
        "image-gif-data",
        "supervised",
        sup_user(content=[image("data:image/gif;base64,R0lGOD")]),
        "unsupported_image_format",
    ),
    (
        "image-gif-https",
        "supervised",
        sup_user(content=[image("https://e.com/anim.GIF?x=1")]),
        "unsupported_image_format",
    ),
    (
        "image-too-large",
        "supervised",
        sup_user(content=[image("data:image/png;base64," + "A" * 14_000_001)]),
        "image_too_large",
    ),
    (
        "image-detail",
        "supervised",
        sup_user(content=[image("https://e.com/a.png", detail="ultra")]),
        "invalid_image_detail",
    ),
    ("image-extra-key", "supervised", sup_user(content=[image("https://e.com/a.png", size=1)]), "unknown_key"),
    (
        "too-many-images",
        "supervised",
        sup_user(content=[image(f"https://e.com/{i}.png") for i in range(11)]),
        "too_many_images",
    ),
    (
        "too-many-images-across-messages",
        "supervised",
        sup(*[{"role": "user", "content": [image(f"https://e.com/{i}.jpg")] * 4} for i in range(3)], ASSISTANT),
        "too_many_images",
    ),
    ("name-not-string", "supervised", sup_user(content="x", name=5), "invalid_name"),
    ("function-no-name", "supervised", sup(USER, ASSISTANT, {"role": "function", "content": "x"}), "missing_name"),
    # --- weights
    ("weight-2", "supervised", sup_assistant(content="x", weight=2), "invalid_weight"),
    ("weight-half", "supervised", sup_assistant(content="x", weight=0.5), "invalid_weight"),
    ("weight-bool", "supervised", sup_assistant(content="x", weight=True), "invalid_weight"),
    ("weight-string", "supervised", sup_assistant(content="x", weight="1"), "invalid_weight"),
    ("weight-on-user", "supervised", sup_user(content="x", weight=1), "weight_not_allowed"),
    (
        "weight-on-system",
        "supervised",
        sup({"role": "system", "content": "x", "weight": 0}, USER, ASSISTANT),
        "weight_not_allowed",
    ),
    # --- tool calls
    ("tool-calls-not-list", "supervised", sup_assistant(content=None, tool_calls={"id": "a"}), "invalid_tool_call"),
    ("tool-call-not-object", "supervised", sup_assistant(content=None, tool_calls=["call"]), "invalid_tool_call"),
    (
        "tool-call-no-id",
        "supervised",
        sup_assistant(content=None, tool_calls=[{"type": "function", "function": {"name": "f", "arguments": "{}"}}]),
        "invalid_tool_call",
    ),
    (
        "tool-call-bad-type",
        "supervised",
        sup_assistant(content=None, tool_calls=[call(type="tool")]),
        "invalid_tool_call",
    ),
    (
        "tool-call-no-function",
        "supervised",
        sup_assistant(content=None, tool_calls=[{"id": "a", "type": "function"}]),
        "invalid_tool_call",
    ),
    (
        "tool-call-no-name",
        "supervised",
        sup_assistant(content=None, tool_calls=[call(function={"arguments": "{}"})]),
        "invalid_tool_call",
    ),
    (
        "tool-call-args-object",
        "supervised",
        sup_assistant(content=None, tool_calls=[call(function={"name": "f", "arguments": {}})]),
        "invalid_tool_call",
    ),
    (
        "tool-call-args-not-json",
        "supervised",
        sup_assistant(content=None, tool_calls=[call(function={"name": "f", "arguments": "{oops"})]),
        "invalid_tool_arguments",
    ),
    ("tool-call-extra-key", "supervised", sup_assistant(content=None, tool_calls=[call(index=0)]), "unknown_key"),
    (
        "function-call-no-args",
        "supervised",
        sup_assistant(content=None, function_call={"name": "f"}),
        "invalid_function_call",
    ),
    ("function-call-not-object", "supervised", sup_assistant(content=None, function_call="f"), "invalid_function_call"),
    ("tool-no-call-id", "supervised", sup(USER, ASSISTANT, {"role": "tool", "content": "x"}), "missing_tool_call_id"),
    (
        "tool-call-id-number",
        "supervised",
        sup(USER, ASSISTANT, {"role": "tool", "content": "x", "tool_call_id": 1}),
        "missing_tool_call_id",
    ),
    # --- tool definitions
    ("tools-not-list", "supervised", with_tools({"type": "function"}), "invalid_tool"),
    ("tool-not-object", "supervised", with_tools(["f"]), "invalid_tool"),
    (
        "tool-bad-type",
        "supervised",
        with_tools([{"type": "code_interpreter", "function": {"name": "f"}}]),
        "invalid_tool",
    ),
    ("tool-no-function", "supervised", with_tools([{"type": "function"}]), "invalid_tool"),
    ("tool-function-not-object", "supervised", with_tools([{"type": "function", "function": "f"}]), "invalid_tool"),
    (
        "tool-no-name",
        "supervised",
        with_tools([{"type": "function", "function": {"description": "x"}}]),
        "invalid_tool",
    ),
    ("tool-bad-name", "supervised", with_tools([tool_def(name="get weather!")]), "invalid_function_name"),
    ("tool-long-name", "supervised", with_tools([tool_def(name="f" * 65)]), "invalid_function_name"),
    ("tool-empty-name", "supervised", with_tools([tool_def(name="")]), "invalid_function_name"),
    (
        "tool-params-not-object",
        "supervised",
        with_tools([tool_def(parameters="object")]),
        "invalid_function_parameters",
    ),
    ("tool-strict-not-bool", "supervised", with_tools([tool_def(strict="yes")]), "invalid_tool"),
    ("tool-description-number", "supervised", with_tools([tool_def(description=1)]), "invalid_tool"),
    ("tool-extra-key", "supervised", with_tools([{**tool_def(), "x": 1}]), "unknown_key"),
    ("tool-function-extra-key", "supervised", with_tools([tool_def(returns="x")]), "unknown_key"),
    ("rft-bad-tools", "reinforcement", rft(USER, tools="x"), "invalid_tool"),
    ("parallel-not-bool", "supervised", sup(USER, ASSISTANT, parallel_tool_calls="yes"), "invalid_parallel_tool_calls"),
    ("functions-empty", "supervised", sup(USER, ASSISTANT, functions=[]), "invalid_functions"),
    (
        "functions-too-many",
        "supervised",
        sup(USER, ASSISTANT, functions=[{"name": f"f{i}"} for i in range(129)]),
        "invalid_functions",
    ),
    ("functions-not-list", "supervised", sup(USER, ASSISTANT, functions={"name": "f"}), "invalid_functions"),
    ("functions-no-name", "supervised", sup(USER, ASSISTANT, functions=[{"description": "x"}]), "invalid_functions"),
    ("functions-bad-name", "supervised", sup(USER, ASSISTANT, functions=[{"name": "a.b"}]), "invalid_function_name"),
    ("functions-strict", "supervised", sup(USER, ASSISTANT, functions=[{"name": "f", "strict": True}]), "unknown_key"),
    # --- DPO
    ("dpo-no-input", "dpo", dpo(input=_DELETE), "missing_input"),
    ("dpo-input-list", "dpo", dpo(input=[USER]), "invalid_input"),
    ("dpo-input-no-messages", "dpo", dpo(input={}), "missing_messages"),
    ("dpo-input-extra", "dpo", dpo(input={"messages": [USER], "functions": []}), "unknown_key"),
    ("dpo-input-bad-tools", "dpo", dpo(input={"messages": [USER], "tools": [{"type": "x"}]}), "invalid_tool"),
    (
        "dpo-input-parallel",
        "dpo",
        dpo(input={"messages": [USER], "parallel_tool_calls": 1}),
        "invalid_parallel_tool_calls",
    ),
    ("dpo-top-extra", "dpo", dpo(messages=[USER]), "unknown_key"),
    ("dpo-no-preferred", "dpo", dpo(preferred_output=_DELETE), "missing_output"),
    ("dpo-no-non-preferred", "dpo", dpo(non_preferred_output=_DELETE), "missing_output"),
    ("dpo-preferred-empty", "dpo", dpo(preferred_output=[]), "invalid_output"),
    ("dpo-preferred-two", "dpo", dpo(preferred_output=[DPO_OUT, DPO_OUT]), "invalid_output"),
    ("dpo-preferred-object", "dpo", dpo(preferred_output=DPO_OUT), "invalid_output"),
    ("dpo-preferred-string", "dpo", dpo(preferred_output=["Fine."]), "invalid_output"),
    ("dpo-preferred-user", "dpo", dpo(preferred_output=[{"role": "user", "content": "x"}]), "output_not_assistant"),
    ("dpo-non-preferred-no-role", "dpo", dpo(non_preferred_output=[{"content": "x"}]), "output_not_assistant"),
    ("dpo-tool-calls", "dpo", dpo(preferred_output=[{"role": "assistant", "tool_calls": [call()]}]), "output_not_text"),
    (
        "dpo-image-output",
        "dpo",
        dpo(non_preferred_output=[{"role": "assistant", "content": [image("https://e.com/a.png")]}]),
        "output_not_text",
    ),
    ("dpo-output-weight", "dpo", dpo(preferred_output=[{**DPO_OUT, "weight": 1}]), "unknown_key"),
    ("dpo-output-no-content", "dpo", dpo(preferred_output=[{"role": "assistant"}]), "missing_content"),
    (
        "dpo-output-content-number",
        "dpo",
        dpo(preferred_output=[{"role": "assistant", "content": 1}]),
        "invalid_content",
    ),
    # --- reinforcement
    ("rft-unknown-role", "reinforcement", rft({"role": "bot", "content": "x"}), "unknown_role"),
    ("rft-empty", "reinforcement", '{"messages": [], "answer": 1}', "empty_messages"),
    (
        "rft-bad-weight",
        "reinforcement",
        rft(USER, {"role": "assistant", "content": "x", "weight": 3}),
        "invalid_weight",
    ),
]


@pytest.mark.parametrize(("method", "line", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_line_reports_its_code_on_its_line(method: str, line: str | bytes, code: str) -> None:
    report = validate_lines(file_with(method, line, at=4), method)

    assert not report.ok
    codes = [p.code for p in report.problems]
    assert code in codes, report.problems
    assert {p.line for p in report.problems} == {4}, report.problems
    assert report.n_problems == len(report.problems)
    with pytest.raises(DatasetError) as info:
        report.raise_for_problems()
    assert info.value.problems == report.problems


@pytest.mark.parametrize(("method", "line", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_line_also_fails_validate_dataset(tmp_path: Any, method: str, line: str | bytes, code: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"".join(file_with(method, line, at=10, total=10)))

    report = ds.validate_dataset(path, method)

    assert report.path == str(path)
    problems = [(p.line, p.code) for p in report.problems]
    assert (10, code) in problems


def test_every_code_is_documented_and_exercised() -> None:
    documented = set(re.findall(r"^    ``([a-z0-9_]+)``", ds.__doc__ or "", re.MULTILINE))
    # line_too_long needs a line of 156 MiB: test_dataset_lines.py exercises it.
    # wrong_method and method_mismatch: test_dataset_shapes.py.
    exercised = {c[3] for c in CASES} | {"empty_file", "too_few_examples", "line_too_long"}
    exercised |= {"wrong_method", "method_mismatch"}
    # Nebius' line formats: test_dataset_providers.py (mixed_formats on its own there too).
    exercised |= {code for _, code in NEBIUS_CASES} | {"mixed_formats"}
    # Together's conversation and the file limits: test_dataset_together_fireworks.py.
    exercised |= {code for _, code in TOGETHER_CASES} | FILE_CODES
    assert exercised == documented


@pytest.mark.parametrize("method", ["supervised", "dpo", "reinforcement"])
def test_valid_lines_pass(method: str) -> None:
    report = validate_lines(file_with(method, dumps(VALID[method])), method)
    assert report.ok, report.problems
    assert report.n_examples == 12
    assert report.stats.n_examples == 12


def test_valid_file_with_tools_weights_images_and_multi_turn_passes() -> None:
    lines = [dumps(ex) for ex in RICH_SUPERVISED] * 4
    report = validate_lines(lines)
    assert report.ok, report.problems
    assert report.stats.n_examples == 12
    assert report.stats.n_duplicates == 9


def test_reinforcement_allows_free_top_level_keys_and_tools() -> None:
    line = rft(USER, tools=TOOLS, reference={"a": [1, 2]}, parallel_tool_calls="free data", x=None)
    report = validate_lines([line] * 10, "reinforcement")
    assert report.ok, report.problems


def test_assistant_refusal_parts_and_tool_content_parts_pass() -> None:
    line = sup(
        USER,
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
        {"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": "{}"}]},
        {"role": "assistant", "content": "ok", "weight": 1.0},
    )
    assert validate_lines([line] * 10).ok


def test_every_problem_is_reported_not_just_the_first() -> None:
    lines = [dumps(VALID["supervised"])] * 12
    lines[1] = "{"
    lines[5] = sup_user(content=5, weight=1)
    lines[8] = "[]"
    report = validate_lines(lines)
    found = sorted((p.line, p.code) for p in report.problems)
    assert found == [
        (2, "invalid_json"),
        (6, "invalid_content"),
        (6, "weight_not_allowed"),
        (9, "not_an_object"),
    ]
    assert report.n_problems == 4


def test_problems_are_capped_with_a_count_of_the_rest() -> None:
    lines = ["{"] * 300 + [dumps(VALID["supervised"])] * 5
    report = validate_lines(lines, max_problems=10)
    assert len(report.problems) == 10
    assert [p.line for p in report.problems] == list(range(1, 11))
    assert report.n_problems == 300
    assert report.n_problems_not_shown == 290
    assert report.as_dict()["n_problems_not_shown"] == 290


def test_file_level_problems_are_kept_beyond_the_cap() -> None:
    report = validate_lines(["{"] * 5, max_problems=2)
    assert [p.code for p in report.problems] == ["too_few_examples", "invalid_json", "invalid_json"]
    assert report.problems[0].line is None
    assert report.n_problems == 6


def test_max_problems_zero_keeps_only_counts() -> None:
    report = validate_lines(["{"] * 12, max_problems=0)
    assert report.problems == []
    assert report.n_problems == 12
    assert not report.ok


@pytest.mark.parametrize("lines", [[], [b""], [b"\n", b"  \n"]], ids=["no-lines", "one-empty", "blank-only"])
def test_empty_file(lines: list[bytes]) -> None:
    report = validate_lines(lines)
    assert [p.code for p in report.problems if p.line is None] == ["empty_file"]
    assert report.n_examples == 0


def test_too_few_examples_counts_non_blank_lines() -> None:
    good = dumps(VALID["supervised"])
    report = validate_lines([good] * 9)
    assert [(p.line, p.code) for p in report.problems] == [(None, "too_few_examples")]
    assert validate_lines([good] * 10).ok
    # A broken line is still an example; a blank one is not.
    report = validate_lines([good] * 9 + ["{"])
    assert [p.code for p in report.problems] == ["invalid_json"]
    report = validate_lines([good] * 9 + [""])
    assert sorted(p.code for p in report.problems) == ["blank_line", "too_few_examples"]


def test_line_endings_and_str_lines() -> None:
    good = dumps(VALID["supervised"])
    assert validate_lines([good + "\r\n"] * 10).ok
    assert validate_lines([(good + "\n").encode()] * 9 + [good.encode()]).ok
    assert validate_lines([good] * 10).ok


def test_large_integers_and_lone_surrogates_agree_with_and_without_orjson() -> None:
    lines = [
        rft(USER, big=10**30),
        '{"messages": [{"role": "user", "content": "\\ud800"}], "x": 1}',
    ] * 5
    for use_orjson in (True, False):
        report = validate_lines(lines, "reinforcement", use_orjson=use_orjson)
        assert report.ok, report.problems


def test_unknown_method_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        validate_lines([], "chat")
    with pytest.raises(ValueError, match="max_problems"):
        validate_lines([], max_problems=-1)
    with pytest.raises(ValueError, match="context_limit"):
        validate_lines([], context_limit=0)

"""Together's and Fireworks' data rules: their profiles, Together's ``conversation`` lines, the
file and example-count limits, and where each differs from OpenAI's (properties and examples)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import finetune_async.datasets as ds
from finetune_async.datasets import (
    FIREWORKS,
    OPENAI,
    TOGETHER,
    data_rules_for,
    provider_names,
    validate_dataset,
    validate_lines,
)
from tests.cli.conftest import run_cli

from ._lines import VALID, dumps

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

USER = {"role": "user", "content": "Where is my order?"}
ASSISTANT = {"role": "assistant", "content": "It shipped yesterday."}
CONV = {"messages": [{"role": "system", "content": "Be brief."}, USER, ASSISTANT]}
TOGETHER_VALID: dict[str, dict[str, Any]] = {
    "conversation": CONV,
    "prompt_completion": {"prompt": "2 + 2 =", "completion": " 4"},
    "text": {"text": "A sentence to learn."},
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}

#: One Together supervised line per problem code: each is the only problem of its line.
TOGETHER_CASES: list[tuple[dict[str, Any], str]] = [
    ({"messages": {"role": "user"}}, "invalid_messages"),
    ({"messages": []}, "empty_messages"),
    ({"messages": [USER, "hi", ASSISTANT]}, "invalid_message"),
    ({"messages": [USER, {"content": "x"}, ASSISTANT]}, "missing_role"),
    ({"messages": [USER, {"role": "bot", "content": "x"}, ASSISTANT]}, "unknown_role"),
    ({"messages": [{"role": "developer", "content": "x"}, USER, ASSISTANT]}, "role_not_allowed"),
    ({"messages": [{"role": "user"}, ASSISTANT]}, "missing_content"),
    ({"messages": [USER, {"role": "assistant", "content": None}]}, "missing_content"),
    ({"messages": [USER, {"role": "assistant", "content": 42}]}, "invalid_content"),
    ({"messages": [{**USER, "weight": 0.5}, ASSISTANT]}, "invalid_weight"),
    ({"messages": [USER, {**ASSISTANT, "weight": True}]}, "invalid_weight"),
    ({"messages": [ASSISTANT, USER, ASSISTANT]}, "invalid_role_order"),
    ({"messages": [USER, {"role": "system", "content": "x"}, ASSISTANT]}, "invalid_role_order"),
    ({"messages": [USER, USER, ASSISTANT]}, "invalid_role_order"),
    ({"messages": [USER]}, "missing_assistant_message"),
    ({"messages": [USER, ASSISTANT], "text": "also text"}, "ambiguous_format"),
    ({"prompt": "p"}, "missing_completion"),
    ({"prompt": "p", "completion": 1}, "invalid_completion"),
    ({"text": None}, "invalid_text"),
    ({"input_ids": [1, 2, 3]}, "unknown_format"),
]
#: File-level codes exercised here.
FILE_CODES = {"file_too_large", "too_many_examples"}


def lines_of(objs: list[Any]) -> list[str]:
    return [x if isinstance(x, str) else dumps(x) for x in objs]


def codes(report: ds.DatasetReport) -> list[tuple[int | None, str]]:
    return [(p.line, p.code) for p in report.problems]


def write(path: Path, objs: list[Any]) -> Path:
    path.write_text("".join(line + "\n" for line in lines_of(objs)), encoding="utf-8")
    return path


# ---------------------------------------------------------------- profiles


def test_the_profiles_are_registered_and_named() -> None:
    assert provider_names() == ("openai", "azure", "nebius", "together", "fireworks")
    assert data_rules_for("Together") is TOGETHER
    assert data_rules_for("fireworks") is FIREWORKS
    assert (TOGETHER.display_name, FIREWORKS.display_name) == ("Together AI", "Fireworks AI")
    assert TOGETHER.methods == {"supervised": ("conversation", "prompt_completion", "text"), "dpo": ("preference",)}
    assert FIREWORKS.methods == {"supervised": ("chat",), "dpo": ("preference",)}
    assert TOGETHER.one_format_per_file
    assert TOGETHER.one_format_per_line
    assert not FIREWORKS.one_format_per_file
    # The limits, and where they come from (see _profiles.py).
    assert (TOGETHER.min_examples, TOGETHER.max_examples) == (1, None)  # together SDK: MIN_SAMPLES
    assert TOGETHER.max_file_bytes == int(50.1 * 2**30)  # together SDK: MAX_FILE_SIZE_GB
    assert (FIREWORKS.min_examples, FIREWORKS.max_examples) == (3, 3_000_000)  # Fireworks' guides
    assert FIREWORKS.max_file_bytes is None  # over :upload's 150 MB, a signed URL stating none
    assert OPENAI.max_file_bytes is None
    for rules in (TOGETHER, FIREWORKS):
        assert rules.tokenizer is None
        assert {"epochs", "billed_tokens"}.isdisjoint(rules.stats)
        assert rules.context.default == 8_192


def test_a_profile_refuses_a_maximum_below_its_minimum() -> None:
    with pytest.raises(ValueError, match="max_examples"):
        attrs.evolve(FIREWORKS, max_examples=2)
    with pytest.raises(ValueError, match="max_file_bytes"):
        attrs.evolve(FIREWORKS, max_file_bytes=0)


@pytest.mark.parametrize("provider", ["together", "fireworks"])
def test_neither_takes_reinforcement(provider: str) -> None:
    name = data_rules_for(provider).display_name
    with pytest.raises(
        ValueError, match=f"{name} does not take reinforcement fine-tuning; its methods: supervised, dpo"
    ):
        validate_lines([], "reinforcement", provider=provider)


def test_fireworks_bounds_the_context_limit() -> None:
    with pytest.raises(ValueError, match=r"outside the context lengths Fireworks AI takes \(1 to 262,144\)"):
        validate_lines([], provider="fireworks", context_limit=262_145)
    report = validate_lines(lines_of([VALID["supervised"]] * 3), provider="fireworks", context_limit=262_144)
    assert report.ok
    assert report.stats.context_limit == 262_144
    assert validate_lines(lines_of([CONV]), provider="together", context_limit=1_000_000).ok


# ---------------------------------------------------------------- Together's lines, by example


@pytest.mark.parametrize("fmt", list(TOGETHER_VALID))
def test_each_together_format_passes(fmt: str) -> None:
    report = validate_lines(lines_of([TOGETHER_VALID[fmt]] * 3), provider="together")
    assert report.ok, report.problems
    assert (report.method, report.line_format, report.provider) == ("supervised", fmt, "together")
    assert report.stats.n_examples == 3
    assert report.stats.epochs == report.stats.billed_tokens == 0


def test_a_rich_together_conversation_passes() -> None:
    line = {
        "messages": [
            {"role": "system", "content": "You look up orders.", "weight": 0},
            {"role": "user", "content": [{"type": "text", "text": "Where is 42?"}], "weight": 0},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
            {"role": "tool", "tool_call_id": "call_2", "content": "{}"},
            {"role": "assistant", "content": "It shipped.", "weight": 1},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
        "id": "ignored by Together",
    }
    report = validate_lines(lines_of([line]), provider="together")
    assert report.ok, report.problems


@pytest.mark.parametrize(("line", "code"), TOGETHER_CASES)
def test_together_problem_codes(line: dict[str, Any], code: str) -> None:
    # Valid lines of the line's format first, so that the line's own problem is the only one.
    good = next((v for v in TOGETHER_VALID.values() if set(v) & set(line)), CONV)
    report = validate_lines(lines_of([good] * 3 + [line]), provider="together")
    assert codes(report) == [(4, code)], report.problems
    assert report.stats.n_examples == 3


def test_together_messages_name_the_rule() -> None:
    report = validate_lines(lines_of([{"messages": [ASSISTANT, ASSISTANT], "text": "t"}]), provider="together")
    assert [p.message for p in report.problems] == [
        "the line holds both 'messages' (a conversation line) and 'text' (a text line): "
        "Together AI takes one line format a line",
        "messages[0]: a conversation starts with a system or user message, not assistant",
        "messages[1]: a second assistant message in a row (user and assistant messages alternate)",
    ]
    unknown = validate_lines(lines_of([{"input_ids": [1]}]), provider="together")
    assert unknown.problems[0].message == (
        "a line must hold 'messages' alternating user and assistant turns; 'prompt' and 'completion'; 'text'"
    )


def test_together_takes_one_format_per_file() -> None:
    lines = [TOGETHER_VALID["text"]] * 2 + [TOGETHER_VALID["prompt_completion"], CONV]
    report = validate_lines(lines_of(lines), provider="together")
    assert codes(report) == [(3, "mixed_formats")]
    assert report.line_format == "text"


def test_together_dpo_takes_openai_preference_lines() -> None:
    report = validate_lines(lines_of([VALID["dpo"]] * 2), provider="together")
    assert report.ok
    assert (report.method, report.method_detected) == ("dpo", True)
    wrong = validate_lines(lines_of([VALID["dpo"], CONV]), "dpo", provider="together")
    assert codes(wrong) == [(2, "wrong_method")]
    assert wrong.problems[0].message.startswith("looks like a supervised example")
    every = validate_lines(lines_of([VALID["dpo"]] * 3), "supervised", provider="together")
    assert codes(every) == [(None, "method_mismatch")]
    assert every.problems[0].message.endswith("validate with method='dpo'")


# ---------------------------------------------------------------- where they differ from OpenAI's


def test_a_text_line_is_valid_on_together_and_refused_on_openai_and_fireworks() -> None:
    lines = lines_of([VALID["supervised"]] * 10 + [TOGETHER_VALID["text"]])
    assert codes(validate_lines(lines[-1:] * 10, provider="together")) == []
    for provider in ("openai", "fireworks"):
        report = validate_lines(lines, provider=provider)
        assert {code for _, code in codes(report)} == {"unknown_key", "missing_messages"}
        assert {line for line, _ in codes(report)} == {11}


def test_prompt_completion_is_together_data_and_openai_legacy_data() -> None:
    lines = lines_of([TOGETHER_VALID["prompt_completion"]] * 10)
    assert validate_lines(lines, provider="together").ok
    for provider in ("openai", "fireworks"):
        assert codes(validate_lines(lines, provider=provider)) == [(None, "method_mismatch")]


def test_together_rules_of_a_chat_that_openai_has_otherwise() -> None:
    # Two user turns in a row: OpenAI and Fireworks take them, Together does not.
    twice = {"messages": [USER, USER, ASSISTANT]}
    assert validate_lines(lines_of([twice] * 10), provider="openai").ok
    assert validate_lines(lines_of([twice] * 10), provider="fireworks").ok
    assert codes(validate_lines(lines_of([twice]), provider="together")) == [(1, "invalid_role_order")]
    # A weight on a user message: Together masks it, OpenAI refuses it.
    weighted = {"messages": [{**USER, "weight": 0}, ASSISTANT]}
    assert validate_lines(lines_of([weighted]), provider="together").ok
    fireworks = validate_lines(lines_of([weighted] * 10), provider="fireworks")
    assert codes(fireworks) == [(i, "weight_not_allowed") for i in range(1, 11)]
    # Keys of the user's own: Together ignores them, OpenAI refuses them.
    extra = {**CONV, "source": "crm"}
    assert validate_lines(lines_of([extra]), provider="together").ok
    assert codes(validate_lines(lines_of([extra] * 10), provider="openai"))[0] == (1, "unknown_key")


@pytest.mark.parametrize(
    ("provider", "minimum"), [("together", 1), ("fireworks", 3), ("openai", 10), ("nebius", 10)]
)  # fmt: skip
def test_each_provider_has_its_own_minimum(provider: str, minimum: int) -> None:
    line = TOGETHER_VALID["text"] if provider in ("together", "nebius") else VALID["supervised"]
    assert validate_lines(lines_of([line] * minimum), provider=provider).ok
    if minimum > 1:
        short = validate_lines(lines_of([line] * (minimum - 1)), provider=provider)
        assert codes(short) == [(None, "too_few_examples")]
        assert short.problems[0].message.endswith(f"fine-tuning needs at least {minimum}")
    assert codes(validate_lines([], provider=provider)) == [(None, "empty_file")]


# ---------------------------------------------------------------- file limits


def test_fireworks_checks_no_file_size(tmp_path: Path) -> None:
    """A real 150 MiB + 1 byte file (sparse: the tail is one run of NUL bytes, a line read past
    ``max_line_bytes`` and never held): ``files.create`` sends it through a signed URL."""
    path = write(tmp_path / "big.jsonl", [VALID["supervised"]] * 3)
    with path.open("r+b") as f:
        f.truncate(150 * 2**20 + 1)
    assert codes(validate_dataset(path, provider="fireworks", max_line_bytes=1 << 16)) == [(4, "line_too_long")]


def test_the_file_limit_is_the_profiles_to_the_byte(tmp_path: Path) -> None:
    # Together's 50.1 GiB is too large a file to write here: the same check at a small size.
    path = write(tmp_path / "t.jsonl", [CONV] * 2)
    size = os.path.getsize(path)
    assert validate_dataset(path, provider=attrs.evolve(TOGETHER, max_file_bytes=size)).ok
    small = validate_dataset(path, provider=attrs.evolve(TOGETHER, max_file_bytes=size - 1))
    assert codes(small) == [(None, "file_too_large")]
    assert small.problems[0].message == (
        f"the file is 0.0 MiB ({size:,} bytes); Together AI takes files of at most 0.0 MiB ({size - 1:,} bytes)"
    )
    # validate_lines has no file: no size.
    assert validate_lines(lines_of([CONV] * 2), provider=attrs.evolve(TOGETHER, max_file_bytes=1)).ok


def test_fireworks_refuses_more_than_three_million_examples(tmp_path: Path) -> None:
    # Every non-blank line is an example, broken or not: 3,000,001 one-byte lines, each not an object.
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"1\n" * 3_000_001)
    report = validate_dataset(path, provider="fireworks", max_problems=0)
    assert report.n_examples == 3_000_001
    assert report.problems == [report.problems[0]]
    assert (report.problems[0].line, report.problems[0].code) == (None, "too_many_examples")
    assert report.problems[0].message == "the file holds 3,000,001 examples; Fireworks AI takes at most 3,000,000"
    at_most = attrs.evolve(FIREWORKS, max_examples=3)
    assert validate_lines(lines_of([VALID["supervised"]] * 3), provider=at_most).ok


# ---------------------------------------------------------------- properties

text = st.text(max_size=12)
parts = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), min_size=1, max_size=2)


def message(role: str, *, openai: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A valid message of ``role`` (by OpenAI's rules too with ``openai``: weights only on
    assistant messages, a tool result's id)."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if role == "assistant" or not openai:
        optional["weight"] = st.sampled_from([0, 1, 0.0, 1.0])
    base: dict[str, st.SearchStrategy[Any]] = {"role": st.just(role), "content": text | parts}
    if role == "tool":
        base["tool_call_id"] = st.just("call_1")
    return st.fixed_dictionaries(base, optional=optional)


@st.composite
def conversation(draw: st.DrawFn, *, openai: bool = False, extra: bool = False) -> dict[str, Any]:
    """A valid chat: an optional system message, then user turns each answered (some through a
    tool call), perhaps a last user turn (not on OpenAI's rules)."""
    msgs: list[dict[str, Any]] = []
    if draw(st.booleans()):
        msgs.append(draw(message("system", openai=openai)))
    for _ in range(draw(st.integers(1, 3))):
        msgs.append(draw(message("user", openai=openai)))
        if draw(st.booleans()):
            call: dict[str, Any] = {"role": "assistant", "tool_calls": [CALL]}
            if draw(st.booleans()):
                call["content"] = None
            msgs += [call, draw(message("tool", openai=openai))]
        msgs.append(draw(message("assistant", openai=openai)))
    if not openai and draw(st.booleans()):
        msgs.append(draw(message("user", openai=openai)))
    line: dict[str, Any] = {"messages": msgs}
    if extra:
        line.update(draw(st.dictionaries(st.sampled_from(["id", "source", "tools"]), text, max_size=2)))
    return line


@st.composite
def preference(draw: st.DrawFn) -> dict[str, Any]:
    chat = draw(conversation(openai=True))["messages"]
    prompt = [m for m in chat if m["role"] in ("system", "user") and "weight" not in m]
    return {
        "input": {"messages": prompt or [USER]},
        "preferred_output": [{"role": "assistant", "content": draw(text)}],
        "non_preferred_output": [{"role": "assistant", "content": draw(text)}],
    }


def together_line(fmt: str) -> st.SearchStrategy[dict[str, Any]]:
    if fmt == "conversation":
        return conversation(extra=True)
    if fmt == "prompt_completion":
        return st.fixed_dictionaries({"prompt": text, "completion": text})
    return st.fixed_dictionaries({"text": st.text(min_size=1, max_size=12)})


@SETTINGS
@given(data=st.data(), fmt=st.sampled_from(list(TOGETHER_VALID)), n=st.integers(1, 6))
def test_property_valid_together_lines_pass(data: st.DataObject, fmt: str, n: int) -> None:
    lines = [data.draw(together_line(fmt)) for _ in range(n)]
    report = validate_lines(lines_of(lines), "supervised", provider="together")
    assert report.ok, (lines, report.problems)
    assert report.line_format == fmt
    assert report.stats.n_examples == n


def _mutations(line: dict[str, Any]) -> list[tuple[str, set[str]]]:
    """The mutations that apply to a valid conversation line, with the codes each may give."""
    msgs = line["messages"]
    found = [("not_a_list", {"invalid_messages"}), ("empty", {"empty_messages"})]
    # A message without a known role is not known to be an assistant's: its tool calls do not
    # stand for its content.
    found += [("drop_role", {"missing_role", "missing_assistant_message", "missing_content"})]
    found += [("bad_role", {"unknown_role", "role_not_allowed", "missing_assistant_message", "missing_content"})]
    if any(m["role"] != "assistant" for m in msgs):
        found.append(("drop_content", {"missing_content"}))
    found += [("bad_content", {"invalid_content"}), ("bad_weight", {"invalid_weight"})]
    found += [("repeat_user", {"invalid_role_order"}), ("answer_first", {"invalid_role_order"})]
    found += [
        ("late_system", {"invalid_role_order"}),
        ("no_answer", {"missing_assistant_message", "invalid_role_order"}),
    ]
    found += [("with_text", {"ambiguous_format"})]
    return found


def _mutate(draw: st.DrawFn, line: dict[str, Any], how: str) -> dict[str, Any]:
    msgs = [dict(m) for m in line["messages"]]
    i = draw(st.integers(0, len(msgs) - 1))
    if how == "not_a_list":
        return {"messages": draw(st.none() | st.integers() | text | st.just({"role": "user"}))}
    if how == "empty":
        return {"messages": []}
    if how == "drop_role":
        del msgs[i]["role"]
    elif how == "bad_role":
        msgs[i]["role"] = draw(st.sampled_from(["developer", "function", "bot", "", "User"]) | st.integers())
    elif how == "drop_content":
        j = draw(st.sampled_from([k for k, m in enumerate(msgs) if m["role"] != "assistant"]))
        if draw(st.booleans()):
            msgs[j].pop("content")
        else:
            msgs[j]["content"] = None
    elif how == "bad_content":
        msgs[i]["content"] = draw(st.integers() | st.booleans() | st.just({"text": "x"}))
        msgs[i].pop("tool_calls", None)
    elif how == "bad_weight":
        msgs[i]["weight"] = draw(st.sampled_from([2, -1, 0.5, True, False, "1", None]))
    elif how == "repeat_user":
        j = next(k for k, m in enumerate(msgs) if m["role"] == "user")
        msgs.insert(j, dict(msgs[j]))
    elif how == "answer_first":
        msgs.insert(0, dict(ASSISTANT))
    elif how == "late_system":
        msgs.insert(draw(st.integers(1, len(msgs))), {"role": "system", "content": "late"})
    elif how == "no_answer":
        msgs = [m for m in msgs if m["role"] != "assistant"]
    elif how == "with_text":
        return {"messages": msgs, "text": draw(text)}
    return {"messages": msgs}


@SETTINGS
@given(data=st.data(), n=st.integers(1, 6))
def test_property_a_mutated_conversation_fails_naming_its_line(data: st.DataObject, n: int) -> None:
    good = [data.draw(conversation()) for _ in range(n)]
    line = data.draw(conversation())
    how, expected = data.draw(st.sampled_from(_mutations(line)))
    bad = _mutate(data.draw, line, how)
    at = data.draw(st.integers(0, n))
    lines = [*good[:at], bad, *good[at:]]
    report = validate_lines(lines_of(lines), "supervised", provider="together")
    assert not report.ok
    found = codes(report)
    assert {line for line, _ in found} == {at + 1}, (how, bad, found)
    assert {code for _, code in found} <= expected, (how, bad, found)
    assert report.stats.n_examples == n


@SETTINGS
@given(data=st.data(), n=st.integers(1, 6))
def test_property_a_broken_prompt_completion_or_text_line_fails_naming_its_line(data: st.DataObject, n: int) -> None:
    fmt = data.draw(st.sampled_from(["prompt_completion", "text"]))
    good = [data.draw(together_line(fmt)) for _ in range(n)]
    line = data.draw(together_line(fmt))
    key = data.draw(st.sampled_from(sorted(line)))
    bad = dict(line)
    if data.draw(st.booleans()) and fmt == "prompt_completion":
        del bad[key]
    else:
        bad[key] = data.draw(st.none() | st.integers() | st.lists(text, max_size=2) | st.just(""))
        if bad[key] == "" and fmt == "prompt_completion":
            bad[key] = None  # an empty prompt or completion is valid
    at = data.draw(st.integers(0, n))
    report = validate_lines(lines_of([*good[:at], bad, *good[at:]]), provider="together")
    assert not report.ok
    assert {line for line, _ in codes(report)} == {at + 1}, (bad, report.problems)


@SETTINGS
@given(data=st.data(), method=st.sampled_from(["supervised", "dpo"]), n=st.integers(3, 6))
def test_property_openai_lines_pass_on_fireworks_and_together(data: st.DataObject, method: str, n: int) -> None:
    make = conversation(openai=True) if method == "supervised" else preference()
    lines = lines_of([data.draw(make) for _ in range(n)])
    for provider in ("fireworks", "together"):
        report = validate_lines(lines, method, provider=provider)
        assert report.ok, (provider, lines, report.problems)
    # The same lines by OpenAI's rules: only its minimum of ten differs.
    assert codes(validate_lines(lines, method)) == [(None, "too_few_examples")]


@SETTINGS
@given(data=st.data(), method=st.sampled_from(["supervised", "dpo"]), n=st.integers(3, 6))
def test_property_a_mutated_fireworks_line_fails_naming_its_line(data: st.DataObject, method: str, n: int) -> None:
    make = conversation(openai=True) if method == "supervised" else preference()
    good = [data.draw(make) for _ in range(n)]
    bad = data.draw(make)
    if method == "supervised":
        how = data.draw(st.sampled_from(["drop_messages", "bad_role", "drop_user_content", "bad_weight"]))
        msgs = [dict(m) for m in bad["messages"]]
        if how == "drop_messages":
            bad = {"chat": msgs}
        elif how == "bad_role":
            msgs[data.draw(st.integers(0, len(msgs) - 1))]["role"] = data.draw(st.sampled_from(["bot", "", "User"]))
            bad = {"messages": msgs}
        elif how == "drop_user_content":
            next(m for m in msgs if m["role"] == "user").pop("content")
            bad = {"messages": msgs}
        else:
            next(m for m in msgs if m["role"] == "assistant" and "content" in m and m["content"] is not None)[
                "weight"
            ] = data.draw(st.sampled_from([2, 0.5, "1"]))
            bad = {"messages": msgs}
    else:
        key = data.draw(st.sampled_from(["input", "preferred_output", "non_preferred_output"]))
        if data.draw(st.booleans()):
            del bad[key]
        else:
            bad[key] = data.draw(st.sampled_from([[], {}, "x", [USER], [ASSISTANT, ASSISTANT]]))
    at = data.draw(st.integers(0, n))
    report = validate_lines(lines_of([*good[:at], bad, *good[at:]]), method, provider="fireworks")
    assert not report.ok
    assert {line for line, _ in codes(report)} == {at + 1}, (bad, report.problems)


@SETTINGS
@given(line=together_line("text"), n=st.integers(1, 5))
def test_property_text_lines_are_together_data_only(line: dict[str, Any], n: int) -> None:
    text_lines = lines_of([line] * n)
    assert validate_lines(text_lines, provider="together").ok
    chat = lines_of([VALID["supervised"]] * 10)
    for provider in ("openai", "fireworks"):
        report = validate_lines(chat + text_lines, provider=provider)
        assert {p.line for p in report.problems} == set(range(11, 11 + n))


# ---------------------------------------------------------------- the command line


def test_cli_validate_takes_together_and_fireworks(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [TOGETHER_VALID["text"]] * 3)
    together = run_cli("validate", str(path), "--provider", "together", "--json")
    assert together.returncode == 0, together.stderr
    assert json.loads(together.stdout)["provider"] == "together"
    fireworks = run_cli("validate", str(path), "--provider", "fireworks", "--json")
    assert fireworks.returncode == 1
    assert {p["code"] for p in json.loads(fireworks.stdout)["problems"]} == {"unknown_key", "missing_messages"}
    refused = run_cli("validate", str(path), "--provider", "together", "--method", "reinforcement")
    assert refused.returncode == 2
    assert "Together AI does not take reinforcement fine-tuning" in refused.stderr

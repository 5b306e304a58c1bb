"""Providers' data rules: profiles, resolving ``provider=``, and Nebius' line formats, one
example per format and per problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

import finetune_async.datasets as ds
from finetune_async.datasets import AZURE, NEBIUS, OPENAI, DataRules, data_rules_for, validate_dataset, validate_lines
from finetune_async.datasets._profiles import _REGISTRY, ContextLimits
from tests.cli.conftest import cli_env, run_cli

from ._lines import VALID, dumps

CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
NEBIUS_VALID: dict[str, dict[str, Any]] = {
    "messages": CHAT,
    "prompt_completion": {"prompt": "2 + 2 =", "completion": " 4"},
    "text": {"text": "A sentence to learn."},
    "input_ids": {"input_ids": [101, 2023, 102]},
}


def nebius(lines: list[Any], method: str | None = None, **kwargs: Any) -> ds.DatasetReport:
    return validate_lines(
        [dumps(x) if not isinstance(x, str) else x for x in lines], method, provider="nebius", **kwargs
    )


def codes(report: ds.DatasetReport) -> list[tuple[int | None, str]]:
    return [(p.line, p.code) for p in report.problems]


# ---------------------------------------------------------------- profiles and resolution


def test_profiles_are_frozen_data() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        NEBIUS.min_examples = 1  # type: ignore[misc]
    assert OPENAI.methods["dpo"] == ("preference",)
    assert NEBIUS.methods["spec-draft"] == ("messages", "prompt_completion", "text", "input_ids")
    assert NEBIUS.same_formats
    assert not OPENAI.same_formats
    assert (NEBIUS.context.default, NEBIUS.context.minimum, NEBIUS.context.maximum) == (8_192, 8_192, 131_072)
    assert {"epochs", "billed_tokens"}.isdisjoint(NEBIUS.stats)
    assert AZURE.methods == OPENAI.methods
    assert AZURE.display_name == "Azure OpenAI"


def test_a_profile_refuses_unknown_formats_and_a_default_it_lacks() -> None:
    with pytest.raises(ValueError, match="unknown line format"):
        DataRules(name="x", display_name="X", methods={"supervised": ("csv",)}, default_method="supervised",
                  context=ContextLimits(default=1))  # fmt: skip
    with pytest.raises(ValueError, match="default_method"):
        DataRules(name="x", display_name="X", methods={"supervised": ("text",)}, default_method="dpo",
                  context=ContextLimits(default=1))  # fmt: skip


class _Provider:
    data_rules = NEBIUS


class _Client:
    provider = _Provider()


@pytest.mark.parametrize(
    ("provider", "expected"),
    [(None, OPENAI), ("openai", OPENAI), ("Azure", AZURE), ("nebius", NEBIUS), (NEBIUS, NEBIUS),
     (_Provider(), NEBIUS), (_Client(), NEBIUS)],
)  # fmt: skip
def test_provider_resolves_by_name_profile_or_attribute(provider: object, expected: DataRules) -> None:
    assert data_rules_for(provider) is expected


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(
        ValueError, match="unknown provider 'mistral'; expected one of openai, azure, nebius, together, fireworks"
    ):
        validate_lines([], provider="mistral")
    with pytest.raises(TypeError, match="data_rules"):
        validate_lines([], provider=42)


def test_a_registered_profile_is_used_without_any_name_test() -> None:
    """A new provider is data: register it and the validator follows its fields."""
    rules = ds.register_data_rules(
        DataRules(
            name="toy",
            display_name="Toy",
            methods={"supervised": ("text", "prompt_completion")},
            default_method="supervised",
            min_examples=2,
            context=ContextLimits(default=100),
        )
    )
    try:
        report = validate_lines([dumps({"text": "a"}), dumps({"prompt": "p", "completion": "c"})], provider="toy")
        assert report.ok
        assert report.provider == "toy"
        assert report.stats.context_limit == 100
        with pytest.raises(ValueError, match="Toy does not take dpo fine-tuning; its methods: supervised"):
            validate_lines([], "dpo", provider=rules)
    finally:
        del _REGISTRY["toy"]


# ---------------------------------------------------------------- OpenAI unchanged


def test_openai_is_the_default_and_azure_the_same_rules() -> None:
    lines = [dumps(VALID["supervised"])] * 10
    default = validate_lines(lines)
    assert default.provider == "openai"
    assert default.line_format == "chat"
    azure = validate_lines(lines, provider="azure")
    assert azure.provider == "azure"
    assert attrs.evolve(azure, provider="openai") == default
    assert default.stats.epochs == 10
    assert default.stats.billed_tokens > 0


def test_openai_refuses_spec_draft_naming_itself() -> None:
    with pytest.raises(ValueError, match="OpenAI does not take spec-draft fine-tuning"):
        validate_lines([], "spec-draft")
    with pytest.raises(ValueError, match="unknown method 'sft'; expected one of supervised, dpo, reinforcement"):
        validate_lines([], "sft")


# ---------------------------------------------------------------- Nebius: each format


@pytest.mark.parametrize("fmt", list(NEBIUS_VALID))
@pytest.mark.parametrize("method", [None, "supervised", "spec-draft"])
def test_nebius_takes_each_format(fmt: str, method: str | None) -> None:
    report = nebius([NEBIUS_VALID[fmt]] * 10, method)
    assert report.ok, report.problems
    assert report.line_format == fmt
    assert report.method == (method or "supervised")
    assert report.method_detected is (method is None)
    assert report.stats.n_examples == 10
    assert report.stats.context_limit == 8_192
    assert (report.stats.epochs, report.stats.billed_tokens) == (0, 0)
    assert report.stats.token_estimate_method == "estimate"


def test_nebius_method_note_says_the_lines_cannot_tell_methods_apart() -> None:
    report = nebius([NEBIUS_VALID["text"]] * 10)
    assert report.method_note == (
        "method not given: assumed supervised (Nebius takes the same line formats for supervised, spec-draft)"
    )


def test_nebius_chat_takes_developer_tool_null_and_list_content_and_other_keys() -> None:
    line = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            {"role": "tool", "content": "sunny"},
            {"role": "assistant", "content": "Sunny.", "weight": 1},
        ],
        "id": "ex-1",
    }
    report = nebius([line] * 10)
    assert report.ok, report.problems
    assert report.stats.messages_per_example.max == 5
    assert report.stats.n_missing_system == 0
    assert report.stats.n_missing_user == 0


def test_nebius_measures() -> None:
    report = nebius([{"input_ids": list(range(9000))}] * 10)
    assert report.stats.tokens_per_example.max == 9000
    assert report.stats.n_over_context == 10  # over the default 8,192
    report = nebius([{"input_ids": list(range(9000))}] * 10, context_limit=16_384)
    assert report.stats.n_over_context == 0
    pc = nebius([{"prompt": "abcd" * 4, "completion": "abcd" * 2}] * 10)
    assert pc.stats.tokens_per_example.max == 6
    assert pc.stats.assistant_tokens_per_example.max == 2
    assert pc.stats.messages_per_example.max == 0
    assert pc.stats.n_missing_user == 0


def test_nebius_context_length_range() -> None:
    for bad in (4_096, 262_144):
        with pytest.raises(ValueError, match="outside the context lengths Nebius takes \\(8,192 to 131,072\\)"):
            nebius([], context_limit=bad)
    assert nebius([NEBIUS_VALID["text"]] * 10, context_limit=131_072).stats.context_limit == 131_072


@pytest.mark.parametrize("method", ["dpo", "reinforcement"])
def test_nebius_refuses_dpo_and_reinforcement_naming_itself(method: str, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(dumps(VALID["dpo"]) + "\n")
    with pytest.raises(
        ValueError, match=f"^Nebius does not take {method} fine-tuning; its methods: supervised, spec-draft$"
    ):
        validate_dataset(path, method, provider="nebius")


# ---------------------------------------------------------------- Nebius: each problem


#: A Nebius line with one problem, and its code (test_dataset_rules checks every code is here or there).
NEBIUS_CASES: list[tuple[dict[str, Any], str]] = [
        ({"messages": "hi"}, "invalid_messages"),
        ({"messages": []}, "empty_messages"),
        ({"messages": ["hi", {"role": "assistant", "content": "x"}]}, "invalid_message"),
        ({"messages": [{"content": "x"}, {"role": "assistant", "content": "x"}]}, "missing_role"),
        ({"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "x"}]}, "unknown_role"),
        ({"messages": [{"role": ["user"], "content": "x"}, {"role": "assistant", "content": "x"}]}, "unknown_role"),
        ({"messages": [{"role": "function", "content": "x"}, {"role": "assistant", "content": "x"}]},
         "role_not_allowed"),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]}, "invalid_content"),
        ({"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "x"}]},
         "last_message_not_assistant"),
        ({"prompt": "p"}, "missing_completion"),
        ({"completion": "c"}, "missing_prompt"),
        ({"prompt": 1, "completion": "c"}, "invalid_prompt"),
        ({"prompt": "p", "completion": None}, "invalid_completion"),
        ({"text": 5}, "invalid_text"),
        ({"text": ""}, "empty_text"),
        ({"input_ids": "1 2 3"}, "invalid_input_ids"),
        ({"input_ids": []}, "empty_input_ids"),
        ({"input_ids": [1, 2.0, True]}, "invalid_input_ids"),
        ({"input_ids": [1, True]}, "invalid_input_ids"),
        ({"tokens": [1, 2]}, "unknown_format"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "code"), NEBIUS_CASES)
def test_nebius_problem_codes(line: dict[str, Any], code: str) -> None:
    # Ten valid lines of the same format first, so that the line's own problem is the only one.
    fmt_good = next((v for v in NEBIUS_VALID.values() if set(v) & set(line)), NEBIUS_VALID["text"])
    report = nebius([fmt_good] * 10 + [line])
    assert [c for _, c in codes(report)] == [code], report.problems
    assert report.problems[0].line == 11
    assert report.stats.n_examples == 10


def test_nebius_unknown_format_lists_the_formats() -> None:
    report = nebius([{"tokens": [1]}] * 10)
    assert report.problems[0].message == (
        "a line must hold 'messages', the last turn the assistant's; 'prompt' and 'completion'; 'text'; "
        "pre-tokenized 'input_ids'"
    )


def test_nebius_mixed_formats_is_one_problem_naming_the_line() -> None:
    lines = [NEBIUS_VALID["messages"]] * 4 + [NEBIUS_VALID["text"]] + [NEBIUS_VALID["input_ids"]] * 3
    lines += [NEBIUS_VALID["messages"]] * 4
    report = nebius(lines)
    assert codes(report) == [(5, "mixed_formats")]
    assert report.problems[0].message == (
        "line 5 is a text line in a file of messages lines (from line 1): Nebius takes one line format per file"
    )
    assert report.line_format == "messages"
    assert report.stats.n_examples == 11  # the other lines are valid lines of their own format


def test_a_mixed_line_keeps_its_own_problems_and_line_numbers() -> None:
    report = nebius([NEBIUS_VALID["text"]] * 10 + ["{", {"prompt": 1, "completion": "c"}, {"text": ""}])
    assert codes(report) == [(11, "invalid_json"), (12, "mixed_formats"), (12, "invalid_prompt"), (13, "empty_text")]


def test_the_file_format_is_the_first_recognised_line() -> None:
    report = nebius(["[]", {"tokens": 1}, {"text": 3}] + [NEBIUS_VALID["text"]] * 10)
    assert codes(report) == [(1, "not_an_object"), (2, "unknown_format"), (3, "invalid_text")]
    assert report.line_format == "text"


def test_nebius_keeps_the_line_rules_every_provider_has() -> None:
    report = nebius(["", "{", "[1]", '{"text": NaN}'] + [NEBIUS_VALID["text"]] * 10)
    assert codes(report) == [(1, "blank_line"), (2, "invalid_json"), (3, "not_an_object"), (4, "invalid_json")]
    assert codes(nebius([NEBIUS_VALID["text"]] * 3)) == [(None, "too_few_examples")]
    assert codes(nebius([])) == [(None, "empty_file")]


def test_nebius_names_another_methods_example() -> None:
    report = nebius([VALID["supervised"]] * 9 + [VALID["dpo"]])
    assert codes(report) == [(10, "wrong_method")]
    assert "a dpo example (input, preferred_output, non_preferred_output), which Nebius does not take" in (
        report.problems[0].message
    )
    every = nebius([VALID["dpo"]] * 10)
    assert codes(every) == [(None, "method_mismatch")]
    assert every.problems[0].message.endswith("which Nebius does not take (its methods: supervised, spec-draft)")
    rft = nebius([VALID["reinforcement"]] * 10, "spec-draft")
    assert codes(rft) == [(None, "method_mismatch")]
    assert "a reinforcement example" in rft.problems[0].message


def test_spec_draft_is_no_mismatch_for_a_supervised_shaped_line() -> None:
    line = {"messages": [{"role": "function", "content": "x"}, {"role": "assistant", "content": "y"}]}
    report = nebius([CHAT] * 9 + [line], "spec-draft")
    assert codes(report) == [(10, "role_not_allowed")]


def test_validate_dataset_on_a_nebius_file(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_bytes(b"".join(json.dumps(NEBIUS_VALID["prompt_completion"]).encode() + b"\r\n" for _ in range(10)))
    report = validate_dataset(path, provider=NEBIUS)
    assert report.ok
    assert report.line_format == "prompt_completion"
    assert report.path == str(path)
    assert report.as_dict()["provider"] == "nebius"
    assert report.as_dict()["line_format"] == "prompt_completion"


# ---------------------------------------------------------------- the command line


def test_cli_validate_provider_nebius(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text("".join(json.dumps(NEBIUS_VALID["text"]) + "\n" for _ in range(10)))
    proc = run_cli("validate", str(path), "--provider", "nebius")
    assert proc.returncode == 0, proc.stderr
    assert "no problems (supervised)" in proc.stdout
    assert "line format" in proc.stdout
    assert "epochs" not in proc.stdout
    assert "billed" not in proc.stdout
    openai = run_cli("validate", str(path), "--json")
    assert openai.returncode == 1
    assert json.loads(openai.stdout)["provider"] == "openai"
    refused = run_cli("validate", str(path), "--provider", "nebius", "--method", "dpo")
    assert refused.returncode == 2
    assert "Nebius does not take dpo fine-tuning" in refused.stderr
    draft = run_cli("validate", str(path), "--provider", "nebius", "--method", "spec-draft", "--json")
    assert draft.returncode == 0
    assert json.loads(draft.stdout)["method"] == "spec-draft"


def test_cli_upload_validates_by_the_provider_rules(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [NEBIUS_VALID["text"]] * 9 + [NEBIUS_VALID["messages"]]))
    # The provider a file goes to is the client's (the group's --provider, or its environment).
    proc = run_cli("upload", str(path), env=cli_env("http://127.0.0.1:9", FINETUNE_ASYNC_PROVIDER="nebius"))
    assert proc.returncode == 1
    assert "line 10: [mixed_formats]" in proc.stderr
    assert "Not uploaded" in proc.stderr

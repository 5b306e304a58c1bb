"""Statistics: token accounting, distributions, epochs, billing, duplicates, context limits."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

import finetune_async.datasets._tokens as tokens_mod
from finetune_async.datasets import DatasetStats, Distribution, validate_dataset, validate_lines
from finetune_async.datasets._stats import Histogram, context_limit_for, default_epochs
from finetune_async.datasets._tokens import ESTIMATE, estimate_tokens, find_cl100k_file, get_token_counter

from ._lines import RICH_SUPERVISED, VALID, dumps

SAMPLES = Path(__file__).resolve().parents[2] / "finetune_async" / "data"


def chat(*contents: str, system: str | None = None, name: str | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    for i, text in enumerate(contents):
        role = "user" if i % 2 == 0 else "assistant"
        msg: dict[str, Any] = {"role": role, "content": text}
        if name is not None and role == "user":
            msg["name"] = name
        messages.append(msg)
    return {"messages": messages}


def test_estimate_is_four_ascii_characters_per_token() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("x" * 400) == 100
    # non-ASCII: each extra UTF-8 byte counts half a token (CJK: 1.25 tokens per character)
    assert estimate_tokens("日本語です") == (5 + 2 * 10 + 3) // 4
    assert estimate_tokens("café") == (4 + 2 + 3) // 4


def test_token_accounting_on_a_hand_computed_example() -> None:
    # system "Be brief." (9 chars -> 3) ; user "Hi there" (8 -> 2) + name "ana" (1 + 1);
    # assistant "Hello! How can I help?" (22 -> 6)
    example = chat("Hi there", "Hello! How can I help?", system="Be brief.", name="ana")
    report = validate_lines([dumps(example)] * 10)
    assert report.ok
    stats = report.stats
    per_message = 3 + 1  # 3 per message + 1 for the role
    expected = 3 + (per_message + 3) + (per_message + 2 + 1 + 1) + (per_message + 6)
    assert expected == 28
    assert stats.tokens_per_example == Distribution(min=28, max=28, mean=28, median=28, p10=28, p90=28)
    assert stats.assistant_tokens_per_example.max == 6
    assert stats.messages_per_example.mean == 3
    assert stats.total_tokens == 280
    assert stats.token_estimate_method == ESTIMATE


def test_token_accounting_of_tool_calls_parts_and_tools() -> None:
    counter = get_token_counter()
    from finetune_async.datasets._measure import Meter, measure_chat

    example = RICH_SUPERVISED[0]
    n_messages, total, assistant, has_system, has_user, longest = measure_chat(example, Meter(counter))
    assert (n_messages, has_system, has_user) == (9, True, True)
    assert longest == total
    tools_json = json.dumps(example["tools"], separators=(",", ":"))
    by_hand = 3 + estimate_tokens(tools_json)
    for m in example["messages"]:
        by_hand += 3 + 1
        for key, value in m.items():
            if isinstance(value, str) and key != "role":
                by_hand += estimate_tokens(value) + (1 if key == "name" else 0)
        if isinstance(m.get("content"), list):
            by_hand += sum(estimate_tokens(p["text"]) for p in m["content"])
        for call in m.get("tool_calls") or []:
            by_hand += sum(
                estimate_tokens(s) for s in (call["id"], call["function"]["name"], call["function"]["arguments"])
            )
    assert total == by_hand
    assistant_by_hand = sum(
        estimate_tokens(m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
        for m in example["messages"]
        if m["role"] == "assistant" and m.get("content")
    )
    assert assistant == assistant_by_hand


def test_image_parts_count_fixed_tokens() -> None:
    from finetune_async.datasets._measure import Meter, measure_chat

    _, total, _, _, _, _ = measure_chat(RICH_SUPERVISED[1], Meter(get_token_counter()))
    texts = ["What is in this picture?", "A cat."]
    assert total == 3 + 2 * 4 + sum(estimate_tokens(t) for t in texts) + 85 + 765


def test_distributions_match_statistics_quantiles() -> None:
    sizes = [1, 5, 9, 13, 2, 40, 41, 7, 100, 3, 3, 64]
    lines = [dumps(chat("u", "a" * (4 * n))) for n in sizes]
    stats = validate_lines(lines).stats
    values = [n for n in sizes]
    dist = stats.assistant_tokens_per_example
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    assert dist.min == 1
    assert dist.max == 100
    assert dist.mean == pytest.approx(statistics.mean(values), abs=1e-3)
    assert dist.median == pytest.approx(statistics.median(values), abs=1e-3)
    assert dist.p10 == pytest.approx(deciles[0], abs=1e-3)
    assert dist.p90 == pytest.approx(deciles[-1], abs=1e-3)
    assert stats.quantiles_exact


def test_histogram_is_bounded_and_close_for_huge_values() -> None:
    h = Histogram()
    values = list(range(0, 10_000_000, 997))
    for v in values:
        h.add(v)
    assert len(h.counts) + len(h.big_counts) < 30_000
    d = h.distribution()
    assert d.min == 0
    assert d.max == values[-1]
    assert d.mean == pytest.approx(statistics.mean(values), rel=1e-9)
    assert d.median == pytest.approx(statistics.median(values), rel=1e-3)
    assert not h.exact


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (0, 0),
        (1, 25),
        (3, 25),
        (4, 25),
        (5, 20),
        (10, 10),
        (20, 5),
        (33, 3),
        (34, 3),
        (100, 3),
        (8333, 3),
        (8334, 2),
        (12_500, 2),
        (25_001, 1),
        (1_000_000, 1),
    ],
)
def test_default_epochs(n: int, epochs: int) -> None:
    assert default_epochs(n) == epochs


def test_billed_tokens_use_epochs_and_context_limit() -> None:
    short = dumps(chat("hi", "hello"))  # 3 + 5 + 6 = 14 tokens
    long = dumps(chat("x" * 400, "y" * 40))  # 3 + (4 + 100) + (4 + 10) = 121 tokens
    report = validate_lines([short] * 9 + [long], context_limit=100)
    stats = report.stats
    assert stats.tokens_per_example.max == 121
    assert stats.n_over_context == 1
    assert stats.context_limit == 100
    assert stats.epochs == 10
    assert stats.billed_tokens == 10 * (9 * 14 + 100)
    assert stats.n_duplicates == 8


def test_missing_system_and_user_counts() -> None:
    lines = [
        dumps(chat("q", "a", system="s")),
        dumps(chat("q", "a")),
        dumps({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}),
    ] * 4
    stats = validate_lines(lines).stats
    assert stats.n_missing_system == 4
    assert stats.n_missing_user == 4


def test_dpo_and_reinforcement_stats() -> None:
    dpo = validate_lines([dumps(VALID["dpo"])] * 10, "dpo").stats
    # prompt: 3 + (4 + 5) ; outputs: (4 + 6) and (4 + 2)
    assert dpo.tokens_per_example.max == 3 + 9 + 10 + 6
    assert dpo.messages_per_example.max == 2
    assert dpo.assistant_tokens_per_example.max == 6 + 2
    assert dpo.n_missing_system == 10
    rft = validate_lines([dumps(VALID["reinforcement"])] * 10, "reinforcement").stats
    assert rft.n_missing_system == 0  # the developer message is the system prompt
    assert rft.assistant_tokens_per_example.max == 0


def test_dpo_over_context_uses_prompt_plus_longer_output() -> None:
    example = {
        "input": {"messages": [{"role": "user", "content": "x" * 80}]},  # 3 + 4 + 20 = 27
        "preferred_output": [{"role": "assistant", "content": "y" * 80}],  # 4 + 20 = 24
        "non_preferred_output": [{"role": "assistant", "content": "n"}],  # 4 + 1 = 5
    }
    lines = [dumps(example)] * 10
    assert validate_lines(lines, "dpo", context_limit=51).stats.n_over_context == 0
    assert validate_lines(lines, "dpo", context_limit=50).stats.n_over_context == 10


def test_duplicates_are_byte_identical_lines() -> None:
    a = dumps(chat("q", "a"))
    b = json.dumps(json.loads(a), indent=None, separators=(",", ":"))  # same example, other spacing
    stats = validate_lines([a, a, a + "\n", b, dumps(chat("q2", "a"))] * 2 + [a]).stats
    assert stats.n_examples == 11
    assert stats.n_duplicates == 11 - 3


def test_invalid_lines_are_not_measured() -> None:
    report = validate_lines([dumps(chat("q", "a"))] * 10 + ["{", dumps({"messages": []})])
    assert report.n_examples == 12
    assert report.stats.n_examples == 10


def test_context_limit_by_model() -> None:
    assert context_limit_for(None) == 65_536
    assert context_limit_for("gpt-4o-mini-2024-07-18") == 65_536
    assert context_limit_for("gpt-3.5-turbo-0125") == 16_385
    assert context_limit_for("gpt-3.5-turbo-0613") == 4_096
    assert context_limit_for("ft:gpt-3.5-turbo-0125:org::abc") == 16_385
    assert context_limit_for("some-future-model") == 65_536
    report = validate_lines([dumps(chat("q", "a"))] * 10, model="gpt-3.5-turbo-0613")
    assert report.stats.context_limit == 4_096
    report = validate_lines([dumps(chat("q", "a"))] * 10, model="gpt-3.5-turbo-0613", context_limit=7)
    assert report.stats.context_limit == 7


def test_empty_stats() -> None:
    stats = validate_lines([]).stats
    assert stats == DatasetStats(context_limit=65_536)


def test_bundled_sample_dataset_validates_cleanly() -> None:
    train = validate_dataset(SAMPLES / "sample_train.jsonl")
    valid = validate_dataset(SAMPLES / "sample_valid.jsonl")
    assert train.ok, train.problems
    assert valid.ok, valid.problems
    assert 35 <= train.n_examples <= 45
    assert 10 <= valid.n_examples <= 12
    assert train.stats.n_duplicates == 0
    assert train.stats.n_missing_system > 0
    assert train.stats.messages_per_example.max >= 5


# ---------------------------------------------------------------- tiktoken discovery (never a download)


def test_no_tiktoken_means_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens_mod._tiktoken_count.cache_clear()
    monkeypatch.setitem(__import__("sys").modules, "tiktoken", None)
    try:
        assert get_token_counter().method == ESTIMATE
    finally:
        tokens_mod._tiktoken_count.cache_clear()


def test_cache_lookup_follows_tiktoken_env_and_checks_the_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    cached = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    cached.write_bytes(b"not the real file")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert find_cl100k_file() is None  # wrong sha256: never used (tiktoken would re-download it)
    monkeypatch.setattr(tokens_mod, "_CL100K_SHA256", hashlib.sha256(b"not the real file").hexdigest())
    assert find_cl100k_file() == str(cached)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert find_cl100k_file() is None  # caching disabled: tiktoken would download, so do not use it
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path))
    assert find_cl100k_file() == str(cached)

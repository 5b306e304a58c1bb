"""Property-based tests: generated valid files pass; nothing makes the validator crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from finetune_async.datasets import validate_lines
from finetune_async.datasets._measure import FAST, MEASURES, Meter
from finetune_async.datasets._rules import CHECKS
from finetune_async.datasets._tokens import get_token_counter

METHODS = ("supervised", "dpo", "reinforcement")
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(max_size=40)
names = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=4)


def text_parts() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.builds(lambda t: {"type": "text", "text": t}, text), min_size=1, max_size=3)


def image_parts() -> st.SearchStrategy[dict[str, Any]]:
    url = st.sampled_from(
        [
            "https://example.com/a.png",
            "https://example.com/b",
            "data:image/webp;base64,UklGRg==",
            "data:image/JPEG;base64,/9j/",
        ]
    )
    detail = st.sampled_from([None, "auto", "low", "high"])
    return st.builds(
        lambda u, d: {"type": "image_url", "image_url": {"url": u} if d is None else {"url": u, "detail": d}},
        url,
        detail,
    )


def content(images: bool = False) -> st.SearchStrategy[Any]:
    if images:
        parts = st.lists(
            st.one_of(st.builds(lambda t: {"type": "text", "text": t}, text), image_parts()), min_size=1, max_size=3
        )
        return text | parts
    return text | text_parts()


def with_name(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda n: base if n is None else {**base, "name": n}, st.none() | text)


@st.composite
def tool_call(draw: st.DrawFn) -> dict[str, Any]:
    args = draw(json_values)
    return {
        "id": draw(text),
        "type": "function",
        "function": {"name": draw(names), "arguments": json.dumps(args)},
    }


@st.composite
def assistant(draw: st.DrawFn, weight: bool = True) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant"}
    if draw(st.booleans()):
        msg["tool_calls"] = draw(st.lists(tool_call(), min_size=1, max_size=2))
        if draw(st.booleans()):
            msg["content"] = None
    else:
        msg["content"] = draw(content())
    if weight and draw(st.booleans()):
        msg["weight"] = draw(st.sampled_from([0, 1, 0.0, 1.0]))
    if draw(st.booleans()):
        msg["name"] = draw(text)
    return msg


def chat_message(roles: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    options = []
    if "system" in roles:
        options.append(st.builds(lambda c: {"role": "system", "content": c}, content()).flatmap(with_name))
    if "developer" in roles:
        options.append(st.builds(lambda c: {"role": "developer", "content": c}, content()).flatmap(with_name))
    options.append(st.builds(lambda c: {"role": "user", "content": c}, content(images=True)).flatmap(with_name))
    options.append(assistant())
    options.append(st.builds(lambda c, i: {"role": "tool", "content": c, "tool_call_id": i}, content(), text))
    if "function" in roles:
        options.append(st.builds(lambda c, n: {"role": "function", "content": c, "name": n}, st.none() | text, text))
    return st.one_of(options)


tool = st.builds(
    lambda n, d, p: {"type": "function", "function": {"name": n, **({} if d is None else {"description": d}), **p}},
    names,
    st.none() | text,
    st.sampled_from([{}, {"parameters": {"type": "object"}}, {"strict": True}, {"strict": None}]),
)
tools = st.lists(tool, max_size=2)

CHAT_ROLES = ("system", "user", "assistant", "tool", "function")


@st.composite
def supervised_example(draw: st.DrawFn) -> dict[str, Any]:
    messages = draw(st.lists(chat_message(CHAT_ROLES), max_size=5))
    messages.insert(draw(st.integers(0, len(messages))), draw(assistant()))
    # at most 10 images per example
    images = 0
    for m in messages:
        if isinstance(m.get("content"), list):
            kept = []
            for part in m["content"]:
                if part["type"] == "image_url":
                    images += 1
                    if images > 10:
                        continue
                kept.append(part)
            m["content"] = kept or [{"type": "text", "text": "x"}]
    example: dict[str, Any] = {"messages": messages}
    if draw(st.booleans()):
        example["tools"] = draw(tools)
    if draw(st.booleans()):
        example["parallel_tool_calls"] = draw(st.booleans())
    if draw(st.booleans()):
        example["functions"] = [t["function"] for t in draw(st.lists(tool, min_size=1, max_size=2))]
        for fn in example["functions"]:
            fn.pop("strict", None)
    return example


@st.composite
def dpo_example(draw: st.DrawFn) -> dict[str, Any]:
    inp: dict[str, Any] = {"messages": draw(st.lists(chat_message(CHAT_ROLES), min_size=1, max_size=4))}
    if draw(st.booleans()):
        inp["tools"] = draw(tools)

    def output() -> dict[str, Any]:
        return {"role": "assistant", "content": draw(text | text_parts())}

    return {"input": inp, "preferred_output": [output()], "non_preferred_output": [output()]}


@st.composite
def rft_example(draw: st.DrawFn) -> dict[str, Any]:
    example: dict[str, Any] = draw(json_objects)
    example.pop("tools", None)
    example["messages"] = draw(
        st.lists(chat_message(("developer", "user", "assistant", "tool")), min_size=1, max_size=4)
    )
    if draw(st.booleans()):
        example["tools"] = draw(tools)
    return example


EXAMPLES = {"supervised": supervised_example(), "dpo": dpo_example(), "reinforcement": rft_example()}


@SETTINGS
@given(st.sampled_from(METHODS).flatmap(lambda m: st.tuples(st.just(m), st.lists(EXAMPLES[m], min_size=1, max_size=3))))
def test_generated_valid_files_pass(case: tuple[str, list[dict[str, Any]]]) -> None:
    method, drawn = case
    examples = (drawn * 10)[:10]  # validity of a line does not depend on its neighbours
    lines = [json.dumps(e, ensure_ascii=i % 2 == 0) + "\n" for i, e in enumerate(examples)]
    for use_orjson in (True, False):
        report = validate_lines(
            [line.encode("utf-8", "surrogatepass") for line in lines], method, use_orjson=use_orjson
        )
        assert report.ok, (method, report.problems, lines)
        assert report.stats.n_examples == len(examples)


@SETTINGS
@given(st.sampled_from(METHODS), st.lists(st.binary(max_size=60), max_size=20))
def test_arbitrary_bytes_never_crash(method: str, lines: list[bytes]) -> None:
    for use_orjson in (True, False):
        report = validate_lines(lines, method, use_orjson=use_orjson, max_problems=5)
        assert report.n_problems >= len(report.problems) - 1


@SETTINGS
@given(st.sampled_from(METHODS), st.lists(json_values, max_size=12))
def test_arbitrary_json_never_crashes(method: str, values: list[Any]) -> None:
    lines = [json.dumps(v) for v in values]
    report = validate_lines(lines, method)
    assert report.n_examples == len(lines)


def _mutate(draw: st.DrawFn, obj: Any, depth: int = 0) -> Any:
    """Replace, delete or add one thing somewhere in ``obj``."""
    if isinstance(obj, dict) and obj and depth < 6 and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(obj)))
        obj = dict(obj)
        obj[key] = _mutate(draw, obj[key], depth + 1)
        return obj
    if isinstance(obj, list) and obj and depth < 6 and draw(st.booleans()):
        i = draw(st.integers(0, len(obj) - 1))
        obj = list(obj)
        obj[i] = _mutate(draw, obj[i], depth + 1)
        return obj
    choice = draw(st.integers(0, 3))
    if choice == 0 and isinstance(obj, dict) and obj:
        obj = dict(obj)
        del obj[draw(st.sampled_from(sorted(obj)))]
        return obj
    if choice == 1 and isinstance(obj, dict):
        return {
            **obj,
            draw(st.sampled_from(["weight", "name", "tool_calls", "content", "role", "x", "tool_call_id"])): draw(
                json_values
            ),
        }
    return draw(json_values | st.sampled_from(["user", "assistant", "system", "tool", "developer", 0, 1, True]))


@st.composite
def plain_example(draw: st.DrawFn, method: str) -> dict[str, Any]:
    """The shapes the fast path takes: string contents, tool calls, a repeated tools list."""
    first = "system" if method == "supervised" else "developer"
    simple = st.sampled_from([first, "user", "assistant"]).flatmap(
        lambda role: st.builds(lambda c: {"role": role, "content": c}, text)
    )
    calls = st.builds(
        lambda cs, c: {"role": "assistant", "tool_calls": cs, **({} if c is None else {"content": c})},
        st.lists(tool_call(), min_size=1, max_size=2),
        st.none() | text,
    )
    tool = st.builds(lambda c, i: {"role": "tool", "content": c, "tool_call_id": i}, text, text)
    messages = draw(st.lists(st.one_of(simple, simple, calls, tool), min_size=1, max_size=5))
    example: dict[str, Any] = {"messages": messages}
    if draw(st.booleans()):
        example["tools"] = PRIMED_TOOLS
    if method == "dpo":
        outputs = st.builds(lambda c: [{"role": "assistant", "content": c}], text)
        return {"input": example, "preferred_output": draw(outputs), "non_preferred_output": draw(outputs)}
    return example


PRIMED_TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}]


@st.composite
def mutated(draw: st.DrawFn, method: str) -> dict[str, Any]:
    example = draw(st.one_of(plain_example(method), EXAMPLES[method]))
    for _ in range(draw(st.integers(0, 2))):
        example = _mutate(draw, example)
    return example  # type: ignore[no-any-return]


@SETTINGS
@given(st.data())
def test_fast_path_accepts_only_valid_lines_and_measures_like_the_full_path(data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(METHODS))
    fast = FAST[method]
    meter = Meter(get_token_counter())
    meter.tools_tokens_of(PRIMED_TOOLS)  # as after a validated line carrying these tools
    for _ in range(3):
        obj = data.draw(mutated(method))
        if not isinstance(obj, dict):
            continue
        measured = fast(obj, meter)
        event("fast path: " + ("taken" if measured is not None else "declined"))
        if measured is None:
            continue
        problems: list[tuple[str, str]] = []
        CHECKS[method](obj, problems)
        assert problems == [], obj
        assert measured == MEASURES[method](obj, Meter(meter.counter)), obj


@SETTINGS
@given(st.sampled_from(METHODS), st.lists(st.data(), min_size=1, max_size=1))
def test_orjson_and_stdlib_give_the_same_report(method: str, datas: list[st.DataObject]) -> None:
    data = datas[0]
    examples = data.draw(st.lists(mutated(method), min_size=1, max_size=4))
    lines = [json.dumps(e).encode() for e in examples]
    a = validate_lines(lines, method, use_orjson=True).as_dict()
    b = validate_lines(lines, method, use_orjson=False).as_dict()
    assert a == b

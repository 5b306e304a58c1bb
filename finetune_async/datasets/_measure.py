"""Measuring examples: messages, tokens, assistant tokens, system / user presence.

A measurement is ``(n_messages, tokens, assistant_tokens, has_system, has_user, longest)``,
where ``longest`` is the token count that must fit in the context window (the whole example,
or for DPO the prompt plus the longer output).

Most lines of most datasets are plain chats: string contents, perhaps tool calls and the same
``tools`` list on every line. For those the ``fast_*`` functions check and measure in one
pass; they return None as soon as a line is not of that simple shape (or might be invalid),
and the caller then runs the full rules and
:func:`measure_chat` / :func:`measure_dpo`. A fast path accepts only lines the full rules
accept, and measures them exactly as the full measure does (both are tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._json import is_json_text
from ._tokens import TOKENS_PER_EXAMPLE, TOKENS_PER_MESSAGE, TOKENS_PER_NAME, TOKENS_PER_ROLE, TokenCounter

__all__ = [
    "FAST",
    "MEASURES",
    "Measurement",
    "Meter",
    "fast_reinforcement",
    "fast_supervised",
    "measure_chat",
    "measure_dpo",
]

Measurement = tuple[int, int, int, bool, bool, int]

_PLAIN = frozenset({"role", "content", "name"})
_PLAIN_ASSISTANT = frozenset({"role", "content", "name", "weight", "tool_calls"})
_PLAIN_TOOL = frozenset({"role", "content", "tool_call_id"})
_SUPERVISED_PLAIN = {"system": _PLAIN, "user": _PLAIN, "assistant": _PLAIN_ASSISTANT, "tool": _PLAIN_TOOL}
_DPO_PLAIN = _SUPERVISED_PLAIN
_RFT_PLAIN = {"developer": _PLAIN, "user": _PLAIN, "assistant": _PLAIN_ASSISTANT, "tool": _PLAIN_TOOL}
_SUPERVISED_TOP = frozenset({"messages", "tools", "parallel_tool_calls"})
_TOOL_CALL_KEYS = frozenset({"id", "type", "function"})
_PER_MESSAGE = TOKENS_PER_MESSAGE + TOKENS_PER_ROLE


class Meter:
    """Measures the examples of one validation; remembers the last validated ``tools`` list.

    Most datasets repeat one ``tools`` list on every line: once a line carrying it has passed
    the full rules, a later line whose ``tools`` compares equal (a C-speed deep comparison)
    needs neither checking nor re-encoding it.
    """

    __slots__ = ("counter", "tools", "tools_tokens")

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.tools: object = None
        self.tools_tokens = 0

    def tools_tokens_of(self, tools: object) -> int:
        """Tokens of a validated ``tools`` list (and remember it as valid)."""
        if tools != self.tools or self.tools is None:
            self.tools_tokens = self.counter.definitions(tools)
            self.tools = tools
        return self.tools_tokens


def _strict_flags_ok(tools: list[dict[str, Any]]) -> bool:
    """Equality takes 1 for true: re-check the one typed non-string field of equal tools."""
    for tool in tools:
        strict = tool["function"].get("strict")
        if strict is not None and type(strict) is not bool:
            return False
    return True


def _fast_tool_calls(calls: object, count: Callable[[str], int]) -> int:
    """Tokens of well-formed tool calls, or -1 when they are not (or not simply) well-formed."""
    if type(calls) is not list or not calls:
        return -1
    tokens = 0
    for call in calls:
        if type(call) is not dict or len(call) != 3 or call.keys() != _TOOL_CALL_KEYS:
            return -1
        fn = call["function"]
        call_id = call["id"]
        if type(call_id) is not str or call["type"] != "function" or type(fn) is not dict or len(fn) != 2:
            return -1
        name = fn.get("name")
        args = fn.get("arguments")
        if type(name) is not str or not name or type(args) is not str or not is_json_text(args):
            return -1
        tokens += count(call_id) + count(name) + count(args)
    return tokens


def _fast_messages(
    messages: object,
    plain: dict[str, frozenset[str]],
    system_role: str,
    counter: TokenCounter,
    need_assistant: bool,
) -> Measurement | None:
    if type(messages) is not list or not messages:
        return None
    count = counter.count
    estimate = counter.is_estimate
    tokens = TOKENS_PER_EXAMPLE
    assistant = 0
    has_system = has_user = has_assistant = False
    try:  # a message that is not a dict, or lacks a key, or has an unhashable role: not plain
        for m in messages:
            role = m["role"]
            content = m.get("content")
            if type(content) is str:
                n = (len(content) + 3) >> 2 if estimate and content.isascii() else count(content)
            elif content is None and role == "assistant" and "tool_calls" in m:
                n = 0  # and the tool calls are checked below
            else:
                return None
            if len(m) != 2 or content is None:  # {"role", "content": str} is by far the common case
                allowed = plain.get(role)
                if allowed is None or not m.keys() <= allowed:
                    return None
                if "weight" in m:
                    w = m["weight"]
                    if type(w) not in (int, float) or w not in (0, 1):
                        return None
                if "name" in m:
                    name = m["name"]
                    if type(name) is not str:
                        return None
                    tokens += count(name) + TOKENS_PER_NAME
                if "tool_calls" in m:
                    calls = _fast_tool_calls(m["tool_calls"], count)
                    if calls < 0:
                        return None
                    tokens += calls
                if "tool_call_id" in m:
                    call_id = m["tool_call_id"]
                    if type(call_id) is not str:
                        return None
                    tokens += count(call_id)
            if role == "user":
                has_user = True
            elif role == "assistant":
                has_assistant = True
                assistant += n
            elif role == system_role:
                has_system = True
            elif role != "tool" or "tool_call_id" not in m:
                return None
            tokens += _PER_MESSAGE + n
    except (KeyError, TypeError):
        return None
    if need_assistant and not has_assistant:
        return None
    return (len(messages), tokens, assistant, has_system, has_user, tokens)


def fast_supervised(obj: dict[str, Any], meter: Meter) -> Measurement | None:
    """Check-and-measure a plain supervised chat: string contents, well-formed tool calls, and
    no ``tools`` or the last validated ones."""
    tools_tokens = 0
    if len(obj) != 1:
        if not obj.keys() <= _SUPERVISED_TOP:
            return None
        if "tools" in obj:
            tools = obj["tools"]
            if meter.tools is None or tools != meter.tools or not _strict_flags_ok(tools):
                return None
            tools_tokens = meter.tools_tokens
        if "parallel_tool_calls" in obj and type(obj["parallel_tool_calls"]) is not bool:
            return None
    m = _fast_messages(obj.get("messages"), _SUPERVISED_PLAIN, "system", meter.counter, True)
    if m is None or not tools_tokens:
        return m
    n_messages, tokens, assistant, has_system, has_user, _ = m
    tokens += tools_tokens
    return (n_messages, tokens, assistant, has_system, has_user, tokens)


def _fast_output(value: object, counter: TokenCounter) -> int:
    """Tokens of a ``[{"role": "assistant", "content": "..."}]`` DPO output, or -1."""
    if type(value) is not list or len(value) != 1:
        return -1
    msg = value[0]
    if type(msg) is not dict or len(msg) != 2 or msg.get("role") != "assistant":
        return -1
    content = msg.get("content")
    if type(content) is not str:
        return -1
    return _PER_MESSAGE + counter.count(content)


def fast_dpo(obj: dict[str, Any], meter: Meter) -> Measurement | None:
    """Check-and-measure a plain DPO example: plain input messages, one-string outputs."""
    inp = obj.get("input")
    if len(obj) != 3 or type(inp) is not dict or len(inp) != 1:
        return None
    counter = meter.counter
    preferred = _fast_output(obj.get("preferred_output"), counter)
    rejected = _fast_output(obj.get("non_preferred_output"), counter)
    if preferred < 0 or rejected < 0:
        return None
    m = _fast_messages(inp.get("messages"), _DPO_PLAIN, "system", counter, False)
    if m is None:
        return None
    n_messages, prompt, assistant, has_system, has_user, _ = m
    pref_content = preferred - _PER_MESSAGE
    rej_content = rejected - _PER_MESSAGE
    return (
        n_messages + 1,
        prompt + preferred + rejected,
        assistant + pref_content + rej_content,
        has_system,
        has_user,
        prompt + max(preferred, rejected),
    )


def fast_reinforcement(obj: dict[str, Any], meter: Meter) -> Measurement | None:
    """Check-and-measure a plain reinforcement example (no ``tools``, string contents)."""
    if "tools" in obj:
        return None
    return _fast_messages(obj.get("messages"), _RFT_PLAIN, "developer", meter.counter, False)


def measure_chat(obj: dict[str, Any], meter: Meter) -> Measurement:
    """Measure a validated supervised or reinforcement example."""
    counter = meter.counter
    messages = obj["messages"]
    tokens, assistant = counter.messages(messages)
    tokens += TOKENS_PER_EXAMPLE
    if "tools" in obj:
        tokens += meter.tools_tokens_of(obj["tools"])
    if "functions" in obj:
        tokens += counter.definitions(obj["functions"])
    roles = {m["role"] for m in messages}
    has_system = "system" in roles or "developer" in roles
    return (len(messages), tokens, assistant, has_system, "user" in roles, tokens)


def measure_dpo(obj: dict[str, Any], meter: Meter) -> Measurement:
    """Measure a validated DPO example: the prompt and both outputs."""
    counter = meter.counter
    inp = obj["input"]
    messages = inp["messages"]
    prompt, assistant = counter.messages(messages)
    prompt += TOKENS_PER_EXAMPLE
    if "tools" in inp:
        prompt += meter.tools_tokens_of(inp["tools"])
    preferred, preferred_assistant = counter.messages(obj["preferred_output"])
    rejected, rejected_assistant = counter.messages(obj["non_preferred_output"])
    roles = {m["role"] for m in messages}
    return (
        len(messages) + 1,
        prompt + preferred + rejected,
        assistant + preferred_assistant + rejected_assistant,
        "system" in roles,
        "user" in roles,
        prompt + max(preferred, rejected),
    )


FAST: dict[str, Callable[[dict[str, Any], Meter], Measurement | None]] = {
    "supervised": fast_supervised,
    "dpo": fast_dpo,
    "reinforcement": fast_reinforcement,
}
MEASURES: dict[str, Callable[[dict[str, Any], Meter], Measurement]] = {
    "supervised": measure_chat,
    "dpo": measure_dpo,
    "reinforcement": measure_chat,
}

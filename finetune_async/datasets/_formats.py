"""Each line format's check, fast path and measure, by the format's name (``_profiles.FORMATS``).

OpenAI's formats (``chat``, ``preference``, ``reinforcement``) are the checks of ``_rules.py``
and the measures of ``_measure.py``. The others are the open formats Nebius takes (Together
takes ``prompt_completion`` and ``text`` with the same rules): ``messages`` (a plain chat:
roles system, developer, user, assistant, tool; content a string, a list of parts or null;
the last turn the assistant's), ``prompt_completion`` (two strings), ``text`` (a non-empty
string) and ``input_ids`` (a non-empty list of integers). Their rules are the emulator's Nebius
dialect's, no more: other keys are not checked (no provider documents any), nor are content parts.

``conversation`` is Together's chat (its data-preparation guide, and the roles of its SDK's
``POSSIBLE_ROLES_CONVERSATION``): roles system, user, assistant, tool; every message has
``content`` (a string or a list of parts), which an assistant message may leave out or null
beside ``tool_calls``; the first message is the system's or the user's, a system message comes
only first, no two user (or assistant) messages follow each other (tool results may); at least
one assistant message; ``weight``, on any message, is 0 or 1. Other keys, of the line or of a
message, are not checked: Together ignores them.

Measures of the open formats: ``messages`` and ``conversation`` as a chat (3 tokens per message
and per example, the content's tokens; a list of parts counts its compact JSON);
``prompt_completion``, ``text`` and ``input_ids`` have no messages (0), their trained tokens are
the completion's, all of the text, all of the ids; they are neither missing a system nor a
user message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from ._json import compact_dumps
from ._json import type_name as _type_name
from ._measure import (
    Measurement,
    Meter,
    fast_dpo,
    fast_reinforcement,
    fast_supervised,
    measure_chat,
    measure_dpo,
)
from ._profiles import LineFormat
from ._rules import Out, check_dpo, check_reinforcement, check_supervised
from ._tokens import TOKENS_PER_EXAMPLE, TOKENS_PER_MESSAGE, TOKENS_PER_ROLE

__all__ = [
    "RULES",
    "FormatRules",
    "check_conversation",
    "check_input_ids",
    "check_messages",
    "check_prompt_completion",
    "check_text",
]

#: The roles of the ``messages`` format.
MESSAGE_ROLES = ("system", "developer", "user", "assistant", "tool")
_ROLES = frozenset(MESSAGE_ROLES)
# Real roles (OpenAI's) the format refuses: role_not_allowed rather than unknown_role.
_OTHER_ROLES = frozenset({"function"})


class FormatRules(NamedTuple):
    """How one format is checked and measured. ``fast`` checks and measures the common line
    in one pass, or returns None (then ``check``, and ``measure`` if the line passed)."""

    check: Callable[[dict[str, Any], Out], None]
    fast: Callable[[dict[str, Any], Meter], Measurement | None]
    measure: Callable[[dict[str, Any], Meter], Measurement]


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- messages


def check_messages(obj: dict[str, Any], out: Out) -> None:
    """A plain chat line: ``messages`` a non-empty list of messages with a known role and a
    content that is a string, a list or null, the last one the assistant's."""
    messages = obj.get("messages")
    if type(messages) is not list:
        out.append(("invalid_messages", f"messages: must be a list, not {_type_name(messages)}"))
        return
    if not messages:
        out.append(("empty_messages", "messages: is empty"))
        return
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if type(msg) is not dict:
            out.append(("invalid_message", f"{where}: a message must be an object, not {_type_name(msg)}"))
            continue
        role = msg.get("role")
        if role is None:
            out.append(("missing_role", f"{where}: a message needs a 'role'"))
        elif type(role) is not str or role not in _ROLES:
            if type(role) is str and role in _OTHER_ROLES:
                out.append(("role_not_allowed", f"{where}: role {role!r} is not allowed in this format"))
            else:
                out.append(
                    (
                        "unknown_role",
                        f"{where}: unknown role {_short(role)} (expected one of {', '.join(MESSAGE_ROLES)})",
                    )
                )
        content = msg.get("content")
        if content is not None and type(content) is not str and type(content) is not list:
            out.append(
                (
                    "invalid_content",
                    f"{where}.content: must be a string, a list of parts or null, not {_type_name(content)}",
                )
            )
    last = messages[-1]
    role = last.get("role") if type(last) is dict else None
    if type(role) is str and role in _ROLES and role != "assistant":
        out.append(
            (
                "last_message_not_assistant",
                f"messages[{len(messages) - 1}]: the last message must be the assistant's, not the {role}'s",
            )
        )


def _content_tokens(content: object, count: Callable[[str], int]) -> int:
    if type(content) is str:
        return count(content)
    if content is None:
        return 0
    return count(compact_dumps(content))


def measure_messages(obj: dict[str, Any], meter: Meter) -> Measurement:
    """Measure a checked ``messages`` line."""
    count = meter.counter.count
    messages = obj["messages"]
    tokens = TOKENS_PER_EXAMPLE
    assistant = 0
    has_system = has_user = False
    for msg in messages:
        role = msg["role"]
        n = _content_tokens(msg.get("content"), count)
        tokens += TOKENS_PER_MESSAGE + TOKENS_PER_ROLE + n
        if role == "assistant":
            assistant += n
        elif role == "user":
            has_user = True
        elif role in ("system", "developer"):
            has_system = True
    return (len(messages), tokens, assistant, has_system, has_user, tokens)


# ---------------------------------------------------------------- Together's conversation

#: The roles of Together's ``conversation`` format.
CONVERSATION_ROLES = ("system", "user", "assistant", "tool")
_CONVERSATION_ROLES = frozenset(CONVERSATION_ROLES)
# Real roles (OpenAI's) Together does not take: role_not_allowed rather than unknown_role.
_NOT_TOGETHER_ROLES = frozenset({"developer", "function"})


def check_conversation(obj: dict[str, Any], out: Out) -> None:
    """Together's chat line: ``messages`` a non-empty list of messages of a known role, each
    with content, starting with the system's or the user's, user and assistant turns
    alternating, at least one of them the assistant's; ``weight`` 0 or 1."""
    messages = obj.get("messages")
    if type(messages) is not list:
        out.append(("invalid_messages", f"messages: must be a list, not {_type_name(messages)}"))
        return
    if not messages:
        out.append(("empty_messages", "messages: is empty"))
        return
    previous: str | None = None  # the role before, when it was a known one
    answered = False
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if type(msg) is not dict:
            out.append(("invalid_message", f"{where}: a message must be an object, not {_type_name(msg)}"))
            previous = None
            continue
        role = msg.get("role")
        known: str | None = None
        if role is None:
            out.append(("missing_role", f"{where}: a message needs a 'role'"))
        elif type(role) is not str or role not in _CONVERSATION_ROLES:
            if type(role) is str and role in _NOT_TOGETHER_ROLES:
                out.append(("role_not_allowed", f"{where}: role {role!r} is not allowed in this format"))
            else:
                out.append(
                    (
                        "unknown_role",
                        f"{where}: unknown role {_short(role)} (expected one of {', '.join(CONVERSATION_ROLES)})",
                    )
                )
        else:
            known = role
        content = msg.get("content")
        if content is None:
            calls = msg.get("tool_calls")
            if not (known == "assistant" and type(calls) is list and calls):
                out.append(
                    (
                        "missing_content",
                        f"{where}: a message needs 'content'" + (" (or 'tool_calls')" if known == "assistant" else ""),
                    )
                )
        elif type(content) is not str and type(content) is not list:
            out.append(
                (
                    "invalid_content",
                    f"{where}.content: must be a string or a list of parts, not {_type_name(content)}",
                )
            )
        if "weight" in msg:
            weight = msg["weight"]
            if type(weight) not in (int, float) or weight not in (0, 1):
                out.append(("invalid_weight", f"{where}.weight: must be 0 or 1, not {_short(weight)}"))
        if known is not None:
            if i == 0 and known not in ("system", "user"):
                out.append(
                    ("invalid_role_order", f"{where}: a conversation starts with a system or user message, not {known}")
                )
            elif i > 0 and known == "system":
                out.append(("invalid_role_order", f"{where}: a system message may only be the first"))
            elif known == previous and known != "tool":
                out.append(
                    (
                        "invalid_role_order",
                        f"{where}: a second {known} message in a row (user and assistant messages alternate)",
                    )
                )
            answered = answered or known == "assistant"
        previous = known
    if not answered:
        out.append(("missing_assistant_message", "messages: at least one message must be the assistant's"))


def _no_fast(obj: dict[str, Any], meter: Meter) -> Measurement | None:
    return None


# ---------------------------------------------------------------- prompt / completion, text, ids


def check_prompt_completion(obj: dict[str, Any], out: Out) -> None:
    """``prompt`` and ``completion``, both strings (empty ones included)."""
    for key in ("prompt", "completion"):
        value = obj.get(key)
        if key not in obj:
            out.append((f"missing_{key}", f"{key}: is required beside {'completion' if key == 'prompt' else 'prompt'}"))
        elif type(value) is not str:
            out.append((f"invalid_{key}", f"{key}: must be a string, not {_type_name(value)}"))


def fast_prompt_completion(obj: dict[str, Any], meter: Meter) -> Measurement | None:
    prompt = obj.get("prompt")
    completion = obj.get("completion")
    if type(prompt) is not str or type(completion) is not str:
        return None
    count = meter.counter.count
    done = count(completion)
    tokens = count(prompt) + done
    return (0, tokens, done, True, True, tokens)


def _measure_prompt_completion(obj: dict[str, Any], meter: Meter) -> Measurement:
    m = fast_prompt_completion(obj, meter)
    assert m is not None  # only checked lines are measured
    return m


def check_text(obj: dict[str, Any], out: Out) -> None:
    """``text``, a non-empty string."""
    text = obj.get("text")
    if type(text) is not str:
        out.append(("invalid_text", f"text: must be a string, not {_type_name(text)}"))
    elif not text:
        out.append(("empty_text", "text: is empty"))


def fast_text(obj: dict[str, Any], meter: Meter) -> Measurement | None:
    text = obj.get("text")
    if type(text) is not str or not text:
        return None
    tokens = meter.counter.count(text)
    return (0, tokens, tokens, True, True, tokens)


def _measure_text(obj: dict[str, Any], meter: Meter) -> Measurement:
    m = fast_text(obj, meter)
    assert m is not None
    return m


def check_input_ids(obj: dict[str, Any], out: Out) -> None:
    """``input_ids``, a non-empty list of integers (true and false are not integers)."""
    ids = obj.get("input_ids")
    if type(ids) is not list:
        out.append(("invalid_input_ids", f"input_ids: must be a list of integers, not {_type_name(ids)}"))
        return
    if not ids:
        out.append(("empty_input_ids", "input_ids: is empty"))
        return
    for i, token in enumerate(ids):
        if type(token) is not int:
            out.append(("invalid_input_ids", f"input_ids[{i}]: must be an integer, not {_type_name(token)}"))
            return  # one is enough: a list of ids can be 100,000 long


def fast_input_ids(obj: dict[str, Any], meter: Meter) -> Measurement | None:
    ids = obj.get("input_ids")
    if type(ids) is not list or not ids or not all(type(t) is int for t in ids):
        return None
    n = len(ids)
    return (0, n, n, True, True, n)


def _measure_input_ids(obj: dict[str, Any], meter: Meter) -> Measurement:
    m = fast_input_ids(obj, meter)
    assert m is not None
    return m


#: Each format's rules, by :attr:`LineFormat.name`.
RULES: Mapping[str, FormatRules] = MappingProxyType(
    {
        "chat": FormatRules(check_supervised, fast_supervised, measure_chat),
        "preference": FormatRules(check_dpo, fast_dpo, measure_dpo),
        "reinforcement": FormatRules(check_reinforcement, fast_reinforcement, measure_chat),
        "messages": FormatRules(check_messages, _no_fast, measure_messages),
        "prompt_completion": FormatRules(check_prompt_completion, fast_prompt_completion, _measure_prompt_completion),
        "text": FormatRules(check_text, fast_text, _measure_text),
        "input_ids": FormatRules(check_input_ids, fast_input_ids, _measure_input_ids),
        "conversation": FormatRules(check_conversation, _no_fast, measure_messages),
    }
)


def format_of(obj: dict[str, Any], formats: tuple[LineFormat, ...]) -> LineFormat | None:
    """The first of ``formats`` one of whose keys ``obj`` has, or None."""
    for fmt in formats:
        for key in fmt.keys:
            if key in obj:
                return fmt
    return None

"""Per-line checks, one function per fine-tuning method.

Each check takes the parsed line (a dict) and a list to which it appends ``(code, message)``
pairs; it appends nothing for a valid line. The checks walk the dict with plain code (no
schema engine) and only format a message when something is wrong, so a valid line costs a few
dict lookups per message. The rules follow ``fine-tuning-training-data.yaml`` and
OpenAI's fine-tuning guides; the codes are listed in :mod:`finetune_async.datasets`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._json import is_json_text
from ._json import type_name as _type_name
from ._profiles import OPENAI, DataRules

__all__ = [
    "CHECKS",
    "LEGACY_SHAPE",
    "METHODS",
    "Out",
    "check_dpo",
    "check_reinforcement",
    "check_supervised",
    "mismatch",
    "shape_of",
]

Out = list[tuple[str, str]]

MAX_IMAGES_PER_EXAMPLE = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FUNCTIONS = 128

_MIB = 1024 * 1024
# The longest line a valid example can take; longer lines are reported (line_too_long) without
# being parsed or held whole. Images dominate: an example holds at most 10, each at most 10 MB.
# As a base64 data URL one image is 4 * ceil(10 MiB / 3) = 13,981,016 bytes, plus the 23-byte
# "data:image/jpeg;base64," prefix and the part's JSON around it, and still under 14 MiB if the
# writer escapes every "/" as "\/" (1 character in 64 of base64): 10 images, 140 MiB. The rest
# of an example is text the model reads, within a training context of at most 65,536 tokens
# (_stats.py); at a generous 256 bytes a token (cl100k's longest tokens, or JSON's 6-byte
# \uXXXX escapes of ordinary text, are well under) that is 16 MiB. Together 156 MiB.
_IMAGE_PART_BYTES = 14 * _MIB
_TEXT_BYTES = 65_536 * 256
MAX_LINE_BYTES = MAX_IMAGES_PER_EXAMPLE * _IMAGE_PART_BYTES + _TEXT_BYTES

_NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_DATA_URL_RE = re.compile(r"data:image/([a-zA-Z0-9.+-]+);base64,", re.IGNORECASE)
_IMAGE_FORMATS = frozenset({"jpeg", "jpg", "png", "webp"})
_BAD_IMAGE_EXTENSIONS = (".gif", ".bmp", ".tif", ".tiff", ".svg", ".heic", ".heif", ".avif", ".ico")
_DETAILS = frozenset({"auto", "low", "high"})
_UNSUPPORTED_PARTS = frozenset({"input_audio", "file", "audio", "input_file"})

# Allowed keys per message role (FineTune* message schemas).
_SYSTEM_KEYS = frozenset({"role", "content", "name"})
_USER_KEYS = _SYSTEM_KEYS
_DEVELOPER_KEYS = _SYSTEM_KEYS
_ASSISTANT_KEYS = frozenset({"role", "content", "refusal", "name", "audio", "tool_calls", "function_call", "weight"})
_OUTPUT_KEYS = _ASSISTANT_KEYS - {"weight"}  # DPO outputs: ChatCompletionRequestAssistantMessage
_TOOL_KEYS = frozenset({"role", "content", "tool_call_id"})
_FUNCTION_KEYS = frozenset({"role", "content", "name"})

_CHAT_ROLES: dict[str, frozenset[str]] = {
    "system": _SYSTEM_KEYS,
    "user": _USER_KEYS,
    "assistant": _ASSISTANT_KEYS,
    "tool": _TOOL_KEYS,
    "function": _FUNCTION_KEYS,
}
_RFT_ROLES: dict[str, frozenset[str]] = {
    "developer": _DEVELOPER_KEYS,
    "user": _USER_KEYS,
    "assistant": _ASSISTANT_KEYS,
    "tool": _TOOL_KEYS,
}
# Roles for which {"role", "content": str} alone is a complete, valid message.
_TWO_KEY_ROLES = frozenset({"system", "developer", "user", "assistant"})
_ALL_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

_SUPERVISED_TOP = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_DPO_TOP = frozenset({"input", "preferred_output", "non_preferred_output"})
_DPO_INPUT = frozenset({"messages", "tools", "parallel_tool_calls"})
_TOOL_DEF_KEYS = frozenset({"type", "function"})
_FUNCTION_DEF_KEYS = frozenset({"name", "description", "parameters", "strict"})
_LEGACY_FUNCTION_KEYS = frozenset({"name", "description", "parameters"})
_TOOL_CALL_KEYS = frozenset({"id", "type", "function"})
_CALLED_FUNCTION_KEYS = frozenset({"name", "arguments"})
_TEXT_PART_KEYS = frozenset({"type", "text"})
_REFUSAL_PART_KEYS = frozenset({"type", "refusal"})
_IMAGE_PART_KEYS = frozenset({"type", "image_url"})
_IMAGE_URL_KEYS = frozenset({"url", "detail"})


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unknown_keys(obj: dict[str, Any], allowed: frozenset[str], where: str, out: Out) -> None:
    for key in sorted(k for k in obj if k not in allowed):
        out.append(("unknown_key", f"{where}: unknown key {_short(key)}"))


class _Example:
    """Per-example counters the message checks share (images across all messages)."""

    __slots__ = ("images",)

    def __init__(self) -> None:
        self.images = 0


# ---------------------------------------------------------------- content


def _check_parts(parts: list[Any], role: str, where: str, ex: _Example, out: Out, *, text_only: bool = False) -> None:
    if not parts:
        out.append(("empty_content", f"{where}: content is an empty list"))
        return
    for j, part in enumerate(parts):
        pw = f"{where}[{j}]"
        if type(part) is not dict:
            out.append(("invalid_content_part", f"{pw}: a content part must be an object"))
            continue
        kind = part.get("type")
        if kind == "text":
            if part.keys() - _TEXT_PART_KEYS:
                _unknown_keys(part, _TEXT_PART_KEYS, pw, out)
            if type(part.get("text")) is not str:
                out.append(("invalid_content_part", f"{pw}: a text part needs a string 'text'"))
        elif kind == "image_url":
            if role == "assistant":
                out.append(("image_in_assistant_message", f"{pw}: images are not allowed in assistant messages"))
            elif text_only or role != "user":
                out.append(("invalid_content_part", f"{pw}: images are only allowed in user messages"))
            else:
                ex.images += 1
                if ex.images == MAX_IMAGES_PER_EXAMPLE + 1:
                    out.append(("too_many_images", f"{pw}: more than {MAX_IMAGES_PER_EXAMPLE} images in one example"))
                _check_image(part, pw, out)
        elif kind == "refusal":
            if role != "assistant":
                out.append(("invalid_content_part", f"{pw}: refusal parts belong to assistant messages"))
            else:
                if part.keys() - _REFUSAL_PART_KEYS:
                    _unknown_keys(part, _REFUSAL_PART_KEYS, pw, out)
                if type(part.get("refusal")) is not str:
                    out.append(("invalid_content_part", f"{pw}: a refusal part needs a string 'refusal'"))
        elif kind in _UNSUPPORTED_PARTS:
            out.append(("unsupported_content_part", f"{pw}: {kind} parts are not supported for fine-tuning"))
        elif kind is None:
            out.append(("invalid_content_part", f"{pw}: a content part needs a 'type'"))
        else:
            out.append(("invalid_content_part", f"{pw}: unknown content part type {_short(kind)}"))


def _check_image(part: dict[str, Any], where: str, out: Out) -> None:
    if part.keys() - _IMAGE_PART_KEYS:
        _unknown_keys(part, _IMAGE_PART_KEYS, where, out)
    image = part.get("image_url")
    if type(image) is not dict:
        out.append(("invalid_image_url", f"{where}: 'image_url' must be an object with a 'url'"))
        return
    if image.keys() - _IMAGE_URL_KEYS:
        _unknown_keys(image, _IMAGE_URL_KEYS, f"{where}.image_url", out)
    if "detail" in image and image["detail"] not in _DETAILS:
        out.append(("invalid_image_detail", f"{where}.image_url.detail: must be 'auto', 'low' or 'high'"))
    url = image.get("url")
    if type(url) is not str:
        out.append(("invalid_image_url", f"{where}.image_url.url: must be a string"))
        return
    lower = url[:64].lower()
    if lower.startswith("https://"):
        if len(url) <= len("https://"):
            out.append(("invalid_image_url", f"{where}.image_url.url: empty https URL"))
            return
        path = url.split("?", 1)[0].split("#", 1)[0].lower()
        if path.endswith(_BAD_IMAGE_EXTENSIONS):
            out.append(("unsupported_image_format", f"{where}.image_url.url: images must be JPEG, PNG or WEBP"))
        return
    if lower.startswith("data:"):
        m = _DATA_URL_RE.match(url)
        if m is None:
            out.append(
                (
                    "invalid_image_url",
                    f"{where}.image_url.url: a data URL must look like data:image/png;base64,...",
                )
            )
            return
        if m.group(1).lower() not in _IMAGE_FORMATS:
            out.append(("unsupported_image_format", f"{where}.image_url.url: images must be JPEG, PNG or WEBP"))
        encoded = len(url) - m.end()
        padding = 2 if url.endswith("==") else 1 if url.endswith("=") else 0  # "=" stands for no data
        if encoded == 0:
            out.append(("invalid_image_url", f"{where}.image_url.url: the data URL holds no data"))
        elif encoded * 3 // 4 - padding > MAX_IMAGE_BYTES:
            out.append(("image_too_large", f"{where}.image_url.url: images must be at most 10 MB"))
        return
    out.append(("invalid_image_url", f"{where}.image_url.url: must be an https URL or a base64 data URL"))


def _check_content(
    msg: dict[str, Any], role: str, where: str, ex: _Example, out: Out, *, text_only: bool = False
) -> None:
    """content for system / user / developer / tool: required, a string or a list of parts."""
    content = msg.get("content")
    if type(content) is str:
        return
    if content is None:
        out.append(("missing_content", f"{where}: a {role} message needs 'content'"))
    elif type(content) is list:
        _check_parts(content, role, f"{where}.content", ex, out, text_only=text_only)
    else:
        out.append(
            (
                "invalid_content",
                f"{where}.content: must be a string or a list of content parts, not {_type_name(content)}",
            )
        )


# ---------------------------------------------------------------- tools


def _check_tool_calls(calls: object, where: str, out: Out) -> bool:
    """True when there is at least one tool call (well-formed or not)."""
    if type(calls) is not list:
        out.append(("invalid_tool_call", f"{where}: 'tool_calls' must be a list"))
        return calls is not None
    for k, call in enumerate(calls):
        cw = f"{where}[{k}]"
        if type(call) is not dict:
            out.append(("invalid_tool_call", f"{cw}: a tool call must be an object"))
            continue
        if call.keys() - _TOOL_CALL_KEYS:
            _unknown_keys(call, _TOOL_CALL_KEYS, cw, out)
        if type(call.get("id")) is not str:
            out.append(("invalid_tool_call", f"{cw}: a tool call needs a string 'id'"))
        if call.get("type") != "function":
            out.append(("invalid_tool_call", f"{cw}: 'type' must be 'function'"))
        _check_called_function(call.get("function"), f"{cw}.function", "invalid_tool_call", out)
    return bool(calls)


def _check_called_function(fn: object, where: str, code: str, out: Out) -> None:
    if type(fn) is not dict:
        out.append((code, f"{where}: must be an object with 'name' and 'arguments'"))
        return
    if fn.keys() - _CALLED_FUNCTION_KEYS:
        _unknown_keys(fn, _CALLED_FUNCTION_KEYS, where, out)
    if type(fn.get("name")) is not str or not fn["name"]:
        out.append((code, f"{where}: needs a non-empty string 'name'"))
    args = fn.get("arguments")
    if type(args) is not str:
        out.append((code, f"{where}: 'arguments' must be a string holding JSON"))
    elif not is_json_text(args):
        out.append(("invalid_tool_arguments", f"{where}.arguments: is not valid JSON"))


def _check_function_def(fn: object, where: str, allowed: frozenset[str], code: str, out: Out) -> None:
    if type(fn) is not dict:
        out.append((code, f"{where}: a function definition must be an object"))
        return
    if fn.keys() - allowed:
        _unknown_keys(fn, allowed, where, out)
    name = fn.get("name")
    if type(name) is not str:
        out.append((code, f"{where}: needs a string 'name'"))
    elif _NAME_RE.fullmatch(name) is None:
        out.append(
            (
                "invalid_function_name",
                f"{where}.name: {_short(name)} must be 1-64 characters of a-z, A-Z, 0-9, _ or -",
            )
        )
    if "description" in fn and type(fn["description"]) is not str:
        out.append((code, f"{where}.description: must be a string"))
    if "parameters" in fn and type(fn["parameters"]) is not dict:
        out.append(("invalid_function_parameters", f"{where}.parameters: must be a JSON Schema object"))
    if "strict" in fn and fn["strict"] is not None and type(fn["strict"]) is not bool:
        out.append((code, f"{where}.strict: must be a boolean or null"))


def _check_tools(tools: object, where: str, out: Out) -> None:
    if type(tools) is not list:
        out.append(("invalid_tool", f"{where}: 'tools' must be a list"))
        return
    for k, tool in enumerate(tools):
        tw = f"{where}[{k}]"
        if type(tool) is not dict:
            out.append(("invalid_tool", f"{tw}: a tool must be an object"))
            continue
        if tool.keys() - _TOOL_DEF_KEYS:
            _unknown_keys(tool, _TOOL_DEF_KEYS, tw, out)
        if tool.get("type") != "function":
            out.append(("invalid_tool", f"{tw}: 'type' must be 'function'"))
        if "function" not in tool:
            out.append(("invalid_tool", f"{tw}: a tool needs a 'function'"))
        else:
            _check_function_def(tool["function"], f"{tw}.function", _FUNCTION_DEF_KEYS, "invalid_tool", out)


def _check_functions(functions: object, out: Out) -> None:
    if type(functions) is not list or not 1 <= len(functions) <= MAX_FUNCTIONS:
        out.append(("invalid_functions", f"functions: must be a list of 1 to {MAX_FUNCTIONS} function definitions"))
        if type(functions) is not list:
            return
    for k, fn in enumerate(functions):
        _check_function_def(fn, f"functions[{k}]", _LEGACY_FUNCTION_KEYS, "invalid_functions", out)


def _check_parallel(obj: dict[str, Any], where: str, out: Out) -> None:
    if "parallel_tool_calls" in obj and type(obj["parallel_tool_calls"]) is not bool:
        out.append(("invalid_parallel_tool_calls", f"{where}parallel_tool_calls: must be true or false"))


# ---------------------------------------------------------------- messages


def _check_assistant(msg: dict[str, Any], where: str, ex: _Example, out: Out, *, allow_weight: bool) -> None:
    content = msg.get("content")
    has_calls = False
    if "tool_calls" in msg:
        has_calls = _check_tool_calls(msg["tool_calls"], f"{where}.tool_calls", out)
    if msg.get("function_call") is not None:
        _check_called_function(msg["function_call"], f"{where}.function_call", "invalid_function_call", out)
        has_calls = True
    if type(content) is str:
        pass
    elif content is None:
        if not has_calls:
            out.append(("missing_content", f"{where}: an assistant message needs 'content' unless it has tool_calls"))
    elif type(content) is list:
        _check_parts(content, "assistant", f"{where}.content", ex, out)
    else:
        out.append(
            (
                "invalid_content",
                f"{where}.content: must be a string, a list of content parts or null, not {_type_name(content)}",
            )
        )
    if "refusal" in msg and msg["refusal"] is not None and type(msg["refusal"]) is not str:
        out.append(("invalid_content", f"{where}.refusal: must be a string or null"))
    if msg.get("audio") is not None:
        out.append(("unsupported_audio", f"{where}.audio: audio is not supported for fine-tuning"))
    if allow_weight and "weight" in msg:
        w = msg["weight"]
        if type(w) not in (int, float) or w not in (0, 1):
            out.append(("invalid_weight", f"{where}.weight: must be 0 or 1, not {_short(w)}"))


def _check_messages(
    messages: object,
    where: str,
    roles: dict[str, frozenset[str]],
    method: str,
    ex: _Example,
    out: Out,
) -> bool:
    """Check a ``messages`` list. True when it holds an assistant message."""
    if type(messages) is not list:
        if messages is None:
            out.append(("missing_messages", f"{where}: 'messages' is required"))
        else:
            out.append(("invalid_messages", f"{where}: 'messages' must be a list, not {_type_name(messages)}"))
        return False
    if not messages:
        out.append(("empty_messages", f"{where}: 'messages' is empty"))
        return False
    has_assistant = False
    for i, msg in enumerate(messages):
        # Shortcut for the common message, {"role": ..., "content": "..."}: nothing to report.
        if type(msg) is dict and len(msg) == 2:
            role = msg.get("role")
            if type(role) is str and role in _TWO_KEY_ROLES and role in roles and type(msg.get("content")) is str:
                if role == "assistant":
                    has_assistant = True
                continue
        mw = f"{where}[{i}]"
        if type(msg) is not dict:
            out.append(("invalid_message", f"{mw}: a message must be an object, not {_type_name(msg)}"))
            continue
        role = msg.get("role")
        allowed = roles.get(role) if type(role) is str else None
        if role is None or allowed is None:
            if role is None:
                out.append(("missing_role", f"{mw}: a message needs a 'role'"))
            elif type(role) is str and role in _ALL_ROLES:
                out.append(("role_not_allowed", f"{mw}: role {role!r} is not allowed for {method} fine-tuning"))
            else:
                out.append(("unknown_role", f"{mw}: unknown role {_short(role)} (expected one of {', '.join(roles)})"))
            continue
        if msg.keys() - allowed:
            # A weight on another role gets its own, clearer code below.
            _unknown_keys(msg, allowed if role == "assistant" else allowed | {"weight"}, mw, out)
        if role == "assistant":
            has_assistant = True
            _check_assistant(msg, mw, ex, out, allow_weight=True)
        else:
            if "weight" in msg:
                out.append(("weight_not_allowed", f"{mw}.weight: only assistant messages take a weight"))
            if role == "function":
                content = msg.get("content")
                if "content" not in msg:
                    out.append(("missing_content", f"{mw}: a function message needs 'content'"))
                elif content is not None and type(content) is not str:
                    out.append(("invalid_content", f"{mw}.content: must be a string or null"))
                if "name" not in msg:
                    out.append(("missing_name", f"{mw}: a function message needs the function's 'name'"))
            else:
                _check_content(msg, role, mw, ex, out, text_only=role != "user")
            if role == "tool" and type(msg.get("tool_call_id")) is not str:
                out.append(("missing_tool_call_id", f"{mw}: a tool message needs a string 'tool_call_id'"))
        if "name" in msg and type(msg["name"]) is not str:
            out.append(("invalid_name", f"{mw}.name: must be a string"))
    return has_assistant


# ---------------------------------------------------------------- methods


def check_supervised(obj: dict[str, Any], out: Out) -> None:
    """FineTuneChatRequestInput."""
    if obj.keys() - _SUPERVISED_TOP:
        _unknown_keys(obj, _SUPERVISED_TOP, "line", out)
    ex = _Example()
    has_assistant = _check_messages(obj.get("messages"), "messages", _CHAT_ROLES, "supervised", ex, out)
    if not has_assistant and type(obj.get("messages")) is list and obj["messages"]:
        out.append(("missing_assistant_message", "messages: an example needs at least one assistant message"))
    if "tools" in obj:
        _check_tools(obj["tools"], "tools", out)
    _check_parallel(obj, "", out)
    if "functions" in obj:
        _check_functions(obj["functions"], out)


def _check_output(value: object, key: str, ex: _Example, out: Out) -> None:
    if value is None:
        out.append(("missing_output", f"{key}: is required"))
        return
    if type(value) is not list or len(value) != 1:
        out.append(("invalid_output", f"{key}: must be a list of exactly one assistant message"))
        return
    msg = value[0]
    where = f"{key}[0]"
    if type(msg) is not dict:
        out.append(("invalid_output", f"{where}: must be an assistant message object"))
        return
    if msg.get("role") != "assistant":
        out.append(("output_not_assistant", f"{where}: the role must be 'assistant'"))
        return
    if msg.keys() - _OUTPUT_KEYS:
        _unknown_keys(msg, _OUTPUT_KEYS, where, out)
    content = msg.get("content")
    if (
        msg.get("tool_calls") is not None
        or msg.get("function_call") is not None
        or (type(content) is list and any(type(p) is dict and p.get("type") != "text" for p in content))
    ):
        out.append(("output_not_text", f"{where}: DPO outputs must be text only"))
        return
    _check_assistant(msg, where, ex, out, allow_weight=False)


def check_dpo(obj: dict[str, Any], out: Out) -> None:
    """FineTunePreferenceRequestInput."""
    if obj.keys() - _DPO_TOP:
        _unknown_keys(obj, _DPO_TOP, "line", out)
    ex = _Example()
    inp = obj.get("input")
    if inp is None:
        out.append(("missing_input", "input: is required"))
    elif type(inp) is not dict:
        out.append(("invalid_input", f"input: must be an object, not {_type_name(inp)}"))
    else:
        if inp.keys() - _DPO_INPUT:
            _unknown_keys(inp, _DPO_INPUT, "input", out)
        _check_messages(inp.get("messages"), "input.messages", _CHAT_ROLES, "dpo", ex, out)
        if "tools" in inp:
            _check_tools(inp["tools"], "input.tools", out)
        _check_parallel(inp, "input.", out)
    _check_output(obj.get("preferred_output"), "preferred_output", ex, out)
    _check_output(obj.get("non_preferred_output"), "non_preferred_output", ex, out)


def check_reinforcement(obj: dict[str, Any], out: Out) -> None:
    """FineTuneReinforcementRequestInput: messages and tools are reserved, other keys are free."""
    ex = _Example()
    _check_messages(obj.get("messages"), "messages", _RFT_ROLES, "reinforcement", ex, out)
    if "tools" in obj:
        _check_tools(obj["tools"], "tools", out)


CHECKS: dict[str, Callable[[dict[str, Any], Out], None]] = {
    "supervised": check_supervised,
    "dpo": check_dpo,
    "reinforcement": check_reinforcement,
}
METHODS = tuple(CHECKS)


# ---------------------------------------------------------------- shapes

#: The shape of the prompt/completion lines of babbage-002 and davinci-002 (not a method here).
LEGACY_SHAPE = "prompt/completion"


def shape_of(obj: dict[str, Any]) -> str | None:
    """What kind of example the object looks like, from its keys alone: a method's name,
    :data:`LEGACY_SHAPE`, or None when it looks like none of them.

    Reinforcement lines are chat messages the model answers (no assistant answer at the end)
    with reference keys of the user's own beside them; supervised lines end with the answer and
    have only the chat keys. Anything between (an answer and other keys, or neither) is None:
    such a line is a broken example of the method checked, whose own problems say more.
    """
    if "input" in obj and ("preferred_output" in obj or "non_preferred_output" in obj):
        return "dpo"
    messages = obj.get("messages")
    if type(messages) is not list:
        return LEGACY_SHAPE if "prompt" in obj and "completion" in obj else None
    last = messages[-1] if messages else None
    answered = type(last) is dict and last.get("role") == "assistant"
    references = bool(obj.keys() - _SUPERVISED_TOP)
    if answered and not references:
        return "supervised"
    if references and not answered:
        return "reinforcement"
    return None


def _looks(shape: str, obj: dict[str, Any]) -> str:
    if shape == "dpo":
        return "input, preferred_output, non_preferred_output"
    if shape == LEGACY_SHAPE:
        return "prompt, completion: the legacy format of babbage-002 and davinci-002"
    if shape == "reinforcement":
        extra = sorted(str(k) for k in obj.keys() - _SUPERVISED_TOP)
        return f"messages the model answers, beside {', '.join(_short(k, 30) for k in extra[:3])}"
    return "messages ending with the assistant's answer"


def mismatch(
    shape: str, method: str, obj: dict[str, Any], *, every: bool = False, rules: DataRules | None = None
) -> str:
    """The message for a line (or, with ``every``, a file) of ``shape`` checked for ``method``.

    ``rules`` (default OpenAI's) says whether the provider takes the shape's method at all.
    """
    rules = OPENAI if rules is None else rules
    if shape in rules.methods or shape == LEGACY_SHAPE:
        what = f"a {shape} example ({_looks(shape, obj)}), not a {method} one"
    else:
        what = f"a {shape} example ({_looks(shape, obj)}), which {rules.display_name} does not take"
    if not every:
        return f"looks like {what}"
    if shape == LEGACY_SHAPE:
        return f"every line looks like {what}; chat models need chat examples"
    if shape in rules.methods:
        return f"every line looks like {what}: validate with method={shape!r}"
    return f"every line looks like {what} (its methods: {', '.join(rules.methods)})"

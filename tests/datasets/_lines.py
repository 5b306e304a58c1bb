"""Valid example lines and helpers to build small JSONL files around one line under test."""

from __future__ import annotations

import json
from typing import Any

USER = {"role": "user", "content": "Where is my order?"}
ASSISTANT = {"role": "assistant", "content": "It shipped yesterday."}

VALID: dict[str, dict[str, Any]] = {
    "supervised": {"messages": [USER, ASSISTANT]},
    "dpo": {
        "input": {"messages": [USER]},
        "preferred_output": [{"role": "assistant", "content": "It shipped yesterday."}],
        "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
    },
    "reinforcement": {"messages": [{"role": "developer", "content": "Answer briefly."}, USER], "answer": "shipped"},
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            "strict": False,
        },
    }
]

RICH_SUPERVISED: list[dict[str, Any]] = [
    {
        "messages": [
            {"role": "system", "content": "You are a support bot."},
            {"role": "user", "content": "Where is order 42?", "name": "ana"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": '{"id": "42"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
            {"role": "assistant", "content": "Order 42 shipped.", "weight": 1},
            {"role": "user", "content": [{"type": "text", "text": "And this one?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Let me check."}], "weight": 0},
            {"role": "user", "content": "Thanks"},
            {"role": "assistant", "content": "You're welcome!"},
        ],
        "tools": TOOLS,
        "parallel_tool_calls": False,
    },
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
                ],
            },
            {"role": "assistant", "content": "A cat.", "refusal": None},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"role": "function", "name": "get_weather", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."},
        ],
        "functions": [{"name": "get_weather", "parameters": {"type": "object"}}],
    },
]


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


def file_with(method: str, line: str | bytes, *, at: int = 4, total: int = 12) -> list[bytes]:
    """``total`` valid lines for ``method`` with ``line`` at 1-based position ``at``."""
    good = dumps(VALID[method]).encode() + b"\n"
    bad = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    if not bad.endswith(b"\n"):
        bad += b"\n"
    return [bad if i == at else good for i in range(1, total + 1)]

"""Small valid training datasets, as rows and as JSONL bytes, for tests across the suite."""

from __future__ import annotations

import json
from typing import Any


def supervised_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": "Answer with a number."},
                {"role": "user", "content": f"What is {i} + {i}?"},
                {"role": "assistant", "content": str(2 * i)},
            ]
        }
        for i in range(n)
    ]


def dpo_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"Greet person number {i}."}]},
            "preferred_output": [{"role": "assistant", "content": f"Hello, person {i}!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(n)
    ]


def reinforcement_rows(n: int) -> list[dict[str, Any]]:
    return [
        {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "reference_answer": str(2 * i)}
        for i in range(n)
    ]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()

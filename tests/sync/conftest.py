"""Helpers of the synchronous client's tests: child processes that import this checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4o-mini-2024-07-18"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child interpreter (a script, a kernel): this checkout first on the
    path, no credentials or warning settings of the parent's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PYTHONWARNINGS", "PYTHONDEVMODE")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def dataset(n: int = 10) -> bytes:
    """A small valid chat dataset."""
    rows = [
        {"messages": [{"role": "user", "content": f"{i} + {i}?"}, {"role": "assistant", "content": str(2 * i)}]}
        for i in range(n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()

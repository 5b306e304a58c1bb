"""The prompt/completion files of babbage-002 and davinci-002 are read as the validator reads
chat files: CR, LF and CRLF end a line, and a line past the bound is refused on its line
without being held."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from finetune_async.emulator._datasets import check_legacy


def _lines(n: int) -> list[bytes]:
    return [f'{{"prompt": "{i} + {i} =", "completion": " {2 * i}"}}'.encode() for i in range(n)]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_every_line_ending_counts(tmp_path: Path, ending: bytes) -> None:
    path = tmp_path / "legacy.jsonl"
    path.write_bytes(ending.join(_lines(12)) + ending)
    check = check_legacy(path)
    assert check.problem is None
    assert check.n_examples == 12


def test_a_line_past_the_bound_is_refused_on_its_line_without_being_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import finetune_async.emulator._datasets as datasets

    monkeypatch.setattr(datasets, "MAX_LINE_BYTES", 1 << 20)
    path = tmp_path / "legacy.jsonl"
    path.write_bytes(b"\n".join([*_lines(2), b'{"prompt": "' + b"x" * (16 << 20) + b'"}', *_lines(2)]) + b"\n")
    tracemalloc.start()
    try:
        check = check_legacy(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert check.problem is not None
    assert check.problem.startswith("line 3: longer than")
    assert peak < 4 << 20


def test_nested_too_deeply_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "legacy.jsonl"
    path.write_bytes(b"[" * 100_000 + b"\n")
    check = check_legacy(path)
    assert check.problem == "line 1: not valid JSON"

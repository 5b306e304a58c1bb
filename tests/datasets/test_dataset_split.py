"""split_dataset: deterministic, exact ratio, nothing lost or duplicated, atomic output."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_async.datasets import split_dataset


def write_lines(path: Path, n: int, *, blank_every: int = 0, final_newline: bool = True) -> list[bytes]:
    lines = [f'{{"messages": [{{"role": "user", "content": "q{i}"}}], "i": {i}}}'.encode() for i in range(n)]
    out = []
    for i, line in enumerate(lines):
        out.append(line + b"\n")
        if blank_every and i % blank_every == 0:
            out.append(b"   \n")
    data = b"".join(out)
    if not final_newline:
        data = data.rstrip(b"\n")
    path.write_bytes(data)
    return [line + b"\n" for line in lines]


def read(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_split_is_exact_complete_ordered_and_deterministic(tmp_path: Path) -> None:
    src = tmp_path / "all.jsonl"
    lines = write_lines(src, 1000)
    train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"

    assert split_dataset(src, train, valid, ratio=0.2, seed=7) == (800, 200)
    t, v = read(train), read(valid)
    assert len(t) == 800
    assert len(v) == 200
    assert Counter(t + v) == Counter(lines)  # nothing lost, nothing duplicated
    assert t == [line for line in lines if line in set(t)]  # original order kept
    assert v == [line for line in lines if line in set(v)]

    train2, valid2 = tmp_path / "t2.jsonl", tmp_path / "v2.jsonl"
    split_dataset(str(src), str(train2), str(valid2), ratio=0.2, seed=7)
    assert read(train2) == t
    assert read(valid2) == v

    split_dataset(src, train2, valid2, ratio=0.2, seed=8)
    assert read(valid2) != v


def test_default_ratio_and_blank_lines(tmp_path: Path) -> None:
    src = tmp_path / "all.jsonl"
    lines = write_lines(src, 95, blank_every=10, final_newline=False)
    train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"
    assert split_dataset(src, train, valid) == (85, 10)  # round(9.5) == 10
    both = read(train) + read(valid)
    assert Counter(both) == Counter(lines)  # blank lines dropped, last line gets its newline


@pytest.mark.parametrize(
    ("n", "ratio", "expected"),
    [(0, 0.5, (0, 0)), (1, 0.9, (1, 0)), (2, 0.01, (1, 1)), (2, 0.99, (1, 1)), (10, 0.1, (9, 1))],
)
def test_small_files(tmp_path: Path, n: int, ratio: float, expected: tuple[int, int]) -> None:
    src = tmp_path / "all.jsonl"
    write_lines(src, n)
    assert split_dataset(src, tmp_path / "t.jsonl", tmp_path / "v.jsonl", ratio=ratio) == expected
    assert (tmp_path / "t.jsonl").exists()
    assert (tmp_path / "v.jsonl").exists()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), ratio=st.floats(0.01, 0.99), seed=st.integers(0, 2**32))
def test_ratio_is_respected(tmp_path_factory: pytest.TempPathFactory, n: int, ratio: float, seed: int) -> None:
    tmp = tmp_path_factory.mktemp("split")
    src = tmp / "all.jsonl"
    lines = write_lines(src, n)
    n_train, n_valid = split_dataset(src, tmp / "t.jsonl", tmp / "v.jsonl", ratio=ratio, seed=seed)
    assert n_train + n_valid == n
    if n >= 2:
        assert n_valid == min(max(round(n * ratio), 1), n - 1)
    assert Counter(read(tmp / "t.jsonl") + read(tmp / "v.jsonl")) == Counter(lines)


@pytest.mark.parametrize("ratio", [0, 1, -0.1, 1.5, float("nan"), True, "0.1"])
def test_bad_ratio(tmp_path: Path, ratio: object) -> None:
    src = tmp_path / "all.jsonl"
    write_lines(src, 10)
    with pytest.raises(ValueError, match="ratio"):
        split_dataset(src, tmp_path / "t.jsonl", tmp_path / "v.jsonl", ratio=ratio)  # type: ignore[arg-type]


def test_outputs_must_differ_from_input_and_each_other(tmp_path: Path) -> None:
    src = tmp_path / "all.jsonl"
    write_lines(src, 10)
    with pytest.raises(ValueError, match="different"):
        split_dataset(src, src, tmp_path / "v.jsonl")
    with pytest.raises(ValueError, match="different"):
        split_dataset(src, tmp_path / "x.jsonl", tmp_path / "x.jsonl")


def test_missing_input_raises_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        split_dataset(tmp_path / "nope.jsonl", tmp_path / "t.jsonl", tmp_path / "v.jsonl")
    assert os.listdir(tmp_path) == []


def test_failure_midway_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "all.jsonl"
    write_lines(src, 100)
    train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"
    train.write_bytes(b"old train\n")  # an existing output stays as it was

    calls = 0

    class Exploding(random.Random):
        def random(self) -> float:
            nonlocal calls
            calls += 1
            if calls == 50:
                raise OSError("disk full")
            return super().random()

    monkeypatch.setattr(random, "Random", Exploding)
    with pytest.raises(OSError, match="disk full"):
        split_dataset(src, train, valid)
    assert train.read_bytes() == b"old train\n"
    assert not valid.exists()
    assert sorted(os.listdir(tmp_path)) == ["all.jsonl", "train.jsonl"]  # no temporary files left


def test_output_written_with_the_usual_permissions(tmp_path: Path) -> None:
    src = tmp_path / "all.jsonl"
    write_lines(src, 10)
    split_dataset(src, tmp_path / "t.jsonl", tmp_path / "v.jsonl")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "t.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask

"""What a line is: CR, LF and CRLF breaks, and lines longer than any valid example can be.

Memory is measured with tracemalloc (deterministic, and blind to other processes): a line
beyond the bound must cost the validator what a short line costs, however long it is.
"""

from __future__ import annotations

import base64
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import finetune_async.datasets as ds
from finetune_async.datasets import MAX_LINE_BYTES, split_dataset, validate_dataset, validate_lines

from ._lines import VALID, dumps

MiB = 1024 * 1024
GOOD = dumps(VALID["supervised"]).encode()


def problems(report: ds.DatasetReport) -> list[tuple[int | None, str]]:
    return [(p.line, p.code) for p in report.problems]


def traced_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and the peak of the memory it allocated (bytes, over what was held before)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


# -- line breaks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endings",
    [["\n"], ["\r\n"], ["\r"], ["\n", "\r", "\r\n"]],
    ids=["lf", "crlf", "cr", "mixed"],
)
def test_cr_lf_and_crlf_each_end_a_line(tmp_path: Path, endings: list[str]) -> None:
    lines = [GOOD] * 12
    lines[3] = b'{"messages": [}'  # line 4 is broken: reported there, and only there
    data = b"".join(line + endings[i % len(endings)].encode() for i, line in enumerate(lines))
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)

    report = validate_dataset(path)

    assert problems(report) == [(4, "invalid_json")]
    assert report.n_examples == 12
    assert report.stats.n_examples == 11
    assert report.stats.n_duplicates == 10  # the same line, whatever its ending


def test_a_cr_after_a_line_break_starts_a_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(GOOD + b"\n\r" + GOOD + b"\r\r\n" + (GOOD + b"\r") * 9)
    report = validate_dataset(path)
    assert problems(report) == [(2, "blank_line"), (4, "blank_line")]
    assert report.n_examples == 11


def test_a_crlf_across_a_read_boundary_is_one_break(tmp_path: Path) -> None:
    # CR at offset 2**k - 1 and LF at 2**k for every k from 12 to 22: whatever power-of-two
    # buffer between 4 KiB and 4 MiB the reader uses, one CRLF falls across its boundary.
    data = bytearray()
    for k in range(12, 23):
        head = b'{"messages": [{"role": "user", "content": "'
        tail = b'"}, {"role": "assistant", "content": "a"}]}'
        pad = (1 << k) - 1 - len(data) - len(head) - len(tail)
        data += head + b"x" * pad + tail + b"\r\n"
        assert data[(1 << k) - 1 : (1 << k) + 1] == b"\r\n"
    path = tmp_path / "train.jsonl"
    path.write_bytes(bytes(data))

    report = validate_dataset(path)

    assert report.ok, report.problems
    assert report.n_examples == 11


def test_validate_lines_splits_an_item_at_every_break_inside_it(tmp_path: Path) -> None:
    # A lone CR inside a str or bytes item is a line break, as in a file: validate_lines over
    # open(path, "rb") (which splits at LF only) agrees with validate_dataset(path).
    good = GOOD.decode()
    report = validate_lines([good + "\r" + good + "\r\n"] * 5 + [(good + "\r").encode() * 2])
    assert report.ok, report.problems
    assert report.n_examples == 12

    path = tmp_path / "mac.jsonl"
    path.write_bytes(b"\r".join([GOOD] * 3 + [b"{", b"", GOOD] + [GOOD] * 6) + b"\r")
    with open(path, "rb") as f:
        from_lines = validate_lines(f)
    from_file = validate_dataset(path)
    assert problems(from_lines) == problems(from_file) == [(4, "invalid_json"), (5, "blank_line")]
    assert from_lines.n_examples == from_file.n_examples == 11


def test_unicode_line_separators_inside_json_are_not_breaks() -> None:
    # U+2028, U+0085, form feed: str.splitlines() breaks there; JSON text and JSONL do not.
    line = dumps({"messages": [{"role": "user", "content": "a\u2028b\u0085c"}, {"role": "assistant", "content": "d"}]})
    assert "\u2028" in line
    report = validate_lines([line] * 10)
    assert report.ok, report.problems
    assert validate_lines([line.encode()] * 10).ok


# -- lines longer than any valid example ------------------------------------------------------


def sparse_long_line_file(path: Path, size: int, after: list[bytes]) -> None:
    """A first line of ``size`` NUL bytes (a sparse file: cheap to write and to read), then ``after``."""
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(size)
        f.write(b"\n" + b"".join(line + b"\n" for line in after))


def test_a_line_over_the_bound_is_reported_on_its_line_without_being_held(tmp_path: Path) -> None:
    # The 1 GB first line of the finding, scaled down: just over the default bound. The line is
    # not JSON either (NUL bytes): neither path may parse, decode or copy it.
    path = tmp_path / "train.jsonl"
    size = MAX_LINE_BYTES + 1
    sparse_long_line_file(path, size, [GOOD] * 2 + [b"{"] + [GOOD] * 8)

    report, peak = traced_peak(lambda: validate_dataset(path))

    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB traced for a {size / MiB:.0f} MiB line"
    assert problems(report) == [(1, "line_too_long"), (4, "invalid_json")]
    message = report.problems[0].message
    assert f"{size:,} bytes" in message
    assert f"{MAX_LINE_BYTES:,}" in message
    assert report.n_examples == 12
    assert report.stats.n_examples == 10


def test_a_json_line_far_over_a_lower_bound_costs_what_a_short_line_costs(tmp_path: Path) -> None:
    # 64 MiB of one valid-looking JSON line against a 1 MiB bound: the peak stays near the
    # read buffer, not the line (the suite's stand-in for the benchmark's 1 GB line).
    path = tmp_path / "train.jsonl"
    head = b'{"messages": [{"role": "user", "content": "'
    with open(path, "wb") as f:
        f.write(head)
        block = b"x" * MiB
        for _ in range(64):
            f.write(block)
        f.write(b'"}, {"role": "assistant", "content": "a"}]}\r\n' + (GOOD + b"\r\n") * 10)

    report, peak = traced_peak(lambda: validate_dataset(path, max_line_bytes=MiB))

    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB traced"
    assert problems(report) == [(1, "line_too_long")]
    assert f"{MiB:,}" in report.problems[0].message
    assert report.n_examples == 11


def test_a_not_json_line_under_the_bound_is_not_copied_on_the_error_path(tmp_path: Path) -> None:
    # Under the bound a line is parsed; when it is not JSON, saying so must not cost copies of
    # it beyond the line and its decoded text (the finding: 4.1 GB for a 1 GB line).
    size = 32 * MiB
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"x" * size + b"\n" + (GOOD + b"\n") * 10)

    report, peak = traced_peak(lambda: validate_dataset(path))

    assert problems(report) == [(1, "invalid_json")]
    assert peak < 2.5 * size, f"{peak / MiB:.0f} MiB traced for a {size / MiB:.0f} MiB line"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""], ids=["lf", "crlf", "last-line"])
def test_a_long_valid_line_is_held_twice_at_most(tmp_path: Path, ending: bytes) -> None:
    # Within the bound a line is parsed: its text and its values may be held, nothing more
    # (no third copy for the bytes, for a decoded copy, or for the duplicate key).
    size = 16 * MiB
    line = b'{"messages": [{"role": "user", "content": "' + b"x" * size + b'"}, {"role": "assistant", "content": "a"}]}'
    path = tmp_path / "train.jsonl"
    path.write_bytes((GOOD + b"\n") * 10 + line + ending)

    report, peak = traced_peak(lambda: validate_dataset(path))

    assert report.ok, report.problems
    assert peak < 2.3 * size, f"{peak / MiB:.0f} MiB traced for a {size / MiB:.0f} MiB line"


def test_duplicates_are_the_same_line_whatever_its_ending() -> None:
    good = GOOD.decode()
    for use_orjson in (True, False):
        for items in ([good, good + "\n", good + "\r\n", good + "\r"] * 3, [GOOD, GOOD + b"\n", GOOD + b"\r\n"] * 4):
            report = validate_lines(items, use_orjson=use_orjson)
            assert report.ok, report.problems
            assert report.stats.n_duplicates == 11


def test_validate_lines_reports_an_item_over_the_bound_without_parsing_it() -> None:
    bound = 1000
    long_bytes = b"[" + b"1," * 600 + b"1]"
    long_text = '["' + "\u00e9" * 600 + '"]'  # 604 characters, 1,204 bytes of UTF-8
    short = GOOD.decode()
    report = validate_lines([long_bytes, long_text, short, short + "\n"] + [short] * 8, max_line_bytes=bound)
    assert problems(report) == [(1, "line_too_long"), (2, "line_too_long")]
    assert "1,204 bytes" in report.problems[1].message
    assert report.n_examples == 12


@pytest.mark.parametrize(("size", "too_large"), [(10 * MiB - 1, False), (10 * MiB, False), (10 * MiB + 1, True)])
def test_an_image_of_10_mib_is_not_too_large(size: int, too_large: bool) -> None:
    # The decoded size counts the data, not base64's "=" padding (10 MiB % 3 == 1: "==").
    url = "data:image/png;base64," + base64.b64encode(bytes(size)).decode()
    content = [{"type": "image_url", "image_url": {"url": url}}]
    line = dumps({"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "A."}]})
    codes = {code for _, code in problems(validate_lines([line]))} - {"too_few_examples"}
    assert codes == ({"image_too_large"} if too_large else set())


def test_the_largest_valid_example_fits_the_bound() -> None:
    # Ten images of exactly 10 MiB as base64 data URLs, and text: valid, and not too long.
    data_url = "data:image/jpeg;base64," + base64.b64encode(bytes(10 * MiB)).decode()
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_url, "detail": "high"}}] * 10
    parts.append({"type": "text", "text": "What is in these pictures? " * 1000})
    line = json.dumps({"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "Cats."}]})
    assert len(line) <= MAX_LINE_BYTES
    report = validate_lines([line])
    assert problems(report) == [(None, "too_few_examples")]


def test_the_bound_is_documented() -> None:
    assert "MAX_LINE_BYTES" in (ds.__doc__ or "")
    assert "line_too_long" in (ds.__doc__ or "")
    with pytest.raises(ValueError, match="max_line_bytes"):
        validate_lines([], max_line_bytes=0)


# -- split_dataset reads lines the same way ---------------------------------------------------


def test_split_dataset_splits_at_cr_and_crlf_and_writes_lf(tmp_path: Path) -> None:
    src = tmp_path / "all.jsonl"
    lines = [b'{"i": %d}' % i for i in range(10)]
    src.write_bytes(b"".join(line + (b"\r", b"\r\n", b"\n")[i % 3] for i, line in enumerate(lines)))
    train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"

    assert split_dataset(src, train, valid, ratio=0.2) == (8, 2)
    out = train.read_bytes() + valid.read_bytes()
    assert b"\r" not in out
    assert sorted(out.splitlines()) == sorted(lines)


def test_split_dataset_refuses_a_line_over_the_bound(tmp_path: Path) -> None:
    src = tmp_path / "all.jsonl"
    sparse_long_line_file(src, MAX_LINE_BYTES + 1, [GOOD] * 3)
    train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"

    def split() -> str:
        with pytest.raises(ValueError, match="line 1: ") as info:
            split_dataset(src, train, valid)
        return str(info.value)

    message, peak = traced_peak(split)

    assert peak < 8 * MiB
    assert f"{MAX_LINE_BYTES:,}" in message
    assert not train.exists()
    assert not valid.exists()

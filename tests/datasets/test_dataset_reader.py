"""The line reader: every CR, LF and CRLF is one break, wherever the reads cut the file."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_async.datasets._reader import LongLine, read_lines

# (line without its break, break) pairs; a line holds no CR or LF.
_plain_lines = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"a").replace(b"\n", b"b"))
_breaks = st.sampled_from([b"\n", b"\r", b"\r\n"])


def expected_lines(data: bytes, bound: int) -> list[bytes | int]:
    """The oracle: each line (CRLF matched first), or its length when it is over ``bound``."""
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines[-1] == b"":
        lines.pop()  # a break at the very end starts no line
    return [line if len(line) <= bound else len(line) for line in lines]


def as_values(items: Iterator[bytes | LongLine]) -> list[bytes | int]:
    """The lines without the one LF or CRLF a line may keep, or the sizes of long lines."""
    out: list[bytes | int] = []
    for item in items:
        if isinstance(item, LongLine):
            out.append(item.size)
        else:
            assert b"\r" not in item.removesuffix(b"\r\n"), item
            assert b"\n" not in item[:-1], item
            out.append(item.removesuffix(b"\n").removesuffix(b"\r") if item.endswith(b"\n") else item)
    return out


def from_pipe(data: bytes) -> IO[bytes]:
    """A stream that cannot seek, holding ``data`` (small: it fits the pipe's buffer)."""
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return os.fdopen(r, "rb")


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(_plain_lines, _breaks), max_size=12),
    last_break=st.booleans(),
    chunk_size=st.integers(1, 20),
    bound=st.integers(0, 14),
    kind=st.sampled_from(["file", "bytesio", "pipe"]),
    offset=st.integers(0, 3),
)
def test_reader_yields_each_line_whatever_the_chunks_and_breaks(
    pairs: list[tuple[bytes, bytes]], last_break: bool, chunk_size: int, bound: int, kind: str, offset: int
) -> None:
    # A seekable file re-reads a long line from where it started, a pipe gathers it: both
    # must give the oracle's lines, also from a file already read ``offset`` bytes into.
    data = b"".join(line + brk for line, brk in pairs)
    if pairs and not last_break:
        data = data[: len(data) - len(pairs[-1][1])]
    content = b"#" * offset + data
    f: IO[bytes]
    if kind == "file":
        f = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the with below) a real buffered file
        f.write(content)
        f.seek(0)
    else:
        f = io.BytesIO(content) if kind == "bytesio" else from_pipe(content)
    with f:
        f.read(offset)
        got = as_values(read_lines(f, bound, chunk_size))

    assert got == expected_lines(data, bound)


def test_reader_on_a_file_without_any_break_and_an_empty_file() -> None:
    assert as_values(read_lines(io.BytesIO(b""), 10)) == []
    assert as_values(read_lines(io.BytesIO(b"abc"), 10)) == [b"abc"]
    assert as_values(read_lines(io.BytesIO(b"abc" * 10), 10, 4)) == [30]
    assert as_values(read_lines(io.BytesIO(b"\r\n"), 10, 1)) == [b""]
    assert as_values(read_lines(io.BytesIO(b"\r\r"), 10, 1)) == [b"", b""]


class ShrinkingFile(io.FileIO):
    """A real file that another writer truncates once the reader has read past ``at``."""

    at = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        if self.tell() > self.at:
            os.truncate(self.name, 10)
        return data


def test_reader_raises_when_a_file_shrinks_under_a_long_line(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"x" * 100 + b"\n")
    with ShrinkingFile(path, "rb") as f:
        f.at = 90
        with pytest.raises(OSError, match="shrank"):
            list(read_lines(f, 1000, 16))

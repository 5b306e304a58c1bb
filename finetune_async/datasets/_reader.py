"""Lines of a binary file: CR, LF and CRLF each end a line; a line over a bound is not held.

The one place the package cuts a file into lines (validation and splitting both read here), so
every reader agrees on what line N is. Reads with ``readline(chunk_size)``: a line ended by LF
or CRLF within one read is passed on as it came, at the cost of iterating the file. Anything
else (a CR that ends a line, a line longer than one read) is split with ``bytes.splitlines``,
which breaks at exactly CR, LF and CRLF (unlike ``str.splitlines``).

A line longer than one read is rare (only images make a line that long). In a seekable file
the reader remembers where it starts and only counts its bytes; once it ends within the bound
it is read back in one piece, otherwise it was never held. From a stream that cannot seek (a
pipe) its pieces are gathered until the bound, then only counted.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, final

__all__ = ["CHUNK_BYTES", "LongLine", "read_lines"]

CHUNK_BYTES = 1 << 20
_CR = 13
_LF = 10


@final
class LongLine:
    """Stands for a line longer than the bound: its length in bytes (without its break), not its bytes."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __repr__(self) -> str:
        return f"LongLine({self.size})"


def read_lines(f: IO[bytes], max_line_bytes: int, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes | LongLine]:
    """Yield each line of ``f``, or a :class:`LongLine` for a line longer than ``max_line_bytes``.

    A line comes with the LF or CRLF that ended it when it was read in one piece, else without
    its break (callers strip one trailing LF or CRLF). CR, LF and CRLF each end a line, also
    when a CRLF is split between two reads; a last line without a break is still a line, and
    an empty file has none. Lengths never count the break. ``f`` should be buffered (its
    ``readline`` is called per line). Memory held is one read plus the line being yielded
    (within the bound), however long a line is; from a stream that cannot seek, also the start
    of a long line up to the bound. Raises what ``f`` raises, and OSError if a seekable file
    shrinks while it is read.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    readline = f.readline
    seekable = f.seekable()
    check_each = chunk_size > max_line_bytes + 1  # else a line within one read is within the bound
    # A line that spans reads is held while short (a CR-only file: almost every read ends
    # inside one; seeking back for each would throw the read buffer away). Past one read, a
    # seekable file only counts it and reads it back at its end; a stream holds it to the bound.
    hold_limit = min(chunk_size, max_line_bytes) if seekable else max_line_bytes
    held: io.BytesIO | None = None  # the current line's bytes from earlier reads, while held
    started = 0  # the length of the current line's bytes in earlier reads
    line_at = 0  # where the current line starts (seekable files)
    after_cr = False  # the previous read ended with CR: a leading LF completes that CRLF
    # True while a line read in one piece can be passed on as it is: nothing pending from
    # earlier reads, and reads short enough that such a line is within the bound.
    plain = not check_each
    while piece := readline(chunk_size):
        last = piece[-1]
        # The usual line: one read, ended by LF or CRLF, no other CR.
        if plain and last == _LF and (b"\r" not in piece or piece.find(b"\r") == len(piece) - 2):
            yield piece
            continue
        if last != _LF and b"\r" not in piece:
            lines, tail = [], piece  # inside a long line: readline stops at the first LF, so no break
        else:
            lines = piece.splitlines()
            tail = lines.pop() if last != _LF and last != _CR else b""
        if after_cr and piece[0] == _LF:
            del lines[0]
        after_cr = last == _CR
        if lines:
            if started:
                first = lines[0]
                size = started + len(first)
                if size > max_line_bytes:
                    yield LongLine(size)
                elif held is not None:
                    held.write(first)
                    yield _take(held)
                else:
                    # Yielded straight from the call, as below: the generator keeps no reference
                    # to a long line, so the consumer can let it go (validation does).
                    end = f.tell()
                    f.seek(line_at)
                    yield _read_exactly(f, size)
                    f.seek(end)
                held, started = None, 0
                del lines[0]
            for line in lines:
                yield LongLine(len(line)) if len(line) > max_line_bytes else line
        if tail:
            if not started and seekable:
                line_at = f.tell() - len(tail)
            started += len(tail)
            if started > hold_limit:
                held = None  # from here on, only count (and re-read it, if seekable)
            elif held is None:
                held = io.BytesIO(tail)
                held.seek(0, io.SEEK_END)
            else:
                held.write(tail)
        plain = not (check_each or started or after_cr)
    if started:
        if started > max_line_bytes:
            yield LongLine(started)
        elif held is not None:
            yield _take(held)
        else:
            f.seek(line_at)
            yield _read_exactly(f, started)


def _take(held: io.BytesIO) -> bytes:
    """The bytes ``held`` gathered (its buffer, not a copy); ``held`` lets go of them."""
    value = held.getvalue()
    held.close()
    return value


def _read_exactly(f: IO[bytes], size: int) -> bytes:
    data = f.read(size)
    if len(data) == size:
        return data
    parts = [data]  # a short read: rare for a file, possible for some file systems
    got = len(data)
    while got < size:
        more = f.read(size - got)
        if not more:
            raise OSError("the file shrank while it was being read")
        parts.append(more)
        got += len(more)
    return b"".join(parts)

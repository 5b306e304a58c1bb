"""Split one JSONL file into a training and a validation file."""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections.abc import Iterator
from typing import IO

from ._reader import LongLine, read_lines
from ._rules import MAX_LINE_BYTES

__all__ = ["split_dataset"]

_BUFFER = 1 << 20


def _examples(f: IO[bytes], src: str) -> Iterator[bytes]:
    """The non-blank lines of ``f``, each ending in one LF; ValueError at a line over the bound."""
    for lineno, line in enumerate(read_lines(f, MAX_LINE_BYTES), 1):
        if type(line) is LongLine:
            raise ValueError(
                f"{src}, line {lineno}: {line.size:,} bytes, longer than any valid example can be "
                f"({MAX_LINE_BYTES:,} bytes); validate the file first"
            )
        if line and not line.isspace():
            if line.endswith(b"\r\n") or not line.endswith(b"\n"):
                line = line.rstrip(b"\r\n") + b"\n"
            yield line


def split_dataset(
    path: str | os.PathLike[str],
    train_path: str | os.PathLike[str],
    valid_path: str | os.PathLike[str],
    ratio: float = 0.1,
    seed: int = 0,
) -> tuple[int, int]:
    """Split the examples (non-blank lines) of ``path`` into ``train_path`` and ``valid_path``.

    Exactly ``round(n * ratio)`` examples go to the validation file, clamped so that each file
    gets at least one when there are two or more examples (one example goes to training). The
    choice is uniformly random but deterministic for a given ``seed``; both files keep the
    original order, each line byte for byte with an LF ending (CR, LF and CRLF each end a line
    of the input, as for :func:`validate_dataset`; blank lines are dropped). The input is read
    twice, line by line, in constant memory.

    Each output is written to a temporary file next to it and renamed into place only once
    complete, so a failure never leaves a half-written file (and leaves existing files as they
    were). Returns ``(n_train, n_valid)``.

    Raises ValueError if ``ratio`` is not strictly between 0 and 1, an output path is the
    input or the other output, or a line is longer than :data:`MAX_LINE_BYTES` (no valid
    example is; nothing is written then); OSError if a file cannot be read or written.
    """
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be strictly between 0 and 1, not {ratio!r}")
    src = os.fspath(path)
    train = os.fspath(train_path)
    valid = os.fspath(valid_path)
    real = {os.path.realpath(p) for p in (src, train, valid)}
    if len(real) != 3:
        raise ValueError("path, train_path and valid_path must be three different files")

    with open(src, "rb", buffering=_BUFFER) as f:
        n = sum(1 for _ in _examples(f, src))
    k = round(n * ratio)
    k = min(max(k, 1), n - 1) if n >= 2 else 0

    rng = random.Random(seed)
    n_train = n_valid = 0
    with (
        _atomic_writer(train) as train_out,
        _atomic_writer(valid) as valid_out,
        open(src, "rb", buffering=_BUFFER) as f,
    ):
        remaining = n
        for line in _examples(f, src):
            if remaining <= 0:  # the file grew between the two passes
                raise RuntimeError(f"{src} changed while it was being split")
            # Selection sampling (Knuth's algorithm S): exactly k of n, each subset equally likely.
            if rng.random() * remaining < k - n_valid:
                valid_out.write(line)
                n_valid += 1
            else:
                train_out.write(line)
                n_train += 1
            remaining -= 1
        if remaining != 0:
            raise RuntimeError(f"{src} changed while it was being split")
    return n_train, n_valid


@contextlib.contextmanager
def _atomic_writer(target: str) -> Iterator[IO[bytes]]:
    """Yield a file that replaces ``target`` only if the block completes."""
    directory, name = os.path.split(os.path.abspath(target))
    tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.part")
    # os.open with 0o666 lets the umask decide the mode, as open() would (mkstemp forces 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb", buffering=_BUFFER) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

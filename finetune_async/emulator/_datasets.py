"""Checking the training and validation files a job names, once per file and method.

:func:`check_dataset` reads a file and says what it found; :class:`DatasetChecks` runs that
check off the event loop, once however many creates name the same file at the same moment,
and keeps the answer until the file is deleted.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attrs

from finetune_async.datasets import MAX_LINE_BYTES
from finetune_async.datasets._reader import LongLine, read_lines

from .store import FileRecord, Store

__all__ = ["MIN_EXAMPLES", "DatasetCheck", "DatasetChecks", "check_dataset", "check_legacy", "check_nebius"]

#: A training file needs at least this many examples on OpenAI's, Azure's and Nebius' dialects
#: (a validation file, one); Together's and Fireworks' take their providers' minimums (the
#: ``min_examples`` of :func:`finetune_async.datasets.data_rules_for`: 1 and 3).
MIN_EXAMPLES = 10

_CheckKey = tuple[str, str, bool, bool, str, str]
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True)
class DatasetCheck:
    """What validating a training or validation file found."""

    n_examples: int
    total_tokens: int
    problem: str | None


def check_legacy(path: Path) -> DatasetCheck:
    """babbage-002 / davinci-002 lines: ``{"prompt": str, "completion": str}``.

    Read as the validator reads chat files (CR, LF and CRLF end a line; a line past
    ``MAX_LINE_BYTES`` is refused on its line, never held), so line numbers agree with it.
    """
    n = 0
    tokens = 0
    for lineno, obj, problem in _json_lines(path):
        if problem is not None:
            return DatasetCheck(n, tokens, f"line {lineno}: {problem}")
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("prompt"), str)
            or not isinstance(obj.get("completion"), str)
        ):
            return DatasetCheck(n, tokens, f'line {lineno}: expected {{"prompt": str, "completion": str}}')
        n += 1
        tokens += (len(obj["prompt"]) + len(obj["completion"])) // 4 + 2
    return DatasetCheck(n, tokens, None)


def _json_lines(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Each non-blank line of ``path``: its number, its JSON value, and what is wrong with it
    (too long, not JSON; the value is then None). Read as the validator reads lines (CR, LF and
    CRLF end one; a line past ``MAX_LINE_BYTES`` is never held), so line numbers agree."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(read_lines(fh, MAX_LINE_BYTES), 1):
            if isinstance(raw, LongLine):
                yield lineno, None, f"longer than {MAX_LINE_BYTES:,} bytes"
                continue
            if raw.isspace() or not raw:
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a line
                yield lineno, None, "not valid JSON"
                continue
            yield lineno, obj, None


def _nebius_line(obj: object) -> tuple[str, int] | str:
    """(the line's format, its approximate tokens), or what is wrong with it."""
    if not isinstance(obj, dict):
        return "expected a JSON object"
    if "messages" in obj:
        messages = obj["messages"]
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty list"
        chars = 0
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or not isinstance(msg.get("role"), str) or msg["role"] not in _ROLES:
                return f"messages[{i}] needs a 'role' of {', '.join(sorted(_ROLES))}"
            content = msg.get("content")
            if content is not None and not isinstance(content, (str, list)):
                return f"messages[{i}].content must be a string or a list of parts"
            chars += len(content) if isinstance(content, str) else len(json.dumps(content))
        if messages[-1].get("role") != "assistant":
            return "the last message must be the assistant's"
        return "messages", chars // 4 + 3 * len(messages)
    if "prompt" in obj or "completion" in obj:
        if not isinstance(obj.get("prompt"), str) or not isinstance(obj.get("completion"), str):
            return "'prompt' and 'completion' must both be strings"
        return "prompt_completion", (len(obj["prompt"]) + len(obj["completion"])) // 4 + 2
    if "text" in obj:
        if not isinstance(obj["text"], str) or not obj["text"]:
            return "'text' must be a non-empty string"
        return "text", len(obj["text"]) // 4 + 1
    if "input_ids" in obj:
        ids = obj["input_ids"]
        if not isinstance(ids, list) or not ids or not all(type(t) is int for t in ids):
            return "'input_ids' must be a non-empty list of integers"
        return "pretokenized", len(ids)
    return "expected 'messages', 'prompt' and 'completion', 'text', or 'input_ids'"


def check_nebius(path: Path) -> DatasetCheck:
    """Nebius Token Factory's lines: chat ``messages`` (the last turn the assistant's),
    ``prompt``/``completion``, ``text``, or pre-tokenized ``input_ids``; one format per file.

    Read as the other checks read (CR, LF and CRLF end a line; an over-long line is refused on
    its line), so line numbers agree with them.
    """
    n = 0
    tokens = 0
    first: str | None = None
    for lineno, obj, problem in _json_lines(path):
        found = problem if problem is not None else _nebius_line(obj)
        if isinstance(found, str):
            return DatasetCheck(n, tokens, f"line {lineno}: {found}")
        kind, line_tokens = found
        if first is None:
            first = kind
        elif kind != first:
            return DatasetCheck(n, tokens, f"line {lineno}: a '{kind}' line in a file of '{first}' lines")
        n += 1
        tokens += line_tokens
    return DatasetCheck(n, tokens, None)


def check_dataset(
    path: Path,
    method: str,
    *,
    legacy: bool = False,
    validation: bool = False,
    formats: str = "openai",
    provider: str = "openai",
) -> DatasetCheck:
    """Validate a training (or, with ``validation=True``, validation) file.

    Uses :func:`finetune_async.datasets.validate_dataset` with ``provider``'s data rules (or the
    legacy prompt/completion check for babbage-002 and davinci-002). Returns the example count,
    the approximate tokens, and the first problem as a readable sentence naming its line (None
    when the file is usable). A validation file needs one example, a training file the
    provider's minimum (``min_examples``: OpenAI's, Azure's and Nebius' :data:`MIN_EXAMPLES`,
    Together's 1, Fireworks' 3). ``formats="nebius"`` reads Nebius' line formats instead
    (:func:`check_nebius`). Raises ValueError for a ``provider`` with no data rules.
    """
    # Imported lazily: only job validation needs the datasets package.
    from finetune_async.datasets import data_rules_for, validate_dataset

    rules = data_rules_for(provider)
    if method not in rules.methods:
        # The provider's rules have no line format for this method (Fireworks' reinforcement
        # jobs: its evaluator reads chat prompts with fields of their own): OpenAI's lines for
        # it, with the provider's minimum.
        rules = attrs.evolve(data_rules_for("openai"), min_examples=rules.min_examples)
    minimum = 1 if validation else rules.min_examples
    if legacy:
        result = check_legacy(path)
    elif formats == "nebius":
        result = check_nebius(path)
    else:
        report = validate_dataset(path, method=method, provider=rules)
        problems = [p for p in report.problems if not (validation and p.code == "too_few_examples")]
        problem: str | None = None
        if problems:
            first = problems[0]
            where = f"line {first.line}: " if first.line is not None else ""
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            problem = f"{where}{first.message} [{first.code}]{more}"
        result = DatasetCheck(int(report.n_examples), int(report.stats.total_tokens), problem)
    if result.problem is None and result.n_examples < minimum:
        problem = f"the file has {result.n_examples} example(s), but must have at least {minimum}"
        result = DatasetCheck(result.n_examples, result.total_tokens, problem)
    return result


class DatasetChecks:
    """The checks in flight or done, per (file id, method, legacy, validation, line formats,
    provider).

    Every create naming a file waits on the same check; the answer is kept until
    :meth:`forget` drops the file's checks (when the file is deleted).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._checks: dict[_CheckKey, asyncio.Future[DatasetCheck]] = {}
        #: How many times a training or validation file was read and checked (for tests and
        #: benchmarks: each file is checked once per method, however many jobs name it).
        self.count = 0

    async def check(
        self,
        rec: FileRecord,
        method: str,
        *,
        legacy: bool,
        validation: bool = False,
        formats: str = "openai",
        provider: str = "openai",
    ) -> DatasetCheck:
        """What :func:`check_dataset` finds in ``rec`` under ``provider``'s data rules, checked
        at most once per key."""
        key = (rec.id, method, legacy, validation, formats, provider)
        check = self._checks.get(key)
        if check is None:
            self.count += 1
            # Off the event loop (a large file must not stall other requests), and once however
            # many creates name the file at the same moment: they all wait on this future.
            path = self._store.blob_path(rec.path)
            run = functools.partial(
                check_dataset, path, method, legacy=legacy, validation=validation, formats=formats, provider=provider
            )
            check = asyncio.get_running_loop().run_in_executor(None, run)
            self._checks[key] = check
            check.add_done_callback(functools.partial(self._forget_failed, key))
        if check.done():
            return check.result()
        # Shielded: a create whose client hangs up (and whose handler is cancelled) does not
        # cancel the check the others wait on.
        return await asyncio.shield(check)

    def holds(self, file_id: str) -> bool:
        """Whether a check of ``file_id`` is kept (in flight or done)."""
        return any(key[0] == file_id for key in self._checks)

    def forget(self, file_id: str) -> None:
        """Drop every check of ``file_id``: a file of that id is never read again."""
        self._checks = {k: v for k, v in self._checks.items() if k[0] != file_id}

    def _forget_failed(self, key: _CheckKey, check: asyncio.Future[DatasetCheck]) -> None:
        # A check that raised (the blob unreadable, a bug) is not kept: the next create tries
        # again. Asking for the exception also marks it seen when every waiter has gone.
        if (check.cancelled() or check.exception() is not None) and self._checks.get(key) is check:
            del self._checks[key]

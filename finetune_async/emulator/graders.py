"""Graders: validation for reinforcement jobs and ``/fine_tuning/alpha/graders/*``, and a deterministic run.

``string_check`` (eq, ne, like, ilike) and ``text_similarity`` are computed for real
(``fuzzy_match`` is ``2 * LCS / (len(input) + len(reference))`` on characters, rapidfuzz's
``ratio``; ``rouge_l`` the F1 of the token LCS; ``rouge_1``..``rouge_5`` the F1 of clipped n-gram
counts; the other metrics a unigram-overlap F1 stand-in); ``python``, ``score_model`` and
``label_model`` graders cannot run here, so they return a fixed reward with a realistic metadata
object; ``multi`` runs its sub-grader. Templates ``{{item.x}}``, ``{{sample.output_text}}`` and
``{{sample.output_json.x}}`` are substituted.

Every input is bounded so the worst case is a known, small amount of work (the README gives the
measured figures). The server runs graders in a worker thread, one at a time
(:func:`run_grader_async`, :func:`validate_grader_async`): scoring at the limits takes up to a few
hundred milliseconds of pure Python, which hands the GIL back to the event loop every few
milliseconds. A python source is compiled in a child process with a deadline
(``COMPILE_TIMEOUT``), as CPython's compiler holds the GIL and is superlinear on some inputs.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

from ._util import APIError, bad_request

__all__ = [
    "COMPILE_TIMEOUT",
    "MAX_PAIRWISE_LENGTH",
    "MAX_SOURCE_LENGTH",
    "MAX_TEXT_LENGTH",
    "run_grader",
    "run_grader_async",
    "validate_grader",
    "validate_grader_async",
]

MAX_SOURCE_LENGTH = 65_536
"""Characters of a python grader's ``source`` (OpenAI documents 256 kB; see the README)."""
MAX_TEXT_LENGTH = 262_144
"""Characters of ``model_sample``, of a grader's ``input`` / ``reference``, and of each after templating."""
MAX_PAIRWISE_LENGTH = 16_384
"""``fuzzy_match`` / ``rouge_l``: characters / tokens of the shorter of input and reference (work is their product)."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    "string_check": ("name", "input", "reference", "operation"),
    "text_similarity": ("name", "input", "reference", "evaluation_metric"),
    "python": ("name", "source"),
    "score_model": ("name", "input", "model"),
    "label_model": ("name", "model", "input", "labels", "passing_labels"),
    "multi": ("name", "graders", "calculate_output"),
}
_STRINGS: dict[str, tuple[str, ...]] = {
    "string_check": ("name", "input", "reference"),
    "text_similarity": ("name", "input", "reference"),
    "python": ("name", "source", "image_tag"),
    "score_model": ("name", "model"),
    "label_model": ("name", "model"),
    "multi": ("name", "calculate_output"),
}
# Tuples, not sets: membership of an unhashable JSON value (a dict) must be False, not a TypeError.
_METRICS = (
    "cosine", "fuzzy_match", "bleu", "gleu", "meteor",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
)  # fmt: skip
_ROLES = ("user", "assistant", "system", "developer")
_REASONING = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_FIXED_REWARD = 0.5
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*$")


def _fail(param: str, what: str) -> APIError:
    return bad_request(f"Invalid '{param}': {what}.", param)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_content_item(item: Any, param: str) -> None:
    if isinstance(item, str):
        return
    if not isinstance(item, dict):
        raise _fail(param, "expected a string or a content object")
    kind = item.get("type")
    if kind in ("input_text", "output_text"):
        if not isinstance(item.get("text"), str):
            raise _fail(f"{param}.text", "expected a string")
        breakpoint_ = item.get("prompt_cache_breakpoint")
        if "prompt_cache_breakpoint" in item and (
            kind != "input_text" or not isinstance(breakpoint_, dict) or breakpoint_.get("mode") != "explicit"
        ):
            raise _fail(f"{param}.prompt_cache_breakpoint", "expected {'mode': 'explicit'} on input_text")
    elif kind == "input_image":
        url = item.get("image_url")
        if (
            not isinstance(url, str)
            or not _URI.match(url)
            or ("detail" in item and not isinstance(item["detail"], str))
        ):
            raise _fail(param, "an input_image needs an image_url URI (and a string detail)")
    elif kind == "input_audio":
        audio = item.get("input_audio")
        if (
            not isinstance(audio, dict)
            or not isinstance(audio.get("data"), str)
            or audio.get("format")
            not in (
                "mp3",
                "wav",
            )
        ):
            raise _fail(param, "an input_audio needs input_audio.data and input_audio.format mp3|wav")
    else:
        raise _fail(f"{param}.type", "expected input_text, output_text, input_image or input_audio")


def _check_input(items: Any, param: str) -> None:
    if not isinstance(items, list):
        raise _fail(param, "expected a list of messages")
    for i, msg in enumerate(items):
        where = f"{param}[{i}]"
        if not isinstance(msg, dict) or msg.get("role") not in _ROLES or "content" not in msg:
            raise _fail(where, "expected a message with a role (user, assistant, system, developer) and content")
        if "type" in msg and msg["type"] != "message":
            raise _fail(f"{where}.type", "expected 'message'")
        content = msg["content"]
        for j, part in enumerate(content if isinstance(content, list) else [content]):
            _check_content_item(part, f"{where}.content[{j}]" if isinstance(content, list) else f"{where}.content")


def _check_sampling_params(sp: Any, param: str) -> None:
    if not isinstance(sp, dict):
        raise _fail(param, "expected an object")
    rules: dict[str, Callable[[Any], bool]] = {
        "seed": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "top_p": _is_num,
        "temperature": _is_num,
        "max_completions_tokens": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "reasoning_effort": lambda v: v in _REASONING,
    }
    for key, ok in rules.items():
        if key in sp and sp[key] is not None and not ok(sp[key]):
            raise _fail(f"{param}.{key}", "invalid value")


# What each kind's strings may hold; the templates' bound is the text bound, as what they render to is.
_LIMITS: dict[str, tuple[tuple[str, int], ...]] = {
    "string_check": (("input", MAX_TEXT_LENGTH), ("reference", MAX_TEXT_LENGTH)),
    "text_similarity": (("input", MAX_TEXT_LENGTH), ("reference", MAX_TEXT_LENGTH)),
    "python": (("source", MAX_SOURCE_LENGTH),),
}


def _too_long(param: str, length: int, limit: int) -> APIError:
    return bad_request(
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {length} instead.",
        param,
        "string_above_max_length",
    )


def _check_length(value: str, param: str, limit: int) -> None:
    if len(value) > limit:
        raise _too_long(param, len(value), limit)


COMPILE_TIMEOUT = 2.0
"""Seconds a python source may take to compile (in a child process) before it is refused."""

# Run with -I -S: no environment, no site-packages, so the child starts in ~10 ms. Its verdicts
# have exit codes of their own: 1 is what Python exits with on an exception of the child itself.
_COMPILES, _SYNTAX, _NESTING = 0, 3, 4
_COMPILE_CHILD = f"""
import sys
source = sys.stdin.buffer.read().decode("utf-8", "surrogatepass")
try:
    compile(source, "<grader>", "exec", dont_inherit=True)
except (SyntaxError, ValueError) as exc:
    sys.stdout.buffer.write(str(exc)[:1000].encode("utf-8", "replace"))
    sys.exit({_SYNTAX})
except (RecursionError, MemoryError):
    sys.exit({_NESTING})
"""


def _check_compiles(source: str, param: str) -> None:
    # Compiling is safe (nothing runs) and catches what the API rejects first. It happens in a
    # child process because CPython's compiler holds the GIL throughout and is superlinear on
    # some inputs (the captures of one match pattern: 8 KB of them take over a second), so no
    # length bound keeps it short in this process; the child can be given a deadline and killed.
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _COMPILE_CHILD],
            input=source.encode("utf-8", "surrogatepass"),
            capture_output=True,
            timeout=COMPILE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _fail(param, f"the python source takes longer than {COMPILE_TIMEOUT:g} s to compile") from None
    if done.returncode == _COMPILES:
        return
    if done.returncode == _SYNTAX:
        detail = done.stdout.decode("utf-8", "replace")
        raise _fail(param, f"the python source does not compile ({detail})")
    if done.returncode == _NESTING:
        # CPython's parser and compiler give up on deep nesting (100,000 unary minuses, a chain of
        # 30,000 calls) with RecursionError or MemoryError rather than a SyntaxError.
        raise _fail(param, "the python source does not compile (it nests too deeply)")
    if done.returncode < 0:
        # Killed by a signal: the source crashed the compiler (or exhausted the child's memory).
        raise _fail(param, f"the python source does not compile (the compiler died of signal {-done.returncode})")
    # The child failed of itself: the emulator's fault, not the source's (a 500).
    raise RuntimeError(f"the compile check exited with {done.returncode}: {done.stderr[-1000:]!r}")


def validate_grader(grader: Any, param: str = "grader", *, nested: bool = False) -> dict[str, Any]:
    """Check a grader object against the spec's grader schemas and the emulator's limits; return it.

    Raises :class:`~._util.APIError` (400, naming ``param`` and the field): a field of the wrong
    shape, a python source that does not compile (syntax, or nesting too deep for the compiler),
    or a string past ``MAX_SOURCE_LENGTH`` / ``MAX_TEXT_LENGTH`` (code ``string_above_max_length``).
    Synchronous: a python source is compiled in a child process, which this waits for (~10 ms,
    ``COMPILE_TIMEOUT`` at most); from a coroutine, await :func:`validate_grader_async`.
    """
    if not isinstance(grader, dict):
        raise _fail(param, "expected a grader object")
    kind = grader.get("type")
    allowed = (set(_REQUIRED) - {"multi"}) if nested else (set(_REQUIRED) - {"label_model"})
    if not isinstance(kind, str) or kind not in allowed:
        raise _fail(f"{param}.type", f"expected one of {sorted(allowed)}")
    for key in _REQUIRED[kind]:
        if key not in grader:
            raise bad_request(f"Missing required parameter: '{param}.{key}'.", f"{param}.{key}")
    for key in _STRINGS[kind]:
        if key in grader and not isinstance(grader[key], str):
            raise _fail(f"{param}.{key}", "expected a string")
    for key, limit in _LIMITS.get(kind, ()):
        _check_length(grader[key], f"{param}.{key}", limit)
    if kind == "string_check" and grader["operation"] not in ("eq", "ne", "like", "ilike"):
        raise _fail(f"{param}.operation", "expected eq, ne, like or ilike")
    if kind == "text_similarity" and grader["evaluation_metric"] not in _METRICS:
        raise _fail(f"{param}.evaluation_metric", f"expected one of {list(_METRICS)}")
    if kind == "python":
        _check_compiles(grader["source"], f"{param}.source")
    if kind in ("score_model", "label_model"):
        _check_input(grader["input"], f"{param}.input")
    if kind == "score_model":
        if "sampling_params" in grader:
            _check_sampling_params(grader["sampling_params"], f"{param}.sampling_params")
        rng = grader.get("range")
        if "range" in grader and (not isinstance(rng, list) or not all(_is_num(x) for x in rng)):
            raise _fail(f"{param}.range", "expected a list of numbers")
    if kind == "label_model":
        for key in ("labels", "passing_labels"):
            value = grader[key]
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise _fail(f"{param}.{key}", "expected a list of strings")
    if kind == "multi":
        validate_grader(grader["graders"], f"{param}.graders", nested=True)
    return grader


_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
_UNSET: Any = object()


class _MissingVariable(Exception):
    pass


class _Namespaces:
    """What templates read: ``item`` and ``sample``, whose ``output_json`` is parsed once, on first use."""

    def __init__(self, item: dict[str, Any], sample: str) -> None:
        self._item = item
        self._sample = sample
        self._output_json: Any = _UNSET

    def root(self, name: str) -> Any:
        if name == "item":
            return self._item
        if name == "sample":
            if self._output_json is _UNSET:
                try:
                    self._output_json = json.loads(self._sample)
                except (ValueError, RecursionError):
                    # Not JSON, or JSON nested deeper than Python's parser goes: output_json is unset,
                    # as for any sample that is not JSON, and the sample is still text.
                    self._output_json = None
            return {"output_text": self._sample, "output_json": self._output_json}
        raise _MissingVariable(name)


def _json_within(value: Any, room: int, param: str) -> str:
    """``json.dumps(value)``, or a 400 as soon as it passes ``room`` characters (never built whole)."""
    # iterencode yields pieces in pure Python, so a huge item costs what the limit allows, not its size.
    pieces: list[str] = []
    size = 0
    try:
        for piece in json.JSONEncoder().iterencode(value):
            size += len(piece)
            if size > room:
                raise _rendered_too_long(param)
            pieces.append(piece)
    except RecursionError:
        raise bad_request("Invalid 'item': it nests too deeply to substitute into a template.", "item") from None
    return "".join(pieces)


def _rendered_too_long(param: str) -> APIError:
    return bad_request(
        f"Invalid '{param}': after substituting its templates it is longer than the maximum length {MAX_TEXT_LENGTH}.",
        param,
        "string_above_max_length",
    )


def _render(text: str, namespaces: _Namespaces, param: str) -> str:
    """``text`` with its ``{{…}}`` filled in; a 400 naming ``param`` once it passes the text bound."""
    out: list[str] = []
    size = 0
    at = 0
    for match in _TEMPLATE.finditer(text):
        literal = text[at : match.start()]
        at = match.end()
        parts = match.group(1).split(".")
        value = namespaces.root(parts[0])
        for part in parts[1:]:
            if not isinstance(value, dict) or part not in value:
                raise _MissingVariable(match.group(1))
            value = value[part]
        piece = value if isinstance(value, str) else _json_within(value, MAX_TEXT_LENGTH - size - len(literal), param)
        size += len(literal) + len(piece)
        if size > MAX_TEXT_LENGTH:
            raise _rendered_too_long(param)
        out += (literal, piece)
    out.append(text[at:])
    size += len(text) - at
    if size > MAX_TEXT_LENGTH:
        raise _rendered_too_long(param)
    return "".join(out)


def _lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """The length of the longest common subsequence of ``a`` and ``b``.

    Bit-parallel (Allison and Dix; Hyyro): one big-int row of ``len(a)`` bits, updated with four
    big-int operations per element of ``b``, so ``len(a) * len(b) / 64`` machine-word steps
    whatever the content, and each step short enough for the interpreter to switch threads
    between. The per-symbol masks take at most ``len(a) ** 2 / 16`` bytes (every symbol distinct),
    which is why the shorter side is bounded.
    """
    if len(a) > len(b):
        a, b = b, a
    if not a:
        return 0
    positions: dict[Hashable, list[int]] = {}
    for i, symbol in enumerate(a):
        positions.setdefault(symbol, []).append(i)
    masks: dict[Hashable, int] = {}
    for symbol, where in positions.items():
        bits = bytearray((where[-1] >> 3) + 1)
        for i in where:
            bits[i >> 3] |= 1 << (i & 7)
        masks[symbol] = int.from_bytes(bits, "little")
    full = (1 << len(a)) - 1
    row = full
    for symbol in b:
        mask = masks.get(symbol)
        if mask is not None:
            matched = row & mask
            row = ((row + matched) | (row - matched)) & full
    return len(a) - row.bit_count()


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    # The shifted copies are of different lengths on purpose: zip stops at the last whole n-gram.
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    p, r = overlap / n_pred, overlap / n_ref
    return 2 * p * r / (p + r)


def _check_pairwise(a: Sequence[object], b: Sequence[object], param: str, unit: str) -> None:
    # Work and mask memory grow with the shorter side times the longer: bound the shorter (the
    # longer one is bounded by the text limit). On a tie, name the reference.
    shorter, name = (a, "input") if len(a) < len(b) else (b, "reference")
    if len(shorter) > MAX_PAIRWISE_LENGTH:
        raise bad_request(
            f"Invalid '{param}.{name}': fuzzy_match and rouge_l compare every {unit} of the input with every "
            f"one of the reference, so the shorter of the two may have at most {MAX_PAIRWISE_LENGTH} {unit}s "
            f"(it has {len(shorter)}).",
            f"{param}.{name}",
            "string_above_max_length",
        )


def _similarity(metric: str, a: str, b: str, param: str) -> float:
    if metric == "fuzzy_match":
        _check_pairwise(a, b, param, "character")
        return 1.0 if not a and not b else 2 * _lcs_length(a, b) / (len(a) + len(b))
    ta, tb = a.lower().split(), b.lower().split()
    if metric == "rouge_l":
        _check_pairwise(ta, tb, param, "token")
        return _f1(_lcs_length(ta, tb), len(ta), len(tb))
    n = int(metric[-1]) if metric.startswith("rouge_") else 1
    ga, gb = _ngrams(ta, n), _ngrams(tb, n)
    return _f1(sum((ga & gb).values()), sum(ga.values()), sum(gb.values()))


def _errors() -> dict[str, Any]:
    return {
        "formula_parse_error": False,
        "sample_parse_error": False,
        "truncated_observation_error": False,
        "unresponsive_reward_error": False,
        "invalid_variable_error": False,
        "other_error": False,
        "python_grader_server_error": False,
        "python_grader_server_error_type": None,
        "python_grader_runtime_error": False,
        "python_grader_runtime_error_details": None,
        "model_grader_server_error": False,
        "model_grader_refusal_error": False,
        "model_grader_parse_error": False,
        "model_grader_server_error_details": None,
    }


def _score(grader: dict[str, Any], namespaces: _Namespaces, param: str) -> tuple[float, dict[str, Any]]:
    """Reward and the ``errors`` object for one grader (``param`` names it in a 400)."""
    errors = _errors()
    kind = grader["type"]
    try:
        if kind == "string_check":
            a = _render(grader["input"], namespaces, f"{param}.input")
            b = _render(grader["reference"], namespaces, f"{param}.reference")
            op = grader["operation"]
            hit = {
                "eq": a == b,
                "ne": a != b,
                "like": b in a,
                "ilike": b.lower() in a.lower(),
            }[op]
            return (1.0 if hit else 0.0), errors
        if kind == "text_similarity":
            a = _render(grader["input"], namespaces, f"{param}.input")
            b = _render(grader["reference"], namespaces, f"{param}.reference")
            return round(_similarity(grader["evaluation_metric"], a, b, param), 6), errors
        if kind == "multi":
            return _score(grader["graders"], namespaces, f"{param}.graders")[0], errors
    except _MissingVariable:
        errors["invalid_variable_error"] = True
        return 0.0, errors
    return _FIXED_REWARD, errors


_ABSENT: Any = object()


def run_grader(grader: Any, model_sample: Any, item: Any = _ABSENT) -> dict[str, Any]:
    """Run a grader on one sample (``item`` fills ``{{item.*}}``); the ``RunGraderResponse`` JSON.

    Raises :class:`~._util.APIError` (400) for an invalid grader, sample or item, or one past the
    limits (``MAX_*_LENGTH``). CPU-bound, up to a few hundred ms at the limits: from a coroutine,
    await :func:`run_grader_async`.
    """
    grader = validate_grader(grader)
    if not isinstance(model_sample, str):
        raise bad_request("Invalid type for 'model_sample': expected a string.", "model_sample")
    _check_length(model_sample, "model_sample", MAX_TEXT_LENGTH)
    if item is _ABSENT:
        item = {}
    if not isinstance(item, dict):
        raise bad_request("Invalid type for 'item': expected an object.", "item")
    started = time.perf_counter()
    reward, errors = _score(grader, _Namespaces(item, model_sample), "grader")
    kind = grader["type"]
    sub_rewards: dict[str, Any] = {}
    if kind == "multi":
        # A multi grader's reward is its one sub-grader's.
        sub_rewards = {grader["graders"]["name"]: reward}
    is_model = kind in ("score_model", "label_model")
    usage: dict[str, Any] = {}
    if is_model:
        usage = {grader["model"]: {"prompt_tokens": 212, "completion_tokens": 18, "total_tokens": 230}}
    return {
        "reward": reward,
        "metadata": {
            "name": grader["name"],
            "type": kind,
            "errors": errors,
            "execution_time": round(time.perf_counter() - started, 6) + (0.84 if is_model else 0.0),
            "scores": {},
            "token_usage": 230 if is_model else None,
            "sampled_model_name": grader["model"] if is_model else None,
        },
        "sub_rewards": sub_rewards,
        "model_grader_token_usage_per_model": usage,
    }


# One grader at a time per event loop: with k CPU-bound threads taking turns at the GIL, the loop
# waits up to k switch intervals (5 ms each) whenever it needs the GIL, so more than one would
# stretch every other request's latency (benchmarks/bench_grader_latency.py measures it).
_LIMITER: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("finetune_async_grader_limiter")


def _limiter() -> anyio.CapacityLimiter:
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(1)
        _LIMITER.set(limiter)
        return limiter


async def run_grader_async(grader: Any, model_sample: Any, item: Any = _ABSENT) -> dict[str, Any]:
    """:func:`run_grader` in a worker thread, one at a time, so the event loop keeps serving meanwhile.

    Returns and raises what :func:`run_grader` does.
    """
    return await anyio.to_thread.run_sync(functools.partial(run_grader, grader, model_sample, item), limiter=_limiter())


async def validate_grader_async(grader: Any, param: str = "grader") -> dict[str, Any]:
    """:func:`validate_grader` in the graders' worker thread, which waits there for the compile check.

    Returns and raises what :func:`validate_grader` does. (Walking a 16 MB grader takes ~0.1 s.)
    """
    return await anyio.to_thread.run_sync(functools.partial(validate_grader, grader, param), limiter=_limiter())

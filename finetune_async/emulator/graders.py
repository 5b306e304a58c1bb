"""Graders: validation for reinforcement jobs and ``/fine_tuning/alpha/graders/*``, and a deterministic run.

``string_check`` (eq, ne, like, ilike) and ``text_similarity`` are computed for real
(``fuzzy_match`` is difflib's ratio, the ``rouge_*`` metrics n-gram / LCS F1, and the other
metrics a unigram-overlap F1 stand-in); ``python``, ``score_model`` and ``label_model``
graders cannot run here, so they return a fixed reward with a realistic metadata object;
``multi`` runs its sub-grader. Templates ``{{item.x}}``,
``{{sample.output_text}}`` and ``{{sample.output_json.x}}`` are substituted.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from ._util import APIError, bad_request

__all__ = ["run_grader", "validate_grader"]

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


def validate_grader(grader: Any, param: str = "grader", *, nested: bool = False) -> dict[str, Any]:
    """Check a grader object against the spec's grader schemas; return it, or raise a 400 naming the problem."""
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
    if kind == "string_check" and grader["operation"] not in ("eq", "ne", "like", "ilike"):
        raise _fail(f"{param}.operation", "expected eq, ne, like or ilike")
    if kind == "text_similarity" and grader["evaluation_metric"] not in _METRICS:
        raise _fail(f"{param}.evaluation_metric", f"expected one of {list(_METRICS)}")
    if kind == "python":
        try:
            # Compiling is safe (nothing runs) and catches what the API rejects first.
            compile(grader["source"], "<grader>", "exec")
        except (SyntaxError, ValueError) as exc:
            raise _fail(f"{param}.source", f"the python source does not compile ({exc})") from None
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


class _MissingVariable(Exception):
    pass


def _render(text: str, item: dict[str, Any], sample: str) -> str:
    try:
        output_json: Any = json.loads(sample)
    except ValueError:
        output_json = None
    namespaces: dict[str, Any] = {"item": item, "sample": {"output_text": sample, "output_json": output_json}}

    def sub(match: re.Match[str]) -> str:
        value: Any = namespaces
        for part in match.group(1).split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                raise _MissingVariable(match.group(1))
        return value if isinstance(value, str) else json.dumps(value)

    return _TEMPLATE.sub(sub, text)


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    p, r = overlap / n_pred, overlap / n_ref
    return 2 * p * r / (p + r)


def _similarity(metric: str, a: str, b: str) -> float:
    if metric == "fuzzy_match":
        return difflib.SequenceMatcher(None, a, b).ratio()
    ta, tb = a.lower().split(), b.lower().split()
    if metric == "rouge_l":
        lcs = sum(block.size for block in difflib.SequenceMatcher(None, ta, tb).get_matching_blocks())
        return _f1(lcs, len(ta), len(tb))
    n = int(metric[-1]) if metric.startswith("rouge_") else 1
    ga, gb = _ngrams(ta, n), _ngrams(tb, n)
    overlap = sum(min(ga.count(g), gb.count(g)) for g in set(ga))
    return _f1(overlap, len(ga), len(gb))


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


def _score(grader: dict[str, Any], item: dict[str, Any], sample: str) -> tuple[float, dict[str, Any]]:
    """Reward and the ``errors`` object for one grader."""
    errors = _errors()
    kind = grader["type"]
    try:
        if kind == "string_check":
            a = _render(grader["input"], item, sample)
            b = _render(grader["reference"], item, sample)
            op = grader["operation"]
            hit = {
                "eq": a == b,
                "ne": a != b,
                "like": b in a,
                "ilike": b.lower() in a.lower(),
            }[op]
            return (1.0 if hit else 0.0), errors
        if kind == "text_similarity":
            a = _render(grader["input"], item, sample)
            b = _render(grader["reference"], item, sample)
            return round(_similarity(grader["evaluation_metric"], a, b), 6), errors
        if kind == "multi":
            return _score(grader["graders"], item, sample)[0], errors
    except _MissingVariable:
        errors["invalid_variable_error"] = True
        return 0.0, errors
    return _FIXED_REWARD, errors


_ABSENT: Any = object()


def run_grader(grader: Any, model_sample: Any, item: Any = _ABSENT) -> dict[str, Any]:
    """Run a grader on one sample (``item`` fills ``{{item.*}}``); the ``RunGraderResponse`` JSON."""
    grader = validate_grader(grader)
    if not isinstance(model_sample, str):
        raise bad_request("Invalid type for 'model_sample': expected a string.", "model_sample")
    if item is _ABSENT:
        item = {}
    if not isinstance(item, dict):
        raise bad_request("Invalid type for 'item': expected an object.", "item")
    started = time.perf_counter()
    reward, errors = _score(grader, item, model_sample)
    kind = grader["type"]
    sub_rewards: dict[str, Any] = {}
    if kind == "multi":
        sub = grader["graders"]
        sub_rewards = {sub["name"]: _score(sub, item, model_sample)[0]}
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

"""Test helper: the published OpenAPI spec as JSON Schema validators and hypothesis strategies.

The spec is external data and is never copied into the repository. It is read from
``$FINETUNE_ASYNC_SPEC_DIR`` if set, else from ``<repo root>/../shared/openapi``; tests that
need it are marked ``@requires_spec`` and are skipped, with the missing path in the reason,
when it is absent.

The spec is OpenAPI 3.1 but still says ``nullable: true`` (3.0 style) in places. Before
building validators, every such schema is rewritten to also accept ``null`` (``"type": [t,
"null"]``, ``null`` added to an ``enum``, or ``anyOf: [schema, {"type": "null"}]``), including
the ``allOf: [{$ref}, {nullable: true}]`` idiom, so that real payloads with nulls validate;
3.0's boolean ``exclusiveMinimum: true`` becomes the 2020-12 numeric form.

Usage::

    from tests.spec import requires_spec, validate, validate_request_body, strategy

    @requires_spec
    def test_job_shape():
        validate(payload, "FineTuningJob")            # raises jsonschema.ValidationError
        validate_request_body("POST", "/fine_tuning/jobs", body)
        validate_response("GET", match_path("GET", "/fine_tuning/jobs/ftjob-1"), 200, payload)
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "SKIP_REASON",
    "SPEC_AVAILABLE",
    "SPEC_DIR",
    "SPEC_FILE",
    "load_spec",
    "match_path",
    "operation_schema",
    "requires_spec",
    "schema",
    "strategy",
    "validate",
    "validate_request_body",
    "validate_response",
]

_REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = Path(os.environ.get("FINETUNE_ASYNC_SPEC_DIR") or (_REPO_ROOT.parent / "shared" / "openapi"))
SPEC_FILE = SPEC_DIR / "openai-fine-tuning.yaml"
SPEC_AVAILABLE: bool = SPEC_FILE.is_file()
SKIP_REASON: str = (
    ""
    if SPEC_AVAILABLE
    else f"OpenAPI spec not found at {SPEC_FILE} (set FINETUNE_ASYNC_SPEC_DIR to the directory holding "
    "openai-fine-tuning.yaml)"
)
requires_spec = pytest.mark.skipif(not SPEC_AVAILABLE, reason=SKIP_REASON or "OpenAPI spec not found")

_BASE_URI = "urn:finetune-async:openapi"
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Keywords that make a schema "about" a value's shape; a schema with none of them is only
# annotations (description, default...) and, in allOf, just a carrier for ``nullable``.
_STRUCTURAL = frozenset(
    {"type", "$ref", "allOf", "anyOf", "oneOf", "not", "enum", "const", "properties", "items", "additionalProperties"}
)


def _require_spec() -> None:
    if not SPEC_AVAILABLE:
        raise FileNotFoundError(SKIP_REASON)


@functools.cache
def load_spec() -> dict[str, Any]:
    """The spec as parsed YAML (cached; do not mutate)."""
    import yaml

    _require_spec()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_FILE.open(encoding="utf-8") as fh:
        spec: dict[str, Any] = yaml.load(fh, Loader=loader)  # a safe loader
    return spec


# ------------------------------------------------------------------------- OpenAPI 3.0 rewrite


def _nullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable: true`` into JSON Schema that accepts ``null``.

    Also turns 3.0's boolean ``exclusiveMinimum``/``exclusiveMaximum`` into 2020-12 numbers.
    """
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    nullable = out.pop("nullable", False) is True
    # OpenAPI 3.0 booleans ``exclusiveMinimum: true`` (with ``minimum``) -> 2020-12 numbers.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    # allOf: [{$ref: X}, {nullable: true, description: ...}] -> the whole allOf is nullable.
    if isinstance(out.get("allOf"), list):
        kept = []
        for member in node["allOf"]:
            if isinstance(member, dict) and member.get("nullable") is True and not (_STRUCTURAL & member.keys()):
                nullable = True
            else:
                kept.append(_nullable(member))
        out["allOf"] = kept
    if not nullable:
        return out
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    kind = out.get("type")
    if isinstance(kind, str) and kind != "null":
        out["type"] = [kind, "null"]
        return out
    if isinstance(kind, list):
        if "null" not in kind:
            out["type"] = [*kind, "null"]
        return out
    return {"anyOf": [out, {"type": "null"}]}


@functools.cache
def _json_schema_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _nullable(load_spec())
    return spec


@functools.cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(_json_schema_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_BASE_URI, resource)


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@functools.cache
def _validator_for_pointer(pointer: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"{_BASE_URI}#{pointer}"}, registry=_registry())


# --------------------------------------------------------------------------------- schemas


def _resolve(pointer: str) -> Any:
    node: Any = _json_schema_spec()
    for token in pointer.lstrip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _inline(node: Any, stack: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [_inline(item, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        if ref in stack:
            raise ValueError(f"recursive $ref {ref} cannot be inlined")
        target = _inline(_resolve(ref[1:]), (*stack, ref))
        rest = {k: _inline(v, stack) for k, v in node.items() if k != "$ref"}
        return {**target, **rest} if rest else target
    return {key: _inline(value, stack) for key, value in node.items()}


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    schemas = _json_schema_spec()["components"]["schemas"]
    if name not in schemas:
        raise KeyError(f"no schema {name!r} in {SPEC_FILE}")
    inlined: dict[str, Any] = _inline(schemas[name], (f"#/components/schemas/{name}",))
    return inlined


def schema(name: str) -> dict[str, Any]:
    """A self-contained JSON Schema for ``#/components/schemas/<name>`` (refs inlined, nullable fixed)."""
    return copy.deepcopy(_schema(name))


def validate(instance: Any, schema_name: str) -> None:
    """Raise ``jsonschema.ValidationError`` (the most relevant one) unless ``instance`` fits."""
    _require_spec()
    from jsonschema.exceptions import best_match

    validator = _validator_for_pointer(f"/components/schemas/{_pointer_escape(schema_name)}")
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


# ------------------------------------------------------------------------------ operations


@functools.cache
def _path_patterns() -> list[tuple[str, re.Pattern[str], int]]:
    patterns = []
    for template in load_spec()["paths"]:
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        literal_segments = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
        patterns.append((template, re.compile(f"^{regex}$"), literal_segments))
    return patterns


def match_path(method: str, concrete_path: str) -> str | None:
    """The spec path template a request path belongs to, or ``None``.

    ``concrete_path`` may carry a query string and an ``/v1`` (or ``/openai``) prefix, which are
    ignored: ``match_path("POST", "/v1/fine_tuning/jobs/ftjob-abc/cancel")`` ->
    ``"/fine_tuning/jobs/{fine_tuning_job_id}/cancel"``. When several templates match, the one
    with the most literal segments wins.
    """
    _require_spec()
    path = concrete_path.split("?", 1)[0].split("#", 1)[0]
    if len(path) > 1:
        path = path.rstrip("/")
    paths = load_spec()["paths"]
    verb = method.lower()
    candidates: list[str] = []
    for prefix in ("", "/v1", "/openai/v1", "/openai"):
        if prefix and not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) :]
        best: tuple[int, str] | None = None
        for template, pattern, literal_segments in _path_patterns():
            matched = verb in paths[template] and pattern.match(rest)
            if matched and (best is None or literal_segments > best[0]):
                best = (literal_segments, template)
        if best is not None:
            candidates.append(best[1])
    return candidates[0] if candidates else None


def _operation(method: str, path_template: str) -> tuple[str, dict[str, Any]]:
    _require_spec()
    paths = load_spec()["paths"]
    if path_template not in paths:
        raise KeyError(f"no path {path_template!r} in the spec (use match_path for concrete paths)")
    verb = method.lower()
    if verb not in paths[path_template]:
        raise KeyError(f"no {method.upper()} {path_template} in the spec")
    return f"/paths/{_pointer_escape(path_template)}/{verb}", paths[path_template][verb]


def _content_schema_pointer(base: str, content: dict[str, Any], content_type: str, what: str) -> str:
    if content_type not in content:
        raise LookupError(f"{what} has no {content_type} content (it has: {', '.join(content) or 'none'})")
    return f"{base}/content/{_pointer_escape(content_type)}/schema"


def operation_schema(
    method: str,
    path_template: str,
    *,
    status: int | str | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """Self-contained schema of an operation's request body (``status=None``) or response."""
    pointer = _operation_pointer(method, path_template, status, content_type)
    inlined: dict[str, Any] = _inline(_resolve(pointer))
    return inlined


def _operation_pointer(method: str, path_template: str, status: int | str | None, content_type: str) -> str:
    base, op = _operation(method, path_template)
    what = f"{method.upper()} {path_template}"
    if status is None:
        body = op.get("requestBody")
        if body is None:
            raise LookupError(f"{what} takes no request body")
        return _content_schema_pointer(f"{base}/requestBody", body.get("content", {}), content_type, what)
    responses = op.get("responses", {})
    code = str(status)
    for key in (code, f"{code[0]}XX", "default"):
        if key in responses:
            content = responses[key].get("content", {})
            return _content_schema_pointer(
                f"{base}/responses/{_pointer_escape(key)}", content, content_type, f"{what} {key}"
            )
    raise LookupError(f"{what} documents no {code} response (it has: {', '.join(responses)})")


def _validate_pointer(instance: Any, pointer: str) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(_validator_for_pointer(pointer).iter_errors(instance))
    if error is not None:
        raise error


def validate_request_body(
    method: str, path_template: str, body: Any, *, content_type: str = "application/json"
) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``body`` fits the operation's request body."""
    _validate_pointer(body, _operation_pointer(method, path_template, None, content_type))


def validate_response(
    method: str, path_template: str, status: int | str, body: Any, *, content_type: str = "application/json"
) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``body`` fits the documented response."""
    _validate_pointer(body, _operation_pointer(method, path_template, status, content_type))


# ------------------------------------------------------------------------------ generation
#
# hypothesis-jsonschema 0.23.1 cannot generate objects with the installed hypothesis (it calls
# a private ``cu.many(...).more()`` that no longer exists), so this module carries a small
# generator for the JSON Schema subset the spec uses: type (and type lists), enum, const,
# properties/required/additionalProperties, items, anyOf/oneOf/allOf, numeric bounds,
# string lengths and the ``date``/``date-time`` formats.

_MAX_ITEMS = 3


def _json_values() -> Any:
    from hypothesis import strategies as st

    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=10)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=_MAX_ITEMS) | st.dictionaries(st.text(max_size=10), inner, max_size=_MAX_ITEMS)
        ),
        max_leaves=5,
    )


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if key == "properties" and key in out:
            out[key] = {**out[key], **value}
        elif key == "required" and key in out:
            out[key] = sorted({*out[key], *value})
        else:
            out[key] = value
    return out


def _number_strategy(node: dict[str, Any], integer: bool) -> Any:
    from hypothesis import strategies as st

    low, high = node.get("minimum"), node.get("maximum")
    ex_low, ex_high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if integer:
        lo = (
            None
            if low is None and ex_low is None
            else max(int(low) if low is not None else -(2**63), int(ex_low) + 1 if ex_low is not None else -(2**63))
        )
        hi = (
            None
            if high is None and ex_high is None
            else min(int(high) if high is not None else 2**63, int(ex_high) - 1 if ex_high is not None else 2**63)
        )
        return st.integers(min_value=lo, max_value=hi)
    return st.floats(
        min_value=ex_low if ex_low is not None else low,
        max_value=ex_high if ex_high is not None else high,
        exclude_min=ex_low is not None,
        exclude_max=ex_high is not None,
        allow_nan=False,
        allow_infinity=False,
    )


def _string_strategy(node: dict[str, Any]) -> Any:
    from hypothesis import strategies as st

    fmt = node.get("format")
    if fmt == "date":
        return st.dates().map(lambda d: d.isoformat())
    if fmt == "date-time":
        return st.datetimes().map(lambda d: d.isoformat() + "Z")
    return st.text(min_size=node.get("minLength", 0), max_size=min(node.get("maxLength", 20), 20))


def _object_strategy(node: dict[str, Any]) -> Any:
    from hypothesis import strategies as st

    properties: dict[str, Any] = node.get("properties", {})
    required = [name for name in node.get("required", []) if name in properties]
    additional = node.get("additionalProperties", "properties" not in node)

    @st.composite
    def draw_object(draw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in properties:
            if name in required or draw(st.booleans()):
                out[name] = draw(_strategy_for(properties[name]))
        if additional is not False and additional is not None:
            value_strategy = _json_values() if additional is True or additional == {} else _strategy_for(additional)
            extra_keys = st.text(min_size=1, max_size=10).filter(lambda k: k not in properties)
            out.update(draw(st.dictionaries(extra_keys, value_strategy, max_size=_MAX_ITEMS)))
        return out

    return draw_object()


def _strategy_for(node: Any) -> Any:
    from hypothesis import strategies as st

    if node is True or node == {}:
        return _json_values()
    if node is False:
        return st.nothing()
    for key in ("anyOf", "oneOf"):
        if key in node:
            siblings = {k: v for k, v in node.items() if k != key}
            return st.one_of([_strategy_for(_merge(siblings, branch)) for branch in node[key]])
    if "allOf" in node:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for member in node["allOf"]:
            merged = _merge(merged, member)
        return _strategy_for(merged)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind is None:
        if "properties" in node:
            kind = "object"
        elif "items" in node:
            kind = "array"
        else:
            return _json_values()
    if isinstance(kind, list):
        return st.one_of([_strategy_for({**node, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return _number_strategy(node, integer=True)
    if kind == "number":
        return _number_strategy(node, integer=False)
    if kind == "string":
        return _string_strategy(node)
    if kind == "array":
        items = node.get("items", True)
        max_size = min(node.get("maxItems", _MAX_ITEMS), _MAX_ITEMS)
        return st.lists(_strategy_for(items), min_size=node.get("minItems", 0), max_size=max_size)
    if kind == "object":
        return _object_strategy(node)
    raise ValueError(f"cannot generate schema type {kind!r}")


@functools.cache
def _strategy(schema_name: str) -> Any:
    return _strategy_for(_schema(schema_name))


def strategy(schema_name: str) -> Any:
    """A hypothesis strategy of JSON values shaped like ``#/components/schemas/<schema_name>``.

    Every value validates against :func:`validate` for the same schema. Objects carry their
    required properties and a random subset of the optional ones; objects that declare
    properties get no undeclared keys (tests inject their own), free-form objects up to three;
    arrays have at most three items. The strategy is resolved lazily, so a module may build it
    at import time even when the spec is missing (its ``@requires_spec`` tests are skipped).
    """
    from hypothesis import strategies as st

    def build() -> Any:
        _require_spec()
        return _strategy(schema_name)

    return st.deferred(build)


def iter_schema_names() -> Iterator[str]:
    """Names of every schema in ``components/schemas``."""
    yield from load_spec()["components"]["schemas"]

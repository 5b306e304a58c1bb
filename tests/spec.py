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

The providers' specs (``providers/together-fine-tuning.yaml``, ``providers/fireworks-fine-tuning.yaml``
in the same directory) are :class:`OpenAPISpec` objects too: :data:`TOGETHER_SPEC`,
:data:`FIREWORKS_SPEC`, with the same methods (``spec.requires`` is their skip mark) and
:meth:`OpenAPISpec.validate_query` for a request's query parameters.

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
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

__all__ = [
    "FIREWORKS_SPEC",
    "OPENAI_SPEC",
    "SKIP_REASON",
    "SPEC_AVAILABLE",
    "SPEC_DIR",
    "SPEC_FILE",
    "TOGETHER_OFF_SPEC",
    "TOGETHER_SPEC",
    "OffSpecOperation",
    "OpenAPISpec",
    "iter_schema_names",
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

# Keywords that make a schema "about" a value's shape; a schema with none of them is only
# annotations (description, default...) and, in allOf, just a carrier for ``nullable``.
_STRUCTURAL = frozenset(
    {"type", "$ref", "allOf", "anyOf", "oneOf", "not", "enum", "const", "properties", "items", "additionalProperties"}
)


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


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class OpenAPISpec:
    """One OpenAPI file as validators, path matching and hypothesis strategies.

    ``prefixes`` are the path prefixes :meth:`match_path` strips before matching (OpenAI's spec
    has paths without ``/v1``; Fireworks' carry it). ``off_spec`` lists the few operations a
    client of this provider may send beyond the spec (its official SDK's own flows), each with
    the reason and a schema of its body: :meth:`match_off_spec` finds one, and
    :meth:`validate_off_spec` checks a request against it. Everything is read lazily and cached;
    ``available`` is False (and :attr:`requires` skips) when the file is absent.
    """

    def __init__(
        self,
        path: Path,
        *,
        what: str,
        prefixes: tuple[str, ...] = ("",),
        off_spec: tuple[OffSpecOperation, ...] = (),
    ) -> None:
        self.path = path
        #: Operations our client may send that the spec lacks (see :class:`OffSpecOperation`).
        self.off_spec = off_spec
        self.what = what
        self.prefixes = prefixes
        self.available: bool = path.is_file()
        self.skip_reason: str = (
            ""
            if self.available
            else f"{what} not found at {path} (set FINETUNE_ASYNC_SPEC_DIR to the directory holding "
            f"{path.relative_to(SPEC_DIR) if path.is_relative_to(SPEC_DIR) else path.name})"
        )
        #: A mark that skips a test, with the missing path in the reason, when the file is absent.
        self.requires = pytest.mark.skipif(not self.available, reason=self.skip_reason or f"{what} not found")
        self._base_uri = f"urn:finetune-async:openapi:{path.name}"
        self._cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"OpenAPISpec({str(self.path)!r})"

    def _cached(self, key: Any, make: Any) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = make()
            return value

    def _require(self) -> None:
        if not self.available:
            raise FileNotFoundError(self.skip_reason)

    def load(self) -> dict[str, Any]:
        """The spec as parsed YAML (cached; do not mutate)."""

        def read() -> dict[str, Any]:
            import yaml

            self._require()
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            with self.path.open(encoding="utf-8") as fh:
                spec: dict[str, Any] = yaml.load(fh, Loader=loader)  # a safe loader
            return spec

        loaded: dict[str, Any] = self._cached("load", read)
        return loaded

    def _json_schema_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self._cached("json", lambda: _nullable(self.load()))
        return spec

    def _registry(self) -> Any:
        def make() -> Any:
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012

            resource = Resource.from_contents(self._json_schema_spec(), default_specification=DRAFT202012)
            return Registry().with_resource(self._base_uri, resource)

        return self._cached("registry", make)

    def _validator_for_pointer(self, pointer: str) -> Any:
        def make() -> Any:
            from jsonschema import Draft202012Validator

            return Draft202012Validator({"$ref": f"{self._base_uri}#{pointer}"}, registry=self._registry())

        return self._cached(("validator", pointer), make)

    # ----------------------------------------------------------------------------- schemas

    def _resolve(self, pointer: str) -> Any:
        node: Any = self._json_schema_spec()
        for token in pointer.lstrip("/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def _inline(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        if isinstance(node, list):
            return [self._inline(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in stack:
                raise ValueError(f"recursive $ref {ref} cannot be inlined")
            target = self._inline(self._resolve(ref[1:]), (*stack, ref))
            rest = {k: self._inline(v, stack) for k, v in node.items() if k != "$ref"}
            return {**target, **rest} if rest else target
        return {key: self._inline(value, stack) for key, value in node.items()}

    def _schema(self, name: str) -> dict[str, Any]:
        def make() -> dict[str, Any]:
            schemas = self._json_schema_spec()["components"]["schemas"]
            if name not in schemas:
                raise KeyError(f"no schema {name!r} in {self.path}")
            inlined: dict[str, Any] = self._inline(schemas[name], (f"#/components/schemas/{name}",))
            return inlined

        schema: dict[str, Any] = self._cached(("schema", name), make)
        return schema

    def schema(self, name: str) -> dict[str, Any]:
        """A self-contained JSON Schema for ``#/components/schemas/<name>`` (refs inlined, nullable fixed)."""
        return copy.deepcopy(self._schema(name))

    def validate(self, instance: Any, schema_name: str) -> None:
        """Raise ``jsonschema.ValidationError`` (the most relevant one) unless ``instance`` fits."""
        self._require()
        self._validate_pointer(instance, f"/components/schemas/{_pointer_escape(schema_name)}")

    def iter_schema_names(self) -> Iterator[str]:
        """Names of every schema in ``components/schemas``."""
        yield from self.load()["components"]["schemas"]

    # -------------------------------------------------------------------------- operations

    def _path_patterns(self) -> list[tuple[str, re.Pattern[str], int]]:
        def make() -> list[tuple[str, re.Pattern[str], int]]:
            patterns = []
            for template in self.load()["paths"]:
                # A parameter is one segment; in an AIP path a ":verb" may follow it (the longer
                # template wins: its verb counts as a literal segment).
                regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
                literal_segments = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
                literal_segments += template.count(":")
                patterns.append((template, re.compile(f"^{regex}$"), literal_segments))
            return patterns

        patterns: list[tuple[str, re.Pattern[str], int]] = self._cached("patterns", make)
        return patterns

    def match_path(self, method: str, concrete_path: str) -> str | None:
        """The spec path template a request path belongs to, or ``None``.

        ``concrete_path`` may carry a query string and one of the spec's prefixes, which are
        ignored (OpenAI's: ``/v1``, ``/openai/v1``, ``/openai``): ``match_path("POST",
        "/v1/fine_tuning/jobs/ftjob-abc/cancel")`` -> ``"/fine_tuning/jobs/{fine_tuning_job_id}/cancel"``.
        When several templates match, the one with the most literal segments wins.
        """
        self._require()
        path = concrete_path.split("?", 1)[0].split("#", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        paths = self.load()["paths"]
        verb = method.lower()
        candidates: list[str] = []
        for prefix in self.prefixes:
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) :]
            best: tuple[int, str] | None = None
            for template, pattern, literal_segments in self._path_patterns():
                matched = verb in paths[template] and pattern.match(rest)
                if matched and (best is None or literal_segments > best[0]):
                    best = (literal_segments, template)
            if best is not None:
                candidates.append(best[1])
        return candidates[0] if candidates else None

    def _operation(self, method: str, path_template: str) -> tuple[str, dict[str, Any]]:
        self._require()
        paths = self.load()["paths"]
        if path_template not in paths:
            raise KeyError(f"no path {path_template!r} in the spec (use match_path for concrete paths)")
        verb = method.lower()
        if verb not in paths[path_template]:
            raise KeyError(f"no {method.upper()} {path_template} in the spec")
        return f"/paths/{_pointer_escape(path_template)}/{verb}", paths[path_template][verb]

    def operation_schema(
        self,
        method: str,
        path_template: str,
        *,
        status: int | str | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """Self-contained schema of an operation's request body (``status=None``) or response."""
        pointer = self._operation_pointer(method, path_template, status, content_type)
        inlined: dict[str, Any] = self._inline(self._resolve(pointer))
        return inlined

    def _operation_pointer(self, method: str, path_template: str, status: int | str | None, content_type: str) -> str:
        base, op = self._operation(method, path_template)
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

    def _validate_pointer(self, instance: Any, pointer: str) -> None:
        from jsonschema.exceptions import best_match

        error = best_match(self._validator_for_pointer(pointer).iter_errors(instance))
        if error is not None:
            raise error

    def validate_request_body(
        self, method: str, path_template: str, body: Any, *, content_type: str = "application/json"
    ) -> None:
        """Raise ``jsonschema.ValidationError`` unless ``body`` fits the operation's request body."""
        self._validate_pointer(body, self._operation_pointer(method, path_template, None, content_type))

    def validate_response(
        self, method: str, path_template: str, status: int | str, body: Any, *, content_type: str = "application/json"
    ) -> None:
        """Raise ``jsonschema.ValidationError`` unless ``body`` fits the documented response."""
        self._validate_pointer(body, self._operation_pointer(method, path_template, status, content_type))

    def parameters(self, method: str, path_template: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The operation's parameters (its own and its path's), by ``(in, name)``, schemas inlined."""
        _, op = self._operation(method, path_template)
        item = self.load()["paths"][path_template]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for where in (item.get("parameters", []), op.get("parameters", [])):
            for param in where:
                param = self._inline(_nullable(param))
                found[(param["in"], param["name"])] = param
        return found

    def validate_query(self, method: str, path_template: str, query: Mapping[str, Any]) -> None:
        """Raise ``AssertionError`` for a query parameter the operation does not declare, and
        ``jsonschema.ValidationError`` for a value that does not fit its schema (strings are
        read as the numbers or booleans their schema wants, as a server would)."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match

        declared = {name: p for (where, name), p in self.parameters(method, path_template).items() if where == "query"}
        for name, value in query.items():
            param = declared.get(name)
            takes = ", ".join(declared) or "none"
            assert param is not None, f"{method} {path_template} takes no query parameter {name!r} (it takes: {takes})"
            schema = param.get("schema", {})
            error = best_match(Draft202012Validator(schema).iter_errors(_typed(value, schema)))
            if error is not None:
                raise error
        for name, param in declared.items():
            assert not param.get("required") or name in query, f"{method} {path_template} needs ?{name}="

    # ---------------------------------------------------------------------------- off spec

    def match_off_spec(self, method: str, concrete_path: str) -> OffSpecOperation | None:
        """The off-spec operation (:attr:`off_spec`) a request path belongs to, or ``None``
        (prefixes stripped and templates matched as :meth:`match_path` does)."""
        path = concrete_path.split("?", 1)[0].rstrip("/") or "/"
        for prefix in self.prefixes:
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) :]
            for op in self.off_spec:
                if op.method == method.upper() and op.pattern.match(rest):
                    return op
        return None

    def validate_off_spec(
        self, op: OffSpecOperation, *, json_body: Any = None, form: Mapping[str, Any] | None = None
    ) -> None:
        """Raise ``AssertionError`` for a body of the wrong kind (JSON where a form is due, a body
        where none is) and ``jsonschema.ValidationError`` for one that does not fit ``op.body``
        (``{"$spec": NAME}`` in it reads as this spec's schema ``NAME``)."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match

        what = f"{op.method} {op.template} (off the spec: {op.reason})"
        if op.body is None:
            assert json_body is None, f"{what} takes no body"
            assert not form, f"{what} takes no body"
            return
        if op.content_type == "application/json":
            assert form is None, f"{what} takes a JSON body, not a form"
            instance = json_body
        else:
            assert json_body is None, f"{what} takes a {op.content_type} body, not JSON"
            instance = dict(form or {})
        schema = self._with_spec_schemas(op.body)
        error = best_match(Draft202012Validator(schema).iter_errors(instance))
        if error is not None:
            raise error

    def _with_spec_schemas(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self._with_spec_schemas(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"$spec"}:
            return self._schema(node["$spec"])
        return {key: self._with_spec_schemas(value) for key, value in node.items()}

    # -------------------------------------------------------------------------- generation

    def strategy(self, schema_name: str) -> Any:
        """A hypothesis strategy of JSON values shaped like ``#/components/schemas/<schema_name>``.

        Every value validates against :meth:`validate` for the same schema. Objects carry their
        required properties and a random subset of the optional ones; objects that declare
        properties get no undeclared keys (tests inject their own), free-form objects up to three;
        arrays have at most three items. The strategy is resolved lazily, so a module may build it
        at import time even when the spec is missing (its ``requires`` tests are skipped).
        """
        from hypothesis import strategies as st

        def build() -> Any:
            self._require()
            return self._cached(("strategy", schema_name), lambda: _strategy_for(self._schema(schema_name)))

        return st.deferred(build)

    def response_strategy(self, method: str, path_template: str, status: int | str = 200) -> Any:
        """A hypothesis strategy of the answers ``method path_template`` documents for ``status``."""
        from hypothesis import strategies as st

        def build() -> Any:
            self._require()
            return self._cached(
                ("response", method, path_template, status),
                lambda: _strategy_for(self.operation_schema(method, path_template, status=status)),
            )

        return st.deferred(build)


def _typed(value: Any, schema: Mapping[str, Any]) -> Any:
    """A query string's ``value`` as the JSON type its ``schema`` names (what a server parses)."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if isinstance(value, str):
        if "integer" in kinds and re.fullmatch(r"-?\d+", value):
            return int(value)
        if "number" in kinds:
            try:
                return float(value)
            except ValueError:
                return value
        if "boolean" in kinds and value in ("true", "false"):
            return value == "true"
    return value


def _content_schema_pointer(base: str, content: dict[str, Any], content_type: str, what: str) -> str:
    if content_type not in content:
        raise LookupError(f"{what} has no {content_type} content (it has: {', '.join(content) or 'none'})")
    return f"{base}/content/{_pointer_escape(content_type)}/schema"


@attrs.frozen
class OffSpecOperation:
    """A request a provider's client may send though the provider's published spec lacks it:
    its method, path template (``{name}`` is one segment), why it is sent, and a JSON Schema of
    its body (``content_type`` JSON or ``multipart/form-data``; ``None``: no body). Written from
    what the provider's official SDK sends; the checker validates against it, and accepts no
    other path the spec lacks."""

    method: str
    template: str
    reason: str
    body: dict[str, Any] | None = None
    content_type: str = "application/json"

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.template)) + "$")


def _closed(required: dict[str, Any]) -> dict[str, Any]:
    """An object schema with exactly these properties, all required."""
    return {"type": "object", "required": list(required), "properties": required, "additionalProperties": False}


_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NAME = {"type": "string", "minLength": 1}
_SDK_FLOW = "Together's SDK's upload flow beyond the spec's POST /files/upload (PROVIDERS.md, together 3.1.1)"
#: What our Together client sends beyond Together's spec: the upload flows of Together's own SDK
#: (together 3.1.1, ``together/lib/resources/files.py``; ../shared/PROVIDERS.md, "What the
#: official SDKs actually send"), for files over 512 MiB. Bodies as that SDK sends them.
TOGETHER_OFF_SPEC: tuple[OffSpecOperation, ...] = (
    OffSpecOperation(
        "POST",
        "/files",
        f"{_SDK_FLOW}: the redirect flow's announce, answered with a signed URL",
        _closed(
            {
                "purpose": {"$spec": "FilePurpose"},
                "file_name": _NAME,
                "file_type": {"$spec": "FileType"},
                "checksum": _SHA256,
            }
        ),
        "multipart/form-data",
    ),
    OffSpecOperation("POST", "/files/{id}/preprocess", f"{_SDK_FLOW}: after the redirect flow's PUT"),
    OffSpecOperation(
        "POST",
        "/files/multipart/initiate",
        f"{_SDK_FLOW}: a file over 5 GiB",
        _closed(
            {
                "file_name": _NAME,
                "file_size": {"type": "integer", "minimum": 1},
                "num_parts": {"type": "integer", "minimum": 1, "maximum": 250},
                "purpose": {"$spec": "FilePurpose"},
                "file_type": {"$spec": "FileType"},
                "checksum": _SHA256,
            }
        ),
    ),
    OffSpecOperation(
        "POST",
        "/files/multipart/complete",
        f"{_SDK_FLOW}: a file over 5 GiB",
        _closed(
            {
                "upload_id": _NAME,
                "file_id": _NAME,
                "parts": {
                    "type": "array",
                    "minItems": 1,
                    "items": _closed({"part_number": {"type": "integer", "minimum": 1}, "etag": _NAME}),
                },
            }
        ),
    ),
    OffSpecOperation(
        "POST",
        "/files/multipart/abort",
        f"{_SDK_FLOW}: a failed multipart upload",
        _closed({"upload_id": _NAME, "file_id": _NAME}),
    ),
)


#: OpenAI's spec (the wire contract of the SDK's default provider).
OPENAI_SPEC = OpenAPISpec(SPEC_FILE, what="OpenAPI spec", prefixes=("", "/v1", "/openai/v1", "/openai"))
#: Together's published spec (a subset): its paths have no ``/v1``, which the SDK's base URL carries.
TOGETHER_SPEC = OpenAPISpec(
    SPEC_DIR / "providers" / "together-fine-tuning.yaml",
    what="Together's OpenAPI spec",
    prefixes=("", "/v1"),
    off_spec=TOGETHER_OFF_SPEC,
)
#: Fireworks' published spec (a subset): its paths start with ``/v1/accounts/{account_id}``.
FIREWORKS_SPEC = OpenAPISpec(SPEC_DIR / "providers" / "fireworks-fine-tuning.yaml", what="Fireworks' OpenAPI spec")

# The OpenAI spec's methods as this module's functions (what most tests import).
load_spec = OPENAI_SPEC.load
schema = OPENAI_SPEC.schema
validate = OPENAI_SPEC.validate
match_path = OPENAI_SPEC.match_path
operation_schema = OPENAI_SPEC.operation_schema
validate_request_body = OPENAI_SPEC.validate_request_body
validate_response = OPENAI_SPEC.validate_response
strategy = OPENAI_SPEC.strategy
iter_schema_names = OPENAI_SPEC.iter_schema_names


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

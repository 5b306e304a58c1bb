"""Nebius Token Factory (formerly AI Studio): OpenAI's paths, Nebius' own hyperparameters.

* Base URL ``https://api.tokenfactory.nebius.com/v1`` (the old ``https://api.studio.nebius.com/v1``
  and regional ones work the same), ``Authorization: Bearer`` with ``NEBIUS_API_KEY``; an
  optional ``ai_project_id`` rides on every request as a query parameter.
* Jobs take **absolute** hyperparameters, with LoRA (:data:`HYPERPARAMETERS`, or the typed
  :class:`NebiusHyperparameters`), on the body and/or in ``method.<type>.hyperparameters``;
  ``method`` is ``supervised`` or ``spec-draft`` (a speculative-decoding drafter). They are
  checked here before anything is sent (:meth:`NebiusProvider.check_create`): a value out of
  range, a key Nebius does not take (OpenAI's ``learning_rate_multiplier``, ``beta``) or
  OpenAI's ``"auto"`` raises :class:`~finetune_async.ProviderParameterError` naming the field;
  DPO and reinforcement raise :class:`~finetune_async.UnsupportedByProviderError`.
  ``tags``, ``from_checkpoint`` and ``integrations`` (wandb, mlflow, Hugging Face export) go
  through ``extra_body`` (``integrations`` also through ``jobs.create(integrations=...)``).
* Metadata: Nebius jobs have none, so ``metadata`` travels as ``"key=value"`` tags and comes
  back from them (this SDK's create-once marker ``ft_create`` and run_batch's ``ft_batch`` /
  ``ft_spec`` with it). The listing cannot filter on tags: ``jobs.list(metadata=...)`` reads
  the jobs newest first and keeps the matching ones here (``capabilities.metadata_filter``
  false). Only the jobs' calls are mapped; files, events and checkpoints go out as they are.
* Answers: ``trained_steps`` / ``total_steps`` on a job and ``result_files`` on a checkpoint
  are in ``model_extra``; a job's Nebius hyperparameters are in ``job.hyperparameters``'s
  ``model_extra`` (``lora``, ``lora_r``, ...), its ``tags`` in ``job.model_extra["tags"]``.
* Errors: FastAPI's ``{"detail": "Not Found"}`` (404, 405, 401) keeps the detail as the
  message; a 422 ``{"detail": [{loc, msg, type}]}`` raises
  :class:`~finetune_async.RequestValidationError` (a ``BadRequestError``) naming the field;
  OpenAI's ``{"error": {...}}`` is read as OpenAI's.
* Capabilities: no pause/resume, Uploads API, checkpoint permissions, graders, webhooks, models
  API or file expiry; events and checkpoints page with ``after``; jobs list newest first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from .._auth import ApiKeyAuth, Auth
from ..errors import APIStatusError, FineTuneError, ProviderParameterError, RequestValidationError, status_error
from ._base import WITHOUT_OPENAI_EXTRAS, Operation, Provider, WireRequest, each_object

__all__ = [
    "DEFAULT_BASE_URL",
    "HYPERPARAMETERS",
    "METHODS",
    "NebiusHyperparameters",
    "NebiusProvider",
    "configure",
    "metadata_from_tags",
    "tags_from_metadata",
]

DEFAULT_BASE_URL = "https://api.tokenfactory.nebius.com/v1"

#: The methods a Nebius job may have.
METHODS = frozenset({"supervised", "spec-draft"})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_in(lo: int, hi: int | None) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and lo <= v and (hi is None or v <= hi)


#: name: (check, the range as an error states it, Nebius' default), as Token Factory documents them.
HYPERPARAMETERS: Mapping[str, tuple[Callable[[Any], bool], str, Any]] = {
    "batch_size": (_int_in(1, 64), "an integer from 1 to 64", 8),
    "learning_rate": (lambda v: _is_number(v) and v > 0, "a number above 0 (absolute)", 1e-5),
    "n_epochs": (_int_in(1, 20), "an integer from 1 to 20", 3),
    "warmup_ratio": (lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1", 0.0),
    "weight_decay": (lambda v: _is_number(v) and v >= 0, "a number of at least 0", 0.0),
    "packing": (lambda v: isinstance(v, bool), "a boolean", True),
    "max_grad_norm": (lambda v: _is_number(v) and v >= 0, "a number of at least 0", 1.0),
    "context_length": (_int_in(8192, 131072), "an integer from 8192 to 131072", 8192),
    "lora": (lambda v: isinstance(v, bool), "a boolean", False),
    "lora_r": (_int_in(8, 128), "an integer from 8 to 128", 8),
    "lora_alpha": (_int_in(1, None), "an integer of at least 1", 8),
    "lora_dropout": (lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 up to (not including) 1", 0.0),
}

# OpenAI's keys a Nebius job does not take, with what to use instead.
_OPENAI_ONLY = {
    "learning_rate_multiplier": "is OpenAI's relative factor: Nebius takes an absolute learning_rate (default 1e-05)",
    "beta": "is DPO's: Nebius has no DPO",
    "compute_multiplier": "is reinforcement's: Nebius has no reinforcement",
    "eval_interval": "is reinforcement's: Nebius has no reinforcement",
    "eval_samples": "is reinforcement's: Nebius has no reinforcement",
    "reasoning_effort": "is reinforcement's: Nebius has no reinforcement",
}

_JOB_OPERATIONS = frozenset({"jobs.create", "jobs.retrieve", "jobs.list", "jobs.cancel"})


def _problem(key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid Nebius ``key`` (None when it is)."""
    rule = HYPERPARAMETERS.get(key)
    if rule is None:
        known = _OPENAI_ONLY.get(key)
        if known is not None:
            return known
        return f"is not a Nebius hyperparameter (it takes {', '.join(HYPERPARAMETERS)})"
    check, wanted, default = rule
    if value == "auto":
        return f"must be {wanted}: Nebius takes no 'auto' (leave it out for its default, {default!r})"
    if not check(value):
        return f"must be {wanted}, not {value!r}"
    return None


def check_hyperparameters(provider: str, hyperparameters: Any, param: str) -> None:
    """Refuse ``hyperparameters`` (a job's JSON object at ``param``) Nebius would refuse.

    Raises :class:`~finetune_async.ProviderParameterError` naming the first bad field.
    """
    if hyperparameters is None:
        return
    if not isinstance(hyperparameters, Mapping):
        raise ProviderParameterError(provider, param, f"must be an object, not {type(hyperparameters).__name__}")
    for key, value in hyperparameters.items():
        why = _problem(str(key), value)
        if why is not None:
            raise ProviderParameterError(provider, f"{param}.{key}", why)


_FIELDS = tuple(HYPERPARAMETERS)


@attrs.frozen(kw_only=True)
class NebiusHyperparameters(Mapping[str, Any]):
    """Nebius' hyperparameters, typed and checked when made: pass it as ``hyperparameters=``
    (or in ``method={"type": "supervised", "supervised": {"hyperparameters": ...}}``).

    Every field is optional (None: Nebius' default, left out of the request). It is a
    ``Mapping`` of the fields set, so it goes wherever a plain dict does.
    Raises :class:`~finetune_async.ProviderParameterError` for a value out of Nebius' range.
    """

    batch_size: int | None = None
    learning_rate: float | None = None
    n_epochs: int | None = None
    warmup_ratio: float | None = None
    weight_decay: float | None = None
    packing: bool | None = None
    max_grad_norm: float | None = None
    context_length: int | None = None
    lora: bool | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None

    def __attrs_post_init__(self) -> None:
        check_hyperparameters("nebius", dict(self), "hyperparameters")

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key, None) if key in HYPERPARAMETERS else None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name in _FIELDS if getattr(self, name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def tags_from_metadata(metadata: Mapping[str, Any]) -> list[str]:
    """``metadata`` as Nebius tags: ``["key=value", ...]``."""
    return [f"{key}={value}" for key, value in metadata.items()]


def metadata_from_tags(tags: Any) -> dict[str, str] | None:
    """The ``key=value`` tags of a Nebius job as metadata (None when there are none); tags
    without ``=`` are not metadata and stay only in ``tags``."""
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list):
        return None
    metadata: dict[str, str] = {}
    for tag in tags:
        if isinstance(tag, str) and "=" in tag:
            key, _, value = tag.partition("=")
            metadata[key] = value
    return metadata or None


def _tag_list(tags: Any) -> list[Any]:
    if tags is None:
        return []
    return [tags] if isinstance(tags, str) else list(tags)


# Metadata rides as tags, which the listing cannot filter on: compared here instead.
_CAPABILITIES = attrs.evolve(WITHOUT_OPENAI_EXTRAS, methods=METHODS)


class NebiusProvider(Provider):
    """Nebius Token Factory (see the module docstring)."""

    name = "nebius"
    capabilities = _CAPABILITIES
    env = {
        "NEBIUS_API_KEY": "the API key (a bearer token)",
        "NEBIUS_BASE_URL": f"the base URL (default {DEFAULT_BASE_URL}; a convention, not Nebius' own)",
    }
    # Only the jobs' calls are mapped (metadata <-> tags); files, events, checkpoints are OpenAI's.
    translates = True
    translated_operations = _JOB_OPERATIONS

    def check_create(self, body: Mapping[str, Any]) -> None:
        """Refuse, before sending, what Nebius would refuse: a method other than ``supervised``
        or ``spec-draft`` (:class:`~finetune_async.UnsupportedByProviderError`), a hyperparameter
        out of its range or not its own, a malformed ``tags`` / ``from_checkpoint`` /
        ``integrations``, a metadata key with ``=`` (:class:`~finetune_async.ProviderParameterError`).
        """
        super().check_create(body)
        check_hyperparameters(self.name, body.get("hyperparameters"), "hyperparameters")
        method = body.get("method")
        if isinstance(method, Mapping):
            kind = str(method.get("type") or "supervised")
            config = method.get(kind)
            if config is not None and not isinstance(config, Mapping):
                raise ProviderParameterError(self.name, f"method.{kind}", "must be an object")
            if config is not None:
                check_hyperparameters(self.name, config.get("hyperparameters"), f"method.{kind}.hyperparameters")
        elif method is not None:
            raise ProviderParameterError(self.name, "method", "must be an object")
        tags = body.get("tags")
        if not (tags is None or isinstance(tags, str)) and (
            not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags)
        ):
            raise ProviderParameterError(self.name, "tags", "must be a string or a list of strings")
        source = body.get("from_checkpoint")
        if source is not None and (not isinstance(source, Mapping) or not isinstance(source.get("repo"), str)):
            raise ProviderParameterError(
                self.name, "from_checkpoint", 'must be {"repo": str, "type": "hf", "revision"?, "token"?}'
            )
        integrations = body.get("integrations")
        if integrations is not None and (
            not isinstance(integrations, (list, tuple))
            or not all(isinstance(i, Mapping) and isinstance(i.get("type"), str) for i in integrations)
        ):
            raise ProviderParameterError(self.name, "integrations", "must be a list of objects, each with a 'type'")
        metadata = body.get("metadata")
        if isinstance(metadata, Mapping):
            for key in metadata:
                if "=" in str(key):
                    raise ProviderParameterError(
                        self.name, f"metadata.{key}", "cannot contain '=' (Nebius keeps metadata as key=value tags)"
                    )

    def to_wire(self, operation: Operation, request: WireRequest) -> WireRequest:
        """A create's ``metadata`` as ``key=value`` tags after the caller's own ``tags``."""
        body = request.json_body
        if operation != "jobs.create" or not isinstance(body, Mapping) or "metadata" not in body:
            return request
        # A copy: the create's own body is what the settle compares found jobs with.
        wire = dict(body)
        metadata = wire.pop("metadata")
        if isinstance(metadata, Mapping) and metadata:
            wire["tags"] = _tag_list(wire.get("tags")) + tags_from_metadata(metadata)
        return attrs.evolve(request, json_body=wire)

    def from_wire(self, operation: Operation, body: Any) -> Any:
        """Jobs with their ``key=value`` tags as ``metadata`` (the tags stay in ``tags``)."""
        return each_object(body, _metadata_from_tags)

    def status_error(
        self,
        status_code: int,
        body: object,
        *,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> APIStatusError:
        """OpenAI's mapping, and FastAPI's ``{"detail": ...}``: a string is the message (with
        the request, since ``Not Found`` may mean the route), a 422's list of ``{loc, msg,
        type}`` a :class:`~finetune_async.RequestValidationError` naming the first field."""
        detail = body.get("detail") if isinstance(body, Mapping) and "error" not in body else None
        if isinstance(detail, list) and detail:
            first = detail[0] if isinstance(detail[0], Mapping) else {}
            param = _loc_param(first.get("loc"))
            msg = str(first.get("msg") or "invalid")
            message = f"Invalid {param!r}: {msg}" if param else msg
            if len(detail) > 1:
                message += f" (and {len(detail) - 1} more)"
            invalid = RequestValidationError(
                message,
                status_code=status_code,
                request_id=request_id,
                body=body,
                code=str(first["type"]) if first.get("type") is not None else None,
                param=param,
                type="invalid_request_error",
                headers=headers,
                method=method,
                url=url,
            )
            invalid.errors = tuple(detail)
            return invalid
        error = status_error(status_code, body, request_id=request_id, headers=headers, method=method, url=url)
        if isinstance(detail, str) and detail:
            message = detail if method is None or url is None else f"{detail} ({method} {url})"
            error.message = message
            error.args = (message,)
        return error


def _loc_param(loc: Any) -> str | None:
    """FastAPI's ``loc`` (``["body", "hyperparameters", "batch_size"]``) as a dotted field."""
    if not isinstance(loc, (list, tuple)) or not loc:
        return None
    parts = [str(p) for p in loc]
    if parts[0] in ("body", "query", "path", "header") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def _metadata_from_tags(job: Any) -> None:
    if isinstance(job, dict) and job.get("metadata") is None and "tags" in job:
        job["metadata"] = metadata_from_tags(job["tags"])


def configure(*, api_key: str | None, base_url: str | None, ai_project_id: str | None = None) -> NebiusProvider:
    """The provider of ``AsyncClient.nebius(...)``, defaults from the environment.

    Raises :class:`~finetune_async.FineTuneError` when no API key is given or found.
    """
    api_key = api_key if api_key is not None else os.environ.get("NEBIUS_API_KEY")
    if not api_key:
        raise FineTuneError("No Nebius API key: pass api_key=... or set NEBIUS_API_KEY.")
    auth: Auth = ApiKeyAuth(api_key)
    return NebiusProvider(
        base_url=base_url or os.environ.get("NEBIUS_BASE_URL") or DEFAULT_BASE_URL,
        auth=auth,
        default_query={"ai_project_id": ai_project_id} if ai_project_id else None,
    )

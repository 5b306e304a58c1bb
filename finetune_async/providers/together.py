"""Together AI: ``/fine-tunes`` and Together's files behind OpenAI's calls.

* Base URL ``https://api.together.xyz/v1`` (``api.together.ai`` works the same),
  ``Authorization: Bearer`` with ``TOGETHER_API_KEY``; ``TOGETHER_BASE_URL`` overrides the URL.
  Every operation is mapped (:meth:`TogetherProvider.to_wire` / :meth:`TogetherProvider.from_wire`);
  what cannot be is refused before anything is sent.
* **Jobs** (``POST /fine-tunes``): ``model``, ``training_file``, ``validation_file``, ``suffix``,
  ``seed`` (sent as ``random_seed``) and the hyperparameters, top level or in
  ``method.<type>.hyperparameters``, flat on the body: ``n_epochs``, ``batch_size`` (an integer
  or ``"max"``), ``learning_rate`` (**absolute**, Together's default ``1e-05``), and Together's
  own ``warmup_ratio``, ``max_grad_norm``, ``weight_decay``, ``n_checkpoints``, ``n_evals``
  (:data:`HYPERPARAMETERS`, or the typed :class:`TogetherHyperparameters`); OpenAI's ``"auto"``
  leaves a value out (Together's default).
  OpenAI's relative ``learning_rate_multiplier`` cannot be translated (Together states no base
  rate per model) and raises :class:`~finetune_async.ProviderParameterError` naming the field.
  ``method`` ``supervised`` becomes ``training_method {method: sft}``, ``dpo`` becomes
  ``{method: dpo, dpo_beta}`` (``beta``; also ``rpo_alpha``, ``simpo_gamma``,
  ``dpo_normalize_logratios_by_length``, ``dpo_reference_free``); reinforcement raises
  :class:`~finetune_async.UnsupportedByProviderError`. Together's other fields go through
  ``extra_body`` (:data:`EXTRA_BODY_KEYS`): ``training_type`` (``{"type": "Lora", "lora_r",
  "lora_alpha", ...}``, the default, or ``{"type": "Full"}``), ``lr_scheduler`` (linear, or cosine
  without arguments: a cosine request with arguments matches both of the spec's argument schemas
  and fails its ``oneOf``), ``train_on_inputs``, ``from_checkpoint``, ``packing``,
  ``max_seq_length``, ``wandb_api_key`` / ``wandb_project_name`` / ``wandb_entity`` /
  ``wandb_base_url``, the ``from_hf_model`` / ``hf_*`` fields. Each is checked here
  (:meth:`TogetherProvider.check_create`); a key Together does not take is refused.
* **Metadata** (the create-once marker ``ft_create``, run_batch's ``ft_batch`` / ``ft_spec``):
  Together jobs have none, so it rides in ``wandb_name`` as ``ft-metadata:`` and a URL-encoded
  query (``ft-metadata:ft_create=...&team=ml``), which the listing echoes; ``job.metadata``
  reads it back (on ``retrieve`` too where the answer carries ``wandb_name``, as the emulator's
  does; the spec's ``FinetuneResponse`` does not list it). A value longer than 64 characters is
  kept as a digest (``~`` and 22 hex digits: :meth:`TogetherProvider.kept_metadata`); the whole
  field is at most :data:`MAX_WANDB_NAME` characters. Caveat: a job sent to W&B shows this as
  its run name. So ``wandb_name`` of your own cannot go with metadata or the marker: pass it
  with no ``metadata`` on a client made with ``mark_creates=False`` (creates are then
  recognised by their fields). The listing cannot filter on it: ``jobs.list(metadata=...)``
  reads the jobs and keeps the matching ones here.
* **Answers**: a job in OpenAI's shape, Together's fields kept beside (``model_extra``). Status:
  ``pending`` reads ``validating_files``, ``queued`` ``queued``; ``running``, ``compressing``,
  ``uploading`` and ``cancel_requested`` (still running until it is cancelled) ``running``;
  ``cancelled``, ``error`` (``failed``), ``completed`` (``succeeded``); the raw one is
  ``job.provider_status``. ``fine_tuned_model`` is ``model_output_name`` once completed;
  ``created_at`` and (once ended) ``finished_at`` are epoch seconds from the ISO times;
  ``trained_tokens`` is ``token_count``; ``estimated_finish`` comes from ``progress``.
  Lists (``GET /fine-tunes``, ``/files``, events, checkpoints) come whole: they are answered
  newest first and paged here (``limit``, ``after``; no ``limit``: one page).
* **Events** (``GET /fine-tunes/{id}/events``): each becomes a ``message`` event with a stable
  id (a digest of the job, the time, the type, the step and the message, and which of identical
  events it is), ``level`` ``info`` / ``warn`` / ``error``, and Together's fields in ``data``
  (``type``, ``step``, ``total_steps``, ``token_count``, ``checkpoint_path``, ...). Together has
  no per-step metrics events: ``client.fine_tuning.jobs.metrics(job_id)`` reads
  ``GET /fine-tunes/{id}/metrics``. Checkpoints (``/checkpoints``) become
  ``FineTuningJobCheckpoint`` (``path`` is ``fine_tuned_model_checkpoint``, ``checkpoint_type``
  stays in ``model_extra``).
* **Files**: ``files.create`` sends the spec's ``POST /files/upload`` (multipart: ``purpose``,
  ``file_name``, ``file_type``, ``file``) for a file up to 512 MiB, and the flows of Together's
  own SDK beyond it, as its size calls for: the redirect flow (``POST /files`` answered with a
  signed URL, the PUT of the bytes there, ``POST /files/{id}/preprocess``) up to 5 GiB, the
  multipart flow (``/files/multipart/initiate``, a PUT per part to its signed URL,
  ``/complete``; ``/abort`` on failure) up to 50.1 GiB. The PUTs go to the signed URLs with no
  credential. Each flow makes one file per call: see :mod:`finetune_async.providers._together_files`
  (thresholds, exactly once); ``AsyncClient.together(upload_sizes=TogetherUploadSizes(...))``
  changes the thresholds and part sizes.
* **Errors**: ``{"error": {message, type, param, code}}`` as OpenAI's; ``{"message": ...}`` and
  ``{"error": "..."}`` keep the text as the message.
* Capabilities: supervised and DPO; no pause/resume, Uploads API, webhooks, checkpoint
  permissions or copies, graders, models API, file expiry; jobs can be deleted.
"""

from __future__ import annotations

import contextvars
import hashlib
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode

import attrs

from .._auth import ApiKeyAuth, Auth
from .._ledger import MARKER_KEY
from ..errors import APIStatusError, FineTuneError, ProviderParameterError, status_error
from . import _together_files
from ._base import WITHOUT_OPENAI_EXTRAS, FileUpload, Operation, Provider, Send, WireRequest
from ._together_files import TogetherUploadSizes, file_object

__all__ = [
    "DEFAULT_BASE_URL",
    "EXTRA_BODY_KEYS",
    "HYPERPARAMETERS",
    "MAX_FILE_BYTES",
    "MAX_WANDB_NAME",
    "METADATA_PREFIX",
    "METHODS",
    "TogetherHyperparameters",
    "TogetherProvider",
    "TogetherUploadSizes",
    "configure",
    "metadata_from_wandb_name",
    "normalise_status",
    "wandb_name_from_metadata",
]

DEFAULT_BASE_URL = "https://api.together.xyz/v1"

#: The methods a Together job may have.
METHODS = frozenset({"supervised", "dpo"})

#: The largest file ``files.create`` sends (Together's SDK's ``MAX_FILE_SIZE_GB``, 50.1 GiB): the
#: default :attr:`TogetherUploadSizes.max_file`.
MAX_FILE_BYTES = TogetherUploadSizes().max_file

#: What starts a ``wandb_name`` that carries a job's metadata.
METADATA_PREFIX = "ft-metadata:"
#: The longest ``wandb_name`` this client sends (our bound: the spec states none).
MAX_WANDB_NAME = 1024
# Metadata values longer than this are kept as a digest.
_DIGEST_OVER = 64


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_from(lo: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and v >= lo


def _number_in(lo: float, hi: float | None = None, *, above: bool = False) -> Callable[[Any], bool]:
    return lambda v: _is_number(v) and (v > lo if above else v >= lo) and (hi is None or v <= hi)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


#: The hyperparameters a job takes (top level or in ``method.<type>.hyperparameters``): name:
#: (check, the range as an error states it). ``beta`` is DPO's (sent as ``dpo_beta``).
HYPERPARAMETERS: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "n_epochs": (_int_from(1), "an integer of at least 1"),
    "batch_size": (lambda v: v == "max" or (_is_int(v) and v >= 1), "an integer of at least 1 or 'max'"),
    "learning_rate": (_number_in(0, above=True), "a number above 0 (absolute; Together's default is 1e-05)"),
    "warmup_ratio": (_number_in(0, 1), "a number from 0 to 1"),
    "max_grad_norm": (_number_in(0), "a number of at least 0 (0 turns clipping off)"),
    "weight_decay": (_number_in(0), "a number of at least 0"),
    "n_checkpoints": (_int_from(1), "an integer of at least 1"),
    "n_evals": (_int_from(0), "an integer of at least 0"),
}
# DPO's own, in training_method.
_DPO_HYPERPARAMETERS: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "beta": (_number_in(0), "a number of at least 0"),
    "rpo_alpha": (_number_in(0), "a number of at least 0"),
    "simpo_gamma": (_number_in(0), "a number of at least 0"),
    "dpo_normalize_logratios_by_length": (_bool, "a boolean"),
    "dpo_reference_free": (_bool, "a boolean"),
}
_OPENAI_ONLY = {
    "learning_rate_multiplier": (
        "is OpenAI's factor relative to a base rate Together does not state: "
        "pass an absolute learning_rate (Together's default is 1e-05)"
    ),
    "compute_multiplier": "is reinforcement's: Together has no reinforcement",
    "eval_interval": "is reinforcement's: Together has no reinforcement",
    "eval_samples": "is reinforcement's: Together has no reinforcement",
    "reasoning_effort": "is reinforcement's: Together has no reinforcement",
}


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _nonempty(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


#: Together's own create fields, passed through ``extra_body``: name: (check, what it must be).
#: ``training_type``, ``lr_scheduler`` and ``train_on_inputs`` are checked in more detail.
EXTRA_BODY_KEYS: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "training_type": (lambda v: isinstance(v, Mapping), "an object"),
    "lr_scheduler": (lambda v: isinstance(v, Mapping), "an object"),
    "train_on_inputs": (lambda v: isinstance(v, bool) or v == "auto", "a boolean or 'auto'"),
    "from_checkpoint": (_nonempty, "a job id or output model name, optionally with ':STEP'"),
    "packing": (_bool, "a boolean"),
    "max_seq_length": (_int_from(1), "an integer of at least 1"),
    "wandb_api_key": (_str, "a string"),
    "wandb_base_url": (_str, "a string"),
    "wandb_project_name": (_str, "a string"),
    "wandb_name": (_str, "a string"),
    "wandb_entity": (_str, "a string"),
    "from_hf_model": (_str, "a string"),
    "hf_model_revision": (_str, "a string"),
    "hf_api_token": (_str, "a string"),
    "hf_output_repo_name": (_str, "a string"),
    "multimodal_params": (
        lambda v: isinstance(v, Mapping) and all(k == "train_vision" and _bool(x) for k, x in v.items()),
        "an object {train_vision: bool}",
    ),
    # Together's own names for what OpenAI's body says otherwise, and the hyperparameters flat.
    "random_seed": (_is_int, "an integer"),
    **HYPERPARAMETERS,
}
# OpenAI's create fields this module maps (the rest of a body is EXTRA_BODY_KEYS).
_OPENAI_KEYS = frozenset(
    {"model", "training_file", "validation_file", "method", "hyperparameters", "suffix", "seed", "metadata"}
)

# -- statuses ------------------------------------------------------------------------------

_STATUS = {
    "pending": "validating_files",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    # Cancelling takes a while: the job trains on until Together reports it cancelled.
    "cancel_requested": "running",
    "cancelled": "cancelled",
    "error": "failed",
    "completed": "succeeded",
}
_ENDED = frozenset({"cancelled", "error", "completed"})


def normalise_status(status: str) -> str:
    """Together's job ``status`` as one of :data:`~finetune_async.providers.JOB_STATUSES` (an
    unknown one as it is)."""
    return _STATUS.get(status, status)


# -- metadata in wandb_name ----------------------------------------------------------------


def _kept_value(value: str) -> str:
    if len(value) <= _DIGEST_OVER:
        return value
    return "~" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:22]


def wandb_name_from_metadata(metadata: Mapping[str, str]) -> str:
    """``metadata`` as the ``wandb_name`` that carries it (each value as
    :meth:`TogetherProvider.kept_metadata` keeps it)."""
    pairs = [(str(key), _kept_value(str(value))) for key, value in metadata.items()]
    return METADATA_PREFIX + urlencode(pairs, quote_via=quote)


def metadata_from_wandb_name(name: Any) -> dict[str, str] | None:
    """The metadata a job's ``wandb_name`` carries (None when it carries none)."""
    if not isinstance(name, str) or not name.startswith(METADATA_PREFIX):
        return None
    pairs = parse_qsl(name[len(METADATA_PREFIX) :], keep_blank_values=True)
    return dict(pairs) or None


# -- times ---------------------------------------------------------------------------------

_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(:\d{2})?(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?")


def epoch_seconds(value: Any) -> int | None:
    """An ISO 8601 time (Together's ``2024-05-17T17:35:45.123Z``; no zone: UTC) or a number as
    whole epoch seconds; None when it is neither."""
    if _is_number(value):
        return int(value)
    if not isinstance(value, str):
        return None
    match = _ISO.fullmatch(value.strip())
    if match is None:
        return None
    day, hour_minute, seconds, fraction, zone = match.groups()
    # Python 3.10's fromisoformat takes only six fraction digits and no "Z".
    text = f"{day}T{hour_minute}{seconds or ':00'}.{(fraction or '0')[:6].ljust(6, '0')}"
    if zone is None or zone in ("Z", "z"):
        zone = "+00:00"
    elif len(zone) == 3:
        zone += ":00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        parsed = datetime.fromisoformat(text + zone)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # pragma: no cover - a zone is always given above
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


# -- what one request was, for its answer ---------------------------------------------------

# to_wire and from_wire of one call run in the same task, one after the other (the resource
# maps the request, awaits the answer, maps it): the call's list query (limit, after, purpose,
# order) and job id, which Together's answers do not repeat, pass from one to the other here.
_CALL: contextvars.ContextVar[tuple[Mapping[str, Any], str | None]] = contextvars.ContextVar(
    "finetune_async_together_call", default=({}, None)
)

_JOBS = "/fine_tuning/jobs"


def _refuse_key(key: str) -> ProviderParameterError:
    why = _OPENAI_ONLY.get(key)
    if why is None:
        why = f"is not a field of Together's create (it takes {', '.join(sorted(EXTRA_BODY_KEYS))} through extra_body)"
    return ProviderParameterError("together", key, why)


def _check_value(param: str, value: Any, rule: tuple[Callable[[Any], bool], str]) -> None:
    check, wanted = rule
    if not check(value):
        raise ProviderParameterError("together", param, f"must be {wanted}, not {value!r}")


_FIELDS = (*HYPERPARAMETERS, *_DPO_HYPERPARAMETERS)


@attrs.frozen(kw_only=True)
class TogetherHyperparameters(Mapping[str, Any]):
    """Together's hyperparameters, typed and checked when made: pass it as ``hyperparameters=``
    (or in ``method={"type": "dpo", "dpo": {"hyperparameters": ...}}``).

    Every field is optional (None: Together's default, left out of the request); ``beta`` and
    the other DPO fields are only for a DPO job. It is a ``Mapping`` of the fields set, so it
    goes wherever a plain dict does. Raises :class:`~finetune_async.ProviderParameterError`
    for a value out of Together's range.
    """

    n_epochs: int | None = None
    batch_size: int | Literal["max"] | None = None
    learning_rate: float | None = None
    warmup_ratio: float | None = None
    max_grad_norm: float | None = None
    weight_decay: float | None = None
    n_checkpoints: int | None = None
    n_evals: int | None = None
    beta: float | None = None
    rpo_alpha: float | None = None
    simpo_gamma: float | None = None
    dpo_normalize_logratios_by_length: bool | None = None
    dpo_reference_free: bool | None = None

    def __attrs_post_init__(self) -> None:
        for key in self:
            rule = HYPERPARAMETERS.get(key) or _DPO_HYPERPARAMETERS[key]
            _check_value(f"hyperparameters.{key}", self[key], rule)

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key, None) if key in _FIELDS else None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name in _FIELDS if getattr(self, name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_CAPABILITIES = attrs.evolve(
    WITHOUT_OPENAI_EXTRAS,
    methods=METHODS,
    paged_events=False,
    paged_checkpoints=False,
    # Answered whole, newest first, and paged here with after: the watcher reads pages.
    jobs_listed_newest_first=True,
    delete_job=True,
    max_file_bytes=MAX_FILE_BYTES,
    metrics_endpoint=True,
)


class TogetherProvider(Provider):
    """Together AI (see the module docstring)."""

    name = "together"
    capabilities = _CAPABILITIES
    env = {
        "TOGETHER_API_KEY": "the API key (a bearer token)",
        "TOGETHER_BASE_URL": f"the base URL (default {DEFAULT_BASE_URL})",
    }
    translates = True
    uploads_its_own_way = True

    def __init__(self, *, base_url: str, auth: Auth, upload_sizes: TogetherUploadSizes | None = None) -> None:
        super().__init__(base_url=base_url, auth=auth)
        #: Which upload flow a file takes, and how parts are cut (:class:`TogetherUploadSizes`).
        self.upload_sizes = upload_sizes or TogetherUploadSizes()
        # The largest file files.create lets through is the one the upload flows take.
        if self.upload_sizes.max_file != self.capabilities.max_file_bytes:
            self.capabilities = attrs.evolve(self.capabilities, max_file_bytes=self.upload_sizes.max_file)

    # -- refusals --------------------------------------------------------------------------

    def check_create(self, body: Mapping[str, Any]) -> None:
        """Refuse, before sending, what Together would refuse or what cannot map: a method other
        than ``supervised`` or ``dpo`` (:class:`~finetune_async.UnsupportedByProviderError`); a
        hyperparameter out of range or not Together's (``learning_rate_multiplier``), a key
        Together does not take, a malformed ``training_type`` / ``lr_scheduler``,
        ``integrations``, metadata too long for ``wandb_name`` or with a ``wandb_name`` of
        the caller's (:class:`~finetune_async.ProviderParameterError`, naming the field)."""
        super().check_create(body)
        for key, value in body.items():
            if key in _OPENAI_KEYS:
                continue
            if key == "integrations":
                raise ProviderParameterError(
                    self.name,
                    "integrations",
                    "cannot be sent: Together takes W&B settings as wandb_api_key, wandb_project_name, "
                    "wandb_entity and wandb_base_url in extra_body",
                )
            rule = EXTRA_BODY_KEYS.get(key)
            if rule is None:
                raise _refuse_key(key)
            _check_value(key, value, rule)
        if "seed" in body and body["seed"] is not None:
            _check_value("seed", body["seed"], (_is_int, "an integer"))
        for key in ("suffix", "validation_file"):
            if body.get(key) is not None:
                _check_value(key, body[key], (_str, "a string"))
        kind, hyperparameters = _hyperparameters(body)
        for param, key, value in hyperparameters:
            rule = HYPERPARAMETERS.get(key)
            if rule is None and kind == "dpo":
                rule = _DPO_HYPERPARAMETERS.get(key)
            if rule is None:
                if key == "beta":
                    raise ProviderParameterError(self.name, param, "is DPO's: a supervised job takes none")
                raise ProviderParameterError(
                    self.name,
                    param,
                    _OPENAI_ONLY.get(key)
                    or f"is not a Together hyperparameter (it takes {', '.join(HYPERPARAMETERS)}"
                    + (", and for DPO " + ", ".join(_DPO_HYPERPARAMETERS) if kind == "dpo" else "")
                    + ")",
                )
            if value != "auto":
                _check_value(param, value, rule)
        _check_training_type(body.get("training_type"))
        _check_lr_scheduler(body.get("lr_scheduler"))
        metadata = body.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise ProviderParameterError(self.name, "metadata", "must be an object of strings")
            for key, value in metadata.items():
                if not isinstance(key, str) or not key or not isinstance(value, str):
                    raise ProviderParameterError(self.name, f"metadata.{key}", "must be a non-empty key with a string")
        own_name = body.get("wandb_name")
        marked = self.ledger.mark_creates and not (isinstance(metadata, Mapping) and MARKER_KEY in metadata)
        if own_name is not None and (metadata or marked):
            raise ProviderParameterError(
                self.name,
                "wandb_name",
                "carries the job's metadata on Together (with the create-once marker ft_create): "
                "to name the W&B run yourself, send no metadata from a client made with mark_creates=False",
            )
        if isinstance(metadata, Mapping) or marked:
            planned = dict(metadata or {})
            if marked:
                planned[MARKER_KEY] = "x" * 16  # the marker's length (secrets.token_urlsafe(12))
            _check_wandb_name(planned)

    def kept_metadata(self, metadata: Mapping[str, str]) -> Mapping[str, str]:
        """``metadata`` as a Together job keeps it in ``wandb_name``: values over 64 characters
        as ``~`` and 22 hex digits of their SHA-256, the others as they are."""
        return {key: _kept_value(value) for key, value in metadata.items()}

    # -- requests --------------------------------------------------------------------------

    def to_wire(self, operation: Operation, request: WireRequest) -> WireRequest:
        """OpenAI's path and body as Together's (see the module docstring).

        Raises :class:`~finetune_async.UnsupportedByProviderError` for an operation Together
        has no route for, :class:`~finetune_async.ProviderParameterError` for metadata that
        does not fit ``wandb_name``.
        """
        path = request.path
        job_id: str | None = None
        if path.startswith(_JOBS + "/"):
            job_id = path[len(_JOBS) + 1 :].split("/", 1)[0]
        query = dict(request.params or {})
        if operation == "jobs.create":
            body = self._create_body(request.json_body)
            return WireRequest(method="POST", path="/fine-tunes", json_body=body)
        if operation in _JOB_ROUTES and path.startswith(_JOBS):
            _CALL.set((query, job_id))
            return WireRequest(method=request.method, path="/fine-tunes" + path[len(_JOBS) :])
        if operation in _FILE_ROUTES:
            file_id = path.split("/")[2] if path.count("/") >= 2 else None
            _CALL.set((query, file_id))
            return WireRequest(method=request.method, path=path)
        raise self.refuse(operation, "Together has no such route")

    def _create_body(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise ProviderParameterError(self.name, "body", "must be a JSON object")
        kind, hyperparameters = _hyperparameters(body)
        wire: dict[str, Any] = {"model": body.get("model"), "training_file": body.get("training_file")}
        for key in ("validation_file", "suffix"):
            if body.get(key) is not None:
                wire[key] = body[key]
        method: dict[str, Any]
        method = {"method": "dpo"} if kind == "dpo" else {"method": "sft", "train_on_inputs": "auto"}
        for key, value in body.items():
            if key not in _OPENAI_KEYS and key not in ("train_on_inputs", "integrations"):
                wire[key] = value
        if "train_on_inputs" in body:
            # The spec's SFT method requires it, and deprecates the top-level field.
            method["train_on_inputs"] = body["train_on_inputs"]
        for _param, key, value in hyperparameters:
            if value == "auto":
                wire.pop(key, None)  # Together's default
            elif key == "beta":
                method["dpo_beta"] = value
            elif key in _DPO_HYPERPARAMETERS:
                method[key] = value
            else:
                wire[key] = value
        wire["training_method"] = method
        if body.get("seed") is not None:
            wire["random_seed"] = body["seed"]
        metadata = body.get("metadata")
        if isinstance(metadata, Mapping) and metadata:
            if "wandb_name" in wire:
                raise ProviderParameterError(
                    self.name, "wandb_name", "carries the job's metadata on Together: send one or the other"
                )
            wire["wandb_name"] = _check_wandb_name(metadata)
        return wire

    # -- files -----------------------------------------------------------------------------

    async def create_file(self, send: Send, upload: FileUpload) -> Any:
        """The file sent by the flow its size calls for (the spec's ``POST /files/upload``, or
        Together's SDK's redirect or multipart flow: :mod:`~finetune_async.providers._together_files`),
        once, in OpenAI's shape.

        Raises :class:`~finetune_async.UnsupportedByProviderError` before sending for a file
        over ``upload_sizes.max_file`` or a purpose Together does not have.
        """
        return await _together_files.create_file(send, upload, sizes=self.upload_sizes, ledger=self.ledger)

    # -- answers ---------------------------------------------------------------------------

    def from_wire(self, operation: Operation, body: Any) -> Any:
        """Together's answer in OpenAI's shape (see the module docstring)."""
        if not isinstance(body, dict):
            return body
        query, object_id = _CALL.get()
        if operation in ("jobs.create", "jobs.retrieve", "jobs.cancel"):
            return _job(body)
        if operation == "jobs.list":
            return _page(_newest_first([_job(dict(j)) for j in _items(body)]), query)
        if operation == "jobs.list_events":
            return _page(_events(_items(body), object_id or ""), query)
        if operation == "jobs.checkpoints.list":
            return _page(_newest_first([_checkpoint(c, object_id or "") for c in _items(body)]), query)
        if operation == "jobs.metrics":
            metrics = body.get("metrics")
            return {**body, "metrics": metrics if isinstance(metrics, list) else []}
        if operation in ("files.create", "files.retrieve"):
            return file_object(body)
        if operation == "files.list":
            files = _newest_first([file_object(f) for f in _items(body)])
            purpose = query.get("purpose")
            if purpose is not None:
                files = [f for f in files if f.get("purpose") == purpose]
            if query.get("order") == "asc":
                files.reverse()
            return _page(files, query)
        if operation == "files.delete":
            return {"id": object_id or "", "deleted": True, **body, "object": "file"}
        return body

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
        """OpenAI's mapping of ``{"error": {...}}``; Together's ``{"message": ...}`` and
        ``{"error": "..."}`` keep their text as the message."""
        given = body
        if isinstance(body, Mapping) and not isinstance(body.get("error"), Mapping):
            text = body.get("error") if isinstance(body.get("error"), str) else body.get("message")
            if isinstance(text, str) and text:
                body = {"error": {"message": text}}
        error = status_error(status_code, body, request_id=request_id, headers=headers, method=method, url=url)
        error.body = given
        return error


_JOB_ROUTES = frozenset(
    {
        "jobs.retrieve",
        "jobs.list",
        "jobs.cancel",
        "jobs.delete",
        "jobs.list_events",
        "jobs.checkpoints.list",
        "jobs.metrics",
    }
)
_FILE_ROUTES = frozenset({"files.retrieve", "files.list", "files.delete", "files.content"})


def _hyperparameters(body: Mapping[str, Any]) -> tuple[str, list[tuple[str, str, Any]]]:
    """The job's method type and its hyperparameters as (param, key, value), top level first,
    then the method's (which win, being later)."""
    found: list[tuple[str, str, Any]] = []
    top = body.get("hyperparameters")
    if top is not None and not isinstance(top, Mapping):
        raise ProviderParameterError("together", "hyperparameters", "must be an object")
    found.extend((f"hyperparameters.{k}", str(k), v) for k, v in (top or {}).items())
    method = body.get("method")
    kind = "supervised"
    if method is not None:
        if not isinstance(method, Mapping):
            raise ProviderParameterError("together", "method", "must be an object")
        kind = str(method.get("type") or "supervised")
        config = method.get(kind)
        if config is not None:
            if not isinstance(config, Mapping):
                raise ProviderParameterError("together", f"method.{kind}", "must be an object")
            hp = config.get("hyperparameters")
            if hp is not None and not isinstance(hp, Mapping):
                raise ProviderParameterError("together", f"method.{kind}.hyperparameters", "must be an object")
            found.extend((f"method.{kind}.hyperparameters.{k}", str(k), v) for k, v in (hp or {}).items())
    return kind, found


def _check_training_type(value: Any) -> None:
    if value is None:
        return
    assert isinstance(value, Mapping)  # checked as an EXTRA_BODY_KEYS entry
    kind = value.get("type")
    if kind == "Full":
        extra = sorted(set(value) - {"type"})
        if extra:
            raise ProviderParameterError(
                "together", f"training_type.{extra[0]}", "is LoRA's: a Full training takes none"
            )
        return
    if kind != "Lora":
        raise ProviderParameterError("together", "training_type.type", f"must be 'Lora' or 'Full', not {kind!r}")
    rules: Mapping[str, tuple[Callable[[Any], bool], str]] = {
        "lora_r": (_int_from(1), "an integer of at least 1"),
        "lora_alpha": (_int_from(1), "an integer of at least 1"),
        "lora_dropout": (lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 up to (not including) 1"),
        "lora_trainable_modules": (_nonempty, "a string such as 'all-linear'"),
    }
    for key in ("lora_r", "lora_alpha"):
        if key not in value:
            raise ProviderParameterError(
                "together", f"training_type.{key}", "is required with type 'Lora' (Together's spec), e.g. 8"
            )
    for key, item in value.items():
        if key == "type":
            continue
        rule = rules.get(str(key))
        if rule is None:
            raise ProviderParameterError(
                "together", f"training_type.{key}", f"is not LoRA's (it takes {', '.join(rules)})"
            )
        _check_value(f"training_type.{key}", item, rule)


def _check_lr_scheduler(value: Any) -> None:
    if value is None:
        return
    assert isinstance(value, Mapping)
    kind = value.get("lr_scheduler_type")
    if kind not in ("linear", "cosine"):
        raise ProviderParameterError(
            "together", "lr_scheduler.lr_scheduler_type", f"must be 'linear' or 'cosine', not {kind!r}"
        )
    extra = sorted(set(value) - {"lr_scheduler_type", "lr_scheduler_args"})
    if extra:
        raise ProviderParameterError(
            "together", f"lr_scheduler.{extra[0]}", "is not a field of Together's lr_scheduler"
        )
    args = value.get("lr_scheduler_args")
    if args is None:
        return
    if kind == "cosine":
        raise ProviderParameterError(
            "together",
            "lr_scheduler.lr_scheduler_args",
            "cannot be sent with a cosine scheduler: its arguments match both of the spec's argument "
            "schemas, so the request fails its oneOf (send {'lr_scheduler_type': 'cosine'} for Together's defaults)",
        )
    if not isinstance(args, Mapping) or set(args) - {"min_lr_ratio"}:
        raise ProviderParameterError(
            "together", "lr_scheduler.lr_scheduler_args", "takes only min_lr_ratio with a linear scheduler"
        )
    if "min_lr_ratio" in args:
        _check_value(
            "lr_scheduler.lr_scheduler_args.min_lr_ratio",
            args["min_lr_ratio"],
            (_number_in(0, 1), "a number from 0 to 1"),
        )


def _check_wandb_name(metadata: Mapping[str, str]) -> str:
    name = wandb_name_from_metadata(metadata)
    if len(name) > MAX_WANDB_NAME:
        raise ProviderParameterError(
            "together",
            "metadata",
            f"needs {len(name):,} characters in wandb_name, where Together jobs keep it; at most {MAX_WANDB_NAME:,} "
            "(values over 64 characters are kept as digests)",
        )
    return name


# -- answers -------------------------------------------------------------------------------


def _items(body: Mapping[str, Any]) -> list[Any]:
    data = body.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Stable: items of the same second keep the order they came in.
    return sorted(items, key=lambda item: item.get("created_at") or 0, reverse=True)


def _page(items: list[dict[str, Any]], query: Mapping[str, Any]) -> dict[str, Any]:
    """One page of a whole list (newest first), as ``limit`` and ``after`` ask (no limit: all)."""
    after = query.get("after")
    if after is not None:
        ids = [item.get("id") for item in items]
        # An unknown cursor is past the end, as a page after the last item.
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = query.get("limit")
    has_more = False
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(items):
        items, has_more = items[:limit], True
    return {
        "object": "list",
        "data": items,
        "has_more": has_more,
        "first_id": items[0].get("id") if items else None,
        "last_id": items[-1].get("id") if items else None,
    }


def _hyperparameter_answer(job: Mapping[str, Any]) -> dict[str, Any]:
    hp = {key: job[key] for key in HYPERPARAMETERS if key in job and job[key] is not None}
    if hp.get("batch_size") == "max":
        # Together's own choice of batch size: "auto" in OpenAI's terms (job.batch_size keeps "max").
        hp["batch_size"] = "auto"
    return hp


def _job(job: dict[str, Any]) -> dict[str, Any]:
    """A Together job (``FinetuneResponse`` or its truncated form) as OpenAI's ``FineTuningJob``,
    Together's fields kept beside."""
    raw = job.get("status")
    raw_status = raw if isinstance(raw, str) else "pending"
    created = epoch_seconds(job.get("created_at"))
    updated = epoch_seconds(job.get("updated_at"))
    method = job.get("training_method")
    kind = "dpo" if isinstance(method, Mapping) and method.get("method") == "dpo" else "supervised"
    hp = _hyperparameter_answer(job)
    method_hp = {k: v for k, v in hp.items() if k in ("n_epochs", "batch_size", "learning_rate")}
    if kind == "dpo" and isinstance(method, Mapping) and _is_number(method.get("dpo_beta")):
        method_hp["beta"] = method["dpo_beta"]
    seed = job.get("random_seed")
    tokens = job.get("token_count")
    progress = job.get("progress")
    estimated = None
    if (
        isinstance(progress, Mapping)
        and progress.get("estimate_available") is True
        and _is_number(progress.get("seconds_remaining"))
        and raw_status not in _ENDED
    ):
        estimated = int(time.time() + progress["seconds_remaining"])
    error = None
    if raw_status == "error":
        message = job.get("message")
        error = {
            "code": "error",
            "message": message if isinstance(message, str) and message else "The job failed",
            "param": None,
        }
    output = job.get("model_output_name")
    validation = job.get("validation_file")
    suffix = job.get("suffix")
    mapped = {
        **job,
        "id": str(job.get("id", "")),
        "object": "fine_tuning.job",
        "status": normalise_status(raw_status),
        "provider_status": raw_status,
        "created_at": created or 0,
        "finished_at": (updated or created) if raw_status in _ENDED else None,
        "estimated_finish": estimated,
        "error": error,
        "fine_tuned_model": output if raw_status == "completed" and isinstance(output, str) else None,
        "hyperparameters": hp,
        "method": {"type": kind, kind: {"hyperparameters": method_hp}},
        "model": job.get("model") if isinstance(job.get("model"), str) else "",
        "organization_id": job.get("user_id") if isinstance(job.get("user_id"), str) else "",
        "result_files": [],
        "seed": seed if _is_int(seed) else 0,
        # As OpenAI's: the tokens trained once the job has succeeded (Together counts them before).
        "trained_tokens": tokens if _is_int(tokens) and raw_status == "completed" else None,
        "training_file": job.get("training_file") if isinstance(job.get("training_file"), str) else "",
        "validation_file": validation if isinstance(validation, str) and validation else None,
        "metadata": metadata_from_wandb_name(job.get("wandb_name")),
        "user_provided_suffix": suffix if isinstance(suffix, str) else None,
        "integrations": None,
    }
    return mapped


_LEVELS = {
    "info": "info",
    "warning": "warn",
    "error": "error",
    "legacy_info": "info",
    "legacy_iwarning": "warn",
    "legacy_ierror": "error",
}


def _events(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    """Together's events (a whole list) as OpenAI's, newest first, each with a stable id."""
    timed = [(epoch_seconds(e.get("created_at")), e) for e in events]
    # Oldest first to count identical events from the start, so the ids stay as the list grows.
    timed.sort(key=lambda pair: pair[0] or 0)
    seen: dict[str, int] = {}
    out = []
    for created, event in timed:
        kind = event.get("type")
        step = event.get("step")
        message = event.get("message")
        message = message if isinstance(message, str) else ""
        key = f"{job_id}\0{event.get('created_at')}\0{kind}\0{step}\0{message}"
        digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24]
        nth = seen.get(digest, 0)
        seen[digest] = nth + 1
        data = {k: v for k, v in event.items() if k not in ("object", "message", "level")}
        out.append(
            {
                "id": f"ftevent-{digest}" + (f"-{nth}" if nth else ""),
                "object": "fine_tuning.job.event",
                "created_at": created or 0,
                "level": _LEVELS.get(str(event.get("level")), "info"),
                "message": message,
                "type": "message",
                "data": data,
            }
        )
    out.reverse()
    return out


def _checkpoint(checkpoint: dict[str, Any], job_id: str) -> dict[str, Any]:
    step = checkpoint.get("step")
    path = checkpoint.get("path")
    path = path if isinstance(path, str) else ""
    kind = checkpoint.get("checkpoint_type")
    key = f"{job_id}\0{step}\0{path}\0{kind}"
    return {
        **checkpoint,
        "id": "ftckpt-" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24],
        "object": "fine_tuning.job.checkpoint",
        "created_at": epoch_seconds(checkpoint.get("created_at")) or 0,
        "fine_tuned_model_checkpoint": path,
        "fine_tuning_job_id": job_id,
        "step_number": step if _is_int(step) else 0,
        "metrics": {"step": step} if _is_int(step) else {},
    }


def configure(
    *, api_key: str | None, base_url: str | None, upload_sizes: TogetherUploadSizes | None = None
) -> TogetherProvider:
    """The provider of ``AsyncClient.together(...)``, defaults from the environment
    (``upload_sizes``: :class:`TogetherUploadSizes`, Together's SDK's by default).

    Raises :class:`~finetune_async.FineTuneError` when no API key is given or found.
    """
    api_key = api_key if api_key is not None else os.environ.get("TOGETHER_API_KEY")
    if not api_key:
        raise FineTuneError("No Together API key: pass api_key=... or set TOGETHER_API_KEY.")
    return TogetherProvider(
        base_url=base_url or os.environ.get("TOGETHER_BASE_URL") or DEFAULT_BASE_URL,
        auth=ApiKeyAuth(api_key),
        upload_sizes=upload_sizes,
    )

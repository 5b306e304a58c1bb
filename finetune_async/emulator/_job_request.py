"""The steps of ``POST /fine_tuning/jobs``, each a function a reader can follow.

:meth:`.jobs.Jobs.create` runs them in order: :func:`parse_job_request` (the body, the model,
the method, its hyperparameters and grader), :func:`fine_tune_files` (the files it names),
:func:`check_datasets` (what they hold, checked once per file), then :func:`build_job` (the
record, hyperparameters resolved, the schedule fixed). The order is the API's: the first
problem found is the one answered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import graders
from ._catalog import BaseModel, resolve_base
from ._datasets import DatasetCheck, DatasetChecks
from ._lifecycle import event, noise, phase_times
from ._util import bad_request, new_id, short_id
from ._validation import check_integrations, check_metadata, is_int, is_number, require_object
from .models import Models
from .store import FileRecord, JobRecord, Store

__all__ = [
    "HP_KEYS",
    "MAX_SEED",
    "Catalog",
    "JobRequest",
    "build_job",
    "check_datasets",
    "created_events",
    "data_provider",
    "fine_tune_files",
    "parse_job_request",
]

MAX_SEED = 2147483647

_HP_RULES: dict[str, Callable[[Any], bool]] = {
    "batch_size": lambda v: is_int(v) and 1 <= v <= 256,
    "learning_rate_multiplier": lambda v: is_number(v) and v > 0,
    "n_epochs": lambda v: is_int(v) and 1 <= v <= 50,
    "beta": lambda v: is_number(v) and 0 < v <= 2,
    "compute_multiplier": lambda v: is_number(v) and 0.00001 < v <= 10,
    "eval_interval": lambda v: is_int(v) and v >= 1,
    "eval_samples": lambda v: is_int(v) and v >= 1,
}
#: The hyperparameters each method takes.
HP_KEYS: dict[str, tuple[str, ...]] = {
    "supervised": ("batch_size", "learning_rate_multiplier", "n_epochs"),
    "dpo": ("batch_size", "learning_rate_multiplier", "n_epochs", "beta"),
    "reinforcement": (
        "batch_size", "learning_rate_multiplier", "n_epochs", "reasoning_effort",
        "compute_multiplier", "eval_interval", "eval_samples",
    ),
}  # fmt: skip
_REASONING = ("default", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A create body that passed every check that needs no file: what the job will be."""

    #: The model as asked for (an alias, a snapshot, or one of our fine-tuned models).
    model: str
    base: BaseModel
    method_type: str
    #: The hyperparameters as given (``"auto"`` kept), top-level and the method's merged.
    hyperparameters: dict[str, Any]
    grader: dict[str, Any] | None
    training_file: Any
    validation_file: Any
    suffix: str | None
    seed: int | None
    metadata: dict[str, str] | None
    integrations: list[Any] | None
    #: What a provider's dialect keeps with the job (see :attr:`.store.JobRecord.extra`).
    extra: dict[str, Any] | None = field(default=None)


#: How a create finds the base model a name means (a provider's dialect brings its own catalog).
Catalog = Callable[[str], BaseModel | None]


# -- step 1: the body --------------------------------------------------------------------------


def _check_hyperparameters(hp: Any, method: str, param: str) -> dict[str, Any]:
    if hp is None:
        return {}
    if not isinstance(hp, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param)
    for key, value in hp.items():
        if key not in HP_KEYS[method]:
            raise bad_request(f"Unrecognized hyperparameter '{key}' for method '{method}'.", f"{param}.{key}")
        if key == "reasoning_effort":
            if value not in _REASONING:
                raise bad_request(f"Invalid value for '{param}.{key}': {value!r}.", f"{param}.{key}")
        elif value != "auto" and not _HP_RULES[key](value):
            raise bad_request(
                f"Invalid value for '{param}.{key}': {value!r} is out of range or not a valid type.",
                f"{param}.{key}",
            )
    return dict(hp)


def _method(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the method's type, the ``method`` object); supervised when absent."""
    method_in = body.get("method")
    if method_in is None:
        return "supervised", {"type": "supervised"}
    if not isinstance(method_in, dict):
        raise bad_request("Invalid type for 'method': expected an object.", "method")
    if not isinstance(method_in.get("type"), str) or method_in["type"] not in HP_KEYS:
        raise bad_request("Invalid 'method.type': expected 'supervised', 'dpo' or 'reinforcement'.", "method.type")
    return str(method_in["type"]), method_in


def _resolve_model(name: Any, models: Models, catalog: Catalog) -> BaseModel:
    if not isinstance(name, str) or not name:
        raise bad_request("Missing required parameter: 'model'.", "model")
    # A base model by name or alias, or (continued fine-tuning) one of our fine-tuned models.
    base = catalog(name) or models.fine_tuned_base(name)
    if base is None:
        raise bad_request(
            f"Model {name} is not available for fine-tuning or does not exist.", "model", "model_not_available"
        )
    return base


def _hyperparameters(body: dict[str, Any], method_type: str, sub: dict[str, Any]) -> dict[str, Any]:
    """The top-level ``hyperparameters`` (supervised only) merged with the method's own."""
    hp = _check_hyperparameters(body.get("hyperparameters"), "supervised", "hyperparameters")
    if hp and method_type != "supervised":
        raise bad_request(
            "The top-level 'hyperparameters' only apply to supervised jobs; use 'method' instead.",
            "hyperparameters",
        )
    hp.update(_check_hyperparameters(sub.get("hyperparameters"), method_type, f"method.{method_type}.hyperparameters"))
    return hp


async def _grader(body: dict[str, Any], method_type: str, sub: dict[str, Any]) -> dict[str, Any] | None:
    """A reinforcement job's grader, validated (None for other methods)."""
    if method_type != "reinforcement":
        return None
    if sub.get("grader") is None:
        raise bad_request("Reinforcement fine-tuning requires a grader.", "method.reinforcement.grader")
    # Off the loop: checking a python grader waits on its compile child (up to 2 s).
    grader = await graders.validate_grader_async(sub["grader"], "method.reinforcement.grader")
    if body.get("validation_file") is None:
        raise bad_request("Reinforcement fine-tuning requires a validation_file.", "validation_file")
    return grader


async def parse_job_request(
    body: Any, models: Models, *, catalog: Catalog = resolve_base, extra: dict[str, Any] | None = None
) -> JobRequest:
    """Step 1: check everything in the body that needs no file; 400 naming the first problem.

    ``catalog`` resolves base model names (OpenAI's by default); ``extra`` is kept with the job.
    """
    body = require_object(body)
    if "model" not in body:
        raise bad_request("Missing required parameter: 'model'.", "model")
    if "training_file" not in body:
        raise bad_request("Missing required parameter: 'training_file'.", "training_file")
    method_type, method_in = _method(body)
    base = _resolve_model(body["model"], models, catalog)
    if method_type not in base.methods:
        raise bad_request(
            f"Model {body['model']} does not support the '{method_type}' fine-tuning method "
            f"(supported: {', '.join(base.methods)}).",
            "method.type",
            "invalid_method",
        )
    sub = method_in.get(method_type)
    if sub is not None and not isinstance(sub, dict):
        raise bad_request(f"Invalid type for 'method.{method_type}': expected an object.", f"method.{method_type}")
    sub = sub or {}
    hp = _hyperparameters(body, method_type, sub)
    grader = await _grader(body, method_type, sub)
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
        raise bad_request("Invalid 'suffix': must be a string of 1 to 64 characters.", "suffix")
    seed = body.get("seed")
    if seed is not None and (not is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise bad_request(f"Invalid 'seed': must be an integer between 0 and {MAX_SEED}.", "seed")
    return JobRequest(
        model=body["model"],
        base=base,
        method_type=method_type,
        hyperparameters=hp,
        grader=grader,
        training_file=body["training_file"],
        validation_file=body.get("validation_file"),
        suffix=suffix,
        seed=seed,
        metadata=check_metadata(body.get("metadata")),
        integrations=check_integrations(body.get("integrations")),
        extra=extra,
    )


# -- step 2: the files ---------------------------------------------------------------------------


def _fine_tune_file(store: Store, file_id: Any, param: str) -> FileRecord:
    if not isinstance(file_id, str) or not file_id:
        raise bad_request(f"Invalid type for '{param}': expected a file id string.", param)
    rec = store.files.get(file_id)
    if rec is None:
        raise bad_request(f"Invalid file ID '{file_id}' for {param}: no such file.", param, f"invalid_{param}")
    if rec.purpose != "fine-tune":
        raise bad_request(
            f"File {file_id} has purpose '{rec.purpose}'; {param} must be uploaded with purpose 'fine-tune'.",
            param,
            f"invalid_{param}",
        )
    return rec


def fine_tune_files(request: JobRequest, store: Store) -> tuple[FileRecord, FileRecord | None]:
    """Step 2: the training file and the validation file (if any); 400 unless each exists
    with purpose ``fine-tune``."""
    train = _fine_tune_file(store, request.training_file, "training_file")
    valid = None
    if request.validation_file is not None:
        valid = _fine_tune_file(store, request.validation_file, "validation_file")
    return train, valid


# -- step 3: what the files hold -----------------------------------------------------------------


def data_provider(request: JobRequest) -> str:
    """The provider whose data rules (:func:`finetune_async.datasets.data_rules_for`) the job's
    files are checked by: the dialect's that keeps its own fields with the job (``extra`` is
    keyed by the provider's name: Nebius, Together, Fireworks), else OpenAI's (Azure's are the same)."""
    from finetune_async.datasets import provider_names

    known = provider_names()
    return next((name for name in request.extra or {} if name in known), "openai")


async def check_datasets(
    request: JobRequest, train: FileRecord, valid: FileRecord | None, datasets: DatasetChecks
) -> tuple[DatasetCheck, dict[str, Any] | None]:
    """Step 3: the training file's check, and the error the job will fail with once validated
    (None when both files are usable). The validation file is checked only when the training
    file passes. Not an answer of the create: the API reports bad data by failing the job."""
    legacy = request.base.legacy_completions
    formats = request.base.line_formats
    provider = data_provider(request)
    check = await datasets.check(train, request.method_type, legacy=legacy, formats=formats, provider=provider)
    if check.problem is not None:
        return check, {
            "code": "invalid_training_file",
            "message": f"Invalid training file {train.id}: {check.problem}.",
            "param": "training_file",
        }
    if valid is not None:
        vcheck = await datasets.check(
            valid, request.method_type, legacy=legacy, validation=True, formats=formats, provider=provider
        )
        if vcheck.problem is not None:
            return check, {
                "code": "invalid_validation_file",
                "message": f"Invalid validation file {valid.id}: {vcheck.problem}.",
                "param": "validation_file",
            }
    return check, None


# -- step 4: the record ------------------------------------------------------------------------


def _auto_epochs(n: int) -> int:
    # n_epochs="auto" as OpenAI's data-preparation cookbook gives it: target 3; more for tiny sets, fewer for huge ones.
    if n * 3 < 100:
        return min(25, 100 // max(n, 1))
    if n * 3 > 25_000:
        return max(1, 25_000 // n)
    return 3


def _auto_batch_size(n: int) -> int:
    # About 0.2% of the examples, capped at 256, as the API's "auto" behaves.
    return max(1, min(256, math.ceil(n * 0.002)))


def _resolved_hyperparameters(method_type: str, requested: dict[str, Any], n_examples: int) -> dict[str, Any]:
    """Every hyperparameter of the method, ``"auto"`` (or absent) replaced by what the API picks."""
    n = max(n_examples, 1)
    resolved: dict[str, Any] = {
        "batch_size": _auto_batch_size(n),
        "learning_rate_multiplier": 1.8,
        "n_epochs": _auto_epochs(n),
    }
    if method_type == "dpo":
        resolved["beta"] = 0.1
    if method_type == "reinforcement":
        resolved.update(reasoning_effort="medium", compute_multiplier=1.0, eval_interval=1, eval_samples=1)
    resolved.update({k: v for k, v in requested.items() if v != "auto"})
    return resolved


def build_job(
    request: JobRequest,
    train: FileRecord,
    valid: FileRecord | None,
    check: DatasetCheck,
    invalid: dict[str, Any] | None,
    *,
    created: float,
    job_seconds: float,
    organization_id: str,
    org_slug: str,
) -> JobRecord:
    """Step 4: the new job's record (``validating_files``), its schedule fixed from ``created``."""
    method_type = request.method_type
    resolved = _resolved_hyperparameters(method_type, request.hyperparameters, check.n_examples)
    steps_per_epoch = math.ceil(max(check.n_examples, 1) / resolved["batch_size"])
    method_out: dict[str, Any] = {"type": method_type, method_type: {"hyperparameters": request.hyperparameters}}
    if request.grader is not None:
        method_out[method_type]["grader"] = request.grader
    t_validated, t_started, run_seconds = phase_times(created, job_seconds)
    seed = request.seed if request.seed is not None else int(noise(int(created * 1000), 1, 2) * MAX_SEED)
    return JobRecord(
        id=new_id("ftjob-", 24),
        created_at=created,
        # A snapshot for a base model's alias; a fine-tuned model's name as given.
        model=request.base.id if resolve_base(request.model) is not None else request.model,
        base_model=request.base.id,
        training_file=train.id,
        validation_file=valid.id if valid is not None else None,
        method_type=method_type,
        method=method_out,
        hp_requested=request.hyperparameters,
        hp_resolved=resolved,
        suffix=request.suffix,
        seed=seed,
        metadata=request.metadata,
        integrations=request.integrations,
        organization_id=organization_id,
        org_slug=org_slug,
        short=short_id(),
        n_examples=check.n_examples,
        total_tokens=check.total_tokens,
        invalid=invalid,
        t_validated=t_validated,
        t_started=t_started,
        run_seconds=run_seconds,
        total_steps=max(1, steps_per_epoch * resolved["n_epochs"]),
        steps_per_epoch=steps_per_epoch,
        extra=request.extra,
    )


def created_events(job: JobRecord) -> list[dict[str, Any]]:
    """The events a job starts with: created, and which files it validates."""
    files_msg = f"Validating training file: {job.training_file}"
    if job.validation_file is not None:
        files_msg += f" and validation file: {job.validation_file}"
    return [event(f"Created fine-tuning job: {job.id}", job.created_at), event(files_msg, job.created_at)]

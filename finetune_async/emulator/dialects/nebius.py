"""The ``nebius`` dialect: Nebius Token Factory's fine-tuning API (formerly AI Studio).

OpenAI-shaped paths under ``/v1``: ``/files``, ``/fine_tuning/jobs`` (list, create, retrieve,
``/cancel``, ``/events``, ``/checkpoints``, ``/checkpoints/{id}``), an optional
``?ai_project_id=`` (accepted, ignored), ``Authorization: Bearer`` only. No pause or resume,
Uploads, checkpoint permissions, graders or models routes: those paths answer 404 the way a
FastAPI service does (``{"detail": "Not Found"}``).

A create takes Nebius' absolute hyperparameters (:data:`HYPERPARAMETERS`, checked against the
documented ranges; 400 naming the field), ``method`` ``supervised`` or ``spec-draft`` (DPO and
reinforcement: 400), ``from_checkpoint``, ``tags`` and ``integrations``, for the base models of
:data:`BASE_MODELS`, whose data lines are Nebius' (chat ``messages``, ``prompt``/``completion``,
``text``, pre-tokenized ``input_ids``). The job runs on the shared state with the same
``batch_size`` and ``n_epochs``; what Nebius adds is kept with it (``JobRecord.extra``) and
shown in its answers, with ``trained_steps`` and ``total_steps``. Checkpoints carry
``result_files``: the adapter (LoRA) or model files, readable through ``/v1/files/{id}`` and
``/content`` though not listed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .._catalog import BaseModel
from .._util import APIError, bad_request, not_found
from .._validation import is_int, is_number
from ..routes import ROUTES
from ..routes._http import Route, answer, json_response, read_json, state
from ..store import JobRecord
from ._base import Dialect, Surface, bearer_key, replace_routes

__all__ = ["BASE_MODELS", "HYPERPARAMETERS", "METHODS", "NebiusDialect", "resolve_base"]

_SUPERVISED = ("supervised",)
#: Base models a Nebius job may name in the emulator (a sample of Token Factory's list).
BASE_MODELS: dict[str, BaseModel] = {
    m.id: m
    for m in (
        BaseModel("meta-llama/Llama-3.1-8B-Instruct", 1721692800, _SUPERVISED, line_formats="nebius"),
        BaseModel("meta-llama/Meta-Llama-3.1-8B-Instruct", 1721692800, _SUPERVISED, line_formats="nebius"),
        BaseModel("meta-llama/Llama-3.2-1B-Instruct", 1727222400, _SUPERVISED, line_formats="nebius"),
        BaseModel("meta-llama/Llama-3.2-3B-Instruct", 1727222400, _SUPERVISED, line_formats="nebius"),
        BaseModel("meta-llama/Llama-3.3-70B-Instruct", 1733443200, _SUPERVISED, line_formats="nebius"),
        BaseModel("Qwen/Qwen2.5-7B-Instruct", 1726444800, _SUPERVISED, line_formats="nebius"),
        BaseModel("Qwen/Qwen3-14B", 1745884800, _SUPERVISED, line_formats="nebius"),
        BaseModel("Qwen/Qwen3-32B", 1745884800, _SUPERVISED, line_formats="nebius"),
    )
}

#: The methods a Nebius job may have (``spec-draft`` trains a speculative-decoding drafter).
METHODS = ("supervised", "spec-draft")


def _int_in(lo: int, hi: int | None) -> Callable[[Any], bool]:
    return lambda v: is_int(v) and lo <= v and (hi is None or v <= hi)


def _number_in(lo: float, hi: float | None, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if not is_number(v) or not math.isfinite(v):
            return False
        above = v > lo if lo_open else v >= lo
        below = hi is None or (v < hi if hi_open else v <= hi)
        return above and below

    return ok


def _boolean(v: Any) -> bool:
    return isinstance(v, bool)


#: name: (default, check, the range as an error states it), as Token Factory documents them.
HYPERPARAMETERS: dict[str, tuple[Any, Callable[[Any], bool], str]] = {
    "batch_size": (8, _int_in(1, 64), "an integer from 1 to 64"),
    "learning_rate": (1e-5, _number_in(0, None, lo_open=True), "a number above 0"),
    "n_epochs": (3, _int_in(1, 20), "an integer from 1 to 20"),
    "warmup_ratio": (0.0, _number_in(0, 1), "a number from 0 to 1"),
    "weight_decay": (0.0, _number_in(0, None), "a number of at least 0"),
    "packing": (True, _boolean, "a boolean"),
    "max_grad_norm": (1.0, _number_in(0, None), "a number of at least 0"),
    "context_length": (8192, _int_in(8192, 131072), "an integer from 8192 to 131072"),
    "lora": (False, _boolean, "a boolean"),
    "lora_r": (8, _int_in(8, 128), "an integer from 8 to 128"),
    "lora_alpha": (8, _int_in(1, None), "an integer of at least 1"),
    "lora_dropout": (0.0, _number_in(0, 1, hi_open=True), "a number from 0 up to (not including) 1"),
}
_SECRETS = frozenset({"api_key", "token"})
_CKPT_PREFIX = "ftckpt-"
# A safetensors file with no tensors: its 8-byte header length, then the header "{}".
_EMPTY_SAFETENSORS = (2).to_bytes(8, "little") + b"{}"


def resolve_base(name: str) -> BaseModel | None:
    """The Nebius base model ``name`` means, or None."""
    return BASE_MODELS.get(name)


def _without_secrets(value: Any) -> Any:
    # What a job keeps and shows of an integration or a checkpoint source: never its keys.
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in _SECRETS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _hyperparameters(hp: Any, param: str) -> dict[str, Any]:
    if hp is None:
        return {}
    if not isinstance(hp, dict):
        raise bad_request(f"Invalid type for '{param}': expected an object.", param)
    for key, value in hp.items():
        rule = HYPERPARAMETERS.get(key)
        if rule is None:
            raise bad_request(
                f"Unrecognized hyperparameter '{key}': Nebius takes {', '.join(HYPERPARAMETERS)}.", f"{param}.{key}"
            )
        if not rule[1](value):
            raise bad_request(f"Invalid value for '{param}.{key}': {value!r}; expected {rule[2]}.", f"{param}.{key}")
    return dict(hp)


def _method(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the method's type, its hyperparameters as given)."""
    method = body.get("method")
    if method is None:
        return "supervised", {}
    if not isinstance(method, dict):
        raise bad_request("Invalid type for 'method': expected an object.", "method")
    kind = method.get("type", "supervised")
    if kind in ("dpo", "reinforcement"):
        raise bad_request(
            f"The '{kind}' method is not supported by Nebius Token Factory: use 'supervised' or 'spec-draft'.",
            "method.type",
            "invalid_method",
        )
    if kind not in METHODS:
        raise bad_request("Invalid 'method.type': expected 'supervised' or 'spec-draft'.", "method.type")
    sub = method.get(kind)
    if sub is None:
        return kind, {}
    if not isinstance(sub, dict):
        raise bad_request(f"Invalid type for 'method.{kind}': expected an object.", f"method.{kind}")
    return kind, _hyperparameters(sub.get("hyperparameters"), f"method.{kind}.hyperparameters")


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return list(value)
    raise bad_request("Invalid 'tags': expected a string or a list of strings.", "tags")


def _from_checkpoint(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("repo"), str) or not value["repo"]:
        raise bad_request(
            'Invalid \'from_checkpoint\': expected {"repo": str, "type": "hf", "revision"?, "token"?}.',
            "from_checkpoint",
        )
    if value.get("type", "hf") != "hf":
        raise bad_request("Invalid 'from_checkpoint.type': expected 'hf'.", "from_checkpoint.type")
    if value.get("revision") is not None and not isinstance(value["revision"], str):
        raise bad_request("Invalid 'from_checkpoint.revision': expected a string.", "from_checkpoint.revision")
    return {"type": "hf", **_without_secrets(value)}


def _integrations(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, dict) and isinstance(i.get("type"), str) for i in value):
        raise bad_request("Invalid 'integrations': expected a list of objects, each with a 'type'.", "integrations")
    return list(_without_secrets(value))


def translate_create(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Nebius create body as (the OpenAI-shaped body the state takes, what Nebius keeps with
    the job); 400 naming the first field that is wrong."""
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    kind, method_hp = _method(body)
    hp = {**_hyperparameters(body.get("hyperparameters"), "hyperparameters"), **method_hp}
    resolved = {key: hp.get(key, rule[0]) for key, rule in HYPERPARAMETERS.items()}
    nebius = {
        "method": kind,
        "hyperparameters": resolved,
        "tags": _tags(body.get("tags")),
        "from_checkpoint": _from_checkpoint(body.get("from_checkpoint")),
        "integrations": _integrations(body.get("integrations")),
    }
    shared: dict[str, Any] = {
        key: body[key] for key in ("model", "training_file", "validation_file", "suffix", "seed") if key in body
    }
    # The shared lifecycle needs only what sets its schedule: steps come from these two.
    shared["method"] = {
        "type": "supervised",
        "supervised": {"hyperparameters": {"batch_size": resolved["batch_size"], "n_epochs": resolved["n_epochs"]}},
    }
    return shared, {"nebius": nebius}


def _nebius(rec: JobRecord | None) -> dict[str, Any]:
    extra = (rec.extra or {}).get("nebius") if rec is not None else None
    if extra is not None:
        return dict(extra)
    # A job made by another dialect over the same data directory: Nebius' defaults.
    return {
        "method": "supervised",
        "hyperparameters": {key: rule[0] for key, rule in HYPERPARAMETERS.items()},
        "tags": None,
        "from_checkpoint": None,
        "integrations": [],
    }


_JOB_FIELDS = (
    "object", "id", "created_at", "model", "organization_id", "status", "training_file", "validation_file",
    "fine_tuned_model", "finished_at", "estimated_finish", "result_files", "trained_tokens", "error", "seed",
)  # fmt: skip


def job_answer(data: dict[str, Any], rec: JobRecord | None) -> dict[str, Any]:
    """OpenAI's job JSON as Nebius answers it."""
    neb = _nebius(rec)
    hp = neb["hyperparameters"]
    out = {key: data.get(key) for key in _JOB_FIELDS}
    out["suffix"] = data.get("user_provided_suffix")
    out["hyperparameters"] = hp
    out["method"] = {"type": neb["method"], neb["method"]: {"hyperparameters": hp}}
    out["integrations"] = neb["integrations"]
    out["tags"] = neb["tags"]
    out["from_checkpoint"] = neb["from_checkpoint"]
    out["trained_steps"] = rec.emitted_step if rec is not None else 0
    out["total_steps"] = rec.total_steps if rec is not None else None
    return out


def _result_names(lora: bool) -> tuple[str, str]:
    return ("adapter_config.json", "adapter_model.safetensors") if lora else ("config.json", "model.safetensors")


def _result_ids(ckpt: dict[str, Any]) -> list[str]:
    tail = ckpt["id"][len(_CKPT_PREFIX) :]
    return [f"file-ckpt{i}-{tail}" for i in range(2)]


def checkpoint_answer(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint as Nebius answers it: with its ``result_files``."""
    return {**ckpt, "result_files": _result_ids(ckpt)}


class _ResultFile:
    """One file of a checkpoint's ``result_files``: made from the checkpoint when read."""

    def __init__(self, file_id: str, ckpt: dict[str, Any], index: int, job: JobRecord | None) -> None:
        self.id = file_id
        self.ckpt = ckpt
        self.hp = _nebius(job)["hyperparameters"]
        self.model = job.model if job is not None else ""
        self.filename = _result_names(bool(self.hp["lora"]))[index]

    def content(self) -> bytes:
        if self.filename.endswith(".safetensors"):
            return _EMPTY_SAFETENSORS
        config: dict[str, Any] = {"base_model_name_or_path": self.model, "step": self.ckpt["step_number"]}
        if self.hp["lora"]:
            config.update(
                peft_type="LORA", r=self.hp["lora_r"], lora_alpha=self.hp["lora_alpha"],
                lora_dropout=self.hp["lora_dropout"],
            )  # fmt: skip
        return json.dumps(config).encode()

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content()),
            "created_at": self.ckpt["created_at"],
            "filename": self.filename,
            "purpose": "fine-tune-results",
            "status": "processed",
        }


def _result_file(request: web.Request, file_id: str) -> _ResultFile | None:
    head, _, tail = file_id.partition("-")
    if head != "file" or not tail.startswith("ckpt") or tail[4:5] not in ("0", "1") or tail[5:6] != "-":
        return None
    ckpt_id = _CKPT_PREFIX + tail[6:]
    store = state(request).store
    for job_id, ckpts in store.checkpoints.items():
        for ckpt in ckpts:
            if ckpt["id"] == ckpt_id:
                return _ResultFile(file_id, ckpt, int(tail[4]), store.jobs.get(job_id))
    return None


async def retrieve_file(request: web.Request) -> web.StreamResponse:
    file_id = request.match_info["file_id"]
    result = _result_file(request, file_id)
    if result is not None:
        return json_response(result.to_api())
    return json_response(state(request).files.get(file_id).to_api())


def _content_route(shared: Route) -> Route:
    async def file_content(request: web.Request) -> web.StreamResponse:
        result = _result_file(request, request.match_info["file_id"])
        if result is None:
            return await shared[2](request)
        return web.Response(
            body=result.content(),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{result.filename}"',
            },
        )

    return (shared[0], shared[1], file_content)


async def create_job(request: web.Request) -> web.StreamResponse:
    shared, extra = translate_create(await read_json(request))
    out = await state(request).jobs.create(shared, catalog=resolve_base, extra=extra)
    return answer(request, "job.created", out)


async def retrieve_checkpoint(request: web.Request) -> web.StreamResponse:
    emulator = state(request)
    job = emulator.jobs.get(request.match_info["fine_tuning_job_id"])
    ckpt_id = request.match_info["checkpoint_id"]
    for ckpt in emulator.store.checkpoints.get(job.id, []):
        if ckpt["id"] == ckpt_id:
            return json_response(checkpoint_answer(ckpt))
    raise not_found(f"Checkpoint {ckpt_id} not found for job {job.id}.", "checkpoint_id")


class _NebiusSurface(Surface):
    def authenticate(self, request: web.Request, keys: frozenset[str] | None) -> None:
        key = bearer_key(request)
        if not key:
            raise APIError(401, "Not authenticated", code="unauthorized")
        if keys is not None and key not in keys:
            raise APIError(401, "Invalid API key", code="invalid_api_key")

    def router_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        # A FastAPI service's own answers for what it does not route.
        detail = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status, exc.reason)
        response = json_response({"detail": detail}, exc.status)
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response

    def error_response(self, exc: APIError) -> web.Response:
        if exc.status == 401:
            resp = json_response({"detail": exc.message}, 401)
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        return super().error_response(exc)

    def answer(self, request: web.Request, kind: str, data: Any, status: int) -> web.StreamResponse:
        jobs = state(request).store.jobs
        if kind in ("job", "job.created"):
            data = job_answer(data, jobs.get(data["id"]))
        elif kind == "job.list":
            data = {**data, "data": [job_answer(j, jobs.get(j["id"])) for j in data["data"]]}
        elif kind == "checkpoint.list":
            data = {**data, "data": [checkpoint_answer(c) for c in data["data"]]}
        return json_response(data, status)


class NebiusDialect(Dialect):
    """Nebius Token Factory under ``/v1``."""

    name = "nebius"

    def __init__(self) -> None:
        content = next(r for r in ROUTES if r[:2] == ("GET", "/files/{file_id}/content"))
        routes = replace_routes(
            ROUTES,
            replace={
                ("POST", "/fine_tuning/jobs"): ("POST", "/fine_tuning/jobs", create_job),
                ("GET", "/files/{file_id}"): ("GET", "/files/{file_id}", retrieve_file),
                ("GET", "/files/{file_id}/content"): _content_route(content),
            },
            drop=("/uploads", "/models", "/fine_tuning/checkpoints", "/fine_tuning/alpha"),
            add=[
                (
                    "GET",
                    "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints/{checkpoint_id}",
                    retrieve_checkpoint,
                )
            ],
        )
        routes = [r for r in routes if not r[1].endswith(("/pause", "/resume"))]
        super().__init__([_NebiusSurface("/v1", routes)])

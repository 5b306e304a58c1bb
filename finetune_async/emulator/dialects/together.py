"""The ``together`` dialect: Together AI's fine-tuning API under ``/v1``.

Routes: ``/fine-tunes`` (create, list), ``/fine-tunes/{id}`` (retrieve, delete), ``/cancel``,
``/events``, ``/checkpoints`` and ``/metrics`` (whole lists, no paging), ``GET /fine-tunes/models/limits``
and ``POST /fine-tunes/estimate-price`` (Together's SDK calls both before a create), and files: ``GET /files``,
``GET|DELETE /files/{id}``, ``/files/{id}/content``, the spec's ``POST /files/upload``
(multipart with the bytes) and the flow Together's own SDK uses: ``POST /files`` with the
form's fields only, answered 302 with ``Location`` and ``X-Together-File-Id``; a ``PUT`` of the
bytes to that location (no Authorization: the URL is signed by a token in its query); then
``POST /files/{id}/preprocess``; and its multipart flow: ``POST /files/multipart/initiate``
(answers ``{upload_id, file_id, parts: [{PartNumber, URL, Headers}]}``), a ``PUT`` per part to
its signed URL (answers an ``ETag``: the part's md5, quoted; sent again, the part is replaced),
``/complete`` (the parts joined in order; the file answered) and ``/abort``. The announce and
the initiate carry a sha256 ``checksum``: the same one while the bytes are awaited names the same
file again, and a file already made from it answers 409 ``{"file_id"}`` (Together keeps one file
per content; its SDK then fetches that file). Signed URLs are on the origin the request came to,
or on the one its ``x-emulator-storage-origin`` header names (a test's storage server in front
of this one); as an object store's, they refuse a request that also carries ``Authorization``
(400). Faults apply to every route (``POST:/v1/files/multipart/complete``,
``PUT:/v1/files/{file_id}/parts/{n}``). ``Authorization: Bearer`` only.

A create takes Together's flat, absolute hyperparameters (:func:`translate_create`; 400 naming
the field), ``training_method`` ``sft`` or ``dpo`` (no reinforcement), ``training_type``
``Lora`` (the default) or ``Full``, ``from_checkpoint``. The job runs on the shared state with
the same batch size and epochs; Together's fields are kept with it (``JobRecord.extra``) and
its status is read from the shared lifecycle (:func:`together_status`).
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from .._catalog import BaseModel
from .._util import APIError, bad_request, new_id, not_found, now
from .._validation import is_int, is_number
from ..files import FILE_PURPOSES, MAX_FILE_BYTES
from ..routes import ROUTES
from ..routes._http import Route, json_response, loads, read_json, state
from ..routes._multipart import discard_on_error, read_form, store_body
from ..store import FileRecord, JobRecord
from ._base import Dialect, Surface, bearer_key

__all__ = ["BASE_MODELS", "TogetherDialect", "model_limits", "together_status", "translate_create"]

_SD = ("supervised", "dpo")
_MODEL_IDS = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct-Reference",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen3-8B",
)
#: Base models a Together job may name in the emulator (a sample); SFT jobs train on chat
#: ``messages``, ``prompt``/``completion`` or ``text`` lines.
BASE_MODELS: dict[str, BaseModel] = {m: BaseModel(m, 1721692800, _SD, line_formats="nebius") for m in _MODEL_IDS}
# DPO jobs train on OpenAI's preference lines (Together takes OpenAI's DPO shape).
_DPO_MODELS: dict[str, BaseModel] = {m: BaseModel(m, 1721692800, _SD) for m in _MODEL_IDS}

#: What ``batch_size: "max"`` becomes in the emulator (the real maximum depends on the model).
MAX_BATCH_SIZE = 32
#: Fraction of the run after which a running job reads ``compressing``, then ``uploading``.
_COMPRESSING, _UPLOADING = 0.9, 0.95


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check(body: dict[str, Any], key: str, ok: Any, expected: str, default: Any) -> Any:
    if body.get(key) is None:
        return default
    value = body[key]
    if not ok(value):
        raise bad_request(f"Invalid value for '{key}': {value!r}; expected {expected}.", key)
    return value


def _num(lo: float, hi: float | None = None, *, lo_open: bool = False) -> Any:
    def ok(v: Any) -> bool:
        if not is_number(v) or not math.isfinite(v):
            return False
        return (v > lo if lo_open else v >= lo) and (hi is None or v <= hi)

    return ok


def _int(lo: int) -> Any:
    return lambda v: is_int(v) and v >= lo


def _training_method(value: Any) -> dict[str, Any]:
    if value is None:
        return {"method": "sft", "train_on_inputs": "auto"}
    if not isinstance(value, dict):
        raise bad_request("Invalid type for 'training_method': expected an object.", "training_method")
    method = value.get("method")
    if method == "sft":
        toi = value.get("train_on_inputs", "auto")
        if not (isinstance(toi, bool) or toi == "auto"):
            raise bad_request(
                "Invalid 'training_method.train_on_inputs': expected a boolean or 'auto'.",
                "training_method.train_on_inputs",
            )
        return {"method": "sft", "train_on_inputs": toi}
    if method == "dpo":
        out: dict[str, Any] = {
            "method": "dpo",
            "dpo_beta": 0.1,
            "rpo_alpha": 0.0,
            "simpo_gamma": 0.0,
            "dpo_normalize_logratios_by_length": False,
            "dpo_reference_free": False,
        }
        for key in ("dpo_beta", "rpo_alpha", "simpo_gamma"):
            if value.get(key) is not None:
                if not _num(0)(value[key]):
                    raise bad_request(
                        f"Invalid 'training_method.{key}': expected a number of at least 0.", f"training_method.{key}"
                    )
                out[key] = value[key]
        for key in ("dpo_normalize_logratios_by_length", "dpo_reference_free"):
            if value.get(key) is not None:
                out[key] = bool(value[key])
        return out
    raise bad_request(
        f"Invalid 'training_method.method': {method!r}; Together trains with 'sft' or 'dpo'.",
        "training_method.method",
        "invalid_method",
    )


def _training_type(value: Any) -> dict[str, Any]:
    if value is None:
        value = {"type": "Lora"}
    if not isinstance(value, dict):
        raise bad_request("Invalid type for 'training_type': expected an object.", "training_type")
    kind = value.get("type")
    if kind == "Full":
        return {"type": "Full"}
    if kind != "Lora":
        raise bad_request(f"Invalid 'training_type.type': {kind!r}; expected 'Lora' or 'Full'.", "training_type.type")
    out: dict[str, Any] = {
        "type": "Lora",
        "lora_r": 8,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "lora_trainable_modules": "all-linear",
    }
    for key in ("lora_r", "lora_alpha"):
        if value.get(key) is not None:
            if not _int(1)(value[key]):
                raise bad_request(
                    f"Invalid 'training_type.{key}': expected a positive integer.", f"training_type.{key}"
                )
            out[key] = value[key]
    if value.get("lora_dropout") is not None:
        if not (is_number(value["lora_dropout"]) and 0 <= value["lora_dropout"] < 1):
            raise bad_request(
                "Invalid 'training_type.lora_dropout': expected a number from 0 up to 1.", "training_type.lora_dropout"
            )
        out["lora_dropout"] = value["lora_dropout"]
    if isinstance(value.get("lora_trainable_modules"), str):
        out["lora_trainable_modules"] = value["lora_trainable_modules"]
    return out


def _lr_scheduler(value: Any) -> dict[str, Any]:
    if value is None:
        return {"lr_scheduler_type": "linear", "lr_scheduler_args": {"min_lr_ratio": 0.0}}
    if not isinstance(value, dict) or value.get("lr_scheduler_type") not in ("linear", "cosine"):
        raise bad_request(
            "Invalid 'lr_scheduler': expected {lr_scheduler_type: 'linear'|'cosine', lr_scheduler_args}.",
            "lr_scheduler",
        )
    args = value.get("lr_scheduler_args") or {}
    if not isinstance(args, dict):
        raise bad_request(
            "Invalid 'lr_scheduler.lr_scheduler_args': expected an object.", "lr_scheduler.lr_scheduler_args"
        )
    out_args: dict[str, Any] = {"min_lr_ratio": args.get("min_lr_ratio", 0.0)}
    if value["lr_scheduler_type"] == "cosine":
        out_args["num_cycles"] = args.get("num_cycles", 0.5)
    return {"lr_scheduler_type": value["lr_scheduler_type"], "lr_scheduler_args": out_args}


def translate_create(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Together create body as (the OpenAI-shaped body the state takes, what Together keeps
    with the job); 400 naming the first field that is wrong."""
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    batch = _check(body, "batch_size", lambda v: v == "max" or _int(1)(v), "a positive integer or 'max'", "max")
    together: dict[str, Any] = {
        "n_epochs": _check(body, "n_epochs", _int(1), "a positive integer", 1),
        "n_checkpoints": _check(body, "n_checkpoints", _int(1), "a positive integer", 1),
        "n_evals": _check(body, "n_evals", _int(0), "an integer of at least 0", 0),
        "batch_size": MAX_BATCH_SIZE if batch == "max" else batch,
        "learning_rate": _check(body, "learning_rate", _num(0, lo_open=True), "a number above 0", 1e-5),
        "warmup_ratio": _check(body, "warmup_ratio", _num(0, 1), "a number from 0 to 1", 0.0),
        "max_grad_norm": _check(body, "max_grad_norm", _num(0), "a number of at least 0", 1.0),
        "weight_decay": _check(body, "weight_decay", _num(0), "a number of at least 0", 0.0),
        "packing": _check(body, "packing", lambda v: isinstance(v, bool), "a boolean", True),
        "max_seq_length": _check(body, "max_seq_length", _int(1), "a positive integer", 8192),
        "lr_scheduler": _lr_scheduler(body.get("lr_scheduler")),
        "training_method": _training_method(body.get("training_method")),
        "training_type": _training_type(body.get("training_type")),
        "from_checkpoint": _check(body, "from_checkpoint", lambda v: isinstance(v, str) and v, "a string", None),
        "wandb_project_name": _check(body, "wandb_project_name", lambda v: isinstance(v, str), "a string", None),
        "wandb_name": _check(body, "wandb_name", lambda v: isinstance(v, str), "a string", None),
    }
    seed = _check(body, "random_seed", is_int, "an integer", None)
    together["random_seed"] = seed
    _check(body, "suffix", lambda v: isinstance(v, str), "a string", None)
    # Together's SDK sends unset fields as null or "" (validation_file among them): both mean absent.
    shared: dict[str, Any] = {
        key: body[key] for key in ("model", "training_file", "validation_file") if body.get(key) not in (None, "")
    }
    if body.get("suffix"):
        shared["suffix"] = body["suffix"]
    if seed is not None:
        shared["seed"] = seed
    hp: dict[str, Any] = {"batch_size": together["batch_size"], "n_epochs": together["n_epochs"]}
    if together["training_method"]["method"] == "dpo":
        hp["beta"] = together["training_method"]["dpo_beta"] or 0.1
        shared["method"] = {"type": "dpo", "dpo": {"hyperparameters": hp}}
    else:
        shared["method"] = {"type": "supervised", "supervised": {"hyperparameters": hp}}
    # The wandb key is a secret: never kept.
    return shared, {"together": together}


def _together(rec: JobRecord | None) -> dict[str, Any]:
    extra = (rec.extra or {}).get("together") if rec is not None else None
    if extra is not None:
        return dict(extra)
    # A job made by another dialect over the same data directory: Together's defaults.
    _shared, kept = translate_create({})
    return dict(kept["together"])


def together_status(status: str, rec: JobRecord | None, t: float) -> str:
    """The shared lifecycle's ``status`` as Together names it at time ``t``."""
    if status == "validating_files":
        return "pending"
    if status in ("queued", "paused"):
        return "queued"
    if status == "succeeded":
        return "completed"
    if status == "failed":
        return "error"
    if status == "cancelled":
        return "cancelled"
    if status == "running" and rec is not None and rec.run_seconds > 0:
        done = rec.run_offset + (t - rec.run_resumed_at if rec.run_resumed_at is not None else 0.0)
        frac = done / rec.run_seconds
        if frac >= _UPLOADING:
            return "uploading"
        if frac >= _COMPRESSING:
            return "compressing"
    return "running"


def model_output_name(rec: JobRecord | None, data: dict[str, Any]) -> str:
    """The name Together gives the fine-tuned model (known from the create on)."""
    base = str(data.get("model", "")).split("/")[-1]
    suffix = f"-{rec.suffix}" if rec is not None and rec.suffix else ""
    org = rec.org_slug if rec is not None else "user"
    short = rec.short if rec is not None else data["id"][-8:]
    return f"{org}/{base}{suffix}-{short}"


def job_answer(data: dict[str, Any], rec: JobRecord | None, *, full: bool = False) -> dict[str, Any]:
    """OpenAI's job JSON as Together answers it (``FinetuneResponseTruncated``; with ``full``,
    also ``FinetuneResponse``'s fields)."""
    t = now()
    tg = _together(rec)
    created = float(data["created_at"])
    started = rec.t_started if rec is not None and data["status"] not in ("validating_files", "queued") else None
    finished = data.get("finished_at")
    tokens = data.get("trained_tokens") or (rec.total_tokens if rec is not None else 0)
    out: dict[str, Any] = {
        "id": data["id"],
        "status": together_status(data["status"], rec, t),
        "created_at": _iso(created),
        "updated_at": _iso(float(finished) if finished is not None else max(created, min(t, started or created))),
        "user_id": data.get("organization_id") or "user",
        "owner_address": f"{rec.org_slug if rec is not None else 'user'}@example.com",
        "total_price": 0,
        "token_count": int(tokens or 0),
        "events": [],
        "training_file": data["training_file"],
        "model": data["model"],
        "model_output_name": model_output_name(rec, data),
        **{
            k: tg[k]
            for k in (
                "n_epochs",
                "n_evals",
                "n_checkpoints",
                "batch_size",
                "learning_rate",
                "lr_scheduler",
                "warmup_ratio",
                "max_grad_norm",
                "weight_decay",
                "packing",
                "max_seq_length",
                "training_type",
                "training_method",
                "random_seed",
            )
        },
    }
    for key, value in (
        ("validation_file", data.get("validation_file")),
        ("suffix", data.get("user_provided_suffix")),
        ("started_at", _iso(started)),
        ("from_checkpoint", tg.get("from_checkpoint")),
        ("wandb_project_name", tg.get("wandb_project_name")),
        ("wandb_name", tg.get("wandb_name")),
    ):
        if value is not None:
            out[key] = value
    if out["status"] in ("running", "compressing", "uploading") and data.get("estimated_finish"):
        out["progress"] = {"estimate_available": True, "seconds_remaining": max(0, int(data["estimated_finish"] - t))}
    else:
        out["progress"] = {"estimate_available": False, "seconds_remaining": 0}
    if data.get("error"):
        out["message"] = data["error"].get("message")
    if full:
        steps_per_epoch = rec.steps_per_epoch if rec is not None else 1
        out.update(
            job_id=data["id"],
            model_output_path=f"s3://together-emulator/finetune/{data['id']}/{out['model_output_name']}",
            trainingfile_numlines=rec.n_examples if rec is not None else 0,
            trainingfile_size=0,
            eval_steps=0,
            train_on_inputs=tg["training_method"].get("train_on_inputs", "auto"),
            param_count=0,
            epochs_completed=(rec.emitted_step // steps_per_epoch if rec is not None and steps_per_epoch else 0),
            queue_depth=0,
        )
    return out


async def create_job(request: web.Request) -> web.StreamResponse:
    shared, extra = translate_create(await read_json(request))
    dpo = shared["method"]["type"] == "dpo"
    catalog = (_DPO_MODELS if dpo else BASE_MODELS).get
    out = await state(request).jobs.create(shared, catalog=catalog, extra=extra)
    rec = state(request).store.jobs.get(out["id"])
    return json_response(job_answer(out, rec))


async def list_jobs(request: web.Request) -> web.StreamResponse:
    jobs = state(request).jobs
    listing = jobs.listing(limit=10**9, after=None, metadata=None, no_metadata=False)
    store = state(request).store.jobs
    return json_response({"data": [job_answer(j, store.get(j["id"])) for j in listing["data"]]})


async def retrieve_job(request: web.Request) -> web.StreamResponse:
    jobs = state(request).jobs
    rec = jobs.get(request.match_info["id"])
    return json_response(job_answer(jobs.to_api(rec), rec, full=True))


async def cancel_job(request: web.Request) -> web.StreamResponse:
    emulator = state(request)
    out = emulator.jobs.cancel(request.match_info["id"])
    shown = job_answer(out, emulator.store.jobs.get(out["id"]))
    # Together answers a cancel with the request noted; reads after it find the job cancelled.
    shown["status"] = "cancel_requested"
    return json_response(shown)


def _event_type(ev: dict[str, Any]) -> str:
    msg = str(ev.get("message", "")).lower()
    if ev.get("level") == "error" or "failed" in msg:
        return "job_error"
    if "cancelled" in msg:
        return "job_stopped"
    if "successfully completed" in msg:
        return "job_complete"
    if "checkpoint" in msg:
        return "checkpoint_save"
    if "fine-tuned model" in msg or "sampling" in msg:
        return "model_upload_complete"
    if "started" in msg:
        return "job_start"
    if "validated" in msg:
        return "training_data_download_complete"
    return "job_pending"


async def list_events(request: web.Request) -> web.StreamResponse:
    emulator = state(request)
    rec = emulator.jobs.get(request.match_info["id"])
    emulator.jobs.advance(rec, now())
    data = []
    for raw in emulator.store.events.get(rec.id, []):
        ev = loads(raw, "event")
        if ev.get("type") == "metrics":
            continue  # Together lists no per-step events.
        step = (ev.get("data") or {}).get("step", 0) if isinstance(ev.get("data"), dict) else 0
        data.append(
            {
                "object": "fine-tune-event",
                "created_at": _iso(float(ev["created_at"])),
                "level": ev.get("level") if ev.get("level") in ("info", "warning", "error") else "info",
                "message": ev.get("message", ""),
                "type": _event_type(ev),
                "param_count": 0,
                "token_count": rec.total_tokens,
                "total_steps": rec.total_steps,
                "wandb_url": "",
                "step": int(step) if is_int(step) else 0,
                "checkpoint_path": "",
                "model_path": "",
                "training_offset": 0,
                "hash": "",
            }
        )
    return json_response({"data": data})


async def list_checkpoints(request: web.Request) -> web.StreamResponse:
    emulator = state(request)
    rec = emulator.jobs.get(request.match_info["id"])
    listing = emulator.jobs.checkpoints(rec.id, limit=10**9, after=None)
    data = [
        {
            "step": c["step_number"],
            "created_at": _iso(float(c["created_at"])),
            "path": c["fine_tuned_model_checkpoint"],
            "checkpoint_type": "Intermediate",
        }
        for c in listing["data"]
    ]
    if rec.status == "succeeded" and rec.finished_at is not None:
        name = model_output_name(rec, {"id": rec.id, "model": rec.model})
        data.insert(
            0,
            {
                "step": rec.total_steps,
                "created_at": _iso(rec.finished_at),
                "path": name,
                "checkpoint_type": "Final Merged",
            },
        )
    return json_response({"data": data})


# The shared metrics' names as Together's metrics endpoint names them.
_METRIC_NAMES = {
    "step": "train/global_step",
    "train_loss": "train/loss",
    "train_mean_token_accuracy": "train/mean_token_accuracy",
    "valid_loss": "eval/loss",
    "valid_mean_token_accuracy": "eval/mean_token_accuracy",
}


async def job_metrics(request: web.Request) -> web.StreamResponse:
    """``GET /fine-tunes/{id}/metrics``: the job's recorded metrics, oldest first, each a flat
    object of numbers (the shared lifecycle's metrics events, Together's names)."""
    emulator = state(request)
    rec = emulator.jobs.get(request.match_info["id"])
    emulator.jobs.advance(rec, now())
    lr = float(_together(rec).get("learning_rate") or 1e-5)
    # Together's SDK sends the spec's filters as query parameters.
    bounds = []
    for name in ("global_step_from", "global_step_to"):
        text = request.query.get(name)
        try:
            bounds.append(int(text) if text is not None else None)
        except ValueError:
            raise bad_request(f"Invalid '{name}': expected an integer.", name) from None
    low, high = bounds
    metrics = []
    for raw in emulator.store.events.get(rec.id, []):
        ev = loads(raw, "event")
        data = ev.get("data")
        if ev.get("type") != "metrics" or not isinstance(data, dict):
            continue
        snapshot = {name: data[key] for key, name in _METRIC_NAMES.items() if is_number(data.get(key)) and key in data}
        step = snapshot.get("train/global_step")
        if step is not None and ((low is not None and step < low) or (high is not None and step > high)):
            continue
        if snapshot:
            snapshot["train/learning_rate"] = lr
            metrics.append(snapshot)
    return json_response({"metrics": metrics})


async def delete_job(request: web.Request) -> web.StreamResponse:
    """``DELETE /fine-tunes/{id}``: a finished job goes with its events and checkpoints; 404,
    or 400 while it has not finished (cancel it first)."""
    job_id = request.match_info["id"]
    state(request).jobs.delete(job_id)
    return json_response({"message": f"Fine-tune job {job_id} deleted."})


def model_limits(name: str) -> dict[str, Any]:
    """``GET /fine-tunes/models/limits``: what a job on ``name`` may ask (the spec's fields and
    those Together's SDK reads); 404 for a model the emulator does not train."""
    if name not in BASE_MODELS:
        raise not_found(f"Model {name!r} is not available for fine-tuning.", "model_name")
    return {
        "model_name": name,
        "full_training": {"max_batch_size": 96, "max_batch_size_dpo": 48, "min_batch_size": 8},
        "lora_training": {
            "max_batch_size": 128, "max_batch_size_dpo": 64, "min_batch_size": 8, "max_rank": 64, "default_rank": 8,
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"],
        },
        "max_num_epochs": 20, "max_num_evals": 100, "max_num_checkpoints": 20,
        "max_learning_rate": 1.0, "min_learning_rate": 1e-8,
        "max_seq_length_sft": 131072, "max_seq_length_dpo": 65536, "min_max_seq_length": 512,
        "default_gradient_accumulation_steps": 1,
        "supports_vision": False, "supports_tools": True, "supports_reasoning": False,
        "supports_full_training": True, "merge_output_lora": True,
    }  # fmt: skip


async def get_model_limits(request: web.Request) -> web.StreamResponse:
    name = request.query.get("model_name")
    if not name:
        raise bad_request("Missing required parameter: 'model_name'.", "model_name")
    return json_response(model_limits(name))


async def estimate_price(request: web.Request) -> web.StreamResponse:
    """``POST /fine-tunes/estimate-price``: the emulator trains for free."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("training_file"), str):
        raise bad_request("Missing required parameter: 'training_file'.", "training_file")
    rec = state(request).files.get(body["training_file"])
    epochs: int = body["n_epochs"] if is_int(body.get("n_epochs")) else 1
    tokens = rec.bytes // 4 * max(1, epochs)
    return json_response(
        {
            "estimation_available": True,
            "estimated_total_price": 0.0,
            "allowed_to_proceed": True,
            "user_limit": 0.0,
            "estimated_train_token_count": float(tokens),
            "estimated_eval_token_count": 0.0,
        }
    )


# -- files ---------------------------------------------------------------------------------------


def file_answer(data: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's file JSON as Together answers it (``FileResponse``)."""
    name = str(data.get("filename", ""))
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else "jsonl"
    return {
        "id": data["id"],
        "object": "file",
        "created_at": data["created_at"],
        "filename": name,
        "bytes": data["bytes"],
        "purpose": data["purpose"] if data["purpose"] in ("fine-tune", "eval", "batch-api") else "fine-tune",
        "FileType": ext if ext in _FILE_TYPES else "jsonl",
        "Processed": data.get("status", "processed") == "processed",
        "LineCount": 0,
    }


#: The spec's ``FileType``.
_FILE_TYPES = ("csv", "jsonl", "parquet")


def _purpose(fields: dict[str, str]) -> str:
    purpose = fields.get("purpose", "fine-tune")
    if purpose not in FILE_PURPOSES:
        raise bad_request(f"'{purpose}' is not a valid purpose.", "purpose")
    return purpose


def _too_large(size: int) -> APIError:
    return bad_request(f"The file is larger than the maximum of {MAX_FILE_BYTES >> 20} MB.", "file")


async def upload_file(request: web.Request) -> web.StreamResponse:
    """The spec's ``POST /files/upload``: the bytes in the multipart form."""
    files = state(request).files
    form = await read_form(request, files, binary="file", limit=MAX_FILE_BYTES, too_large=_too_large)
    with discard_on_error(files, form.blob):
        if form.blob is None:
            raise bad_request("Missing required parameter: 'file'.", "file")
        # The spec's route requires what the SDK's own flow lets default.
        if "purpose" not in form.fields:
            raise bad_request("Missing required parameter: 'purpose'.", "purpose")
        purpose = _purpose(form.fields)
        file_type = form.fields.get("file_type", "jsonl")
        if file_type not in _FILE_TYPES:
            raise bad_request(f"'{file_type}' is not a valid file_type (one of {', '.join(_FILE_TYPES)}).", "file_type")
        name = form.fields.get("file_name")
        if not name:
            raise bad_request("Missing required parameter: 'file_name'.", "file_name")
        out = files.add(filename=name, purpose=purpose, blob=form.blob, size=form.size, expires_after=None)
    return json_response(file_answer(out))


#: A request header naming the origin the signed URLs are handed out on (a test's "storage"
#: server standing in front of this emulator): by default, the origin the request came to.
STORAGE_ORIGIN_HEADER = "x-emulator-storage-origin"
#: The most parts a multipart upload may have (S3's limit).
MAX_PARTS = 10_000


def _signed_origin(request: web.Request) -> str:
    given = request.headers.get(STORAGE_ORIGIN_HEADER, "").rstrip("/")
    return given if given.startswith(("http://", "https://")) else str(request.url.origin())


@attrs.define
class _Part:
    blob: str
    size: int
    etag: str


@attrs.define
class _Multipart:
    token: str
    file_id: str
    filename: str
    purpose: str
    file_size: int
    num_parts: int
    checksum: str
    parts: dict[int, _Part] = attrs.field(factory=dict)


class _PendingUploads:
    """What the SDK's upload flows leave between requests (dialect memory): files announced by
    ``POST /files`` whose bytes have not been PUT yet, multipart uploads not yet completed, and
    the checksum of each file those flows made (Together keeps one file per content)."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[str, str, str, str]] = {}  # file id -> (token, filename, purpose, checksum)
        self.multipart: dict[str, _Multipart] = {}  # upload id -> the upload
        self.by_checksum: dict[str, str] = {}  # checksum -> file id

    def existing(self, request: web.Request, checksum: str) -> str | None:
        """The file already made from this content, if it is still there."""
        file_id = self.by_checksum.get(checksum) if checksum else None
        if file_id is not None and state(request).store.files.get(file_id) is None:
            del self.by_checksum[checksum]
            return None
        return file_id


def _conflict(file_id: str) -> web.Response:
    # What Together answers for content it already has; its SDK then fetches that file.
    return json_response({"message": f"File already exists: {file_id}", "file_id": file_id}, 409)


def _refuse_credentials(request: web.Request) -> None:
    """A signed URL carries its own authorisation: as an object store, refuse a second one."""
    if "Authorization" in request.headers:
        raise bad_request(
            "Only one auth mechanism allowed: the signed URL's query, or an Authorization header.", "Authorization"
        )


async def announce_file(request: web.Request, uploads: _PendingUploads) -> web.StreamResponse:
    """Together's SDK: ``POST /files`` with the form's fields only; 302 to where the bytes go.
    The same checksum while the bytes are awaited names the same file again; a file already
    made from it answers 409 ``{"file_id"}``."""
    post = await request.post()
    fields = {k: v for k, v in post.items() if isinstance(v, str)}
    purpose = _purpose(fields)
    name = fields.get("file_name")
    sent = post.get("file")
    if isinstance(sent, web.FileField):
        # A client sending the bytes here (OpenAI's way) gets the file at once.
        files = state(request).files
        blob, path = files.new_blob()
        data = sent.file.read()
        path.write_bytes(data)
        out = files.add(
            filename=name or sent.filename or "file", purpose=purpose, blob=blob, size=len(data), expires_after=None
        )
        return json_response(file_answer(out))
    if not name:
        raise bad_request("Missing required parameter: 'file_name'.", "file_name")
    checksum = fields.get("checksum", "")
    existing = uploads.existing(request, checksum)
    if existing is not None:
        return _conflict(existing)
    again = [fid for fid, entry in uploads.pending.items() if checksum and entry[1:] == (name, purpose, checksum)]
    file_id = again[0] if again else new_id("file-", 22)
    token = uploads.pending[file_id][0] if again else secrets.token_urlsafe(16)
    uploads.pending[file_id] = (token, name, purpose, checksum)
    location = f"{_signed_origin(request)}/v1/files/{file_id}/bytes?token={token}"
    return web.Response(status=302, headers={"Location": location, "X-Together-File-Id": file_id})


async def put_bytes(request: web.Request, uploads: _PendingUploads) -> web.StreamResponse:
    """The PUT to the redirect flow's signed URL; 200 (sent again: the bytes replaced)."""
    _refuse_credentials(request)
    file_id = request.match_info["id"]
    entry = uploads.pending.get(file_id)
    existing = state(request).store.files.get(file_id)
    if existing is not None and entry is None:
        # The same PUT again (its answer was lost): the file is there.
        return web.Response(status=200)
    if entry is None or not secrets.compare_digest(entry[0].encode(), request.query.get("token", "").encode()):
        raise not_found(f"No upload pending for {file_id}.", "id")
    blob, size, _md5 = await store_body(request, MAX_FILE_BYTES, _too_large)
    if uploads.pending.pop(file_id, None) is None:
        # A second PUT of the same upload that ran alongside the first: the first one landed.
        state(request).files.discard_blob(blob)
        return web.Response(status=200)
    rec = FileRecord(id=file_id, filename=entry[1], purpose=entry[2], bytes=size, created_at=int(now()), path=blob)
    state(request).store.put_file(rec)
    if entry[3]:
        uploads.by_checksum[entry[3]] = file_id
    return web.Response(status=200)


async def preprocess_file(request: web.Request) -> web.StreamResponse:
    return json_response(file_answer(state(request).files.get(request.match_info["id"]).to_api()))


async def initiate_multipart(request: web.Request, uploads: _PendingUploads) -> web.StreamResponse:
    """``POST /files/multipart/initiate {file_name, file_size, num_parts, purpose, file_type,
    checksum}``: ``{upload_id, file_id, parts: [{PartNumber, URL, Headers}]}``, each URL signed
    (no Authorization goes there). The same checksum while the upload is open answers that
    upload again; a file already made from it answers 409 ``{"file_id"}``."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    name = body.get("file_name")
    if not isinstance(name, str) or not name:
        raise bad_request("Missing required parameter: 'file_name'.", "file_name")
    purpose = _purpose({"purpose": body["purpose"]} if isinstance(body.get("purpose"), str) else {})
    size: Any = body.get("file_size")
    count: Any = body.get("num_parts")
    if not is_int(size) or size < 1:
        raise bad_request("Invalid 'file_size': expected a positive integer.", "file_size")
    if size > MAX_FILE_BYTES:
        # The emulator's own bound on what it stores (its parts would otherwise fill the disk).
        raise bad_request(
            f"Invalid 'file_size': the emulator stores files of at most {MAX_FILE_BYTES:,} bytes.", "file_size"
        )
    if not is_int(count) or not 1 <= count <= min(MAX_PARTS, size):
        raise bad_request(f"Invalid 'num_parts': expected 1 to {min(MAX_PARTS, size)}.", "num_parts")
    file_type = body.get("file_type", "jsonl")
    if file_type not in _FILE_TYPES:
        raise bad_request(f"'{file_type}' is not a valid file_type (one of {', '.join(_FILE_TYPES)}).", "file_type")
    checksum = str(body["checksum"]) if isinstance(body.get("checksum"), str) else ""
    existing = uploads.existing(request, checksum)
    if existing is not None:
        return _conflict(existing)
    upload_id = next(
        (
            uid
            for uid, up in uploads.multipart.items()
            if checksum
            and (up.checksum, up.filename, up.purpose, up.file_size, up.num_parts)
            == (checksum, name, purpose, size, count)
        ),
        None,
    )
    if upload_id is None:
        upload_id = "upload-" + secrets.token_hex(12)
        uploads.multipart[upload_id] = _Multipart(
            token=secrets.token_urlsafe(16),
            file_id=new_id("file-", 22),
            filename=name,
            purpose=purpose,
            file_size=size,
            num_parts=count,
            checksum=checksum,
        )
    up = uploads.multipart[upload_id]
    origin = _signed_origin(request)
    parts = [
        {
            "PartNumber": n,
            "URL": f"{origin}/v1/files/{up.file_id}/parts/{n}?upload_id={upload_id}&token={up.token}",
            "Headers": {},
        }
        for n in range(1, count + 1)
    ]
    return json_response({"upload_id": upload_id, "file_id": up.file_id, "parts": parts})


def _open_upload(uploads: _PendingUploads, upload_id: Any, file_id: Any) -> _Multipart:
    up = uploads.multipart.get(upload_id) if isinstance(upload_id, str) else None
    if up is None or up.file_id != file_id:
        raise not_found(f"No multipart upload {upload_id!r} for file {file_id!r}.", "upload_id")
    return up


async def put_part(request: web.Request, uploads: _PendingUploads) -> web.StreamResponse:
    """A part's PUT to its signed URL: 200 with its ``ETag`` (sent again: the part replaced)."""
    _refuse_credentials(request)
    upload_id = request.query.get("upload_id", "")
    up = uploads.multipart.get(upload_id)
    if (
        up is None
        or up.file_id != request.match_info["id"]
        or not secrets.compare_digest(up.token.encode(), request.query.get("token", "").encode())
    ):
        raise not_found(f"No multipart upload {upload_id!r} for this URL.", "upload_id")
    number = request.match_info["n"]
    if not (number.isascii() and number.isdigit() and len(number) <= 6) or not 1 <= int(number) <= up.num_parts:
        raise not_found(f"No part {number} in upload {upload_id}.", "n")
    blob, size, md5 = await store_body(request, up.file_size, _too_large)
    old = up.parts.pop(int(number), None)
    if old is not None:
        state(request).files.discard_blob(old.blob)
    if uploads.multipart.get(upload_id) is not up:
        # Aborted while the part was arriving.
        state(request).files.discard_blob(blob)
        raise not_found(f"No multipart upload {upload_id!r}.", "upload_id")
    up.parts[int(number)] = _Part(blob, size, md5)
    return web.Response(status=200, headers={"ETag": f'"{md5}"'})


async def complete_multipart(request: web.Request, uploads: _PendingUploads) -> web.StreamResponse:
    """``POST /files/multipart/complete {upload_id, file_id, parts: [{part_number, etag}]}``:
    the parts joined in order into the file, which is answered (Together's ``FileResponse``)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    up = _open_upload(uploads, body.get("upload_id"), body.get("file_id"))
    listed = body.get("parts")
    if not isinstance(listed, list) or not all(isinstance(p, dict) for p in listed):
        raise bad_request("Invalid 'parts': expected a list of {part_number, etag}.", "parts")
    numbers = [p.get("part_number") for p in listed]
    if numbers != list(range(1, up.num_parts + 1)):
        raise bad_request(f"Invalid 'parts': expected parts 1 to {up.num_parts} in order.", "parts")
    for p in listed:
        part = up.parts.get(p["part_number"])
        if part is None or str(p.get("etag", "")).strip('"') != part.etag:
            raise bad_request(f"Part {p['part_number']} was not uploaded with that ETag.", "parts")
    total = sum(part.size for part in up.parts.values())
    if total != up.file_size:
        raise bad_request(f"The parts hold {total} bytes, not the {up.file_size} announced.", "parts")
    files = state(request).files
    blob, path = files.new_blob()
    sources = [state(request).store.blob_path(up.parts[n].blob) for n in range(1, up.num_parts + 1)]
    # Off the loop: the parts may hold gigabytes, and other requests go on meanwhile.
    await asyncio.to_thread(_join, sources, path)
    if uploads.multipart.get(body["upload_id"]) is not up:
        # Completed or aborted by another request while these parts were joined.
        files.discard_blob(blob)
        raise bad_request("The upload was completed or aborted meanwhile.", "upload_id")
    for part in up.parts.values():
        files.discard_blob(part.blob)
    del uploads.multipart[body["upload_id"]]
    rec = FileRecord(
        id=up.file_id, filename=up.filename, purpose=up.purpose, bytes=total, created_at=int(now()), path=blob
    )
    state(request).store.put_file(rec)
    if up.checksum:
        uploads.by_checksum[up.checksum] = up.file_id
    return json_response(file_answer(rec.to_api()))


def _join(sources: list[Path], dest: Path) -> None:
    """The parts, in order, as one file (in a worker thread)."""
    with dest.open("wb") as out:
        for source in sources:
            with source.open("rb") as part_file:
                shutil.copyfileobj(part_file, out, 1 << 20)


async def abort_multipart(request: web.Request, uploads: _PendingUploads) -> web.StreamResponse:
    """``POST /files/multipart/abort {upload_id, file_id}``: the parts are dropped; 404 for an
    upload that is not open (completed, aborted, unknown)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    up = _open_upload(uploads, body.get("upload_id"), body.get("file_id"))
    del uploads.multipart[body["upload_id"]]
    for part in up.parts.values():
        state(request).files.discard_blob(part.blob)
    return json_response({"upload_id": body["upload_id"], "file_id": up.file_id, "status": "aborted"})


# Together's paths as fault rules name them: OpenAI's, so one rule file serves every dialect.
_FAULT_PATHS = (
    # The spec's one-request upload is OpenAI's upload to a fault rule (POST:/v1/files).
    ("/v1/files/upload", "/v1/files"),
    ("/v1/fine-tunes/{id}", "/v1/fine_tuning/jobs/{fine_tuning_job_id}"),
    ("/v1/fine-tunes", "/v1/fine_tuning/jobs"),
    ("/v1/files/{id}", "/v1/files/{file_id}"),
)


_SIGNED_PATH = re.compile(r"/v1/files/[^/]+/(bytes|parts/[^/]+)")


class _TogetherSurface(Surface):
    def fault_path(self, path: str) -> str:
        """``path`` as fault rules name it: ``/v1/fine-tunes...`` as OpenAI's ``/v1/fine_tuning/jobs...``
        (templates too: ``{id}`` becomes ``{fine_tuning_job_id}`` or ``{file_id}``)."""
        for ours, theirs in _FAULT_PATHS:
            if path == ours or path.startswith(ours + "/"):
                return theirs + path[len(ours) :]
        return path

    def authenticate(self, request: web.Request, keys: frozenset[str] | None) -> None:
        # The PUTs of an upload's bytes go to signed URLs, with no Authorization header.
        if request.method == "PUT" and _SIGNED_PATH.fullmatch(request.path):
            return
        if not bearer_key(request):
            raise APIError(
                401,
                "Unauthorized: no API key was given (Authorization: Bearer).",
                type="invalid_request_error",
                code="unauthorized",
            )
        super().authenticate(request, keys)

    def answer(self, request: web.Request, kind: str, data: Any, status: int) -> web.StreamResponse:
        if kind in ("file", "file.created"):
            data = file_answer(data)
        elif kind == "file.list":
            data = {"data": [file_answer(f) for f in data["data"]]}
        return json_response(data, status)


class TogetherDialect(Dialect):
    """Together AI under ``/v1``."""

    name = "together"

    def __init__(self) -> None:
        uploads = _PendingUploads()

        async def announce(request: web.Request) -> web.StreamResponse:
            return await announce_file(request, uploads)

        def bound(handler: Any) -> Any:
            async def serve(request: web.Request) -> web.StreamResponse:
                return await handler(request, uploads)  # type: ignore[no-any-return]

            return serve

        shared_files = {r[:2]: r for r in ROUTES}
        routes: list[Route] = [
            shared_files[("GET", "/files")],
            ("POST", "/files", announce),
            ("POST", "/files/upload", upload_file),
            shared_files[("GET", "/files/{file_id}")],
            shared_files[("DELETE", "/files/{file_id}")],
            shared_files[("GET", "/files/{file_id}/content")],
            # Before /files/{id}/preprocess, which has as many segments.
            ("POST", "/files/multipart/initiate", bound(initiate_multipart)),
            ("POST", "/files/multipart/complete", bound(complete_multipart)),
            ("POST", "/files/multipart/abort", bound(abort_multipart)),
            ("PUT", "/files/{id}/bytes", bound(put_bytes)),
            ("PUT", "/files/{id}/parts/{n}", bound(put_part)),
            ("POST", "/files/{id}/preprocess", preprocess_file),
            ("POST", "/fine-tunes", create_job),
            ("GET", "/fine-tunes/models/limits", get_model_limits),
            ("POST", "/fine-tunes/estimate-price", estimate_price),
            ("GET", "/fine-tunes", list_jobs),
            ("GET", "/fine-tunes/{id}", retrieve_job),
            ("POST", "/fine-tunes/{id}/cancel", cancel_job),
            ("GET", "/fine-tunes/{id}/events", list_events),
            ("GET", "/fine-tunes/{id}/checkpoints", list_checkpoints),
            ("GET", "/fine-tunes/{id}/metrics", job_metrics),
            ("DELETE", "/fine-tunes/{id}", delete_job),
        ]
        super().__init__([_TogetherSurface("/v1", routes)])

"""The ``azure`` dialect: Azure OpenAI (Foundry) fine-tuning as its REST API answers.

Two surfaces over the one state:

- the **v1 route** ``/openai/v1/...``: ``api-version`` optional (absent, ``v1`` or ``preview``;
  another is a 400); a created job answers 200 and reads OpenAI's statuses; no Uploads API.
- the **dated routes** ``/openai/...?api-version=YYYY-MM-DD[-preview]`` (required; a missing or
  malformed one is Azure's 404 "Resource not found"): a created job answers **201** with a
  ``Location`` header and reads ``pending`` first (then ``validating_files``, ``queued``,
  ``running`` …); ``"auto"`` hyperparameters read ``-1``; ``DELETE`` of a finished job.

On both: the ``api-key`` header or ``Authorization: Bearer`` (an Entra ID token: any non-empty
token, or one of the configured keys when ``api_keys`` is given); errors as ``{"error": {code,
message, param, type, inner_error}}``; the request id in ``apim-request-id`` (no
``x-request-id``); a file reads ``pending`` until it is ``processed`` a moment after upload,
and a job naming an unprocessed file is refused; ``n_epochs: -1`` (and ``batch_size``,
``learning_rate_multiplier``) asks for auto; a reinforcement job with a Python grader is
refused; pause and resume; checkpoint copy (``POST``/``GET .../checkpoints/{id}/copy`` with
``aoai-copy-ft-checkpoints: preview``). No checkpoint permissions (Azure has none).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from .._util import APIError, bad_request, not_found, now
from ..routes import ROUTES
from ..routes._http import Route, answer, json_response, read_json, state
from ._base import Dialect, Surface, bearer_key, replace_routes

__all__ = ["V1_VERSIONS", "AzureDialect", "file_seconds"]

#: The ``api-version`` values the v1 route takes (absent means ``v1``).
V1_VERSIONS = frozenset({"v1", "preview"})
# Dated versions: fine-tuning as this API has it (fine_tuning/jobs) started in late 2023.
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
_FIRST_DATED = "2023-10-01"
_AUTO_AS_MINUS_ONE = ("batch_size", "learning_rate_multiplier", "n_epochs")
_COPY_HEADER = "aoai-copy-ft-checkpoints"
_JOB = "fine_tuning_job_id"


def file_seconds(job_seconds: float) -> float:
    """How long an uploaded file reads ``pending`` before ``processed``: a twentieth of a job,
    at most a second (so a test's one-second jobs wait 50 ms)."""
    return min(1.0, max(0.0, job_seconds) * 0.05)


def _not_found() -> APIError:
    return APIError(404, "Resource not found", code="404", type="")


def _python_grader(grader: Any) -> bool:
    """Whether ``grader`` is, or holds (a multi grader's ``graders``), a Python grader."""
    if not isinstance(grader, dict):
        return False
    if grader.get("type") == "python":
        return True
    inner = grader.get("graders")
    return isinstance(inner, dict) and any(_python_grader(g) for g in inner.values())


def _auto_from_minus_one(hp: Any) -> None:
    if isinstance(hp, dict):
        for key in _AUTO_AS_MINUS_ONE:
            if hp.get(key) == -1 and type(hp.get(key)) is int:
                hp[key] = "auto"


def _minus_one_from_auto(hp: Any) -> None:
    if isinstance(hp, dict):
        for key in _AUTO_AS_MINUS_ONE:
            if hp.get(key) == "auto":
                hp[key] = -1


class _Files:
    """When each file uploaded through this dialect is processed (wall time), while it is not yet.

    Kept by the dialect, not the store: a restarted emulator finds every file processed.
    """

    def __init__(self) -> None:
        self._ready_at: dict[str, float] = {}

    def uploaded(self, file_id: str, seconds: float) -> None:
        if seconds > 0:
            self._ready_at[file_id] = now() + seconds

    def pending(self, file_id: str) -> bool:
        ready = self._ready_at.get(file_id)
        if ready is None:
            return False
        if now() >= ready:
            del self._ready_at[file_id]
            return False
        return True


class _AzureSurface(Surface):
    dated = False

    def __init__(self, prefix: str, routes: list[Route], files: _Files) -> None:
        super().__init__(prefix, routes)
        self.files = files

    def fault_path(self, path: str) -> str:
        # Both /openai/v1/files and /openai/files are /v1/files to a fault rule.
        if path.startswith("/openai/v1/") or path == "/openai/v1":
            return path[len("/openai") :]
        return super().fault_path(path)

    def authenticate(self, request: web.Request, keys: frozenset[str] | None) -> None:
        key = request.headers.get("api-key", "").strip() or bearer_key(request)
        if not key:
            raise APIError(
                401,
                "Access denied due to missing subscription key. Make sure to include the api-key header or "
                "an Authorization bearer token when making requests to an API.",
                code="401",
                type="",
            )
        if keys is not None and key not in keys:
            raise APIError(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                "valid key for an active subscription and use a correct regional API endpoint for your resource.",
                code="401",
                type="",
            )

    def error_response(self, exc: APIError) -> web.Response:
        # Azure's error object: OpenAI's four fields and inner_error, which Azure fills only for
        # content filtering ({"code": "ResponsibleAIPolicyViolation", ...}); null otherwise.
        body = {
            "error": {
                "code": exc.code if exc.code is not None else str(exc.status),
                "message": exc.message,
                "param": exc.param,
                "type": exc.type or None,
                "inner_error": None,
            }
        }
        resp = json_response(body, exc.status)
        resp.headers.update(exc.headers)
        return resp

    def router_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        if exc.status == 404:
            return self.error_response(_not_found())
        response = self.error_response(APIError(exc.status, exc.reason, code=str(exc.status), type=""))
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response

    def stamp(self, response: web.StreamResponse, elapsed_ms: int) -> None:
        response.headers["apim-request-id"] = str(uuid.uuid4())

    # -- answers -------------------------------------------------------------------------------

    def answer(self, request: web.Request, kind: str, data: Any, status: int) -> web.StreamResponse:
        headers: dict[str, str] = {}
        if kind == "file.created":
            self.files.uploaded(data["id"], file_seconds(state(request).job_seconds))
        if kind in ("file", "file.created"):
            self._file(data)
        elif kind == "file.list":
            for f in data["data"]:
                self._file(f)
        elif kind in ("job", "job.created"):
            self._job(request, data, created=kind == "job.created")
        elif kind == "job.list":
            for job in data["data"]:
                self._job(request, job, created=False)
        if kind == "job.created" and self.dated:
            status = 201
            url = request.url.with_path(f"{self.prefix}/fine_tuning/jobs/{data['id']}")
            headers["Location"] = str(url.with_query({"api-version": request.query.get("api-version", "")}))
        response = json_response(data, status)
        response.headers.update(headers)
        return response

    def _file(self, data: dict[str, Any]) -> None:
        if data.get("status") == "processed" and self.files.pending(data["id"]):
            data["status"] = "pending"

    def _job(self, request: web.Request, data: dict[str, Any], *, created: bool) -> None:
        if not self.dated:
            return
        if data["status"] == "validating_files":
            rec = state(request).store.jobs.get(data["id"])
            # The first half of validation reads "pending" (and a create always does).
            if created or (rec is not None and now() < (rec.created_at + rec.t_validated) / 2):
                data["status"] = "pending"
        _minus_one_from_auto(data.get("hyperparameters"))
        method = data.get("method")
        if isinstance(method, dict):
            sub = method.get(method.get("type"))
            if isinstance(sub, dict):
                _minus_one_from_auto(sub.get("hyperparameters"))


class _V1Surface(_AzureSurface):
    def check_version(self, request: web.Request) -> None:
        version = request.query.get("api-version")
        if version is not None and version not in V1_VERSIONS:
            raise APIError(
                400,
                f"API version '{version}' is not supported on the v1 route: use 'v1' or 'preview', or leave it out.",
                code="BadRequest",
                param="api-version",
                type="",
            )


class _DatedSurface(_AzureSurface):
    dated = True

    def check_version(self, request: web.Request) -> None:
        version = request.query.get("api-version")
        if version is None or not _DATED.fullmatch(version) or version[:10] < _FIRST_DATED:
            raise _not_found()


# -- Azure's own handlers ----------------------------------------------------------------------


def _make_create_job(files: _Files) -> Route:
    async def create_job(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        if isinstance(body, dict):
            _auto_from_minus_one(body.get("hyperparameters"))
            method = body.get("method")
            if isinstance(method, dict):
                sub = method.get(method.get("type"))
                if isinstance(sub, dict):
                    _auto_from_minus_one(sub.get("hyperparameters"))
                    if method.get("type") == "reinforcement" and _python_grader(sub.get("grader")):
                        raise bad_request(
                            "Python graders are not supported for reinforcement fine-tuning on Azure OpenAI; "
                            "use a string_check, text_similarity, score_model, label_model or multi grader.",
                            "method.reinforcement.grader",
                            "invalid_grader",
                        )
            for param in ("training_file", "validation_file"):
                file_id = body.get(param)
                if isinstance(file_id, str) and files.pending(file_id):
                    raise bad_request(
                        f"The {param.replace('_', ' ')} {file_id} is not ready for fine-tuning: its status is "
                        "'pending'. Wait until the file's status is 'processed'.",
                        param,
                        "fileNotProcessed",
                    )
        return answer(request, "job.created", await state(request).jobs.create(body))

    return ("POST", "/fine_tuning/jobs", create_job)


async def delete_job(request: web.Request) -> web.StreamResponse:
    state(request).jobs.delete(request.match_info[_JOB])
    return web.Response(status=204)


class _Copies:
    """The copies asked for, per checkpoint: (destination, region) in order (not persisted)."""

    def __init__(self) -> None:
        self.by_checkpoint: dict[str, list[tuple[str, str]]] = {}


def _checkpoint(request: web.Request) -> dict[str, Any]:
    emulator = state(request)
    job = emulator.jobs.get(request.match_info[_JOB])
    ckpt_id = request.match_info["fine_tuning_checkpoint_id"]
    for ckpt in emulator.store.checkpoints.get(job.id, []):
        if ckpt["id"] == ckpt_id:
            return ckpt
    raise not_found(f"Checkpoint {ckpt_id} was not found for job {job.id}.", "fine_tuning_checkpoint_id", "404")


def _require_copy_header(request: web.Request) -> None:
    if request.headers.get(_COPY_HEADER, "").strip().lower() != "preview":
        raise bad_request(
            f"Copying checkpoints is a preview feature: send the header '{_COPY_HEADER}: preview'.",
            _COPY_HEADER,
            "BadRequest",
        )


def _copy_answer(ckpt: dict[str, Any], copies: list[tuple[str, str]], status: str) -> dict[str, Any]:
    return {
        "checkpointedModelName": ckpt["fine_tuned_model_checkpoint"],
        "fineTuningJobId": ckpt["fine_tuning_job_id"],
        "copiedAccountDetails": [
            {"destinationResourceId": dest, "region": region, "status": status} for dest, region in copies
        ],
    }


def _copy_routes(copies: _Copies) -> list[Route]:
    path = "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints/{fine_tuning_checkpoint_id}/copy"

    async def copy_checkpoint(request: web.Request) -> web.StreamResponse:
        _require_copy_header(request)
        ckpt = _checkpoint(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object body.")
        for field in ("destinationResourceId", "region"):
            if not isinstance(body.get(field), str) or not body[field].strip():
                raise bad_request(f"Missing required parameter: '{field}'.", field)
        done = copies.by_checkpoint.setdefault(ckpt["id"], [])
        done.append((body["destinationResourceId"], body["region"]))
        # The copy runs in the background on Azure: just asked, it is in progress.
        return json_response(_copy_answer(ckpt, [done[-1]], "InProgress"))

    async def copy_status(request: web.Request) -> web.StreamResponse:
        _require_copy_header(request)
        ckpt = _checkpoint(request)
        return json_response(_copy_answer(ckpt, copies.by_checkpoint.get(ckpt["id"], []), "Completed"))

    return [("POST", path, copy_checkpoint), ("GET", path, copy_status)]


class AzureDialect(Dialect):
    """Azure OpenAI: the v1 route under ``/openai/v1`` and the dated routes under ``/openai``."""

    name = "azure"

    def __init__(self) -> None:
        files = _Files()
        copies = _Copies()
        create = _make_create_job(files)
        common = replace_routes(
            ROUTES,
            replace={("POST", "/fine_tuning/jobs"): create},
            drop=("/fine_tuning/checkpoints",),
            add=_copy_routes(copies),
        )
        v1 = replace_routes(common, drop=("/uploads",))
        dated = [*common, ("DELETE", "/fine_tuning/jobs/{fine_tuning_job_id}", delete_job)]
        super().__init__([_V1Surface("/openai/v1", v1, files), _DatedSurface("/openai", dated, files)])

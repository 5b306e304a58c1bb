"""The ``fireworks`` dialect: Fireworks AI's fine-tuning API, in Google's AIP style.

Everything is under ``/v1/accounts/{account_id}/``, ``Authorization: Bearer`` only, camelCase
JSON, ``name`` as the id (``accounts/{a}/supervisedFineTuningJobs/{id}``) and verbs after a
colon (``:upload``, ``:cancel``). Errors are Google's: ``{"error": {"code": 404, "message",
"status": "NOT_FOUND"}}``.

- Datasets: ``POST datasets {datasetId, dataset: {exampleCount, userUploaded: {}, format}}``
  (``UPLOADING``), ``POST datasets/{d}:upload`` (multipart ``file``; the bytes become one of the
  state's files, and the dataset ``READY``), ``GET datasets/{d}``, ``GET datasets`` (paged).
  Datasets are kept in the dialect's memory (a restart forgets them; their files stay).
- ``supervisedFineTuningJobs``: create (``?supervisedFineTuningJobId=`` chooses the id; a second
  create with the same id is 409 ``ALREADY_EXISTS``), get, list (``pageSize`` ≤ 200, default
  50, ``pageToken`` → ``nextPageToken``, ``totalSize``), ``:cancel`` with ``{}`` (answers ``{}``).
  The job runs on the shared lifecycle with ``epochs`` and ``batchSizeSamples``; what Fireworks
  adds is kept with it (``JobRecord.extra["fireworks"]``, so a restart keeps the chosen ids).
  States ``JOB_STATE_*`` map the shared statuses (``CREATING`` in the create's answer,
  ``VALIDATING``, ``PENDING``, ``RUNNING``, ``WRITING_RESULTS`` once the last step is trained,
  ``COMPLETED``, ``FAILED``, ``CANCELLING`` for ``min(0.5 s, job_seconds*0.05)`` after a
  ``:cancel``, then ``CANCELLED``); ``jobProgress {percent, epoch}``.
- ``dpoJobs``: the same, with the settings in ``trainingConfig`` and ``lossConfig {method: DPO|ORPO,
  dpo: {beta}}`` (the method must be given: Fireworks trains GRPO without it); no ``jobProgress``
  (``gatewayDpoJob`` has none). The data lines are OpenAI's DPO shape.
- ``DELETE datasets/{d}`` and ``DELETE {collection}/{job}`` answer ``{}`` (a running job is
  cancelled first; a deleted job's record stays in the state, hidden). Lists take ``orderBy``
  (``createTime`` or ``name``, ``desc`` for the reverse; datasets default to ``name``, jobs to
  newest first).
- ``reinforcementFineTuningJobs``: the same, ``evaluator`` (a resource name, not run: a fixed
  check scores the shared lifecycle's job) and ``trainingConfig`` required, ``lossConfig`` kept
  as given, ``jobProgress``; without an ``evaluationDataset`` the dataset stands in (Fireworks
  carves one out).
- Large datasets: ``:getUploadEndpoint {filenameToSize}`` (one file a dataset here) answers a
  signed URL under ``/storage/uploads/...`` on this emulator's origin; the ``PUT`` there needs
  no Authorization (and refuses one: 400), its signature (HMAC over the method, path, expiry
  and ``X-Goog-Content-Length-Range``) is checked (403) and the body must be exactly the
  registered size; ``:validateUpload {}`` makes the bytes the dataset's file (``READY``; ``{}``
  again once ready; 400 ``FAILED_PRECONDITION`` before the PUT). ``:upload`` refuses a file over
  150 MB (:attr:`FireworksDialect.upload_limit`, a class attribute tests may lower) with 400
  ``INVALID_ARGUMENT``. The URLs are plain http on loopback: Fireworks' own SDK refuses
  anything but https, so only this SDK's client (http where its base URL is http) uses them.
- Metrics: a job's file (JSON lines: ``step``, ``epoch``, ``train/loss``,
  ``train/mean_token_accuracy``, ``eval/loss``, ``eval/mean_token_accuracy``,
  ``learning_rate``) is written at read time from the shared lifecycle's metrics events and
  served at a signed ``/storage/metrics/{id}`` URL: named by a supervised job's
  ``metricsFileSignedUrl``, answered by DPO and reinforcement jobs' ``:getMetricsFileEndpoint``
  (``{}`` before the first metrics).
- No events endpoint, no checkpoint list, no ``:resume`` (404). Fault rules name
  OpenAI's paths (:func:`fault_path`); the storage surface's paths are as they are
  (``PUT:/storage/uploads/*``).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .._catalog import BaseModel
from .._util import APIError, bad_request, not_found
from .._validation import is_number
from ..files import MAX_FILE_BYTES
from ..routes._http import Route, json_response, loads, read_json, state
from ..routes._multipart import discard_on_error, read_form, store_body
from ..store import JobRecord
from ._base import Dialect, Surface, bearer_key

__all__ = ["GOOGLE_STATUS", "KINDS", "FireworksDialect", "fault_path", "job_answer", "job_state"]

#: HTTP status → google.rpc.Code name, as Google's HTTP mapping gives it.
GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_CODES = frozenset(GOOGLE_STATUS.values()) | {"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE"}
# AIP-122: a resource id is lowercase letters, digits and hyphens, starting with a letter.
_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_SEG = "{account_id:[^/:]+}"
_MAX_PAGE = 200
_DEFAULT_PAGE = 50
_DEFAULT_BATCH = 8
_DEFAULT_EPOCHS = 1
_DEFAULT_LR = 1e-4
_DEFAULT_LORA_RANK = 8
_DEFAULT_CONTEXT = 8192
#: What one ``:upload`` takes (Fireworks' limit); larger files go through a signed URL.
UPLOAD_LIMIT = 150 * 1024 * 1024
#: How long a signed URL is good for (Fireworks signs for an hour).
_SIGNED_SECONDS = 3600
#: Where signed URLs point: a surface of its own, with no Authorization (the signature is it).
_STORAGE = "/storage"
#: A job's shared metrics as its metrics file names them.
_METRIC_NAMES = {
    "train_loss": "train/loss",
    "train_mean_token_accuracy": "train/mean_token_accuracy",
    "valid_loss": "eval/loss",
    "valid_mean_token_accuracy": "eval/mean_token_accuracy",
}


def _timestamp(t: float | None) -> str | None:
    """``t`` as protobuf JSON's RFC 3339 timestamp (UTC, ``Z``)."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _catalog(name: str) -> BaseModel | None:
    # Any model resource name is a base model here (Fireworks' catalogue is large and changes).
    if name.startswith("accounts/") and "/models/" in name:
        return BaseModel(name, 0, ("supervised", "dpo", "reinforcement"))
    return None


def _failed_precondition(message: str) -> APIError:
    return APIError(400, message, code="FAILED_PRECONDITION")


def _page(request: web.Request, items: list[Any]) -> tuple[list[Any], str | None]:
    """The page ``pageSize``/``pageToken`` ask for, and the next page's token (None on the last)."""
    raw = request.query.get("pageSize", "")
    try:
        size = int(raw) if raw else _DEFAULT_PAGE
    except ValueError:
        raise bad_request(f"Invalid pageSize: {raw!r}.") from None
    if size < 0:
        raise bad_request("pageSize must not be negative.")
    size = min(size or _DEFAULT_PAGE, _MAX_PAGE)
    token = request.query.get("pageToken", "")
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise bad_request(f"Invalid pageToken: {token!r}.") from None
        if start < 0:
            raise bad_request(f"Invalid pageToken: {token!r}.")
    end = start + size
    nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], nxt


def _ordered(
    request: web.Request,
    items: list[Any],
    created: Callable[[Any], float],
    name: Callable[[Any], str],
    *,
    default: str | None,
) -> list[Any]:
    """``items`` in the ``orderBy`` asked for (``createTime`` or ``name``, ``desc`` after it for
    the reverse); as they are when none is asked for and ``default`` is None."""
    order = request.query.get("orderBy", "").strip() or default
    if order is None:
        return items
    field, _, direction = order.partition(" ")
    if field not in ("createTime", "name") or direction.strip() not in ("", "desc", "asc"):
        raise bad_request(f"Invalid orderBy {order!r}: the emulator orders by createTime or name, optionally desc.")
    key = created if field == "createTime" else name
    return sorted(items, key=key, reverse=direction.strip() == "desc")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Kind:
    """One job resource: its key in the job's extra, its collection, the create's id parameter
    and the name errors give it."""

    key: str
    collection: str
    id_param: str
    label: str


#: The job resources served: supervised fine-tuning and DPO.
KINDS = (
    _Kind(
        key="sft",
        collection="supervisedFineTuningJobs",
        id_param="supervisedFineTuningJobId",
        label="SupervisedFineTuningJob",
    ),
    _Kind(key="dpo", collection="dpoJobs", id_param="dpoJobId", label="DpoJob"),
    _Kind(
        key="rft",
        collection="reinforcementFineTuningJobs",
        id_param="reinforcementFineTuningJobId",
        label="ReinforcementFineTuningJob",
    ),
)
_EVALUATOR = re.compile(r"^accounts/[^/]+/evaluators/[a-z0-9][a-z0-9-]{0,62}$")
# The shared lifecycle's reinforcement jobs need a grader; a Fireworks evaluator is not run
# here, so its jobs are scored by a fixed check (the lifecycle's metrics do not depend on it).
_EVALUATOR_GRADER = {
    "type": "string_check",
    "name": "fireworks-evaluator",
    "input": "{{sample.output_text}}",
    "reference": "{{sample.output_text}}",
    "operation": "eq",
}


class _Datasets:
    """The datasets of every account, in memory: ``(account, id)`` → the dataset's fields."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, account: str, dataset_id: str) -> dict[str, Any]:
        row = self.rows.get((account, dataset_id))
        if row is None:
            raise not_found(f"Dataset accounts/{account}/datasets/{dataset_id} not found.")
        return row

    def by_name(self, name: str, param: str) -> dict[str, Any]:
        parts = name.split("/") if isinstance(name, str) else []
        if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "datasets":
            raise bad_request(f"Invalid {param}: expected accounts/{{account}}/datasets/{{id}}, got {name!r}.")
        return self.get(parts[1], parts[3])

    @staticmethod
    def to_api(row: dict[str, Any]) -> dict[str, Any]:
        out = {
            "name": row["name"],
            "displayName": row["displayName"],
            "createTime": _timestamp(row["created"]),
            "updateTime": _timestamp(row["updated"]),
            "state": "READY" if row["file_id"] else "UPLOADING",
            "status": {"code": "OK", "message": ""},
            "exampleCount": str(row["exampleCount"]),
            "userUploaded": {},
            "format": row["format"],
        }
        return out


class FireworksDialect(Dialect):
    """Fireworks AI under ``/v1/accounts/{account_id}/``."""

    name = "fireworks"
    #: What ``:upload`` takes (Fireworks' 150 MB); a test may lower it on the class.
    upload_limit = UPLOAD_LIMIT

    def __init__(self) -> None:
        self.datasets = _Datasets()
        # Signs the storage URLs this dialect hands out (per emulator: a restart re-signs).
        self._secret = secrets.token_bytes(32)
        # (account, dataset id) → {filename: {"size": int, "blob": str | None}}: the files a
        # :getUploadEndpoint registered, and the bytes PUT for each.
        self._pending: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        # (account, kind, job id) → the state's job id; rebuilt from the jobs' extra after a restart.
        self._ids: dict[tuple[str, str, str], str] = {}
        self._reserved: set[tuple[str, str, str]] = set()
        self._scanned = False
        self._cancelled: dict[str, float] = {}
        acct = "/accounts/" + _SEG
        ds = acct + "/datasets/{dataset_id:[^/:]+}"
        routes: list[Route] = [
            ("POST", acct + "/datasets", self.create_dataset),
            ("GET", acct + "/datasets", self.list_datasets),
            ("GET", ds, self.get_dataset),
            ("DELETE", ds, self.delete_dataset),
            ("POST", ds + ":upload", self.upload_dataset),
            ("POST", ds + ":getUploadEndpoint", self.get_upload_endpoint),
            ("POST", ds + ":validateUpload", self.validate_upload),
        ]
        for kind in KINDS:
            jobs = f"{acct}/{kind.collection}"
            job = jobs + "/{job_id:[^/:]+}"
            routes += [
                ("POST", jobs, functools.partial(self.create_job, kind=kind)),
                ("GET", jobs, functools.partial(self.list_jobs, kind=kind)),
                ("GET", job, functools.partial(self.get_job, kind=kind)),
                ("DELETE", job, functools.partial(self.delete_job, kind=kind)),
                ("POST", job + ":cancel", functools.partial(self.cancel_job, kind=kind)),
            ]
            if kind.key != "sft":
                # A supervised job names its metrics file in the job (metricsFileSignedUrl).
                routes.append(
                    ("GET", job + ":getMetricsFileEndpoint", functools.partial(self.get_metrics_endpoint, kind=kind))
                )
        storage: list[Route] = [
            ("PUT", "/uploads/{account_id}/{dataset_id}/{filename}", self.put_signed),
            ("GET", "/metrics/{job_id}", self.get_metrics_file),
        ]
        super().__init__([_FireworksSurface("/v1", routes), _StorageSurface(_STORAGE, storage)])

    # -- signed URLs ---------------------------------------------------------------------------

    def _signature(self, method: str, path: str, expires: str, extra: str = "") -> str:
        message = "\n".join((method, path, expires, extra)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _sign(self, request: web.Request, method: str, path: str, extra: str = "") -> str:
        """A URL on this emulator's storage surface for ``method`` on ``path``, signed. Plain
        http on loopback: Fireworks' own SDK refuses anything but https, so only this SDK's
        client (which takes http where its base URL is http) uses these URLs."""
        expires = str(int(time.time()) + _SIGNED_SECONDS)
        signature = self._signature(method, path, expires, extra)
        return f"{request.url.origin()}{path}?X-Goog-Expires={expires}&X-Goog-Signature={signature}"

    def _check_signature(self, request: web.Request, extra: str = "") -> None:
        if "Authorization" in request.headers:
            # An object store takes the signature or a credential, not both; and a credential
            # has no business at a signed URL.
            raise bad_request("A signed URL takes no Authorization header.")
        expires = request.query.get("X-Goog-Expires", "")
        given = request.query.get("X-Goog-Signature", "")
        # Over the path as it was signed and sent (quoted: a filename with a space), compared
        # as bytes (a hostile signature may hold any character).
        wanted = self._signature(request.method, request.rel_url.raw_path, expires, extra)
        if not given or not hmac.compare_digest(given.encode(), wanted.encode()):
            raise APIError(403, "The request signature does not match.", code="PERMISSION_DENIED")
        if not _digits(expires) or int(expires) < time.time():
            raise APIError(403, "The signed URL has expired.", code="PERMISSION_DENIED")

    # -- datasets ------------------------------------------------------------------------------

    async def create_dataset(self, request: web.Request) -> web.StreamResponse:
        account = request.match_info["account_id"]
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object body.")
        dataset_id = body.get("datasetId")
        if not isinstance(dataset_id, str) or not _ID.match(dataset_id):
            raise bad_request(f"Invalid datasetId {dataset_id!r}: lowercase letters, digits and hyphens, up to 63.")
        ds = body.get("dataset")
        if not isinstance(ds, dict):
            raise bad_request("Missing required field: dataset.")
        if (account, dataset_id) in self.datasets.rows:
            raise APIError(409, f"Dataset accounts/{account}/datasets/{dataset_id} already exists.")
        count = ds.get("exampleCount", "0")
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise bad_request(f"Invalid dataset.exampleCount: {count!r}.") from None
        if count < 0:
            raise bad_request(f"Invalid dataset.exampleCount: {count}; expected at least 0.")
        fmt = ds.get("format", "FORMAT_UNSPECIFIED")
        if fmt not in ("FORMAT_UNSPECIFIED", "CHAT", "COMPLETION", "RL"):
            raise bad_request(f"Invalid dataset.format: {fmt!r}.")
        t = time.time()
        row = {
            "name": f"accounts/{account}/datasets/{dataset_id}",
            "displayName": ds.get("displayName") if isinstance(ds.get("displayName"), str) else dataset_id,
            "created": t,
            "updated": t,
            "exampleCount": count,
            "format": fmt,
            "file_id": None,
        }
        self.datasets.rows[(account, dataset_id)] = row
        return json_response(self.datasets.to_api(row))

    async def get_dataset(self, request: web.Request) -> web.StreamResponse:
        row = self.datasets.get(request.match_info["account_id"], request.match_info["dataset_id"])
        return json_response(self.datasets.to_api(row))

    async def delete_dataset(self, request: web.Request) -> web.StreamResponse:
        account, dataset_id = request.match_info["account_id"], request.match_info["dataset_id"]
        self.datasets.get(account, dataset_id)
        # The uploaded bytes stay among the state's files (a job may still name them); bytes
        # PUT for an upload not yet validated go with the dataset (a new one of the same id
        # must not find them).
        del self.datasets.rows[(account, dataset_id)]
        for entry in self._pending.pop((account, dataset_id), {}).values():
            if entry["blob"] is not None:
                state(request).files.discard_blob(entry["blob"])
        return json_response({})

    async def list_datasets(self, request: web.Request) -> web.StreamResponse:
        account = request.match_info["account_id"]
        rows = [r for (a, _), r in sorted(self.datasets.rows.items()) if a == account]
        rows = _ordered(request, rows, lambda r: r["created"], lambda r: r["name"], default="name")
        page, nxt = _page(request, rows)
        out: dict[str, Any] = {"datasets": [self.datasets.to_api(r) for r in page], "totalSize": len(rows)}
        if nxt is not None:
            out["nextPageToken"] = nxt
        return json_response(out)

    async def upload_dataset(self, request: web.Request) -> web.StreamResponse:
        row = self.datasets.get(request.match_info["account_id"], request.match_info["dataset_id"])
        if row["file_id"] is not None:
            raise _failed_precondition(f"Dataset {row['name']} is already READY: its file cannot be replaced.")
        files = state(request).files
        limit = min(self.upload_limit, MAX_FILE_BYTES)

        def too_large(size: int) -> APIError:
            return bad_request(
                f"The file is larger than the maximum of {limit:,} bytes an upload takes; "
                "send larger datasets through :getUploadEndpoint."
            )

        form = await read_form(request, files, binary="file", limit=limit, too_large=too_large)
        with discard_on_error(files, form.blob):
            if form.blob is None:
                raise bad_request("Missing the multipart part 'file'.")
            if row["file_id"] is not None:
                # Another upload finished while this one was read.
                raise _failed_precondition(f"Dataset {row['name']} is already READY: its file cannot be replaced.")
            out = files.add(
                filename=form.filename, purpose="fine-tune", blob=form.blob, size=form.size, expires_after=None
            )
        self._ready_with(request, row, out["id"])
        answer = {
            "id": row["name"].rsplit("/", 1)[1],
            "object": "file",
            "bytes": out["bytes"],
            "created_at": out["created_at"],
            "filename": out["filename"],
            "purpose": "fine-tune",
        }
        return json_response(answer)

    def _ready_with(self, request: web.Request, row: dict[str, Any], file_id: str) -> None:
        """The dataset ``READY`` with the state's file ``file_id`` (its lines counted when the
        create gave no count)."""
        files = state(request).files
        row["file_id"] = file_id
        row["updated"] = time.time()
        if not row["exampleCount"]:
            # The create's count was 0 or absent: count the lines (a stream, the file may be large).
            content = files.content(files.get(file_id))
            if isinstance(content, bytes):
                row["exampleCount"] = sum(1 for line in content.splitlines() if line.strip())
            else:
                with content.open("rb") as fh:
                    row["exampleCount"] = sum(1 for line in fh if line.strip())

    async def get_upload_endpoint(self, request: web.Request) -> web.StreamResponse:
        """``:getUploadEndpoint {filenameToSize}``: a signed PUT URL per file (each call replaces
        the files registered before, as Fireworks' does). The emulator takes one file a dataset."""
        account, dataset_id = request.match_info["account_id"], request.match_info["dataset_id"]
        row = self.datasets.get(account, dataset_id)
        body = await read_json(request)
        sizes = body.get("filenameToSize") if isinstance(body, dict) else None
        if not isinstance(sizes, dict) or not sizes:
            raise bad_request("Missing required field: filenameToSize.")
        if len(sizes) != 1:
            raise bad_request("Invalid filenameToSize: the emulator takes one file per dataset.")
        if row["file_id"] is not None:
            raise _failed_precondition(f"Dataset {row['name']} is already READY: its file cannot be replaced.")
        registered: dict[str, dict[str, Any]] = {}
        urls: dict[str, str] = {}
        for filename, raw in sizes.items():
            text = str(raw)
            if not isinstance(filename, str) or not filename or "/" in filename or not _digits(text):
                raise bad_request(f"Invalid filenameToSize: {filename!r} → {raw!r}.")
            size = int(text)
            if size > MAX_FILE_BYTES:
                raise bad_request(f"Invalid filenameToSize: {size:,} bytes is over the emulator's {MAX_FILE_BYTES:,}.")
            # Registering the same file again (a lost answer's resend) keeps bytes already PUT.
            old = self._pending.get((account, dataset_id), {}).get(filename)
            kept = old["blob"] if old is not None and old["size"] == size else None
            registered[filename] = {"size": size, "blob": kept}
            path = (
                f"{_STORAGE}/uploads/{quote(account, safe='')}/{quote(dataset_id, safe='')}/{quote(filename, safe='')}"
            )
            urls[filename] = self._sign(request, "PUT", path, f"{size},{size}")
        # Bytes PUT for a registration this one does not keep (another name or size) are dropped.
        kept_blobs = {e["blob"] for e in registered.values()}
        for entry in self._pending.get((account, dataset_id), {}).values():
            if entry["blob"] is not None and entry["blob"] not in kept_blobs:
                state(request).files.discard_blob(entry["blob"])
        self._pending[(account, dataset_id)] = registered
        return json_response({"filenameToSignedUrls": urls})

    async def put_signed(self, request: web.Request) -> web.StreamResponse:
        """The PUT to a signed upload URL: no Authorization, the signature (over the length
        range header) checked, exactly the registered size; a second PUT replaces the bytes."""
        account, dataset_id = request.match_info["account_id"], request.match_info["dataset_id"]
        filename = request.match_info["filename"]
        length_range = request.headers.get("X-Goog-Content-Length-Range", "")
        self._check_signature(request, length_range)
        entry = self._pending.get((account, dataset_id), {}).get(filename)
        if entry is None:
            raise not_found(f"No upload registered for {filename!r} of dataset {dataset_id}.")
        size = entry["size"]
        if length_range != f"{size},{size}" or request.content_length != size:
            raise bad_request(f"The upload must be exactly {size:,} bytes, sent with its Content-Length.")
        files = state(request).files
        blob, got, _md5 = await store_body(
            request, size, lambda _: bad_request(f"The upload is longer than its {size:,} bytes.")
        )
        if got != size:
            files.discard_blob(blob)
            raise bad_request(f"The upload ended after {got:,} of its {size:,} bytes.")
        if self._pending.get((account, dataset_id), {}).get(filename) is not entry:
            # Validated (or registered again) while these bytes streamed: what was validated
            # stays as it is.
            files.discard_blob(blob)
            raise not_found(f"No upload registered for {filename!r} of dataset {dataset_id} any more.")
        if entry["blob"] is not None:
            files.discard_blob(entry["blob"])
        entry["blob"] = blob
        return web.Response(status=200)

    async def validate_upload(self, request: web.Request) -> web.StreamResponse:
        """``:validateUpload {}``: the PUT bytes become the dataset's file and it is ``READY``;
        ``{}`` again for a dataset already ``READY`` (an earlier validate's answer was lost)."""
        account, dataset_id = request.match_info["account_id"], request.match_info["dataset_id"]
        row = self.datasets.get(account, dataset_id)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object body.")
        if row["file_id"] is not None:
            return json_response({})
        pending = self._pending.get((account, dataset_id))
        if not pending or any(e["blob"] is None for e in pending.values()):
            raise _failed_precondition(f"Dataset {row['name']}: upload every file to its signed URL first.")
        ((filename, entry),) = pending.items()
        out = state(request).files.add(
            filename=filename, purpose="fine-tune", blob=entry["blob"], size=entry["size"], expires_after=None
        )
        del self._pending[(account, dataset_id)]
        self._ready_with(request, row, out["id"])
        return json_response({})

    # -- metrics -------------------------------------------------------------------------------

    def _metrics_url(self, request: web.Request, rec: JobRecord) -> str | None:
        """The signed URL of the job's metrics file, once it has any metrics (None before)."""
        if not any('"metrics"' in raw for raw in state(request).store.events.get(rec.id, [])):
            return None
        return self._sign(request, "GET", f"{_STORAGE}/metrics/{quote(rec.id, safe='')}")

    async def get_metrics_endpoint(self, request: web.Request, kind: _Kind) -> web.StreamResponse:
        """``:getMetricsFileEndpoint``: ``{signedUrl}`` once the job has metrics, ``{}`` before."""
        rec = self._job(request, kind)
        state(request).jobs.advance(rec, time.time())
        url = self._metrics_url(request, rec)
        return json_response({"signedUrl": url} if url else {})

    async def get_metrics_file(self, request: web.Request) -> web.StreamResponse:
        """The metrics file at its signed URL: JSON lines, one object per recorded step
        (``step``, ``epoch``, ``train/loss``, ... and ``learning_rate``), oldest first."""
        self._check_signature(request)
        emulator = state(request)
        rec = emulator.store.jobs.get(request.match_info["job_id"])
        if rec is None:
            raise not_found("No such metrics file.")
        emulator.jobs.advance(rec, time.time())
        fw = (rec.extra or {}).get("fireworks") or {}
        per_epoch = max(rec.steps_per_epoch, 1)
        lines = []
        for raw in emulator.store.events.get(rec.id, []):
            ev = loads(raw, "event")
            data = ev.get("data")
            if ev.get("type") != "metrics" or not isinstance(data, dict) or not is_number(data.get("step")):
                continue
            step = int(data["step"])
            record: dict[str, Any] = {"step": step, "epoch": (step - 1) // per_epoch}
            record.update({name: data[key] for key, name in _METRIC_NAMES.items() if is_number(data.get(key))})
            record["learning_rate"] = fw.get("learningRate", _DEFAULT_LR)
            lines.append(json.dumps(record, separators=(",", ":")))
        body = "".join(line + "\n" for line in lines).encode()
        return web.Response(status=200, body=body, content_type="application/jsonl")

    # -- jobs ----------------------------------------------------------------------------------

    def _scan(self, request: web.Request) -> None:
        # After a restart the ids live only in the jobs' extra: read them back once.
        if self._scanned:
            return
        self._scanned = True
        for rec in state(request).store.jobs.values():
            fw = (rec.extra or {}).get("fireworks")
            if fw is not None and not fw.get("deleted"):
                self._ids.setdefault((fw["account"], fw.get("kind", "sft"), fw["id"]), rec.id)

    def _job(self, request: web.Request, kind: _Kind) -> JobRecord:
        self._scan(request)
        account, job_id = request.match_info["account_id"], request.match_info["job_id"]
        state_id = self._ids.get((account, kind.key, job_id))
        if state_id is None:
            raise not_found(f"{kind.label} accounts/{account}/{kind.collection}/{job_id} not found.")
        return state(request).jobs.get(state_id)

    def _answer(self, request: web.Request, rec: JobRecord, *, created: bool = False) -> dict[str, Any]:
        # A cancelled job reads CANCELLING for a moment first, as a real one winds down.
        cancelled_at = self._cancelled.get(rec.id)
        window = min(0.5, state(request).job_seconds * 0.05)
        cancelling = cancelled_at is not None and time.monotonic() - cancelled_at < window
        out = job_answer(rec, created=created, cancelling=cancelling)
        if (rec.extra or {})["fireworks"].get("kind", "sft") == "sft" and not created:
            url = self._metrics_url(request, rec)
            if url is not None:
                out["metricsFileSignedUrl"] = url
        return out

    async def create_job(self, request: web.Request, kind: _Kind) -> web.StreamResponse:
        self._scan(request)
        account = request.match_info["account_id"]
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object body.")
        job_id = request.query.get(kind.id_param) or ""
        if job_id and not _ID.match(job_id):
            raise bad_request(f"Invalid {kind.id_param} {job_id!r}: lowercase letters, digits and hyphens, up to 63.")
        if not job_id:
            job_id = secrets.token_hex(8)
            while not job_id[0].isalpha():
                job_id = secrets.token_hex(8)
        key = (account, kind.key, job_id)
        name = f"accounts/{account}/{kind.collection}/{job_id}"
        if key in self._ids or key in self._reserved:
            raise APIError(409, f"{kind.label} {name} already exists.")
        translate = {"sft": self._translate_sft, "dpo": self._translate_dpo, "rft": self._translate_rft}[kind.key]
        shared, fw = translate(body)
        fw.update(account=account, id=job_id, name=name, kind=kind.key)
        # Held while the create awaits, so a concurrent create with the same id is a 409 too.
        self._reserved.add(key)
        try:
            out = await state(request).jobs.create(shared, catalog=_catalog, extra={"fireworks": fw})
            self._ids[key] = out["id"]
        finally:
            self._reserved.discard(key)
        return json_response(self._answer(request, state(request).store.jobs[out["id"]], created=True))

    def _config(self, body: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The training settings of ``body`` (SFT's top level, DPO's ``trainingConfig``), checked
        and resolved, and the dataset's file ids: ({training_file, validation_file?}, settings)."""

        def int_field(key: str, default: int, lo: int, hi: int) -> int:
            value = body.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise bad_request(f"Invalid {where}{key}: {value!r}; expected an integer from {lo} to {hi}.")
            return value

        base = body.get("baseModel")
        if not isinstance(base, str) or not base:
            raise bad_request(f"Missing required field: {where}baseModel.")
        lr = body.get("learningRate", _DEFAULT_LR)
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
            raise bad_request(f"Invalid {where}learningRate: {lr!r}; expected a number above 0.")
        settings = {
            "baseModel": base,
            "outputModel": body.get("outputModel") if isinstance(body.get("outputModel"), str) else None,
            "epochs": int_field("epochs", _DEFAULT_EPOCHS, 1, 50),
            "batchSizeSamples": int_field("batchSizeSamples", _DEFAULT_BATCH, 1, 256),
            "loraRank": int_field("loraRank", _DEFAULT_LORA_RANK, 1, 256),
            "maxContextLength": int_field("maxContextLength", _DEFAULT_CONTEXT, 1, 1 << 20),
            "learningRate": float(lr),
        }
        return {"model": base}, settings

    def _files(self, body: dict[str, Any], evaluation: Any) -> dict[str, Any]:
        dataset = body.get("dataset")
        if not isinstance(dataset, str) or not dataset:
            raise bad_request("Missing required field: dataset.")
        out: dict[str, Any] = {"training_file": self._ready(dataset, "dataset")}
        if evaluation:
            out["validation_file"] = self._ready(evaluation, "evaluationDataset")
        return out

    def _ready(self, name: str, param: str) -> str:
        row = self.datasets.by_name(name, param)
        if row["file_id"] is None:
            raise _failed_precondition(f"Dataset {name} is not READY: upload its file first.")
        file_id: str = row["file_id"]
        return file_id

    def _translate_sft(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the OpenAI-shaped body the state takes, what Fireworks keeps with the job)."""
        files = self._files(body, body.get("evaluationDataset"))
        shared, settings = self._config(body, "")
        shared.update(files)
        shared["method"] = {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"batch_size": settings["batchSizeSamples"], "n_epochs": settings["epochs"]}
            },
        }
        fw: dict[str, Any] = {
            **settings,
            "dataset": body["dataset"],
            "evaluationDataset": body.get("evaluationDataset") or None,
            "displayName": body.get("displayName") if isinstance(body.get("displayName"), str) else None,
        }
        return shared, fw

    def _translate_dpo(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A ``dpoJobs`` create as (the state's body, what Fireworks keeps): the settings are in
        ``trainingConfig``, the loss in ``lossConfig {method: DPO|ORPO, dpo: {beta}}``."""
        config = body.get("trainingConfig")
        if not isinstance(config, dict):
            raise bad_request("Missing required field: trainingConfig.")
        files = self._files(body, None)
        shared, settings = self._config(config, "trainingConfig.")
        loss = body.get("lossConfig") or {}
        if not isinstance(loss, dict):
            raise bad_request("Invalid lossConfig: expected an object.")
        method = loss.get("method", "METHOD_UNSPECIFIED")
        if method not in ("DPO", "ORPO"):
            # Fireworks trains GRPO when the method is unspecified: almost never what a DPO
            # caller means, so the emulator asks for it to be said.
            raise bad_request(
                f"lossConfig.method {method!r}: the emulator trains DPO and ORPO preference jobs only "
                "(an unspecified method means GRPO on Fireworks); send lossConfig.method DPO or ORPO."
            )
        dpo = loss.get("dpo") or {}
        beta = dpo.get("beta", 0.1) if isinstance(dpo, dict) else None
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 < beta <= 2:
            raise bad_request(f"Invalid lossConfig.dpo.beta: {beta!r}; expected a number above 0, at most 2.")
        shared.update(files)
        hp = {"batch_size": settings["batchSizeSamples"], "n_epochs": settings["epochs"], "beta": float(beta)}
        shared["method"] = {"type": "dpo", "dpo": {"hyperparameters": hp}}
        fw: dict[str, Any] = {
            **settings,
            "dataset": body["dataset"],
            "evaluationDataset": None,
            "displayName": body.get("displayName") if isinstance(body.get("displayName"), str) else None,
            "lossConfig": {"method": method, "dpo": {"beta": float(beta)}} if method == "DPO" else {"method": method},
        }
        return shared, fw

    def _translate_rft(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A ``reinforcementFineTuningJobs`` create as (the state's body, what Fireworks keeps):
        ``dataset`` and ``evaluator`` (an evaluator's resource name: it is not run here) are
        required, the settings are in ``trainingConfig``; ``lossConfig`` is kept as given."""
        evaluator = body.get("evaluator")
        if not isinstance(evaluator, str) or not evaluator:
            raise bad_request("Missing required field: evaluator.")
        if not _EVALUATOR.match(evaluator):
            raise bad_request(f"Invalid evaluator: expected accounts/{{account}}/evaluators/{{id}}, got {evaluator!r}.")
        config = body.get("trainingConfig")
        if not isinstance(config, dict):
            raise bad_request("Missing required field: trainingConfig.")
        files = self._files(body, body.get("evaluationDataset"))
        shared, settings = self._config(config, "trainingConfig.")
        loss = body.get("lossConfig")
        if loss is not None and not isinstance(loss, dict):
            raise bad_request("Invalid lossConfig: expected an object.")
        # The shared lifecycle's reinforcement jobs need a validation file; Fireworks carves one
        # out of the dataset when none is given (evalAutoCarveout): the dataset stands in.
        files.setdefault("validation_file", files["training_file"])
        shared.update(files)
        hp = {"batch_size": settings["batchSizeSamples"], "n_epochs": settings["epochs"]}
        shared["method"] = {
            "type": "reinforcement",
            "reinforcement": {"grader": _EVALUATOR_GRADER, "hyperparameters": hp},
        }
        fw: dict[str, Any] = {
            **settings,
            "dataset": body["dataset"],
            "evaluationDataset": body.get("evaluationDataset") or None,
            "displayName": body.get("displayName") if isinstance(body.get("displayName"), str) else None,
            "evaluator": evaluator,
            "lossConfig": loss,
        }
        return shared, fw

    async def get_job(self, request: web.Request, kind: _Kind) -> web.StreamResponse:
        return json_response(self._answer(request, self._job(request, kind)))

    async def list_jobs(self, request: web.Request, kind: _Kind) -> web.StreamResponse:
        self._scan(request)
        account = request.match_info["account_id"]
        emulator = state(request)
        # Newest first, this account's jobs of this kind only.
        ids = [sid for (a, k, _), sid in self._ids.items() if a == account and k == kind.key][::-1]
        jobs = emulator.store.jobs

        def name(sid: str) -> str:
            return str((jobs[sid].extra or {})["fireworks"]["name"])

        ids = _ordered(request, ids, lambda sid: jobs[sid].created_at, name, default=None)
        page, nxt = _page(request, ids)
        out: dict[str, Any] = {
            kind.collection: [self._answer(request, emulator.jobs.get(sid)) for sid in page],
            "totalSize": len(ids),
        }
        if nxt is not None:
            out["nextPageToken"] = nxt
        return json_response(out)

    async def delete_job(self, request: web.Request, kind: _Kind) -> web.StreamResponse:
        rec = self._job(request, kind)
        fw = (rec.extra or {})["fireworks"]
        if rec.status not in ("succeeded", "failed", "cancelled"):
            # A job deleted while it runs stops first.
            state(request).jobs.cancel(rec.id)
        fw["deleted"] = True
        self._ids.pop((fw["account"], kind.key, fw["id"]), None)
        return json_response({})

    async def cancel_job(self, request: web.Request, kind: _Kind) -> web.StreamResponse:
        rec = self._job(request, kind)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("Expected a JSON object body.")
        if rec.status in ("succeeded", "failed", "cancelled"):
            fw = (rec.extra or {})["fireworks"]
            raise _failed_precondition(f"{kind.label} {fw['name']} is {job_state(rec)}; it cannot be cancelled.")
        state(request).jobs.cancel(rec.id)
        self._cancelled[rec.id] = time.monotonic()
        return json_response({})


def job_state(rec: JobRecord, *, created: bool = False, cancelling: bool = False) -> str:
    """The ``JOB_STATE_*`` a Fireworks job in the shared status ``rec.status`` reads."""
    if created:
        return "JOB_STATE_CREATING"
    status = rec.status
    if status == "cancelled" and cancelling:
        return "JOB_STATE_CANCELLING"
    if status == "running" and rec.total_steps and rec.emitted_step >= rec.total_steps:
        # The last step is trained: what is left is writing the model out.
        return "JOB_STATE_WRITING_RESULTS"
    return {
        "validating_files": "JOB_STATE_VALIDATING",
        "queued": "JOB_STATE_PENDING",
        "running": "JOB_STATE_RUNNING",
        "paused": "JOB_STATE_PAUSED",
        "succeeded": "JOB_STATE_COMPLETED",
        "failed": "JOB_STATE_FAILED",
        "cancelled": "JOB_STATE_CANCELLED",
    }.get(status, "JOB_STATE_UNSPECIFIED")


_CONFIG_KEYS = ("baseModel", "epochs", "learningRate", "maxContextLength", "loraRank", "batchSizeSamples")


def job_answer(rec: JobRecord, *, created: bool = False, cancelling: bool = False) -> dict[str, Any]:
    """A job as Fireworks answers it: ``gatewaySupervisedFineTuningJob``, ``gatewayDpoJob``
    (its settings in ``trainingConfig``, with ``lossConfig``; no ``jobProgress``) or
    ``gatewayReinforcementFineTuningJob`` (``trainingConfig``, ``evaluator``, ``jobProgress``)."""
    fw = (rec.extra or {})["fireworks"]
    state_name = job_state(rec, created=created, cancelling=cancelling)
    status: dict[str, Any] = {"code": "OK", "message": ""}
    if rec.status == "failed":
        message = (rec.error or {}).get("message") or "The job failed."
        status = {"code": "INVALID_ARGUMENT" if rec.invalid else "INTERNAL", "message": message}
    elif rec.status == "cancelled" and not cancelling:
        status = {"code": "CANCELLED", "message": "The job was cancelled."}
    output_model = fw["outputModel"] or fw["id"]
    if not output_model.startswith("accounts/"):
        # Answered as the model's resource name, as Fireworks names models.
        output_model = f"accounts/{fw['account']}/models/{output_model}"
    out: dict[str, Any] = {
        "name": fw["name"],
        "createTime": _timestamp(rec.created_at),
        "dataset": fw["dataset"],
        "state": state_name,
        "status": status,
    }
    kind = fw.get("kind", "sft")
    steps = max(rec.total_steps, 1)
    done = rec.emitted_step if rec.status != "succeeded" else steps
    epoch = min(done // max(rec.steps_per_epoch, 1), max(fw["epochs"] - 1, 0))
    progress = {"percent": done * 100 // steps, "epoch": epoch}
    if kind in ("dpo", "rft"):
        out["trainingConfig"] = {**{k: fw[k] for k in _CONFIG_KEYS}, "outputModel": output_model}
        if fw.get("lossConfig") is not None:
            out["lossConfig"] = fw["lossConfig"]
    if kind == "rft":
        out["evaluator"] = fw["evaluator"]
        out["jobProgress"] = progress
        if fw["evaluationDataset"]:
            out["evaluationDataset"] = fw["evaluationDataset"]
    elif kind == "sft":
        out.update({k: fw[k] for k in _CONFIG_KEYS})
        out["outputModel"] = output_model
        out["updateTime"] = _timestamp(rec.finished_at or time.time())
        out["jobProgress"] = progress
        if fw["evaluationDataset"]:
            out["evaluationDataset"] = fw["evaluationDataset"]
    if fw["displayName"] is not None:
        out["displayName"] = fw["displayName"]
    if rec.finished_at is not None and not cancelling:
        out["completedTime"] = _timestamp(rec.finished_at)
    return out


# Fireworks' paths as OpenAI's, for fault rules: (pattern, replacement), tried in order.
_FAULT_PATHS = (
    (
        re.compile(
            r"^/v1/accounts/[^/]+/(?:supervisedFineTuningJobs|dpoJobs|reinforcementFineTuningJobs)/([^/:]+):cancel$"
        ),
        r"/v1/fine_tuning/jobs/\1/cancel",
    ),
    (
        re.compile(r"^/v1/accounts/[^/]+/(?:supervisedFineTuningJobs|dpoJobs|reinforcementFineTuningJobs)/([^/:]+)$"),
        r"/v1/fine_tuning/jobs/\1",
    ),
    (
        re.compile(r"^/v1/accounts/[^/]+/(?:supervisedFineTuningJobs|dpoJobs|reinforcementFineTuningJobs)$"),
        "/v1/fine_tuning/jobs",
    ),
    (re.compile(r"^/v1/accounts/[^/]+/datasets/[^/:]+:upload$"), "/v1/files"),
    (re.compile(r"^/v1/accounts/[^/]+/datasets/([^/:]+)$"), r"/v1/files/\1"),
    (re.compile(r"^/v1/accounts/[^/]+/datasets$"), "/v1/files"),
)


def fault_path(path: str) -> str:
    """A Fireworks path (or route template) as fault rules name it: OpenAI's, so that
    ``POST:/v1/fine_tuning/jobs`` matches a ``supervisedFineTuningJobs`` or ``dpoJobs`` create and
    ``POST:/v1/files`` a dataset's ``:upload`` (and its create); a job's template variable reads
    ``{fine_tuning_job_id}`` as OpenAI's routes name it."""
    path = path.replace("{job_id}", "{fine_tuning_job_id}").replace("{dataset_id}", "{file_id}")
    for pattern, replacement in _FAULT_PATHS:
        if pattern.match(path):
            return pattern.sub(replacement, path)
    return path


def _google_error(exc: APIError) -> web.Response:
    """``exc`` in Google's error shape: ``{"error": {code, message, status}}``."""
    code = exc.code if exc.code in _CODES else GOOGLE_STATUS.get(exc.status, "UNKNOWN")
    resp = json_response({"error": {"code": exc.status, "message": exc.message, "status": code}}, exc.status)
    resp.headers.update(exc.headers)
    return resp


class _StorageSurface(Surface):
    """Where the signed URLs point (an object store's part): no Authorization, the signature
    in the query is the credential (checked by the handlers); errors in Google's shape."""

    def authenticate(self, request: web.Request, keys: frozenset[str] | None) -> None:
        return None

    def fault_path(self, path: str) -> str:
        return path

    def error_response(self, exc: APIError) -> web.Response:
        return _google_error(exc)

    def stamp(self, response: web.StreamResponse, elapsed_ms: int) -> None:
        response.headers["x-request-id"] = secrets.token_hex(16)


class _FireworksSurface(Surface):
    def fault_path(self, path: str) -> str:
        return fault_path(path)

    def authenticate(self, request: web.Request, keys: frozenset[str] | None) -> None:
        key = bearer_key(request)
        if not key:
            raise APIError(401, "Missing API key: send Authorization: Bearer $FIREWORKS_API_KEY.")
        if keys is not None and key not in keys:
            raise APIError(401, "Invalid API key.")

    def error_response(self, exc: APIError) -> web.Response:
        return _google_error(exc)

    def router_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        msg = f"Method {request.method} {request.path} not found." if exc.status in (404, 405) else exc.reason
        status = 404 if exc.status == 405 else exc.status
        return self.error_response(APIError(status, msg))

    def stamp(self, response: web.StreamResponse, elapsed_ms: int) -> None:
        response.headers["x-request-id"] = secrets.token_hex(16)


def _digits(text: str) -> bool:
    """A plain decimal number ``int()`` takes at once (not "²", not 5,000 digits)."""
    return text.isascii() and text.isdigit() and len(text) <= 20

"""Fireworks AI: Google-style (AIP) resources under ``/v1/accounts/{account_id}/``, mapped to OpenAI's calls.

* Base URL: the origin, ``https://api.fireworks.ai`` (as Fireworks' own SDK takes it); the paths
  carry ``/v1/accounts/{account_id}`` (a base URL ending in ``/v1`` is taken as its origin).
  ``Authorization: Bearer`` with ``FIREWORKS_API_KEY``; the account is ``FIREWORKS_ACCOUNT_ID``.
* **Files are datasets.** ``files.create`` chooses a dataset id (the file's name made an id, and
  a random tail: ``train-1a2b3c4d``), sends ``POST datasets {datasetId, dataset: {displayName:
  the filename, exampleCount (the file's lines, counted before sending), userUploaded: {},
  format: CHAT}}`` and then ``POST datasets/{id}:upload`` (multipart ``file``, at most 150 MB:
  :attr:`FireworksProvider.upload_limit`). A larger file of known size (a path, bytes) goes as
  Fireworks' SDK sends large datasets: ``:getUploadEndpoint {filenameToSize}`` answers a signed
  URL, the bytes are streamed from disk to it with ``PUT`` (their length and
  ``X-Goog-Content-Length-Range``, both signed; through ``send.signed``: no credential and
  nothing else of the client's goes there), then ``:validateUpload {}``; up to 5 TiB
  (``capabilities.max_file_bytes``: Fireworks states no limit, Cloud Storage's objects take
  that). The id is chosen, so each request may be sent again: a
  create answered 409 ``ALREADY_EXISTS`` is this call's earlier attempt (the dataset is read and
  the upload goes on), an upload refused because the dataset is already ``READY`` is an earlier
  attempt's upload that arrived. ``file.id`` is the dataset id; ``status`` is ``processed``
  once the dataset is ``READY`` (``files.wait_for_processing`` waits for it), ``error`` when
  its ``status.code`` is not ``OK``, else ``uploaded``; ``bytes`` is the upload's size on the
  create and 0 on later reads (a dataset does not say its size); ``filename`` is its
  ``displayName``. ``extra_body={"format": "COMPLETION"}`` chooses another dataset format.
  ``files.content`` is refused (Fireworks hands out a signed download URL instead). A lost
  answer at any step is safe: ``:getUploadEndpoint`` re-registers the same file, the PUT
  overwrites it, and a ``:validateUpload`` refused because the dataset is ``READY`` is an
  earlier attempt's.
* **Jobs.** ``supervised`` jobs are ``supervisedFineTuningJobs``, ``dpo`` jobs ``dpoJobs``
  (``trainingConfig`` and always ``lossConfig {method: DPO}``: without it Fireworks trains GRPO),
  ``reinforcement`` jobs ``reinforcementFineTuningJobs``: they are scored by a Fireworks
  evaluator, which OpenAI's ``grader`` cannot become, so ``extra_body={"evaluator":
  "accounts/<a>/evaluators/<id>"}`` is required and a ``grader`` raises
  :class:`~finetune_async.ProviderParameterError` (``method.reinforcement.grader``) saying so;
  the settings go into ``trainingConfig``, Fireworks' own (:data:`RFT_FIELDS`: ``lossConfig``
  GRPO/DAPO..., ``inferenceParameters``, ``chunkSize``...) on the top level; the answer's
  ``method.reinforcement.grader`` reads ``{"type": "fireworks_evaluator", "name": <evaluator>}``
  and ``model_extra["evaluator"]`` the evaluator. A supervised job's id is its resource id
  (``ft-3f2a...``), a DPO job's is ``dpo:`` and its resource id, a reinforcement job's ``rft:``
  and its resource id, so ``retrieve``, ``cancel``, ``delete`` and ``metrics`` reach the right
  collection. ``jobs.list`` reads the supervised jobs, newest first, then the DPO jobs, then the
  reinforcement jobs (``capabilities.jobs_listed_newest_first`` is false): each
  page is one collection's, and its cursor is the last job's id, which this provider maps back to
  the ``nextPageToken`` it came with (an ``after`` that no page of this client ended with is
  refused).
  The body: ``model`` → ``baseModel``; ``training_file`` / ``validation_file`` (dataset ids) →
  ``dataset`` / ``evaluationDataset`` (resource names; DPO jobs take no evaluation dataset);
  ``n_epochs`` → ``epochs``, ``batch_size`` → ``batchSizeSamples``, ``beta`` →
  ``lossConfig.dpo.beta`` (``"auto"``: Fireworks' default, left out). Learning rates are
  **absolute**: ``learning_rate`` (in the hyperparameters, or ``learningRate`` in
  ``extra_body``); OpenAI's relative ``learning_rate_multiplier`` raises
  :class:`~finetune_async.ProviderParameterError`. ``suffix`` names the output model
  (``{suffix}-{8 hex of the job id}``, so two jobs never claim one model name). There is no
  ``seed`` and no ``integrations`` (use ``extra_body={"wandbConfig": ...}``): both are refused.
  Fireworks' own settings go through ``extra_body`` in its camelCase (:data:`SFT_FIELDS`,
  :data:`TRAINING_CONFIG_FIELDS` go into a DPO job's ``trainingConfig``, :data:`DPO_FIELDS`);
  any other key is refused before sending.
* **Exactly once.** Every create chooses its job id (``?supervisedFineTuningJobId=`` /
  ``?dpoJobId=`` / ``?reinforcementFineTuningJobId=``) from the create's ``ft_create``
  marker, so every attempt of one call sends the same id and a second attempt cannot make a
  second job (Fireworks answers 409 ``ALREADY_EXISTS``, and ``jobs.create`` returns the job the earlier attempt made).
* **Metadata.** Fireworks jobs have none: ``ft_create``, ``ft_batch`` and ``ft_spec`` ride in the
  job's ``displayName`` as 12-hex digests (``ft c=... b=... s=...``, after a ``displayName`` of
  the caller's, cut to fit Fireworks' 63 characters) and read back as ``job.metadata`` holding
  the digests; :meth:`FireworksProvider.kept_metadata` makes the same digests, so the ledger,
  ``jobs.list(metadata=...)`` (filtered here: ``metadata_filter`` false) and ``run_batch``
  recognise their jobs. Other metadata keys are refused.
* **Answers** in OpenAI's shape: ``status`` from ``state`` (:data:`STATUS_OF_STATE`; the raw one
  is ``job.provider_status``), ``fine_tuned_model`` the output model's resource name once
  succeeded, ``created_at`` / ``finished_at`` from ``createTime`` / ``completedTime``,
  ``method`` and ``hyperparameters`` from the settings; ``model_extra`` keeps ``name`` (the
  resource name), ``jobProgress {percent, epoch}`` and ``fireworks`` (the answer as it came).
* **Metrics** (``jobs.metrics``, :meth:`FireworksProvider.fetch_metrics`) are a file behind a
  signed URL: a supervised job names it in ``metricsFileSignedUrl`` (the job is read; the spec
  has no ``:getMetricsFileEndpoint`` for supervised jobs), DPO and reinforcement jobs answer it
  from ``:getMetricsFileEndpoint`` (``signedUrl``); the file is read through ``send.signed``
  (capped by ``max_file_bytes``) and parsed by :func:`parse_metrics` (JSON lines, one object per
  step: Fireworks does not document the format). No URL yet: no metrics.
* **No events, no checkpoints** (``capabilities.events`` / ``checkpoints`` false):
  ``jobs.list_events`` and ``jobs.checkpoints.list`` raise
  :class:`~finetune_async.UnsupportedByProviderError`; :func:`~finetune_async.stream_events`
  yields events made from the job's state and progress instead (see :mod:`finetune_async.polling`).
  ``:cancel`` answers ``{}``: ``jobs.cancel`` reads the job after it
  (``capabilities.transition_answers_job`` false). No pause or resume, Uploads API, webhooks,
  graders, models API or file expiry; jobs can be deleted.
* **Errors** are Google's ``{"error": {"code": 404, "message", "status": "NOT_FOUND"}}``: the
  HTTP status chooses the class (404 :class:`~finetune_async.NotFoundError`, 409
  :class:`~finetune_async.ConflictError`, ...), ``error.code`` is the ``status`` name, and
  ``error.param`` the field a 400's message names (``Invalid dataset.exampleCount: ...``).
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import os
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
import attrs
import orjson

from .._auth import ApiKeyAuth, Auth
from ..errors import (
    APIStatusError,
    BadRequestError,
    ConflictError,
    FineTuneError,
    ProviderParameterError,
    status_error,
)
from ._base import WITHOUT_OPENAI_EXTRAS, FileUpload, Operation, Provider, Send, WireRequest

if TYPE_CHECKING:
    from .._bodies import FilePart

__all__ = [
    "DEFAULT_BASE_URL",
    "DPO_FIELDS",
    "DPO_PREFIX",
    "MAX_SIGNED_BYTES",
    "MAX_UPLOAD_BYTES",
    "RFT_FIELDS",
    "RFT_PREFIX",
    "SFT_FIELDS",
    "STATUS_OF_STATE",
    "TRAINING_CONFIG_FIELDS",
    "FireworksProvider",
    "configure",
    "digest",
    "parse_metrics",
]

DEFAULT_BASE_URL = "https://api.fireworks.ai"
#: What one ``datasets/{id}:upload`` takes.
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
#: What ``files.create`` sends through a signed URL at most (``capabilities.max_file_bytes``):
#: Fireworks states no limit for it; the URL is Cloud Storage's, whose objects take 5 TiB.
MAX_SIGNED_BYTES = 5 * 2**40
#: A DPO job's id is this and its resource id (a resource id holds no ``:``).
DPO_PREFIX = "dpo:"
#: A reinforcement job's id is this and its resource id.
RFT_PREFIX = "rft:"

#: ``state`` → the normalised status; a state not here reads ``queued``.
STATUS_OF_STATE: Mapping[str, str] = {
    "JOB_STATE_CREATING": "validating_files",
    "JOB_STATE_VALIDATING": "validating_files",
    "JOB_STATE_CREATING_INPUT_DATASET": "validating_files",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_RE_QUEUEING": "queued",
    "JOB_STATE_IDLE": "queued",
    "JOB_STATE_UNSPECIFIED": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_WRITING_RESULTS": "running",
    "JOB_STATE_PAUSED": "paused",
    "JOB_STATE_COMPLETED": "succeeded",
    # Stopped because the evaluation loss stopped improving: the model is written, the job done.
    "JOB_STATE_EARLY_STOPPED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    # Winding down after a cancel, which cannot be undone: cancelled, as OpenAI's cancel answers
    # at once (and a cancel whose answer was lost is seen to have been applied).
    "JOB_STATE_CANCELLING": "cancelled",
    # A job being deleted will not train again.
    "JOB_STATE_DELETING": "cancelled",
    "JOB_STATE_DELETING_CLEANING_UP": "cancelled",
    "JOB_STATE_DELETED": "cancelled",
}
_ENDED = frozenset({"succeeded", "failed", "cancelled"})

#: The ``extra_body`` keys a supervised job takes as they are (Fireworks' writable fields).
SFT_FIELDS = frozenset(
    {
        "displayName",
        "awsS3Config",
        "azureBlobStorageConfig",
        "outputModel",
        "warmStartFrom",
        "jinjaTemplate",
        "earlyStop",
        "epochs",
        "learningRate",
        "maxContextLength",
        "loraRank",
        "wandbConfig",
        "isTurbo",
        "evalAutoCarveout",
        "batchSize",
        "gradientAccumulationSteps",
        "learningRateWarmupSteps",
        "batchSizeSamples",
        "optimizerWeightDecay",
        "purpose",
    }
)
#: The ``extra_body`` keys that go into a DPO job's ``trainingConfig``.
TRAINING_CONFIG_FIELDS = frozenset(
    {
        "outputModel",
        "warmStartFrom",
        "jinjaTemplate",
        "learningRate",
        "maxContextLength",
        "loraRank",
        "epochs",
        "batchSize",
        "gradientAccumulationSteps",
        "learningRateWarmupSteps",
        "batchSizeSamples",
        "optimizerWeightDecay",
        "trainerShardingScheme",
        "loraAlpha",
        "loraDropout",
        "loraTargetModules",
    }
)
#: The ``extra_body`` keys a DPO job takes on its top level (``lossConfig`` is merged over
#: ``{method: DPO}``; a ``method`` other than DPO or ORPO is refused).
DPO_FIELDS = frozenset({"displayName", "wandbConfig", "awsS3Config", "azureBlobStorageConfig", "purpose", "lossConfig"})
#: The ``extra_body`` keys a reinforcement job takes on its top level (``evaluator`` is required:
#: the resource name of a Fireworks evaluator, ``accounts/{account}/evaluators/{id}``).
RFT_FIELDS = frozenset(
    {
        "displayName",
        "evaluator",
        "evalAutoCarveout",
        "wandbConfig",
        "awsS3Config",
        "azureBlobStorageConfig",
        "inferenceParameters",
        "chunkSize",
        "maxInferenceReplicaCount",
        "nodeCount",
        "lossConfig",
        "maxConcurrentRollouts",
        "maxConcurrentEvaluations",
        "purpose",
    }
)
_EVALUATOR = re.compile(r"^accounts/[^/]+/evaluators/[^/]+$")

#: Each job kind: (its collection, the create's chosen-id parameter, the prefix of its job ids).
_KINDS: Mapping[str, tuple[str, str, str]] = {
    "sft": ("supervisedFineTuningJobs", "supervisedFineTuningJobId", ""),
    "dpo": ("dpoJobs", "dpoJobId", DPO_PREFIX),
    "rft": ("reinforcementFineTuningJobs", "reinforcementFineTuningJobId", RFT_PREFIX),
}
#: jobs.list reads the collections in this order.
_PHASES = ("sft", "dpo", "rft")
_PHASE_OF = {collection: kind for kind, (collection, _, _) in _KINDS.items()}
_KIND_OF_METHOD = {"supervised": "sft", "dpo": "dpo", "reinforcement": "rft"}
_METHOD_OF_KIND = {kind: method for method, kind in _KIND_OF_METHOD.items()}

# OpenAI's keys of a job create, with what becomes of them (anything else is refused).
_OPENAI_KEYS = frozenset(
    {"model", "training_file", "validation_file", "method", "hyperparameters", "suffix", "seed", "metadata"}
)
_HYPERPARAMETERS = frozenset({"n_epochs", "batch_size", "learning_rate", "learning_rate_multiplier", "beta"})

#: The metadata Fireworks jobs carry (in ``displayName``), by the letter it is tagged with.
_TAGS = {"ft_create": "c", "ft_batch": "b", "ft_spec": "s"}
_KEYS = {letter: key for key, letter in _TAGS.items()}
_DISPLAY_MAX = 63
_TAG = re.compile(r"(?:^| )ft((?: [a-z]=[0-9a-f]{12})+)$")
# AIP-122 resource ids: lowercase letters, digits and hyphens, a letter first, at most 63.
_NOT_ID = re.compile(r"[^a-z0-9]+")
_PARAM = re.compile(r"^(?:Missing required field: |Invalid )([A-Za-z_][\w.]*)")

# The id of the dataset a files.delete is deleting, from to_wire to from_wire (one call's
# to_wire and from_wire run in the same task, one after the other).
_DELETING: contextvars.ContextVar[str] = contextvars.ContextVar("fireworks_deleting", default="")
# The collection a jobs.list page asked for, likewise: an empty page is answered {} (protobuf
# JSON leaves empty lists out), which does not say which collection it came from.
_LISTING: contextvars.ContextVar[str] = contextvars.ContextVar("fireworks_listing", default="")
# How many page cursors are remembered (each page's last item id → the next page's token).
_CURSORS = 4096


def digest(value: str) -> str:
    """The 12 hex characters a metadata value is kept as in a job's ``displayName``."""
    return hashlib.blake2b(value.encode(), digest_size=6).hexdigest()


def _job_id(marker: str) -> str:
    """The job id a create with this marker chooses: the same for every attempt of the call."""
    return "ft-" + hashlib.blake2b(marker.encode(), digest_size=10).hexdigest()


def _last(name: Any) -> str | None:
    return name.rsplit("/", 1)[-1] if isinstance(name, str) and name else None


def _epoch(timestamp: Any) -> int | None:
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def _display_name(given: Any, metadata: Mapping[str, str]) -> str | None:
    """The ``displayName`` carrying ``metadata`` as digests, after the caller's own name."""
    if not metadata:
        return given if isinstance(given, str) else None
    tag = "ft" + "".join(f" {_TAGS[key]}={digest(value)}" for key, value in metadata.items())
    if not isinstance(given, str) or not given:
        return tag
    room = _DISPLAY_MAX - len(tag) - 1
    return f"{given[:room].rstrip()} {tag}" if room > 0 else tag


def _metadata_of(display_name: Any) -> dict[str, str] | None:
    """The metadata digests a job's ``displayName`` carries (None when it carries none)."""
    if not isinstance(display_name, str):
        return None
    found = _TAG.search(display_name)
    if found is None:
        return None
    metadata: dict[str, str] = {}
    for item in found.group(1).split():
        letter, _, value = item.partition("=")
        key = _KEYS.get(letter)
        if key is not None:
            metadata[key] = value
    return metadata or None


def _auto(value: Any) -> bool:
    return value is None or value == "auto"


_CAPABILITIES = attrs.evolve(
    WITHOUT_OPENAI_EXTRAS,
    methods=frozenset({"supervised", "dpo", "reinforcement"}),
    paged_events=False,
    paged_checkpoints=False,
    # Two collections, read one after the other: not one newest-first listing.
    jobs_listed_newest_first=False,
    delete_job=True,
    files_must_be_processed=True,
    # What files.create lets through: larger than one :upload takes, the rest goes to a signed URL.
    max_file_bytes=MAX_SIGNED_BYTES,
    events=False,
    checkpoints=False,
    transition_answers_job=False,
    # Read as a file behind a signed URL (FireworksProvider.fetch_metrics).
    metrics_endpoint=True,
    # A dataset id is a resource id (AIP-122): lowercase letters, digits and hyphens.
    file_id_pattern=r"[a-z][a-z0-9-]{0,62}",
)


class FireworksProvider(Provider):
    """Fireworks AI (see the module docstring). ``account_id`` is the account every path names."""

    name = "fireworks"
    capabilities = _CAPABILITIES
    env = {
        "FIREWORKS_API_KEY": "the API key (a bearer token)",
        "FIREWORKS_ACCOUNT_ID": "the account whose datasets and jobs are used",
        "FIREWORKS_BASE_URL": f"the API's origin (default {DEFAULT_BASE_URL})",
    }
    translates = True

    def __init__(self, *, base_url: str, auth: Auth, account_id: str, upload_limit: int = MAX_UPLOAD_BYTES) -> None:
        base = base_url.rstrip("/")
        super().__init__(base_url=base.removesuffix("/v1"), auth=auth)
        if upload_limit < 0:
            raise ValueError("upload_limit must be a number of bytes (0 or more)")
        #: The account every path names.
        self.account_id = account_id
        #: The largest file sent by ``:upload`` (multipart, Fireworks takes 150 MB); a larger
        #: one (of known size) goes through ``:getUploadEndpoint``, a PUT to the signed URL, and
        #: ``:validateUpload``. A test may lower it to exercise that flow with a small file.
        self.upload_limit = upload_limit
        self._root = f"/v1/accounts/{quote(account_id, safe='')}"
        # Each page's last item id (per operation) → the wire cursor of the page after it.
        self._cursors: OrderedDict[tuple[str, str], str] = OrderedDict()

    def __repr__(self) -> str:
        return f"FireworksProvider(base_url={self.base_url!r}, account_id={self.account_id!r})"

    def _reason(self, operation: str, capability: str) -> str:
        if capability == "events":
            return (
                "Fireworks jobs have no events list (capabilities.events is false); "
                "stream_events yields the job's state and progress changes as events"
            )
        if capability == "checkpoints":
            return "Fireworks jobs have no checkpoint list (capabilities.checkpoints is false)"
        return super()._reason(operation, capability)

    # -- metadata ------------------------------------------------------------------------

    def kept_metadata(self, metadata: Mapping[str, str]) -> Mapping[str, str]:
        """Each value as the 12-hex digest the job's ``displayName`` keeps it as."""
        return {key: digest(str(value)) for key, value in metadata.items()}

    # -- checks --------------------------------------------------------------------------

    def check_create(self, body: Mapping[str, Any]) -> None:
        """Refuse, before sending, what Fireworks has no field for: ``learning_rate_multiplier``,
        ``seed``, ``integrations``, metadata other than this SDK's, a ``validation_file`` on a
        DPO job, an OpenAI ``grader`` or a missing ``evaluator`` on a reinforcement job, an
        ``extra_body`` key Fireworks does not take (:class:`~finetune_async.ProviderParameterError`
        naming the field)."""
        method = body.get("method")
        if isinstance(method, Mapping) and method.get("type") == "reinforcement":
            # Before the seam's own check, which would refuse a python grader less helpfully.
            config = method.get("reinforcement")
            if isinstance(config, Mapping) and config.get("grader") is not None:
                raise ProviderParameterError(
                    self.name,
                    "method.reinforcement.grader",
                    "cannot be sent: Fireworks scores reinforcement jobs with an evaluator resource, not an "
                    "OpenAI grader; create the evaluator on Fireworks and pass "
                    "extra_body={'evaluator': 'accounts/<account>/evaluators/<id>'} (and no grader)",
                )
        super().check_create(body)
        self._wire_job(body, "")

    # -- the wire ------------------------------------------------------------------------

    def to_wire(self, operation: Operation, request: WireRequest) -> WireRequest:
        """OpenAI's request as Fireworks' (see the module docstring); refuses, raising
        :class:`~finetune_async.UnsupportedByProviderError`, what Fireworks has no call for."""
        self.require(operation)
        root = self._root
        segments = request.path.strip("/").split("/")
        params = dict(request.params or {})
        if operation == "files.retrieve":
            return WireRequest(method="GET", path=f"{root}/datasets/{segments[1]}")
        if operation == "files.delete":
            _DELETING.set(segments[1])
            return WireRequest(method="DELETE", path=f"{root}/datasets/{segments[1]}")
        if operation == "files.list":
            order = "createTime" if params.get("order") == "asc" else "createTime desc"
            query = self._page_query(operation, params, order)
            return WireRequest(method="GET", path=f"{root}/datasets", params=query)
        if operation == "files.content":
            raise self.refuse(operation, "a dataset's bytes are behind a signed download URL (:getDownloadEndpoint)")
        if operation == "jobs.create":
            return self._create(request)
        if operation == "jobs.list":
            query = self._page_query(operation, params, "createTime desc")
            phase = query.pop("phase")
            _LISTING.set(phase)
            return WireRequest(method="GET", path=f"{root}/{phase}", params=query)
        if operation in ("jobs.retrieve", "jobs.cancel", "jobs.delete"):
            path = self._job_path(segments[2])
            if operation == "jobs.cancel":
                return WireRequest(method="POST", path=path + ":cancel", json_body={})
            return WireRequest(method="GET" if operation == "jobs.retrieve" else "DELETE", path=path)
        raise self.refuse(operation, "Fireworks has no call for it")

    def _job_path(self, job_id: str) -> str:
        kind, rid = _split_job_id(job_id)
        return f"{self._root}/{_KINDS[kind][0]}/{rid}"

    def _page_query(self, operation: str, params: Mapping[str, Any], order_by: str) -> dict[str, Any]:
        """``orderBy``/``pageSize``/``pageToken`` for the page after ``params["after"]`` (and, for
        jobs, the collection to ask under ``phase``)."""
        query: dict[str, Any] = {"orderBy": order_by}
        if params.get("limit") is not None:
            query["pageSize"] = params["limit"]
        after = params.get("after")
        cursor = ""
        if after is not None:
            after = str(after)
            # A page that ended empty hands its wire cursor over as it is (its last_id).
            cursor = after if after.startswith("~") else self._cursors.get((operation, after), "")
            if not cursor:
                raise ProviderParameterError(
                    self.name,
                    "after",
                    f"{after!r} is not where a page this client listed ended (Fireworks pages by token)",
                )
        if operation == "jobs.list":
            phase, _, token = cursor.removeprefix("~").partition("~") if cursor else ("sft", "", "")
            query["phase"] = _KINDS[phase if phase in _KINDS else "sft"][0]
        else:
            token = cursor.removeprefix("~")
        if token:
            query["pageToken"] = token
        return query

    def _remember(self, operation: str, last: str | None, cursor: str) -> None:
        if last is None:
            return
        self._cursors[(operation, last)] = cursor
        self._cursors.move_to_end((operation, last))
        while len(self._cursors) > _CURSORS:
            self._cursors.popitem(last=False)

    def _create(self, request: WireRequest) -> WireRequest:
        body = request.json_body if isinstance(request.json_body, Mapping) else {}
        metadata = body.get("metadata")
        marker = metadata.get("ft_create") if isinstance(metadata, Mapping) else None
        job_id = _job_id(str(marker)) if marker else None
        wire, kind = self._wire_job(body, job_id or "")
        collection, param, _ = _KINDS[kind]
        return WireRequest(
            method="POST",
            path=f"{self._root}/{collection}",
            params={param: job_id} if job_id else None,
            json_body=wire,
        )

    def _wire_job(self, body: Mapping[str, Any], job_id: str) -> tuple[dict[str, Any], str]:
        """(Fireworks' job body for OpenAI's ``body``, its kind: ``sft``, ``dpo`` or ``rft``);
        raises :class:`~finetune_async.ProviderParameterError` for what has no Fireworks field."""
        method = body.get("method")
        method = method if isinstance(method, Mapping) else {}
        kind = str(method.get("type") or "supervised")
        dpo = kind == "dpo"
        rft = kind == "reinforcement"
        config = method.get(kind)
        hyper: dict[str, Any] = {}
        for where, given in (
            ("hyperparameters", body.get("hyperparameters")),
            (
                f"method.{kind}.hyperparameters",
                config.get("hyperparameters") if isinstance(config, Mapping) else None,
            ),
        ):
            if given is None:
                continue
            if not isinstance(given, Mapping):
                raise ProviderParameterError(self.name, where, "must be an object")
            for key, value in given.items():
                if key == "learning_rate_multiplier" and not _auto(value):
                    raise ProviderParameterError(
                        self.name,
                        f"{where}.{key}",
                        "is OpenAI's relative factor: Fireworks takes an absolute learning_rate "
                        "(or extra_body={'learningRate': ...})",
                    )
                if key not in _HYPERPARAMETERS or (key == "beta" and not dpo):
                    raise ProviderParameterError(
                        self.name,
                        f"{where}.{key}",
                        "is not a Fireworks setting (it takes n_epochs, batch_size, learning_rate, and beta for DPO)",
                    )
                if not _auto(value):
                    hyper[key] = value
        if body.get("seed") is not None:
            raise ProviderParameterError(self.name, "seed", "cannot be set: Fireworks jobs take no seed")
        if body.get("integrations"):
            raise ProviderParameterError(
                self.name, "integrations", "are OpenAI's: pass Weights & Biases as extra_body={'wandbConfig': {...}}"
            )
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise ProviderParameterError(self.name, "metadata", "must be an object")
        for key in metadata:
            if key not in _TAGS:
                raise ProviderParameterError(
                    self.name,
                    f"metadata.{key}",
                    "cannot be kept: Fireworks jobs have no metadata, and only this SDK's "
                    f"{', '.join(_TAGS)} ride in their displayName",
                )
        extra = {key: value for key, value in body.items() if key not in _OPENAI_KEYS and key != "integrations"}
        allowed = (
            DPO_FIELDS | TRAINING_CONFIG_FIELDS if dpo else RFT_FIELDS | TRAINING_CONFIG_FIELDS if rft else SFT_FIELDS
        )
        label = "DPO job" if dpo else "reinforcement job" if rft else "supervised job"
        for key in extra:
            if key not in allowed:
                raise ProviderParameterError(self.name, key, "is not a field of a Fireworks " + label)
        if rft:
            evaluator = extra.get("evaluator")
            if not isinstance(evaluator, str) or not _EVALUATOR.match(evaluator):
                raise ProviderParameterError(
                    self.name,
                    "evaluator",
                    "is required for a Fireworks reinforcement job: pass "
                    "extra_body={'evaluator': 'accounts/<account>/evaluators/<id>'} (the evaluator that scores it)",
                )
        validation = body.get("validation_file")
        if dpo and validation:
            raise ProviderParameterError(
                self.name, "validation_file", "cannot be given: Fireworks DPO jobs take no evaluation dataset"
            )

        settings: dict[str, Any] = {"baseModel": body.get("model")}
        for ours, theirs in (
            ("n_epochs", "epochs"),
            ("batch_size", "batchSizeSamples"),
            ("learning_rate", "learningRate"),
        ):
            if ours in hyper:
                settings[theirs] = hyper[ours]
        suffix = body.get("suffix")
        if suffix:
            slug = _NOT_ID.sub("-", str(suffix).lower()).strip("-")[:40] or "model"
            tail = (job_id or secrets.token_hex(4))[-8:]
            settings["outputModel"] = f"{slug if slug[0].isalpha() else 'm-' + slug}-{tail}"
        wire: dict[str, Any] = {"dataset": self._dataset(body.get("training_file"))}
        if validation:
            wire["evaluationDataset"] = self._dataset(validation)
        display = _display_name(extra.pop("displayName", None), {k: str(v) for k, v in metadata.items()})
        if display is not None:
            wire["displayName"] = display
        if not dpo and not rft:
            wire.update(settings)
            wire.update(extra)
            return wire, "sft"
        training = {**settings, **{k: v for k, v in extra.items() if k in TRAINING_CONFIG_FIELDS}}
        wire["trainingConfig"] = training
        if rft:
            # Fireworks' own loss settings (GRPO, DAPO, klBeta...) go as they are.
            wire.update({k: v for k, v in extra.items() if k in RFT_FIELDS and k != "displayName"})
            return wire, "rft"
        loss: dict[str, Any] = {"method": "DPO"}
        given_loss = extra.pop("lossConfig", None)
        if given_loss is not None:
            if not isinstance(given_loss, Mapping) or given_loss.get("method", "DPO") not in ("DPO", "ORPO"):
                raise ProviderParameterError(self.name, "lossConfig", "must be an object whose method is DPO or ORPO")
            loss.update(given_loss)
        if "beta" in hyper:
            loss["dpo"] = {**(loss.get("dpo") or {}), "beta": hyper["beta"]}
        wire["lossConfig"] = loss
        wire.update({k: v for k, v in extra.items() if k in DPO_FIELDS})
        return wire, "dpo"

    def _dataset(self, file_id: Any) -> str:
        return f"accounts/{self.account_id}/datasets/{file_id}"

    def from_wire(self, operation: Operation, body: Any) -> Any:
        """Fireworks' answer in OpenAI's shape (see the module docstring)."""
        if not isinstance(body, dict):
            return body
        if operation in ("files.retrieve", "files.create"):
            return _file(body, None)
        if operation == "files.delete":
            return {"id": _DELETING.get(), "object": "file", "deleted": True}
        if operation == "files.list":
            # protobuf JSON leaves an empty list out.
            items = body.get("datasets", [])
            data = [_file(d, None) for d in items] if isinstance(items, list) else items
            return self._page(operation, data, body, "")
        if operation == "jobs.list":
            kind = _PHASE_OF.get(_LISTING.get()) or next(
                (k for k, (collection, _, _) in _KINDS.items() if collection in body), "sft"
            )
            items = body.get(_KINDS[kind][0], [])
            data = [self._job(j, kind=kind) for j in items] if isinstance(items, list) else items
            return self._page(operation, data, body, kind)
        if operation in ("jobs.retrieve", "jobs.create"):
            return self._job(body, kind=_kind_of(body))
        return body

    def _page(self, operation: str, data: Any, body: Mapping[str, Any], phase: str) -> dict[str, Any]:
        token = body.get("nextPageToken")
        last = data[-1].get("id") if isinstance(data, list) and data and isinstance(data[-1], dict) else None
        if token:
            cursor = f"~{phase}~{token}" if phase else f"~{token}"
        elif phase in _PHASES[:-1]:
            # This collection is read to its end: the next page is the next collection's first.
            cursor = f"~{_PHASES[_PHASES.index(phase) + 1]}~"
        else:
            return {"object": "list", "data": data, "has_more": False}
        self._remember(operation, last, cursor)
        return {"object": "list", "data": data, "has_more": True, "last_id": cursor}

    def _job(self, job: dict[str, Any], *, kind: str) -> dict[str, Any]:
        dpo = kind == "dpo"
        state = str(job.get("state") or "JOB_STATE_UNSPECIFIED")
        status = STATUS_OF_STATE.get(state, "queued")
        config = job.get("trainingConfig") if kind != "sft" else job
        config = config if isinstance(config, dict) else {}
        rid = _last(job.get("name")) or ""
        account = job["name"].split("/")[1] if str(job.get("name", "")).startswith("accounts/") else self.account_id
        output = config.get("outputModel")
        if isinstance(output, str) and output and not output.startswith("accounts/"):
            output = f"accounts/{account}/models/{output}"
        elif not output:
            output = f"accounts/{account}/models/{rid}" if rid else None
        hyper: dict[str, Any] = {}
        for theirs, ours in (
            ("epochs", "n_epochs"),
            ("batchSizeSamples", "batch_size"),
            ("learningRate", "learning_rate"),
        ):
            if config.get(theirs) is not None:
                hyper[ours] = config[theirs]
        loss = _object(job.get("lossConfig"))
        beta = _object(loss.get("dpo")).get("beta")
        method_hyper = {k: v for k, v in hyper.items() if k != "learning_rate"}
        if dpo and beta is not None:
            method_hyper["beta"] = beta
        method: dict[str, Any] = {"hyperparameters": method_hyper}
        evaluator = job.get("evaluator")
        if kind == "rft":
            # OpenAI's method names a grader; a Fireworks job names its evaluator resource.
            method["grader"] = {"type": "fireworks_evaluator", "name": str(evaluator or "")}
        method_type = _METHOD_OF_KIND[kind]
        error = None
        wire_status = _object(job.get("status"))
        if status == "failed":
            error = {
                "code": str(wire_status.get("code") or state),
                "message": str(wire_status.get("message") or f"The job ended {state}."),
                "param": None,
            }
        finished = _epoch(job.get("completedTime")) if status in _ENDED else None
        return {
            "id": _KINDS[kind][2] + rid,
            "object": "fine_tuning.job",
            "created_at": _epoch(job.get("createTime")) or 0,
            "error": error,
            "fine_tuned_model": output if status == "succeeded" else None,
            "finished_at": finished,
            "hyperparameters": hyper,
            "model": config.get("baseModel") or config.get("warmStartFrom") or "",
            "organization_id": account,
            "result_files": [],
            "seed": 0,
            "status": status,
            "trained_tokens": None,
            "training_file": _last(job.get("dataset")) or "",
            "validation_file": _last(job.get("evaluationDataset")),
            "method": {"type": method_type, method_type: method},
            "metadata": _metadata_of(job.get("displayName")),
            "provider_status": state,
            "name": job.get("name"),
            "jobProgress": job.get("jobProgress"),
            "evaluator": evaluator if kind == "rft" else None,
            "fireworks": job,
        }

    # -- files ---------------------------------------------------------------------------

    uploads_its_own_way = True

    async def create_file(self, send: Send, upload: FileUpload) -> Any:
        """A dataset made and uploaded (see the module docstring), as OpenAI's ``FileObject``.

        Raises :class:`~finetune_async.ProviderParameterError` for a purpose other than
        ``fine-tune`` or a form field other than ``format`` (before sending), and the
        transport's errors.
        """
        if upload.purpose != "fine-tune":
            raise ProviderParameterError(
                self.name, "purpose", f"must be 'fine-tune' (a Fireworks dataset), not {upload.purpose!r}"
            )
        fmt = "CHAT"
        for key, value in upload.form.items():
            if key == "format":
                fmt = value
            elif key != "purpose":
                raise ProviderParameterError(self.name, key, "is not a field of a Fireworks dataset (it takes format)")
        part = upload.part
        stem = part.filename.rsplit(".", 1)[0]
        slug = _NOT_ID.sub("-", stem.lower()).strip("-")[:40]
        dataset_id = f"{slug if slug[:1].isalpha() else 'ds-' + slug}-{secrets.token_hex(4)}".replace("--", "-")
        dataset: dict[str, Any] = {"displayName": part.filename, "userUploaded": {}, "format": fmt}
        count = await _count_lines(part.source)
        if count is not None:
            dataset["exampleCount"] = str(count)
        root = f"{self._root}/datasets"
        try:
            made = await send(
                "POST",
                root,
                json_body={"datasetId": dataset_id, "dataset": dataset},
                idempotent=True,
                op="files.create",
            )
            row = made.json()
        except ConflictError:
            # The id is this call's: an earlier attempt made the dataset, and its answer was lost.
            row = (await send("GET", f"{root}/{dataset_id}", op="files.retrieve")).json()
        size = upload.size
        created_at: int | None = None
        if row.get("state") != "READY" and size is not None and size > self.upload_limit:
            row = await self._upload_signed(send, f"{root}/{dataset_id}", part, size)
        elif row.get("state") != "READY":
            try:
                sent = (
                    await send("POST", f"{root}/{dataset_id}:upload", files=[part], idempotent=True, op="files.create")
                ).json()
            except BadRequestError as exc:
                # An earlier attempt's bytes arrived (the dataset is READY): nothing to send again.
                row = (await send("GET", f"{root}/{dataset_id}", op="files.retrieve")).json()
                if row.get("state") != "READY":
                    raise exc from None
            else:
                if isinstance(sent, dict):
                    size = sent.get("bytes") if isinstance(sent.get("bytes"), int) else size
                    created_at = sent.get("created_at") if isinstance(sent.get("created_at"), int) else None
                row = (await send("GET", f"{root}/{dataset_id}", op="files.retrieve")).json()
        file = _file(row, size)
        if created_at is not None and not file["created_at"]:
            file["created_at"] = created_at
        return file

    async def _upload_signed(self, send: Send, dataset: str, part: FilePart, size: int) -> Any:
        """A file too large for ``:upload`` sent the way Fireworks' SDK sends large datasets:
        ``:getUploadEndpoint`` (the file's name and size) answers a signed URL, the bytes are
        PUT there (streamed, with their length; nothing of the client's goes with them), then
        ``:validateUpload``. Every step may be sent again (the dataset id is this call's: the
        endpoint re-registers the same file, a PUT overwrites it, a validate of a ``READY``
        dataset is an earlier attempt's that arrived). Returns the dataset as read after."""
        # Both headers are part of the signature (Fireworks signs the exact length).
        signed_headers = {"Content-Type": "application/octet-stream", "X-Goog-Content-Length-Range": f"{size},{size}"}
        answer = (
            await send(
                "POST",
                f"{dataset}:getUploadEndpoint",
                json_body={"filenameToSize": {part.filename: str(size)}},
                idempotent=True,
                op="files.create",
            )
        ).json()
        urls = answer.get("filenameToSignedUrls") if isinstance(answer, dict) else None
        url = urls.get(part.filename) if isinstance(urls, dict) else None
        if not isinstance(url, str) or not url:
            raise FineTuneError(
                f"Fireworks gave no signed upload URL for {part.filename!r} ({dataset}:getUploadEndpoint)"
            )
        await send.signed("PUT", url, body=part, size=size, headers=signed_headers, idempotent=True)
        try:
            await send("POST", f"{dataset}:validateUpload", json_body={}, idempotent=True, op="files.create")
        except BadRequestError as exc:
            row = (await send("GET", dataset, op="files.retrieve")).json()
            if row.get("state") != "READY":
                raise exc from None
            return row
        return (await send("GET", dataset, op="files.retrieve")).json()

    # -- metrics -------------------------------------------------------------------------

    fetches_metrics_its_own_way = True

    async def fetch_metrics(self, send: Send, job_id: str) -> Any:
        """A job's metrics file, read from where Fireworks signs it and parsed: OpenAI-shaped
        ``{"metrics": [...]}`` (see :func:`parse_metrics`).

        Supervised jobs name the file in the job (``metricsFileSignedUrl``: the job is read);
        DPO and reinforcement jobs answer it from ``:getMetricsFileEndpoint``. No file yet (the
        field or ``signedUrl`` empty): no metrics. Raises :class:`~finetune_async.NotFoundError`
        for an unknown job, :class:`~finetune_async.FineTuneError` naming the line for a file
        that is not JSON lines of objects, and the transport's errors.
        """
        kind, _ = _split_job_id(job_id)
        path = self._job_path(job_id)
        if kind == "sft":
            answer = (await send("GET", path, op="jobs.retrieve")).json()
            url = answer.get("metricsFileSignedUrl") if isinstance(answer, dict) else None
        else:
            answer = (await send("GET", path + ":getMetricsFileEndpoint", op="jobs.metrics")).json()
            url = answer.get("signedUrl") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url:
            return {"metrics": []}
        content = (await send.signed("GET", url, file_content=True)).content
        return {"metrics": parse_metrics(content)}

    # -- errors --------------------------------------------------------------------------

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
        """Google's ``{"error": {code, message, status}}`` as the class its HTTP status chooses,
        with ``code`` the status name (``NOT_FOUND``) and ``param`` the field a message names."""
        err = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(err, Mapping) or "status" not in err:
            return status_error(status_code, body, request_id=request_id, headers=headers, method=method, url=url)
        message = str(err.get("message") or f"HTTP {status_code}")
        named = _PARAM.match(message)
        shaped = {
            "error": {
                "message": message,
                "code": str(err.get("status")),
                "param": named.group(1).rstrip(".") if named else None,
                "type": None,
            }
        }
        error = status_error(status_code, shaped, request_id=request_id, headers=headers, method=method, url=url)
        error.body = body
        return error


def _split_job_id(job_id: str) -> tuple[str, str]:
    """(the job's kind, its resource id) for one of our job ids (``dpo:x``, ``rft:x``, ``x``)."""
    for kind, (_, _, prefix) in _KINDS.items():
        if prefix and job_id.startswith(prefix):
            return kind, job_id[len(prefix) :]
    return "sft", job_id


def _kind_of(job: Mapping[str, Any]) -> str:
    """The kind of a job answer: its resource name says it; else its fields do."""
    name = job.get("name")
    if isinstance(name, str):
        for collection, kind in _PHASE_OF.items():
            if f"/{collection}/" in name:
                return kind
    if "evaluator" in job:
        return "rft"
    return "dpo" if "trainingConfig" in job or "lossConfig" in job else "sft"


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _file(row: Mapping[str, Any], size: int | None) -> dict[str, Any]:
    """A dataset as OpenAI's ``FileObject``."""
    state = row.get("state")
    wire_status = _object(row.get("status"))
    code = wire_status.get("code")
    if code not in (None, "OK"):
        status, details = "error", str(wire_status.get("message") or code)
    else:
        status, details = ("processed" if state == "READY" else "uploaded"), None
    name = _last(row.get("name")) or ""
    return {
        "id": name,
        "object": "file",
        "bytes": size if size is not None else 0,
        "created_at": _epoch(row.get("createTime")) or 0,
        "filename": row.get("displayName") or name,
        "purpose": "fine-tune",
        "status": status,
        "status_details": details,
        "provider_status": state,
        "example_count": row.get("exampleCount"),
        "fireworks": dict(row),
    }


def parse_metrics(content: bytes) -> list[dict[str, float]]:
    """A Fireworks metrics file as snapshots, oldest first.

    Fireworks does not document the file; this reads JSON lines, one object per recorded step
    (``{"step": 3, "epoch": 0, "train/loss": 0.81, ...}``, as the emulator writes them), blank
    lines skipped. Each snapshot keeps the object's numbers under their own names (booleans and
    other values are left out: a snapshot maps names to numbers). Raises
    :class:`~finetune_async.FineTuneError` naming the (1-based) line that is not a JSON object.
    """
    snapshots: list[dict[str, float]] = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise FineTuneError(f"Fireworks' metrics file, line {number}: not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise FineTuneError(
                f"Fireworks' metrics file, line {number}: expected a JSON object, got {type(record).__name__}"
            )
        snapshots.append(
            {
                str(name): value
                for name, value in record.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            }
        )
    return snapshots


async def _count_lines(source: Any) -> int | None:
    """The non-blank lines of a file part's source (bytes, a path, a seekable binary file),
    read in a worker thread; None when they cannot be counted without consuming the source."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return sum(1 for line in bytes(source).splitlines() if line.strip())
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)

        def count_path() -> int:
            with open(path, "rb") as fh:
                return sum(1 for line in fh if line.strip())

        return await anyio.to_thread.run_sync(count_path)
    seekable = getattr(source, "seekable", None)
    if callable(seekable) and seekable() and isinstance(source, io.IOBase):
        handle = source

        def count_handle() -> int:
            start = handle.tell()
            try:
                return sum(1 for line in handle if line.strip())
            finally:
                handle.seek(start)

        return await anyio.to_thread.run_sync(count_handle)
    return None


def configure(*, api_key: str | None, account_id: str | None, base_url: str | None) -> FireworksProvider:
    """The provider of ``AsyncClient.fireworks(...)``, defaults from the environment.

    Raises :class:`~finetune_async.FineTuneError` when no API key or account is given or found.
    """
    api_key = api_key if api_key is not None else os.environ.get("FIREWORKS_API_KEY")
    if not api_key:
        raise FineTuneError("No Fireworks API key: pass api_key=... or set FIREWORKS_API_KEY.")
    account_id = account_id if account_id is not None else os.environ.get("FIREWORKS_ACCOUNT_ID")
    if not account_id:
        raise FineTuneError("No Fireworks account: pass account_id=... or set FIREWORKS_ACCOUNT_ID.")
    return FireworksProvider(
        base_url=base_url or os.environ.get("FIREWORKS_BASE_URL") or DEFAULT_BASE_URL,
        auth=ApiKeyAuth(api_key),
        account_id=account_id,
    )

"""The provider seam: what a provider is, what it can do, and the hooks a resource calls.

Resources, helpers, the batch, the validator and the CLI speak OpenAI's shapes and ask the
client's :class:`Provider` (``client.provider``): its :class:`Capabilities` say what it can do,
:meth:`Provider.require` refuses, before anything is sent, a call it cannot do, and
:meth:`Provider.check_create` a job it would refuse or silently change. Nothing above this seam
tests a provider's name.

Every resource call names the :data:`Operation` it performs (``"jobs.retrieve"``). A provider
whose wire is OpenAI's (OpenAI, Azure, Nebius) leaves ``translates`` false and its requests go
out as they are: the hot path pays one attribute read. A provider with another wire (Together's
``/fine-tunes``, Fireworks' AIP resources) sets ``translates`` and maps each operation's
request in :meth:`Provider.to_wire` (the OpenAI path and body in, its own path, query and body
out) and each answer's JSON back to OpenAI's shape in :meth:`Provider.from_wire`: a job's own
status goes into ``status`` normalised (:data:`JOB_STATUSES`) with the raw value kept as
``provider_status``, its ``name`` into ``id``, a ``nextPageToken`` into the page's ``last_id``
(the cursor the next page's ``after`` carries back to :meth:`Provider.to_wire`). Lists come
back newest first, as OpenAI's: a provider whose events or checkpoints are not paged
(``paged_events`` false) answers the whole list in one page, and the streams read it whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import attrs

from .._ledger import CreateLedger
from ..errors import APIStatusError, UnsupportedByProviderError, status_error

if TYPE_CHECKING:
    from .._auth import Auth
    from .._bodies import FilePart
    from .._ledger import Reconciler
    from .._transport import Response
    from ..datasets import DataRules

__all__ = [
    "ALL_OPERATIONS",
    "JOB_STATUSES",
    "Capabilities",
    "FileUpload",
    "Operation",
    "Provider",
    "Send",
    "WireRequest",
    "each_object",
    "grader_types",
]

#: What a resource call does, named as the public method is (``client.fine_tuning.`` dropped).
Operation = Literal[
    "files.create",
    "files.retrieve",
    "files.list",
    "files.delete",
    "files.content",
    "uploads.create",
    "uploads.parts.create",
    "uploads.complete",
    "uploads.cancel",
    "jobs.create",
    "jobs.retrieve",
    "jobs.list",
    "jobs.cancel",
    "jobs.pause",
    "jobs.resume",
    "jobs.delete",
    "jobs.list_events",
    "jobs.checkpoints.list",
    "jobs.metrics",
    "jobs.checkpoints.copy",
    "jobs.checkpoints.retrieve_copy",
    "checkpoints.permissions.create",
    "checkpoints.permissions.retrieve",
    "checkpoints.permissions.delete",
    "alpha.graders.run",
    "alpha.graders.validate",
    "models.retrieve",
    "models.list",
    "models.delete",
]

#: Every operation (what ``translated_operations=None`` means).
ALL_OPERATIONS: frozenset[str] = frozenset(get_args(Operation))

#: The normalised job statuses the helpers act on; a translating provider maps its own onto these.
JOB_STATUSES = ("pending", "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled")


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a provider can do. Defaults are OpenAI's.

    ``methods``: the ``method.type`` values a job may have (``supervised``, ``dpo``,
    ``reinforcement``, Nebius' ``spec-draft``). ``paged_events`` / ``paged_checkpoints``: the
    lists take ``limit`` and ``after`` (else one call answers the whole list).
    ``jobs_listed_newest_first``: ``jobs.list`` pages newest first with an ``after`` cursor, so
    the many-jobs watcher reads a hundred jobs a request (else it retrieves each job).
    ``job_metadata``: jobs carry ``metadata`` (the ``ft_create`` marker, run_batch's
    ``ft_batch``/``ft_spec``); ``metadata_filter``: ``jobs.list`` filters on it.
    ``pause_resume``, ``delete_job``, ``webhooks``, ``uploads`` (the multipart Uploads API),
    ``checkpoint_permissions``, ``checkpoint_copy`` (copy to another resource or region),
    ``graders`` (the alpha graders API), ``python_grader`` (a ``python`` grader in a
    reinforcement job), ``models_api``: whether each exists. ``file_expiration``: files take
    ``expires_after``. ``files_must_be_processed``: a job may only use a file once it is
    ``processed`` (the helpers that create jobs wait for it; callers of ``jobs.create`` should
    call ``files.wait_for_processing`` first). ``max_file_bytes``: the largest file one
    ``files.create`` request takes (larger ones go through the Uploads API when there is one);
    where the provider :attr:`~Provider.uploads_its_own_way`, the largest file its flow takes.
    ``events``: a job has an events list (else ``jobs.list_events`` is refused and
    :func:`~finetune_async.stream_events` makes events from the job's state and progress);
    ``checkpoints``: a job has a checkpoint list (else ``jobs.checkpoints.list`` and
    :func:`~finetune_async.stream_checkpoints` are refused). ``transition_answers_job``: a
    cancel (pause, resume) answers the job (else it answers nothing, and the job is read after).
    ``metrics_endpoint``: a job's training metrics are read from an endpoint of their own
    (``jobs.metrics``: Together's ``/fine-tunes/{id}/metrics``; on OpenAI's wire they are the
    job's ``metrics`` events). ``file_id_pattern``: the shape of a file's id (``file-...``;
    Fireworks' dataset ids are resource ids), by which ``run_batch`` tells an id from a path.
    """

    methods: frozenset[str] = frozenset({"supervised", "dpo", "reinforcement"})
    paged_events: bool = True
    paged_checkpoints: bool = True
    jobs_listed_newest_first: bool = True
    job_metadata: bool = True
    metadata_filter: bool = True
    pause_resume: bool = True
    delete_job: bool = False
    webhooks: bool = True
    uploads: bool = True
    checkpoint_permissions: bool = True
    checkpoint_copy: bool = False
    graders: bool = True
    python_grader: bool = True
    models_api: bool = True
    file_expiration: bool = True
    files_must_be_processed: bool = False
    max_file_bytes: int = 512 * 1024 * 1024
    events: bool = True
    checkpoints: bool = True
    transition_answers_job: bool = True
    metrics_endpoint: bool = False
    #: The shape of an uploaded file's id (a regular expression, matched whole): what
    #: ``run_batch`` reads as an id rather than a local path (where no such path exists).
    file_id_pattern: str = r"file-[A-Za-z0-9_-]+"

    def unsupported(self) -> dict[str, str]:
        """Each operation this provider cannot do, with the capability that says so."""
        needs: dict[str, tuple[bool, str]] = {
            "jobs.pause": (self.pause_resume, "pause_resume"),
            "jobs.resume": (self.pause_resume, "pause_resume"),
            "jobs.delete": (self.delete_job, "delete_job"),
            "jobs.list_events": (self.events, "events"),
            "jobs.checkpoints.list": (self.checkpoints, "checkpoints"),
            "jobs.metrics": (self.metrics_endpoint, "metrics_endpoint"),
            "jobs.checkpoints.copy": (self.checkpoint_copy, "checkpoint_copy"),
            "jobs.checkpoints.retrieve_copy": (self.checkpoint_copy, "checkpoint_copy"),
            "uploads.create": (self.uploads, "uploads"),
            "uploads.parts.create": (self.uploads, "uploads"),
            "uploads.complete": (self.uploads, "uploads"),
            "uploads.cancel": (self.uploads, "uploads"),
            "checkpoints.permissions.create": (self.checkpoint_permissions, "checkpoint_permissions"),
            "checkpoints.permissions.retrieve": (self.checkpoint_permissions, "checkpoint_permissions"),
            "checkpoints.permissions.delete": (self.checkpoint_permissions, "checkpoint_permissions"),
            "alpha.graders.run": (self.graders, "graders"),
            "alpha.graders.validate": (self.graders, "graders"),
            "models.retrieve": (self.models_api, "models_api"),
            "models.list": (self.models_api, "models_api"),
            "models.delete": (self.models_api, "models_api"),
        }
        return {op: capability for op, (can, capability) in needs.items() if not can}


class Send(Protocol):
    """How :meth:`Provider.create_file` sends one request (see there)."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Sequence[FilePart] = (),
        idempotent: bool | None = None,
        reconcile: Reconciler[Any] | None = None,
        op: Operation,
        answer_redirects: bool = False,
    ) -> Awaitable[Response]:
        """One request on the provider's own path (see :meth:`Provider.create_file`); with
        ``answer_redirects``, a 3xx answer is returned as the response (its ``Location`` is the
        provider's to use: Together answers an upload's announce with a 302 to a signed URL)
        rather than followed or raised."""
        ...

    def signed(
        self,
        method: str,
        url: str,
        *,
        body: FilePart | None = None,
        size: int | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        file_content: bool = False,
    ) -> Awaitable[Response]:
        """One request to a signed URL the provider handed out (an upload's PUT, a download's
        GET): no credential and nothing else of the client's goes with it, ``body`` is the whole
        request body (``size`` its length), a redirect is not followed (``RedirectError``), and
        a URL that is not https (http only where the base URL is) raises ``ValueError``."""
        ...


@attrs.frozen(kw_only=True)
class FileUpload:
    """One ``files.create`` call as :meth:`Provider.create_file` gets it: the file part (name,
    streamed source, size when known, content type, progress callback), the purpose, and the
    form fields the call's ``extra_body`` adds."""

    part: FilePart
    size: int | None
    purpose: str
    form: Mapping[str, str] = attrs.field(factory=dict)


#: OpenAI's capabilities less what only OpenAI's platform has (pause/resume, webhooks, the
#: Uploads API, checkpoint permissions, graders, the models API, file expiry) and with the
#: metadata filter done here: where the other providers start (``attrs.evolve`` it).
WITHOUT_OPENAI_EXTRAS = Capabilities(
    pause_resume=False,
    webhooks=False,
    uploads=False,
    checkpoint_permissions=False,
    graders=False,
    python_grader=False,
    models_api=False,
    file_expiration=False,
    metadata_filter=False,
)


@attrs.frozen(kw_only=True)
class WireRequest:
    """One request as a translating provider sees it: OpenAI's method, path (ids in it, as
    :func:`~finetune_async.resources._base.path_id` made them), query and body in; its own out."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json_body: Any = None
    form: Mapping[str, str] | None = None
    files: Sequence[FilePart] = ()


class Provider:
    """One provider: its base URL, auth, capabilities, and the mapping of its wire.

    Subclasses (one module each under :mod:`finetune_async.providers`) set ``name``,
    ``capabilities``, ``env`` (the environment variables it reads) and, when their wire is not
    OpenAI's, ``translates`` with :meth:`to_wire` / :meth:`from_wire`. ``repr`` never shows the
    credentials.
    """

    #: The provider's name, for messages and the CLI's ``--provider``.
    name: str = "openai"
    #: What it can do.
    capabilities: Capabilities = Capabilities()
    #: The environment variables it reads (name: what for), for docs and the CLI's help.
    env: Mapping[str, str] = {}
    #: True when requests and answers are mapped (:meth:`to_wire`, :meth:`from_wire`).
    translates: bool = False
    #: When ``translates``: the operations mapped (None: every one). The others go out and
    #: come back as they are, paying one set lookup (Nebius maps only the jobs' calls).
    translated_operations: frozenset[str] | None = None
    #: Response headers naming the request id, first found wins.
    request_id_headers: tuple[str, ...] = ("x-request-id",)
    #: Headers an operation needs on this provider (a preview's opt-in header).
    operation_headers: Mapping[str, Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        default_query: Mapping[str, str] | None = None,
        default_headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        if capabilities is not None:
            # One route of a provider may do less than another (Azure's v1 route: no Uploads).
            self.capabilities = capabilities
        #: Where requests go: the OpenAI-shaped paths (``/fine_tuning/jobs``) are joined to it.
        self.base_url = base_url.rstrip("/")
        #: Sent with every request (Azure's dated routes: ``api-version``).
        self.default_query: Mapping[str, str] = dict(default_query or {})
        #: Sent with every request.
        self.default_headers: Mapping[str, str] = dict(default_headers or {})
        self.auth = auth
        #: The create-once ledger of the client that owns this provider (set by the client; one
        #: of its own until then): a provider's own flows (:meth:`create_file`) settle through it.
        self.ledger = CreateLedger()
        # Looked up on every refusable call: computed once.
        self._unsupported = self.capabilities.unsupported()
        #: The operations :meth:`to_wire` and :meth:`from_wire` are called for (looked up by
        #: the resources on every call: an empty set when nothing is mapped).
        self.translated: frozenset[str] = frozenset(
            (ALL_OPERATIONS if self.translated_operations is None else self.translated_operations)
            if self.translates
            else ()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def data_rules(self) -> DataRules:
        """What this provider's training files may hold (line formats per method, context
        limits), for :func:`~finetune_async.validate_dataset` (``provider=client``)."""
        # The dataset package is imported on first use, as `import finetune_async` does.
        from ..datasets import OPENAI, data_rules_for, provider_names

        if self.name in provider_names():
            return data_rules_for(self.name)
        # A provider without rules of its own (one of a user's): OpenAI's line formats, for
        # the methods it has.
        methods = {m: f for m, f in OPENAI.methods.items() if m in self.capabilities.methods}
        return attrs.evolve(OPENAI, name=self.name, display_name=self.name, methods=methods)

    # -- what it can do ------------------------------------------------------------------

    def supports(self, operation: Operation) -> bool:
        """True when the provider can do ``operation``."""
        return operation not in self._unsupported

    def require(self, operation: Operation) -> None:
        """Return when the provider can do ``operation``; raise
        :class:`~finetune_async.UnsupportedByProviderError` naming both otherwise."""
        capability = self._unsupported.get(operation)
        if capability is not None:
            raise UnsupportedByProviderError(self.name, operation, self._reason(operation, capability))

    def _reason(self, operation: str, capability: str) -> str:
        """Why ``operation`` is refused (``capability`` is false); subclasses say more."""
        return f"capabilities.{capability} is false"

    def refuse(self, operation: str, reason: str) -> UnsupportedByProviderError:
        """The error for a call (or a part of one) the provider cannot do."""
        return UnsupportedByProviderError(self.name, operation, reason)

    def kept_metadata(self, metadata: Mapping[str, str]) -> Mapping[str, str]:
        """What ``job.metadata`` reads back, on this provider, for a job created with ``metadata``.

        OpenAI, Azure and Nebius keep metadata as it was sent (this returns it). A provider whose
        jobs have no metadata field and keep it in a short field of their own (Fireworks'
        ``displayName``) may keep each value as a digest: the create-once ledger, the local
        metadata filter of ``jobs.list`` and ``run_batch`` compare what they are looking for
        through this, so they recognise their jobs all the same.
        """
        return metadata

    def check_create(self, body: Mapping[str, Any]) -> None:
        """Refuse, before sending, a job body (OpenAI's JSON) the provider would refuse or
        change silently: a method it does not have, a Python grader it cannot run, metadata it
        cannot keep. Nebius-like providers also check their hyperparameters here.

        Raises :class:`~finetune_async.UnsupportedByProviderError`.
        """
        caps = self.capabilities
        method = body.get("method")
        kind = method.get("type") if isinstance(method, Mapping) else None
        kind = "supervised" if kind is None else str(kind)
        if kind not in caps.methods:
            shown = ", ".join(sorted(caps.methods))
            raise self.refuse("jobs.create", f"the method {kind!r} (it has: {shown})")
        if not caps.python_grader and kind == "reinforcement":
            reinforcement = method.get("reinforcement") if isinstance(method, Mapping) else None
            grader = reinforcement.get("grader") if isinstance(reinforcement, Mapping) else None
            if "python" in grader_types(grader):
                raise self.refuse(
                    "jobs.create",
                    "a python grader in a reinforcement job (use a string_check, text_similarity, "
                    "score_model, label_model or multi grader)",
                )
        if not caps.job_metadata and body.get("metadata"):
            raise self.refuse("jobs.create", "job metadata")

    # -- the wire ------------------------------------------------------------------------

    def to_wire(self, operation: Operation, request: WireRequest) -> WireRequest:
        """The request as the provider's wire takes it (only called when ``translates``)."""
        return request

    #: True when :meth:`create_file` sends a file its own way (several requests: Fireworks'
    #: dataset, then its upload); else ``files.create`` sends OpenAI's one multipart request.
    uploads_its_own_way: bool = False

    async def create_file(self, send: Send, upload: FileUpload) -> Any:
        """Send ``upload`` as the provider takes a new file and return the file's JSON in
        OpenAI's shape (a ``FileObject``: ``id``, ``bytes``, ``created_at``, ``filename``,
        ``purpose``, ``status``). Only called when :attr:`uploads_its_own_way`.

        ``send`` sends one request through the client's transport (retries, hooks, the
        create-once settle when given ``reconcile``) on the provider's own paths, unmapped, and
        returns the :class:`~finetune_async._transport.Response`. A provider's flow must not
        create two files for one call when an answer is lost (choose the id, or settle).
        """
        raise NotImplementedError(f"{type(self).__name__} sets uploads_its_own_way without create_file")

    #: True when :meth:`fetch_metrics` reads a job's metrics its own way (several requests:
    #: Fireworks' signed metrics file); else ``jobs.metrics`` sends one mapped request.
    fetches_metrics_its_own_way: bool = False

    async def fetch_metrics(self, send: Send, job_id: str) -> Any:
        """Read job ``job_id``'s training metrics as the provider keeps them and return them in
        the shape of :class:`~finetune_async.FineTuningJobMetrics` (``{"metrics": [{name:
        number}, ...]}``, oldest first). Only called when :attr:`fetches_metrics_its_own_way`
        (and ``capabilities.metrics_endpoint``). ``send`` is :meth:`create_file`'s: the
        provider's own paths, and ``send.signed`` for a URL the provider signed.
        """
        raise NotImplementedError(f"{type(self).__name__} sets fetches_metrics_its_own_way without fetch_metrics")

    def from_wire(self, operation: Operation, body: Any) -> Any:
        """An answer's decoded JSON in OpenAI's shape (only called when ``translates``)."""
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
        """The exception for a non-2xx answer (OpenAI's ``{"error": {...}}`` body)."""
        return status_error(status_code, body, request_id=request_id, headers=headers, method=method, url=url)


def each_object(body: Any, change: Callable[[Any], object]) -> Any:
    """``body`` (an answer's JSON) after ``change`` ran on each item of a list answer
    (``{"object": "list", "data": [...]}``), or on the object itself."""
    if isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, list) and body.get("object") == "list":
            for item in data:
                change(item)
        else:
            change(body)
    return body


def grader_types(grader: object) -> set[str]:
    """The ``type`` of ``grader`` (a grader's JSON) and of every grader nested in it (a
    ``multi`` grader's ``graders``, a mapping or a list)."""
    found: set[str] = set()
    stack = [grader]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            kind = node.get("type")
            if isinstance(kind, str):
                found.add(kind)
            nested = node.get("graders")
            if isinstance(nested, Mapping):
                stack.extend(nested.values())
            elif isinstance(nested, list):
                stack.extend(nested)
    return found

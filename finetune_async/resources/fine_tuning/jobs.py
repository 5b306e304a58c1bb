"""``client.fine_tuning.jobs``: create, inspect, steer and list fine-tuning jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..._ledger import MARKER_KEY, job_matches
from ..._options import RequestOptions
from ...errors import ConflictError
from ...models import (
    CheckpointCopy,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    FineTuningJobIntegration,
    FineTuningJobMetrics,
    Hyperparameters,
    JobStatus,
    Method,
)
from ...models._converter import DecodeError, structure, to_json_param
from ...pagination import AsyncPaginator, filtered
from .._base import CallOptions, Options, ProviderSend, Resource, path_id, request_options
from .._response import endpoint

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

    from ...client import AsyncClient
    from ...providers import Operation

__all__ = ["Checkpoints", "Jobs"]


def _job(fine_tuning_job_id: str, tail: str = "") -> str:
    """The path of the job, or of ``tail`` under it."""
    return f"/fine_tuning/jobs/{path_id(fine_tuning_job_id, 'fine_tuning_job_id')}{tail}"


class Checkpoints(Resource):
    """``client.fine_tuning.jobs.checkpoints``."""

    __slots__ = ()

    @endpoint
    def list(
        self,
        fine_tuning_job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncPaginator[FineTuningJobCheckpoint]:
        """The job's checkpoints, newest first: await for a page, ``async for`` for all."""
        return self._paginate(
            FineTuningJobCheckpoint,
            _job(fine_tuning_job_id, "/checkpoints"),
            {"limit": limit},
            after=after,
            options=options,
            op="jobs.checkpoints.list",
        )

    @endpoint
    async def copy(
        self,
        fine_tuning_job_id: str,
        checkpoint_id: str,
        *,
        destination_resource_id: str,
        region: str,
        **options: Unpack[CallOptions],
    ) -> CheckpointCopy:
        """Copy a checkpoint of the job to another Azure OpenAI resource or region (Azure's v1
        route, a preview: the ``aoai-copy-ft-checkpoints: preview`` header is sent).

        ``checkpoint_id`` is the checkpoint's ``id`` (``ftchkpt-...``), ``destination_resource_id``
        the destination account's full Azure resource id, ``region`` its region. The copy runs
        on; :meth:`retrieve_copy` reads its state. Returns a :class:`~finetune_async.CheckpointCopy`
        (Azure's camelCase fields as attributes: ``checkpointedModelName``,
        ``copiedAccountDetails``, ...). A lost answer is not sent again: read the state instead.

        Raises :class:`~finetune_async.UnsupportedByProviderError` where the provider cannot copy
        checkpoints (``capabilities.checkpoint_copy``), and the transport's errors.
        """
        self._require("jobs.checkpoints.copy")
        return await self._request(
            CheckpointCopy,
            "POST",
            _copy_path(fine_tuning_job_id, checkpoint_id),
            json_body={"destinationResourceId": destination_resource_id, "region": region},
            idempotent=False,
            options=self._with_headers(options, "jobs.checkpoints.copy"),
            op="jobs.checkpoints.copy",
        )

    @endpoint
    async def retrieve_copy(
        self, fine_tuning_job_id: str, checkpoint_id: str, **options: Unpack[CallOptions]
    ) -> CheckpointCopy:
        """The state of the copies of a checkpoint started by :meth:`copy` (``copiedAccountDetails``
        lists each destination with its ``status``).

        Raises :class:`~finetune_async.UnsupportedByProviderError` as :meth:`copy`, and
        :class:`~finetune_async.NotFoundError`.
        """
        self._require("jobs.checkpoints.retrieve_copy")
        return await self._request(
            CheckpointCopy,
            "GET",
            _copy_path(fine_tuning_job_id, checkpoint_id),
            options=self._with_headers(options, "jobs.checkpoints.retrieve_copy"),
            op="jobs.checkpoints.retrieve_copy",
        )

    def _with_headers(self, options: Options, operation: Operation) -> RequestOptions:
        """``options`` with the headers the provider needs for ``operation`` (a preview's
        header); the call's own ``extra_headers`` win."""
        opts = request_options(options)
        needed = self._client._provider.operation_headers.get(operation)
        if not needed:
            return opts
        given = {name.lower() for name, _ in opts.headers}
        extra = tuple((name, value) for name, value in needed.items() if name.lower() not in given)
        return attrs.evolve(opts, headers=extra + tuple(opts.headers))


def _has_metadata(job: FineTuningJob, wanted: Mapping[str, str]) -> bool:
    metadata = job.metadata or {}
    return all(metadata.get(key) == value for key, value in wanted.items())


def _copy_path(fine_tuning_job_id: str, checkpoint_id: str) -> str:
    return _job(fine_tuning_job_id, f"/checkpoints/{path_id(checkpoint_id, 'checkpoint_id')}/copy")


class Jobs(Resource):
    """The fine-tuning jobs API (``/fine_tuning/jobs``)."""

    __slots__ = ("checkpoints",)

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.checkpoints = Checkpoints(client)

    @endpoint
    async def create(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        method: Method | Mapping[str, Any] | None = None,
        hyperparameters: Hyperparameters | Mapping[str, Any] | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
        integrations: Iterable[FineTuningJobIntegration | Mapping[str, Any]] | None = None,
        **options: Unpack[CallOptions],
    ) -> FineTuningJob:
        """Start a fine-tuning job and return it (status ``validating_files`` or ``queued``).

        Never starts two jobs for one call: the job carries a random ``ft_create`` marker in its
        ``metadata`` (unless the client was made with ``mark_creates=False`` or the metadata
        already has 16 pairs), and if the answer is lost after the request was sent, the SDK
        looks for the job over the client's settle window and returns it as soon as it appears;
        it sends the request again only when the window passed and nothing appeared (README,
        "Retries and duplicate creates"). ``method``, ``hyperparameters`` and ``integrations`` take
        the package's attrs classes or plain dicts shaped like the JSON. ``extra_body`` is merged
        into the request before the marker is added, so a job created with it (even with its own
        ``metadata``) is recognised all the same.

        Raises :class:`~finetune_async.BadRequestError` (bad file, model or parameter),
        :class:`~finetune_async.TrainingNotAvailableError` (the platform no longer takes new
        jobs), and the transport's errors.
        """
        ledger = self._ledger
        opts = request_options(options)
        body: dict[str, Any] = {"model": model, "training_file": training_file}
        optional = {
            "validation_file": validation_file,
            "method": to_json_param(method),
            "hyperparameters": to_json_param(hyperparameters),
            "suffix": suffix,
            "seed": seed,
            "metadata": metadata,
            "integrations": [to_json_param(i) for i in integrations] if integrations is not None else None,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        # extra_body first, then the marker: the job is recognised by what was really sent.
        body = opts.merge_json(body)
        provider = self._client._provider
        # What the provider would refuse or change silently is refused here, before sending.
        provider.check_create(body)
        given = body.get("metadata")
        marker: str | None = None
        if provider.capabilities.job_metadata and (given is None or isinstance(given, Mapping)):
            marked, marker = ledger.mark(given)
            if marked is not None:
                body["metadata"] = marked
        rest = opts.without_body()

        async def find(since: float) -> FineTuningJob | None:
            return await self._find_created(body, since, marker, rest)

        started = time.time()
        try:
            job = await self._request(
                FineTuningJob,
                "POST",
                "/fine_tuning/jobs",
                json_body=body,
                idempotent=False,
                reconcile=ledger.reconciler("a job", find, marker=marker),
                options=rest,
                op="jobs.create",
            )
        except ConflictError:
            # A provider whose create chooses the job's id from the marker (Fireworks) answers
            # 409 to an attempt sent again after an earlier one made the job: that job is ours.
            if marker is None:
                raise
            found = await ledger.settle(
                "a job", find, since=started, attempt_seconds=time.time() - started, marker=marker
            )
            if found is None:
                raise
            job = found
        ledger.claim(job.id)
        return job

    async def _find_created(
        self, body: Mapping[str, Any], since: float, marker: str | None, options: Options
    ) -> FineTuningJob | None:
        """The job ``body`` created (by its marker, else by its fields after ``since``), not yet
        handed out; looked for with the create's headers and query (the same project)."""
        ledger = self._ledger
        provider = self._client._provider
        # Only a newest-first listing may stop at the first job older than the attempt.
        newest_first = provider.capabilities.jobs_listed_newest_first
        if marker is not None:
            # Exact: only this call's create carries this marker. Where jobs.list cannot filter
            # on metadata, the newest jobs are read and the marker compared here (as the
            # provider keeps it: a digest, on some).
            filtered = provider.capabilities.metadata_filter
            kept = provider.kept_metadata({MARKER_KEY: marker}).get(MARKER_KEY)
            async for job in self._list(100, {MARKER_KEY: marker} if filtered else None, options):
                if not filtered and (job.metadata or {}).get(MARKER_KEY) != kept:
                    if job.created_at < since and newest_first:
                        break
                    continue
                if ledger.claim(job.id):
                    return job
            return None
        metadata = body.get("metadata")
        if isinstance(metadata, Mapping) and metadata:
            # The job is compared with what it keeps of the metadata sent.
            body = {**body, "metadata": dict(provider.kept_metadata(metadata))}
        if not provider.capabilities.metadata_filter:
            metadata = None
        async for job in self._list(100, metadata if isinstance(metadata, Mapping) and metadata else None, options):
            if job.created_at < since:
                if newest_first:
                    break
                continue
            if not ledger.handed_out(job.id) and job_matches(job, body) and ledger.claim(job.id):
                return job
        return None

    @endpoint
    async def retrieve(self, fine_tuning_job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob:
        """The job's current state. Raises :class:`~finetune_async.NotFoundError`."""
        return await self._request(FineTuningJob, "GET", _job(fine_tuning_job_id), options=options, op="jobs.retrieve")

    @endpoint
    def list(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        metadata: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncPaginator[FineTuningJob]:
        """Jobs, newest first; ``metadata`` keeps only jobs whose metadata has these pairs.

        Where the listing cannot filter on metadata (``capabilities.metadata_filter`` false:
        Azure, Nebius) the jobs are read newest first and the matching ones kept here: a page
        may then hold fewer than ``limit`` jobs (even none) while ``has_more`` is true, and a
        walk reads every job of the project.
        """
        return self._list(limit, metadata, options, after=after)

    def _list(
        self, limit: int | None, metadata: Mapping[str, str] | None, options: Options, *, after: str | None = None
    ) -> AsyncPaginator[FineTuningJob]:
        params: dict[str, Any] = {"limit": limit}
        local = bool(metadata) and not self._client._provider.capabilities.metadata_filter
        if not local:
            for key, value in (metadata or {}).items():
                params[f"metadata[{key}]"] = value
        pages = self._paginate(FineTuningJob, "/fine_tuning/jobs", params, after=after, options=options, op="jobs.list")
        if local:
            assert metadata is not None
            wanted = dict(self._client._provider.kept_metadata(metadata))
            return filtered(pages, lambda job: _has_metadata(job, wanted))
        return pages

    @endpoint
    async def cancel(self, fine_tuning_job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob:
        """Cancel the job; returns it. Raises :class:`~finetune_async.BadRequestError` if it already ended."""
        return await self._transition(fine_tuning_job_id, "cancel", lambda s: s == JobStatus.CANCELLED, options)

    @endpoint
    async def pause(self, fine_tuning_job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob:
        """Pause a running job; returns it. Raises :class:`~finetune_async.BadRequestError` if not running."""
        self._require("jobs.pause")
        return await self._transition(fine_tuning_job_id, "pause", lambda s: s == JobStatus.PAUSED, options)

    @endpoint
    async def resume(self, fine_tuning_job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob:
        """Resume a paused job; returns it. Raises :class:`~finetune_async.BadRequestError` if not paused."""
        self._require("jobs.resume")
        return await self._transition(fine_tuning_job_id, "resume", lambda s: s != JobStatus.PAUSED, options)

    @endpoint
    async def delete(self, fine_tuning_job_id: str, **options: Unpack[CallOptions]) -> None:
        """Delete an ended job (Azure's dated routes: ``capabilities.delete_job``).

        Raises :class:`~finetune_async.UnsupportedByProviderError` where jobs cannot be deleted
        (OpenAI, Azure's v1 route), :class:`~finetune_async.NotFoundError`, and the transport's
        errors. Deleting twice answers 404, so a lost answer is retried like a read.
        """
        self._require("jobs.delete")
        await self._call("DELETE", _job(fine_tuning_job_id), options=options, op="jobs.delete")

    async def _transition(
        self, job_id: str, action: str, reached: Callable[[str], bool], options: Options
    ) -> FineTuningJob:
        path = _job(job_id, f"/{action}")
        operation: Operation = (
            "jobs.cancel" if action == "cancel" else "jobs.pause" if action == "pause" else "jobs.resume"
        )
        opts = request_options(options)
        lookups: RequestOptions = opts.without_body()

        # Sending the same transition twice is refused by the API (e.g. cancelling a cancelled
        # job), so after a lost answer we look at the job once before sending again: a second
        # cancel costs nothing, so it is not worth a settle window.
        async def find(since: float) -> FineTuningJob | None:
            job = await self._request(FineTuningJob, "GET", _job(job_id), options=lookups, op="jobs.retrieve")
            return job if reached(job.status) else None

        reconcile = self._ledger.reconciler(f"the {action} of {job_id}", find, patient=False)
        if not self._client._provider.capabilities.transition_answers_job:
            # The answer holds no job (Fireworks' :cancel answers {}): the job is read after.
            done = await self._call("POST", path, idempotent=False, reconcile=reconcile, options=opts, op=operation)
            if isinstance(done, FineTuningJob):
                return done
            return await self._request(FineTuningJob, "GET", _job(job_id), options=lookups, op="jobs.retrieve")
        return await self._request(
            FineTuningJob,
            "POST",
            path,
            idempotent=False,
            reconcile=reconcile,
            options=opts,
            op=operation,
        )

    @endpoint
    def list_events(
        self,
        fine_tuning_job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncPaginator[FineTuningJobEvent]:
        """The job's events as the API lists them, newest first. For a live, oldest-first
        stream use :meth:`stream_events`."""
        return self._paginate(
            FineTuningJobEvent,
            _job(fine_tuning_job_id, "/events"),
            {"limit": limit},
            after=after,
            options=options,
            op="jobs.list_events",
        )

    @endpoint
    async def metrics(self, fine_tuning_job_id: str, **options: Unpack[CallOptions]) -> FineTuningJobMetrics:
        """The job's recorded training metrics, oldest first (Together's
        ``GET /fine-tunes/{id}/metrics``; Fireworks' metrics file, read from the URL it signs:
        the provider's :meth:`~finetune_async.providers.Provider.fetch_metrics`): a
        :class:`~finetune_async.FineTuningJobMetrics`.

        Raises :class:`~finetune_async.UnsupportedByProviderError` where the provider has no
        metrics endpoint (``capabilities.metrics_endpoint``; on OpenAI's wire a job's metrics are
        its ``metrics`` events, read with :meth:`list_events`), :class:`~finetune_async.NotFoundError`,
        and the transport's errors.
        """
        self._require("jobs.metrics")
        provider = self._client._provider
        if provider.fetches_metrics_its_own_way:
            # Several requests of the provider's own (Fireworks: a signed metrics file).
            # The id is checked as every job path's is: one segment, never another endpoint.
            job_id = path_id(fine_tuning_job_id, "fine_tuning_job_id")
            body = await provider.fetch_metrics(ProviderSend(self, options), job_id)
            try:
                return structure(body, FineTuningJobMetrics)
            except DecodeError as exc:
                raise DecodeError(FineTuningJobMetrics, exc.errors, endpoint="jobs.metrics") from exc
        return await self._request(
            FineTuningJobMetrics, "GET", _job(fine_tuning_job_id, "/metrics"), options=options, op="jobs.metrics"
        )

    # The waiting helpers live in polling.py (resources never poll); imported lazily because
    # polling.py builds on this module.

    async def wait(
        self,
        fine_tuning_job_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_event: Callable[[FineTuningJobEvent], Awaitable[object] | object] | None = None,
        raise_on_failure: bool = True,
    ) -> FineTuningJob:
        """:func:`finetune_async.wait_for_job` for this client: the job once it succeeded.

        Raises :class:`~finetune_async.JobFailedError`, :class:`~finetune_async.JobCancelledError`
        (unless ``raise_on_failure=False``) and :class:`~finetune_async.WaitTimeoutError` (a
        :class:`TimeoutError`) past ``timeout``.
        """
        from ...polling import wait_for_job

        return await wait_for_job(
            self._client,
            fine_tuning_job_id,
            timeout=timeout,
            poll_interval=poll_interval,
            on_event=on_event,
            raise_on_failure=raise_on_failure,
        )

    def stream_events(
        self, fine_tuning_job_id: str, *, poll_interval: float | None = None
    ) -> AsyncIterator[FineTuningJobEvent]:
        """:func:`finetune_async.stream_events`: the job's events, oldest first, each once, live."""
        from ...polling import stream_events

        return stream_events(self._client, fine_tuning_job_id, poll_interval=poll_interval)

    def stream_checkpoints(
        self, fine_tuning_job_id: str, *, poll_interval: float | None = None
    ) -> AsyncIterator[FineTuningJobCheckpoint]:
        """:func:`finetune_async.stream_checkpoints`: the job's checkpoints, oldest first, live."""
        from ...polling import stream_checkpoints

        return stream_checkpoints(self._client, fine_tuning_job_id, poll_interval=poll_interval)

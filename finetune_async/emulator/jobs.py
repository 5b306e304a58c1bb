"""The fine-tuning jobs resource: ``/fine_tuning/jobs`` and a job's events and checkpoints.

:meth:`Jobs.create` runs the steps of :mod:`._job_request`; a job's progress is
:mod:`._lifecycle`'s function of the clock, materialised by :meth:`Jobs.advance` whenever the
job is read and when the :class:`~._timer.PhaseTimer` wakes for its next phase change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _lifecycle
from ._catalog import resolve_base
from ._datasets import DatasetChecks
from ._job_request import (
    HP_KEYS,
    Catalog,
    build_job,
    check_datasets,
    created_events,
    fine_tune_files,
    parse_job_request,
)
from ._lifecycle import TERMINAL, event
from ._timer import PhaseTimer
from ._util import APIError, bad_request, not_found, now
from ._validation import page_after
from .models import Models
from .store import JobRecord, Store

__all__ = ["TERMINAL", "Jobs"]


class Jobs:
    """Fine-tuning jobs over ``store``: what fine-tuning makes is indexed in ``models``.

    ``on_terminal(job)`` is called once when a job reaches ``succeeded``, ``failed`` or
    ``cancelled``. ``job_seconds`` and ``training_available`` may be changed while it runs
    (they apply to the jobs created after).
    """

    def __init__(
        self,
        store: Store,
        models: Models,
        datasets: DatasetChecks,
        *,
        job_seconds: float,
        organization: str,
        on_terminal: Callable[[JobRecord], None] | None,
        training_available: bool,
    ) -> None:
        self._store = store
        self._models = models
        self._datasets = datasets
        self.job_seconds = max(0.0, float(job_seconds))
        # False plays the platform's wind-down: every new job is refused with 403
        # training_not_available.
        self.training_available = training_available
        self.org_slug = organization
        self.organization_id = f"org-{organization}"
        self.on_terminal = on_terminal
        self.timer = PhaseTimer(self._wake)

    # -- create ------------------------------------------------------------------------------

    async def create(
        self, body: Any, *, catalog: Catalog = resolve_base, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``POST /fine_tuning/jobs``: check everything the API checks up front, then start the
        clock. The ``FineTuningJob`` JSON (``validating_files``, even when ``job_seconds`` is 0,
        like the API); 403 when training is not available, 400 for the first problem found.

        A provider's dialect passes its own ``catalog`` of base models and the ``extra`` fields
        it keeps with the job (:attr:`.store.JobRecord.extra`).
        """
        if not self.training_available:
            raise APIError(
                403,
                "Fine-tuning is no longer available for this organization on this platform.",
                code="training_not_available",
            )
        request = await parse_job_request(body, self._models, catalog=catalog, extra=extra)
        train, valid = fine_tune_files(request, self._store)
        check, invalid = await check_datasets(request, train, valid, self._datasets)
        job = build_job(
            request,
            train,
            valid,
            check,
            invalid,
            created=now(),
            job_seconds=self.job_seconds,
            organization_id=self.organization_id,
            org_slug=self.org_slug,
        )
        self._store.put_job(job, created_events(job))
        self._schedule(job)
        return self.to_api(job)

    # -- the clock ---------------------------------------------------------------------------

    def advance(self, job: JobRecord, t: float) -> None:
        """Materialise everything due for ``job`` up to wall time ``t`` (idempotent)."""
        made = _lifecycle.step(job, t)
        if made is None:
            return
        # One transaction: a restart finds the job as it was before this step or after it,
        # never ahead of its events.
        self._store.put_job(job, made.events, checkpoints=made.checkpoints, files=made.files)
        self._models.add_checkpoints(made.checkpoints)
        if job.status == "succeeded" and job.fine_tuned_model:
            self._models.add_fine_tuned(job.fine_tuned_model, job.id)
        if job.status in TERMINAL:
            self._terminal(job)

    def start(self) -> None:
        """Bring every stored job up to date and schedule its next phase change (the timer must
        be started, or be started after, for them to happen by themselves)."""
        t = now()
        for job in list(self._store.jobs.values()):
            self.advance(job, t)
            self._schedule(job)

    def _schedule(self, job: JobRecord) -> None:
        self.timer.schedule(job.id, _lifecycle.next_due(job))

    def _wake(self, job_id: str, t: float) -> None:
        job = self._store.jobs.get(job_id)
        if job is not None:
            self.advance(job, t)
            self._schedule(job)

    def _terminal(self, job: JobRecord) -> None:
        self.timer.schedule(job.id, None)
        if self.on_terminal is not None:
            self.on_terminal(job)

    # -- read --------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """The job brought up to date, or 404."""
        job = self._store.jobs.get(job_id)
        if job is None:
            raise not_found(f"Could not find fine-tune: {job_id}", "fine_tuning_job_id", "fine_tune_not_found")
        self.advance(job, now())
        return job

    def in_flight(self) -> int:
        """How many jobs have not reached a terminal status."""
        return sum(1 for j in self._store.jobs.values() if j.status not in TERMINAL)

    @staticmethod
    def to_api(job: JobRecord) -> dict[str, Any]:
        """The ``FineTuningJob`` JSON."""
        shown = job.hp_requested if job.status == "validating_files" or job.invalid else job.hp_resolved
        hp_all = {k: shown.get(k, "auto") for k in HP_KEYS[job.method_type]}
        if job.method_type == "reinforcement" and hp_all.get("reasoning_effort") == "auto":
            hp_all["reasoning_effort"] = "default"
        method = {"type": job.method_type, job.method_type: {**job.method[job.method_type], "hyperparameters": hp_all}}
        estimated = None
        if job.status == "running" and job.run_resumed_at is not None:
            estimated = int(job.run_resumed_at + job.run_seconds - job.run_offset)
        return {
            "object": "fine_tuning.job",
            "id": job.id,
            "created_at": int(job.created_at),
            "model": job.model,
            "organization_id": job.organization_id,
            "status": job.status,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "hyperparameters": {k: hp_all[k] for k in ("batch_size", "learning_rate_multiplier", "n_epochs")},
            "method": method,
            "fine_tuned_model": job.fine_tuned_model,
            "finished_at": int(job.finished_at) if job.finished_at is not None else None,
            "estimated_finish": estimated,
            "result_files": list(job.result_files),
            "trained_tokens": job.trained_tokens,
            "error": job.error,
            "seed": job.seed,
            "integrations": job.integrations,
            "metadata": job.metadata,
            "user_provided_suffix": job.suffix,
        }

    def listing(
        self, *, limit: int, after: str | None, metadata: dict[str, str] | None, no_metadata: bool
    ) -> dict[str, Any]:
        """``GET /fine_tuning/jobs``: newest first, filtered by metadata; 400 for a bad cursor."""
        jobs = list(reversed(self._store.jobs.values()))
        if no_metadata:
            jobs = [j for j in jobs if not j.metadata]
        elif metadata:
            jobs = [j for j in jobs if j.metadata and all(j.metadata.get(k) == v for k, v in metadata.items())]
        page, has_more = page_after(
            jobs, after, limit, lambda j: j.id, f"Invalid 'after': no fine-tuning job {after!r} in this listing."
        )
        t = now()
        for j in page:
            self.advance(j, t)
        return {"object": "list", "data": [self.to_api(j) for j in page], "has_more": has_more}

    # -- cancel, pause, resume -------------------------------------------------------------------

    def cancel(self, job_id: str) -> dict[str, Any]:
        """``POST …/cancel``: the cancelled job's JSON; 404, or 400 once the job has finished."""
        job = self.get(job_id)
        if job.status in TERMINAL:
            raise bad_request(f"Job {job_id} has already {job.status}; it cannot be cancelled.", "fine_tuning_job_id")
        t = now()
        job.status = "cancelled"
        job.finished_at = t
        job.run_resumed_at = None
        job.paused_at = None
        self._store.put_job(job, [event("Fine-tuning job cancelled", t)])
        self._terminal(job)
        return self.to_api(job)

    def pause(self, job_id: str) -> dict[str, Any]:
        """``POST …/pause``: the paused job's JSON; 404, or 400 unless the job is running."""
        job = self.get(job_id)
        if job.status != "running" or job.run_resumed_at is None:
            raise bad_request(f"Job {job_id} is {job.status}; only a running job can be paused.", "fine_tuning_job_id")
        t = now()
        job.run_offset += t - job.run_resumed_at
        job.run_resumed_at = None
        job.paused_at = t
        job.status = "paused"
        self._store.put_job(job, [event("Fine-tuning job paused", t)])
        self._schedule(job)
        return self.to_api(job)

    def resume(self, job_id: str) -> dict[str, Any]:
        """``POST …/resume``: the running job's JSON; 404, or 400 unless the job is paused."""
        job = self.get(job_id)
        if job.status != "paused":
            raise bad_request(f"Job {job_id} is {job.status}; only a paused job can be resumed.", "fine_tuning_job_id")
        t = now()
        job.run_resumed_at = t
        job.paused_at = None
        job.status = "running"
        self._store.put_job(job, [event("Fine-tuning job resumed", t)])
        self._schedule(job)
        return self.to_api(job)

    def delete(self, job_id: str) -> None:
        """Delete a finished job with its events and checkpoints (Azure's dated routes); 404,
        or 400 while it has not finished (cancel it first)."""
        job = self.get(job_id)
        if job.status not in TERMINAL:
            raise bad_request(
                f"Job {job_id} is {job.status}; only a finished job can be deleted (cancel it first).",
                "fine_tuning_job_id",
            )
        self.timer.schedule(job.id, None)
        self._store.delete_job(job.id)

    # -- events and checkpoints ------------------------------------------------------------------

    def events_text(self, job_id: str, *, limit: int, after: str | None) -> str:
        """``GET …/events``: newest first; ``after`` = an event id, giving the events older than it.

        The JSON text of the answer, put together from the events' own (the store keeps them
        so); 404 for an unknown job, 400 for a bad cursor.
        """
        job = self.get(job_id)
        events = self._store.events.get(job.id, [])
        end = len(events)
        if after is not None:
            idx = self._store.event_index.get(job.id, {}).get(after)
            if idx is None:
                raise bad_request(f"Invalid 'after': no event {after!r} for job {job_id}.", "after")
            end = idx
        start = max(0, end - limit)
        data = ",".join(reversed(events[start:end]))
        return f'{{"object":"list","data":[{data}],"has_more":{"true" if start > 0 else "false"}}}'

    def checkpoints(self, job_id: str, *, limit: int, after: str | None) -> dict[str, Any]:
        """``GET …/checkpoints``: newest first, paged by ``after``; 404 for an unknown job."""
        job = self.get(job_id)
        # Stored oldest first; listed newest first.
        newest_first = self._store.checkpoints.get(job.id, [])[::-1]
        data, has_more = page_after(
            newest_first, after, limit, lambda c: c["id"], f"Invalid 'after': no checkpoint {after!r} for job {job_id}."
        )
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

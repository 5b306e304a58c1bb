"""Routes of the fine-tuning jobs resource: ``/fine_tuning/jobs``, a job's events and checkpoints."""

from __future__ import annotations

from aiohttp import web

from .._validation import parse_limit, validate_metadata_filter
from ._http import Route, answer, read_json, state

__all__ = ["ROUTES"]

_JOB = "fine_tuning_job_id"


async def create_job(request: web.Request) -> web.StreamResponse:
    return answer(request, "job.created", await state(request).jobs.create(await read_json(request)))


async def list_jobs(request: web.Request) -> web.StreamResponse:
    q = request.query
    metadata, no_metadata = validate_metadata_filter(q.items())
    return answer(
        request,
        "job.list",
        state(request).jobs.listing(
            limit=parse_limit(q.get("limit"), 20), after=q.get("after"), metadata=metadata, no_metadata=no_metadata
        ),
    )


async def retrieve_job(request: web.Request) -> web.StreamResponse:
    jobs = state(request).jobs
    return answer(request, "job", jobs.to_api(jobs.get(request.match_info[_JOB])))


async def cancel_job(request: web.Request) -> web.StreamResponse:
    return answer(request, "job", state(request).jobs.cancel(request.match_info[_JOB]))


async def pause_job(request: web.Request) -> web.StreamResponse:
    return answer(request, "job", state(request).jobs.pause(request.match_info[_JOB]))


async def resume_job(request: web.Request) -> web.StreamResponse:
    return answer(request, "job", state(request).jobs.resume(request.match_info[_JOB]))


async def list_events(request: web.Request) -> web.StreamResponse:
    q = request.query
    text = state(request).jobs.events_text(
        request.match_info[_JOB], limit=parse_limit(q.get("limit"), 20), after=q.get("after")
    )
    return web.Response(body=text.encode(), content_type="application/json")


async def list_checkpoints(request: web.Request) -> web.StreamResponse:
    q = request.query
    return answer(
        request,
        "checkpoint.list",
        state(request).jobs.checkpoints(
            request.match_info[_JOB], limit=parse_limit(q.get("limit"), 10), after=q.get("after")
        ),
    )


ROUTES: list[Route] = [
    ("POST", "/fine_tuning/jobs", create_job),
    ("GET", "/fine_tuning/jobs", list_jobs),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}", retrieve_job),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/cancel", cancel_job),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/pause", pause_job),
    ("POST", "/fine_tuning/jobs/{fine_tuning_job_id}/resume", resume_job),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}/events", list_events),
    ("GET", "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints", list_checkpoints),
]

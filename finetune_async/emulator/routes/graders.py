"""Routes of the graders: ``/fine_tuning/alpha/graders/run`` and ``…/validate``."""

from __future__ import annotations

from aiohttp import web

from .. import graders
from .._util import bad_request
from ._http import Route, json_response, read_json

__all__ = ["ROUTES"]


async def run_grader(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object body.")
    for key in ("grader", "model_sample"):
        if key not in body:
            raise bad_request(f"Missing required parameter: '{key}'.", key)
    # Scoring is CPU-bound (bounded, but up to a few hundred ms): off the loop, so other requests go on.
    if "item" in body:
        return json_response(await graders.run_grader_async(body["grader"], body["model_sample"], body["item"]))
    return json_response(await graders.run_grader_async(body["grader"], body["model_sample"]))


async def validate_grader(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict) or "grader" not in body:
        raise bad_request("Missing required parameter: 'grader'.", "grader")
    # Off the loop too: walking a 16 MB grader takes ~0.1 s, and a python source's compile is waited for.
    return json_response({"grader": await graders.validate_grader_async(body["grader"])})


ROUTES: list[Route] = [
    ("POST", "/fine_tuning/alpha/graders/run", run_grader),
    ("POST", "/fine_tuning/alpha/graders/validate", validate_grader),
]

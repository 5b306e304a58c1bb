"""Routes of the Models resource (``/models``) and of checkpoint permissions."""

from __future__ import annotations

from aiohttp import web

from .._validation import parse_limit
from ._http import Route, json_response, read_json, state

__all__ = ["ROUTES"]

_CHECKPOINT = "fine_tuned_model_checkpoint"


async def list_models(request: web.Request) -> web.StreamResponse:
    return json_response(state(request).models.listing())


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    return json_response(state(request).models.get(request.match_info["model"]))


async def delete_model(request: web.Request) -> web.StreamResponse:
    return json_response(state(request).models.delete(request.match_info["model"]))


async def create_permissions(request: web.Request) -> web.StreamResponse:
    emulator = state(request)
    checkpoint = request.match_info[_CHECKPOINT]
    emulator.models.permission_target(checkpoint)  # 404 before reading the body
    return json_response(emulator.permissions.create(checkpoint, await read_json(request)))


async def list_permissions(request: web.Request) -> web.StreamResponse:
    q = request.query
    return json_response(
        state(request).permissions.listing(
            request.match_info[_CHECKPOINT],
            project_id=q.get("project_id"),
            after=q.get("after"),
            limit=parse_limit(q.get("limit"), 10),
            order=q.get("order", "descending"),
        )
    )


async def delete_permission(request: web.Request) -> web.StreamResponse:
    return json_response(
        state(request).permissions.delete(request.match_info[_CHECKPOINT], request.match_info["permission_id"])
    )


ROUTES: list[Route] = [
    ("GET", "/models", list_models),
    ("GET", "/models/{model}", retrieve_model),
    ("DELETE", "/models/{model}", delete_model),
    ("GET", "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions", list_permissions),
    ("POST", "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions", create_permissions),
    (
        "DELETE",
        "/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions/{permission_id}",
        delete_permission,
    ),
]

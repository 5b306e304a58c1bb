"""Routes of the Uploads resource: ``/uploads`` and its parts."""

from __future__ import annotations

from aiohttp import web

from .._util import APIError, bad_request
from ._http import Route, json_response, read_json, state
from ._multipart import discard_on_error, read_form

__all__ = ["ROUTES"]


async def create_upload(request: web.Request) -> web.StreamResponse:
    return json_response(state(request).uploads.create(await read_json(request)))


async def add_upload_part(request: web.Request) -> web.StreamResponse:
    emulator = state(request)
    uploads = emulator.uploads
    upload_id = request.match_info["upload_id"]
    room = uploads.part_room(upload_id)  # 404/400 before reading any bytes
    if room == 0:
        raise uploads.part_too_large(upload_id, 1)

    def too_large(size: int) -> APIError:
        return uploads.part_too_large(upload_id, size)

    form = await read_form(request, emulator.files, binary="data", limit=room, too_large=too_large)
    with discard_on_error(emulator.files, form.blob):
        if form.fields:
            unknown = sorted(form.fields)[0]
            raise bad_request(f"Unrecognized request argument supplied: {unknown}", unknown)
        out = uploads.add_part(upload_id, form.blob, form.size)
    return json_response(out)


async def complete_upload(request: web.Request) -> web.StreamResponse:
    uploads = state(request).uploads
    upload_id = request.match_info["upload_id"]
    uploads.pending(upload_id)  # 404/400 before reading the body
    return json_response(await uploads.complete(upload_id, await read_json(request)))


async def cancel_upload(request: web.Request) -> web.StreamResponse:
    return json_response(state(request).uploads.cancel(request.match_info["upload_id"]))


ROUTES: list[Route] = [
    ("POST", "/uploads", create_upload),
    ("POST", "/uploads/{upload_id}/parts", add_upload_part),
    ("POST", "/uploads/{upload_id}/complete", complete_upload),
    ("POST", "/uploads/{upload_id}/cancel", cancel_upload),
]

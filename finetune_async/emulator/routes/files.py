"""Routes of the Files resource: ``/files`` and a file's content."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from .._util import APIError, bad_request
from .._validation import check_expires_after, parse_limit
from ..files import FILE_PURPOSES, MAX_FILE_BYTES
from ._http import Route, answer, json_response, loads, state
from ._multipart import discard_on_error, read_form

__all__ = ["ROUTES"]


def _file_too_large(size: int) -> APIError:
    return bad_request(f"The file is larger than the maximum of {MAX_FILE_BYTES >> 20} MB.", "file")


def _attachment(filename: str) -> str:
    """A ``Content-Disposition`` naming ``filename`` (RFC 6266): any stored name, even one with
    a line break or a quote, gives a well-formed header of printable ASCII."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename) or "file"
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        # surrogatepass: a name stored before filenames were checked may hold lone surrogates.
        header += "; filename*=UTF-8''" + quote(filename.encode("utf-8", "surrogatepass"), safe="")
    return header


def _expires_after(fields: dict[str, str]) -> dict[str, object] | None:
    """The form's ``expires_after``: one JSON-encoded part, or bracketed fields."""
    if "expires_after" in fields:
        # Some clients send the object as one JSON-encoded part rather than bracketed fields.
        try:
            return check_expires_after(loads(fields["expires_after"], "'expires_after'"))
        except ValueError:
            raise bad_request("Invalid 'expires_after': expected a JSON object.", "expires_after") from None
    if "expires_after[anchor]" in fields or "expires_after[seconds]" in fields:
        seconds = fields.get("expires_after[seconds]", "")
        return check_expires_after(
            {
                "anchor": fields.get("expires_after[anchor]"),
                "seconds": int(seconds) if seconds.lstrip("-").isdigit() else seconds,
            }
        )
    return None


async def create_file(request: web.Request) -> web.StreamResponse:
    files = state(request).files
    form = await read_form(request, files, binary="file", limit=MAX_FILE_BYTES, too_large=_file_too_large)
    fields = form.fields
    with discard_on_error(files, form.blob):
        purpose = fields.get("purpose")
        if purpose is None:
            raise bad_request("Missing required parameter: 'purpose'.", "purpose")
        if purpose not in FILE_PURPOSES:
            raise bad_request(f"'{purpose}' is not one of {list(FILE_PURPOSES)} - 'purpose'.", "purpose")
        unknown = set(fields) - {"purpose", "expires_after", "expires_after[anchor]", "expires_after[seconds]"}
        if unknown:
            raise bad_request(f"Unrecognized request argument supplied: {sorted(unknown)[0]}", sorted(unknown)[0])
        expires = _expires_after(fields)
        out = files.add(filename=form.filename, purpose=purpose, blob=form.blob, size=form.size, expires_after=expires)
    return answer(request, "file.created", out)


async def list_files(request: web.Request) -> web.StreamResponse:
    q = request.query
    return answer(
        request,
        "file.list",
        state(request).files.listing(
            purpose=q.get("purpose"),
            limit=parse_limit(q.get("limit"), 10000, 10000),
            order=q.get("order", "desc"),
            after=q.get("after"),
        ),
    )


async def retrieve_file(request: web.Request) -> web.StreamResponse:
    return answer(request, "file", state(request).files.get(request.match_info["file_id"]).to_api())


async def delete_file(request: web.Request) -> web.StreamResponse:
    return json_response(state(request).files.delete(request.match_info["file_id"]))


async def file_content(request: web.Request) -> web.StreamResponse:
    files = state(request).files
    rec = files.get(request.match_info["file_id"])
    headers = {"Content-Type": "application/octet-stream", "Content-Disposition": _attachment(rec.filename)}
    content = files.content(rec)
    if isinstance(content, Path):
        # FileResponse streams from disk (sendfile where possible) instead of loading the file.
        return web.FileResponse(content, headers=headers)
    return web.Response(body=content, headers=headers)


ROUTES: list[Route] = [
    ("GET", "/files", list_files),
    ("POST", "/files", create_file),
    ("GET", "/files/{file_id}", retrieve_file),
    ("DELETE", "/files/{file_id}", delete_file),
    ("GET", "/files/{file_id}/content", file_content),
]

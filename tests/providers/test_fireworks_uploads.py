"""Fireworks datasets over 150 MB: ``:getUploadEndpoint`` → a PUT to the signed URL →
``:validateUpload``, against the emulator's dialect and against a signed URL on another origin.

``FireworksProvider.upload_limit`` (150 MB, what one ``:upload`` takes) is lowered on the
client's provider so a few kilobytes take the signed-URL flow; the emulator's ``:upload`` limit
is lowered the same way (``FireworksDialect.upload_limit``) to see it refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.emulator.dialects.fireworks import FireworksDialect
from tests.data import jsonl, supervised_rows
from tests.providers.test_fireworks import ACCOUNT, Recorder, fireworks, origin, requires_spec
from tests.scripted import json_response, scripted_server

API_KEY = "fw-secret-key-0123456789"
LIMIT = 1000


@pytest.fixture
async def emu() -> Any:
    async with Emulator(provider="fireworks", job_seconds=1.0) as emulator:
        yield emulator


def big_file(tmp_path: Path, rows: int = 60) -> tuple[Path, bytes]:
    data = jsonl(supervised_rows(rows))
    assert len(data) > LIMIT
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    return path, data


def stored_bytes(emu: Emulator) -> list[bytes]:
    files = emu.state.files
    out = []
    for rec in emu.state.store.files.values():
        content = files.content(rec)
        out.append(content if isinstance(content, bytes) else content.read_bytes())
    return out


@requires_spec
async def test_a_file_over_the_upload_limit_goes_through_a_signed_url(emu: Emulator, tmp_path: Path) -> None:
    recorder = Recorder()
    path, data = big_file(tmp_path)
    async with fireworks(emu, recorder) as client:
        client.provider.upload_limit = LIMIT  # type: ignore[attr-defined]
        file = await client.files.create(file=path)
        assert file.status == "processed"
        assert file.bytes == len(data)
        assert file.model_extra["example_count"] == "60"
        small = await client.files.create(file=("small.jsonl", jsonl(supervised_rows(2))))
        assert small.status == "processed"
    (endpoint,) = recorder.posts(":getUploadEndpoint")
    assert endpoint.json == {"filenameToSize": {"big.jsonl": str(len(data))}}
    assert len(recorder.posts(f"/datasets/{file.id}:validateUpload")) == 1
    assert recorder.posts(f"/datasets/{file.id}:upload") == []
    # The small one went by :upload, as before.
    assert len(recorder.posts(f"/datasets/{small.id}:upload")) == 1
    puts = [i for i in recorder.sent if i.signed]
    assert [(i.method, i.path) for i in puts] == [("PUT", f"/storage/uploads/{ACCOUNT}/{file.id}/big.jsonl")]
    assert "X-Goog-Signature" not in puts[0].url  # hooks never see the signature
    assert recorder.spec.operations >= {
        ("POST", "/v1/accounts/{account_id}/datasets/{dataset_id}:getUploadEndpoint"),
        ("POST", "/v1/accounts/{account_id}/datasets/{dataset_id}:validateUpload"),
    }
    assert sorted(stored_bytes(emu)) == sorted([data, jsonl(supervised_rows(2))])


@pytest.mark.parametrize(
    "route",
    [
        # Fault rules name a dataset's create as OpenAI's file create.
        "POST:/v1/files",
        "POST:/v1/accounts/*/datasets/*:getUploadEndpoint",
        "PUT:/storage/uploads/*",
        "POST:/v1/accounts/*/datasets/*:validateUpload",
    ],
)
async def test_a_lost_answer_at_any_step_makes_one_dataset_with_the_bytes(
    emu: Emulator, tmp_path: Path, route: str
) -> None:
    path, data = big_file(tmp_path)
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        client.provider.upload_limit = LIMIT  # type: ignore[attr-defined]
        emu.faults.inject(route, "lost")
        file = await client.files.create(file=path)
        assert file.status == "processed"
        listed = [f.id async for f in client.files.list()]
    assert listed == [file.id]
    assert stored_bytes(emu) == [data]
    # The fault was met (and the answer lost), and still one dataset holds the bytes once.
    assert [kind for _, kind in emu.faults.history] == ["lost"]


async def test_the_emulators_upload_refuses_a_file_over_its_limit(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FireworksDialect, "upload_limit", 200)
    async with fireworks(emu) as client:
        with pytest.raises(ft.BadRequestError) as caught:
            await client.files.create(file=("t.jsonl", jsonl(supervised_rows(5))))
    assert caught.value.code == "INVALID_ARGUMENT"
    assert ":getUploadEndpoint" in caught.value.message
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["status"] == "INVALID_ARGUMENT"


async def test_the_signed_put_takes_no_credential_and_checks_its_signature(emu: Emulator) -> None:
    base = f"{origin(emu)}/v1/accounts/{ACCOUNT}/datasets"
    auth = {"Authorization": "Bearer fw-key"}
    data = b'{"messages": []}\n' * 3
    async with aiohttp.ClientSession() as http:
        made = await http.post(base, json={"datasetId": "ds-a", "dataset": {"userUploaded": {}}}, headers=auth)
        assert made.status == 200
        got = await http.post(
            f"{base}/ds-a:getUploadEndpoint", json={"filenameToSize": {"a.jsonl": str(len(data))}}, headers=auth
        )
        url = (await got.json())["filenameToSignedUrls"]["a.jsonl"]
        signed = {"X-Goog-Content-Length-Range": f"{len(data)},{len(data)}"}
        with_key = await http.put(url, data=data, headers={**signed, **auth})
        assert with_key.status == 400
        assert "Authorization" in (await with_key.json())["error"]["message"]
        forged = await http.put(url.replace("X-Goog-Signature=", "X-Goog-Signature=0"), data=data, headers=signed)
        assert forged.status == 403
        other_length = await http.put(url, data=data, headers={"X-Goog-Content-Length-Range": "1,1"})
        assert other_length.status == 403  # the range is part of the signature
        early = await http.post(f"{base}/ds-a:validateUpload", json={}, headers=auth)
        assert early.status == 400
        assert (await early.json())["error"]["status"] == "FAILED_PRECONDITION"
        put = await http.put(url, data=data, headers=signed)
        assert put.status == 200
        done = await http.post(f"{base}/ds-a:validateUpload", json={}, headers=auth)
        assert done.status == 200
        row = await (await http.get(f"{base}/ds-a", headers=auth)).json()
    assert row["state"] == "READY"
    assert row["exampleCount"] == "3"


async def test_a_signed_url_on_another_origin_gets_the_bytes_and_never_the_key(tmp_path: Path) -> None:
    path, data = big_file(tmp_path)
    state: dict[str, Any] = {"ready": False}
    storage_url = ""

    async def storage(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200)

    async def api(request: web.Request) -> web.StreamResponse:
        p = request.path
        if p.endswith(":getUploadEndpoint"):
            return json_response({"filenameToSignedUrls": {"big.jsonl": storage_url + "/bucket/big.jsonl?sig=s3cr3t"}})
        if p.endswith(":validateUpload"):
            state["ready"] = True
            return json_response({})
        dataset_id = "x"
        if request.method == "POST":
            dataset_id = (await request.json())["datasetId"]
            state["id"] = dataset_id
        else:
            dataset_id = state["id"]
        return json_response(
            {
                "name": f"accounts/{ACCOUNT}/datasets/{dataset_id}",
                "displayName": "big.jsonl",
                "state": "READY" if state["ready"] else "UPLOADING",
                "status": {"code": "OK", "message": ""},
                "exampleCount": "60",
            }
        )

    async with scripted_server(storage, prefix="") as store, scripted_server(api, prefix="") as server:
        storage_url = store.base_url
        async with ft.AsyncClient.fireworks(api_key=API_KEY, account_id=ACCOUNT, base_url=server.base_url) as client:
            client.provider.upload_limit = LIMIT  # type: ignore[attr-defined]
            file = await client.files.create(file=path)
    assert file.status == "processed"
    (put,) = store.seen
    assert (put.method, put.path, put.query) == ("PUT", "/bucket/big.jsonl", {"sig": "s3cr3t"})
    assert put.body == data
    headers = {k.lower(): v for k, v in put.headers.items()}
    assert "authorization" not in headers
    assert API_KEY not in repr(put.headers)
    assert headers["content-length"] == str(len(data))
    assert headers["x-goog-content-length-range"] == f"{len(data)},{len(data)}"
    assert headers["content-type"] == "application/octet-stream"
    # The API itself got the key on every request, and never the bytes.
    assert all(s.headers.get("Authorization") == f"Bearer {API_KEY}" for s in server.seen)
    assert all(data not in s.body for s in server.seen)


async def test_a_file_over_what_the_flow_takes_is_refused_before_sending(emu: Emulator, tmp_path: Path) -> None:
    import attrs

    path, data = big_file(tmp_path)
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        provider = client.provider
        # The largest file the provider's own flow takes (5 TiB on Fireworks), lowered for the test.
        provider.capabilities = attrs.evolve(provider.capabilities, max_file_bytes=len(data) - 1)
        with pytest.raises(ft.UnsupportedByProviderError, match=f"{len(data):,} bytes"):
            await client.files.create(file=path)
        assert recorder.sent == []
        # OpenAI's one-request 512 MB does not bound a provider's own flow.
        provider.capabilities = attrs.evolve(provider.capabilities, max_file_bytes=len(data))
        file = await client.files.create(file=path)
    assert file.bytes == len(data)


async def test_a_filename_that_needs_quoting_and_a_late_put_still_upload(emu: Emulator, tmp_path: Path) -> None:
    # The signed path holds the quoted filename; a late fault holds the PUT's whole body first.
    _, data = big_file(tmp_path)
    path = tmp_path / "train data é.jsonl"
    path.write_bytes(data)
    async with fireworks(emu, Recorder()) as client:
        client.provider.upload_limit = LIMIT  # type: ignore[attr-defined]
        emu.faults.inject("PUT:/storage/uploads/*", "late", seconds=0.2)
        file = await client.files.create(file=path)
    assert file.status == "processed"
    assert stored_bytes(emu) == [data]
    assert [kind for _, kind in emu.faults.history] == ["late"]


async def test_a_hostile_signature_is_refused_not_a_server_error(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{origin(emu)}/storage/uploads/{ACCOUNT}/ds/f.jsonl?X-Goog-Expires=²&X-Goog-Signature=é"
        async with session.put(url, data=b"x") as response:
            assert response.status == 403

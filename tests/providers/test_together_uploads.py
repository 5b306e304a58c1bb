"""Together uploads beyond the spec's one request: the redirect flow and the multipart flow of
Together's own SDK, against the emulator's ``together`` dialect and scripted servers.

Sizes are made small with ``AsyncClient.together(upload_sizes=TogetherUploadSizes(...))``, so
the flows run on files of a few kilobytes. Every request the client sends is checked against
Together's spec, the SDK's flows against the off-spec list (``tests.spec.TOGETHER_OFF_SPEC``);
the PUTs to signed URLs are recorded and must carry no credential.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import attrs
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.emulator.dialects.together import STORAGE_ORIGIN_HEADER
from finetune_async.providers.together import TogetherUploadSizes
from tests.conftest import SpecChecker
from tests.scripted import Seen, json_response, scripted_server
from tests.spec import TOGETHER_SPEC

pytestmark = TOGETHER_SPEC.requires

API_KEY = "tg-upload-secret-0123456789"
#: Over 100 bytes: the redirect flow; over 1000: parts of about 300 bytes.
SMALL = TogetherUploadSizes(direct_max=100, multipart_over=1000, part_size=300, min_part_size=1, max_concurrent_parts=2)
INITIATE = "POST:/v1/files/multipart/initiate"
COMPLETE = "POST:/v1/files/multipart/complete"
PART = "PUT:/v1/files/{file_id}/parts/{n}"
BYTES = "PUT:/v1/files/{file_id}/bytes"
PREPROCESS = "POST:/v1/files/{file_id}/preprocess"


@attrs.define
class Recorder:
    sent: list[ft.RequestInfo] = attrs.field(factory=list)
    checker: SpecChecker = attrs.field(factory=lambda: SpecChecker(spec=TOGETHER_SPEC, check_query=True))

    def __call__(self, info: ft.RequestInfo) -> None:
        self.checker(info)
        self.sent.append(info)

    def count(self, method: str, path: str) -> int:
        return sum(1 for i in self.sent if i.method == method and i.path == path)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(provider="together", job_seconds=1.0) as emulator:
        yield emulator


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def together(base_url: str, recorder: Recorder, **kwargs: Any) -> ft.AsyncClient:
    kwargs.setdefault("settle_window", 1.0)
    kwargs.setdefault("upload_sizes", SMALL)
    return ft.AsyncClient.together(api_key=API_KEY, base_url=base_url, request_hooks=[recorder], **kwargs)


def data_file(tmp_path: Path, size: int, name: str = "train.jsonl", seed: int = 0) -> Path:
    line = b'{"text": "%d"}\n' % seed
    path = tmp_path / name
    path.write_bytes((line * (size // len(line) + 1))[:size])
    return path


async def files_of(client: ft.AsyncClient) -> list[ft.FileObject]:
    return [f async for f in client.files.list()]


# -- sizes ---------------------------------------------------------------------------------------


@given(
    size=st.integers(1, 10**12),
    part=st.integers(1, 10**9),
    minimum=st.integers(1, 10**9),
    most=st.integers(1, 300),
)
def test_parts_cover_the_file_as_the_sdk_cuts_it(size: int, part: int, minimum: int, most: int) -> None:
    if minimum > part:
        minimum, part = part, minimum
    sizes = TogetherUploadSizes(
        direct_max=0, multipart_over=0, max_file=10**12, part_size=part, min_part_size=minimum, max_parts=most
    )
    part_size, count = sizes.parts(size)
    assert part_size * count >= size
    assert (count - 1) * part_size < size  # no empty part
    assert part_size >= min(minimum, size)
    if count > 1:
        assert part_size >= minimum
        # Past max_parts only where the minimum part size forces it.
        assert count <= most or part_size == minimum


def test_the_defaults_are_the_sdks() -> None:
    sizes = TogetherUploadSizes()
    assert sizes.multipart_over == 5 * 2**30
    assert sizes.max_file == int(50.1 * 2**30)
    assert sizes.parts(6 * 2**30) == (-(-6 * 2**30 // 25), 25)  # 250 MiB targeted: 25 parts
    for bad in (
        {"direct_max": 10, "multipart_over": 5},
        {"multipart_over": 2**40},
        {"min_part_size": 0},
        {"min_part_size": 10, "part_size": 5},
        {"max_parts": 0},
        {"max_concurrent_parts": 0},
    ):
        with pytest.raises(ValueError, match="upload sizes"):
            TogetherUploadSizes(**bad)


# -- the flows on the emulator -------------------------------------------------------------------


async def test_a_small_file_takes_the_specs_one_request(emu: Emulator, recorder: Recorder, tmp_path: Path) -> None:
    async with together(emu.base_url, recorder) as client:
        created = await client.files.create(file=data_file(tmp_path, 100))
    assert created.bytes == 100
    assert recorder.count("POST", "/files/upload") == 1
    assert recorder.checker.off_spec == set()


async def test_a_file_over_the_direct_limit_goes_by_the_redirect_flow(
    emu: Emulator, recorder: Recorder, tmp_path: Path
) -> None:
    path = data_file(tmp_path, 700)
    progress: list[tuple[int, int]] = []
    async with together(emu.base_url, recorder) as client:
        created = await client.files.create(file=path, on_progress=lambda done, total: progress.append((done, total)))
        assert created.filename == "train.jsonl"
        assert created.bytes == 700
        assert (await client.files.content(created.id)).content == path.read_bytes()
        assert [f.id for f in await files_of(client)] == [created.id]
    # The emulator answers the announce 302, as Together does: its Location is read, not followed.
    assert recorder.checker.off_spec == {("POST", "/files"), ("POST", "/files/{id}/preprocess")}
    assert len(recorder.checker.signed) == 1  # the one PUT of the bytes
    assert all("?" not in url for url in recorder.checker.signed)  # no signature shown to hooks
    assert progress[-1] == (700, 700)


async def test_a_file_over_the_multipart_threshold_goes_in_parts(
    emu: Emulator, recorder: Recorder, tmp_path: Path
) -> None:
    path = data_file(tmp_path, 2500)
    async with together(emu.base_url, recorder) as client:
        created = await client.files.create(file=path)
        assert (await client.files.content(created.id)).content == path.read_bytes()
        # The same bytes as bytes, not a path: Together keeps one file per content (409), and
        # files.create answers the file it has, as Together's SDK does.
        again = await client.files.create(file=("train.jsonl", path.read_bytes()))
        assert again.id == created.id
        assert [f.id for f in await files_of(client)] == [created.id]
    initiates = [i for i in recorder.sent if i.path == "/files/multipart/initiate"]
    assert initiates[0].json["num_parts"] == 9  # ceil(2500 / 300)
    assert initiates[0].json["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ("POST", "/files") not in recorder.checker.off_spec  # straight to the parts


async def test_a_file_over_the_largest_is_refused_before_sending(
    emu: Emulator, recorder: Recorder, tmp_path: Path
) -> None:
    sizes = attrs.evolve(SMALL, max_file=2000)
    async with together(emu.base_url, recorder, upload_sizes=sizes) as client:
        with pytest.raises(ft.UnsupportedByProviderError, match="2,001 bytes"):
            await client.files.create(file=data_file(tmp_path, 2001))
        with pytest.raises(ValueError, match="extra_body"):
            await client.files.create(file=data_file(tmp_path, 500), extra_body={"note": "x"})
        with pytest.raises(ft.UnsupportedByProviderError, match="jsonl"):
            await client.files.create(file=data_file(tmp_path, 500, "train.txt"))
    assert recorder.sent == []


# -- exactly once under faults -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "kind", "size"),
    [
        # The redirect flow (700 bytes): the announce, the PUT of the bytes, the preprocess.
        ("POST:/v1/files", "lost", 700),
        ("POST:/v1/files", "500", 700),
        (BYTES, "lost", 700),
        (BYTES, "reset", 700),
        (PREPROCESS, "lost", 700),
        (PREPROCESS, "503", 700),
        # The multipart flow (2,500 bytes).
        (INITIATE, "lost", 2500),
        (INITIATE, "500", 2500),
        (PART, "lost", 2500),
        (PART, "500", 2500),
        (PART, "reset", 2500),
        (COMPLETE, "lost", 2500),
        (COMPLETE, "503", 2500),
    ],
)
async def test_a_fault_in_the_flow_makes_one_file(
    emu: Emulator, recorder: Recorder, tmp_path: Path, route: str, kind: str, size: int
) -> None:
    path = data_file(tmp_path, size)
    async with together(emu.base_url, recorder) as client:
        emu.faults.inject(route, kind, count=1)
        created = await client.files.create(file=path)
        listed = await files_of(client)
        assert (await client.files.content(created.id)).content == path.read_bytes()
    assert [f.id for f in listed] == [created.id]
    assert emu.faults.history.count((route, kind)) == 1


async def test_a_late_complete_is_settled_by_reading_the_file(
    emu: Emulator, recorder: Recorder, tmp_path: Path
) -> None:
    path = data_file(tmp_path, 2500)
    timeout = ft.Timeout(total=None, read=0.5)
    async with together(emu.base_url, recorder, timeout=timeout, settle_window=10.0) as client:
        emu.faults.inject(COMPLETE, "late", count=1, seconds=1.5)
        with anyio.fail_after(30):
            created = await client.files.create(file=path)
        assert [f.id for f in await files_of(client)] == [created.id]
    assert recorder.count("POST", "/files/multipart/complete") == 1
    assert recorder.count("GET", f"/files/{created.id}") >= 1


async def test_a_failed_part_aborts_the_upload(emu: Emulator, recorder: Recorder, tmp_path: Path) -> None:
    async with together(emu.base_url, recorder, max_retries=0) as client:
        emu.faults.inject(PART, "500", count=100)
        with pytest.raises(ft.InternalServerError):
            await client.files.create(file=data_file(tmp_path, 2500))
        assert await files_of(client) == []
    assert recorder.count("POST", "/files/multipart/abort") == 1
    assert recorder.count("POST", "/files/multipart/complete") == 0


async def test_a_cancelled_upload_is_aborted(emu: Emulator, recorder: Recorder, tmp_path: Path) -> None:
    path = data_file(tmp_path, 2500)
    emu.faults.configure(f"rate=1,kinds=late,late=30,routes={PART}")
    async with together(emu.base_url, recorder) as client:
        with anyio.move_on_after(1.0):
            await client.files.create(file=path)
        emu.faults.configure("off")
        assert await files_of(client) == []
    assert recorder.count("POST", "/files/multipart/abort") == 1


# -- signed URLs on another origin ---------------------------------------------------------------


def _no_credential(seen: list[Seen]) -> None:
    assert seen
    for request in seen:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert "authorization" not in headers
        assert all(API_KEY not in v for v in headers.values())
        assert STORAGE_ORIGIN_HEADER not in headers  # nothing of the client's defaults


async def test_parts_go_to_storage_on_another_origin_with_no_credential(
    emu: Emulator, recorder: Recorder, tmp_path: Path
) -> None:
    """The emulator hands out signed URLs on a "storage" server's origin, which passes each PUT
    on to the emulator (path, query, body) and answers what it answered."""
    emulator_origin = emu.base_url.removesuffix("/v1")

    async def forward(request: web.Request) -> web.StreamResponse:
        async with (
            aiohttp.ClientSession() as session,
            session.put(emulator_origin + request.path_qs, data=await request.read()) as answer,
        ):
            return web.Response(status=answer.status, headers={"ETag": answer.headers.get("ETag", "")})

    path = data_file(tmp_path, 2500)
    async with scripted_server(forward, prefix="") as storage:
        headers = {STORAGE_ORIGIN_HEADER: storage.base_url}
        async with together(emu.base_url, recorder, default_headers=headers) as client:
            created = await client.files.create(file=path)
            assert (await client.files.content(created.id)).content == path.read_bytes()
    assert len(storage.seen) == 9
    _no_credential(storage.seen)
    assert b"".join(s.body for s in sorted(storage.seen, key=lambda s: int(s.path.rsplit("/", 1)[1]))) == (
        path.read_bytes()
    )
    assert all(s.headers.get("Content-Length") == str(len(s.body)) for s in storage.seen)


async def test_the_signed_urls_refuse_a_credential(emu: Emulator, tmp_path: Path) -> None:
    async with together(emu.base_url, Recorder()) as client:
        await client.files.create(file=data_file(tmp_path, 2500, seed=1))
    async with aiohttp.ClientSession() as session:
        announce = aiohttp.FormData()
        for key, value in {"purpose": "fine-tune", "file_name": "a.jsonl", "checksum": "0" * 64}.items():
            announce.add_field(key, value)
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with session.post(f"{emu.base_url}/files", data=announce, headers=auth, allow_redirects=False) as r:
            location = r.headers["Location"]
        async with session.put(location, data=b"x", headers=auth) as r:
            assert r.status == 400
        async with session.put(location, data=b"x") as r:
            assert r.status == 200


async def test_the_redirect_flow_where_the_announce_answers_2xx(recorder: Recorder, tmp_path: Path) -> None:
    """A Together that answers the announce 2xx with both headers (which Together's SDK also
    takes): the bytes go in one PUT to the signed URL on the storage's origin, then preprocess."""
    path = data_file(tmp_path, 700)
    record = {
        "id": "file-abc",
        "object": "file",
        "created_at": 1_700_000_000,
        "filename": "train.jsonl",
        "bytes": 700,
        "purpose": "fine-tune",
        "FileType": "jsonl",
        "Processed": True,
    }

    async def stored(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200)

    async with scripted_server(stored, prefix="") as storage:

        async def api(request: web.Request) -> web.StreamResponse:
            if request.method == "POST" and request.path == "/v1/files":
                signed = f"{storage.base_url}/bucket/file-abc?X-Sig=secret"
                return json_response({}, headers={"Location": signed, "X-Together-File-Id": "file-abc"})
            if request.path == "/v1/files/file-abc/preprocess":
                return json_response(record)
            return json_response({"message": "no"}, 404)

        async with scripted_server(api) as together_api, together(together_api.base_url, recorder) as client:
            created = await client.files.create(file=path)
        fields = next(s for s in together_api.seen if s.path == "/v1/files").body
    assert created.id == "file-abc"
    assert created.status == ft.FileStatus.PROCESSED
    assert [(s.method, s.path) for s in storage.seen] == [("PUT", "/bucket/file-abc")]
    assert storage.seen[0].query == {"X-Sig": "secret"}
    assert storage.seen[0].body == path.read_bytes()
    assert storage.seen[0].headers["Content-Length"] == "700"
    _no_credential(storage.seen)
    assert hashlib.sha256(path.read_bytes()).hexdigest().encode() in fields
    assert recorder.checker.off_spec == {("POST", "/files"), ("POST", "/files/{id}/preprocess")}
    assert recorder.checker.signed == [f"PUT {storage.base_url}/bucket/file-abc"]


# -- the spec checker's off-spec list ------------------------------------------------------------


def test_the_checker_takes_only_the_listed_off_spec_operations() -> None:
    checker = SpecChecker(spec=TOGETHER_SPEC, check_query=True)
    ok = {"upload_id": "u", "file_id": "f"}
    checker(
        ft.RequestInfo(
            params={}, method="POST", url="http://x/v1/files/multipart/abort", path="/files/multipart/abort", json=ok
        )
    )
    assert checker.off_spec == {("POST", "/files/multipart/abort")}
    for info in (
        ft.RequestInfo(
            params={},
            method="POST",
            url="http://x/v1/files/multipart/abort",
            path="/files/multipart/abort",
            json={**ok, "x": 1},
        ),
        ft.RequestInfo(
            params={}, method="POST", url="http://x/v1/files/multipart/nope", path="/files/multipart/nope", json=ok
        ),
        ft.RequestInfo(
            params={}, method="POST", url="http://x/v1/files/f/preprocess", path="/files/f/preprocess", json=ok
        ),
        ft.RequestInfo(
            params={},
            method="POST",
            url="http://x/v1/files",
            path="/files",
            form={"purpose": "fine-tune", "file_name": "a.jsonl", "file_type": "jsonl", "checksum": "nope"},
        ),
    ):
        with pytest.raises(Exception):  # noqa: B017, PT011 - AssertionError or jsonschema's ValidationError
            checker(info)

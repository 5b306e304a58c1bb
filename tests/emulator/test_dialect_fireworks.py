"""The emulator's ``fireworks`` dialect: datasets, supervised fine-tuning jobs, AIP errors and paging,
every answer checked against the response schemas of Fireworks' spec."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from finetune_async.emulator import Emulator
from tests.data import dpo_rows, jsonl, supervised_rows
from tests.spec import SPEC_DIR

FW_SPEC = Path(SPEC_DIR) / "providers" / "fireworks-fine-tuning.yaml"
requires_fw_spec = pytest.mark.skipif(
    not FW_SPEC.is_file(), reason=f"Fireworks' OpenAPI spec not found at {FW_SPEC} (set FINETUNE_ASYNC_SPEC_DIR)"
)
AUTH = {"Authorization": "Bearer fw-key"}
MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
ACCT = "acme"


@functools.cache
def _spec() -> dict[str, Any]:
    import yaml

    with FW_SPEC.open(encoding="utf-8") as fh:
        spec: dict[str, Any] = yaml.safe_load(fh)
    return spec


def check(operation_id: str, payload: Any, status: str = "200") -> None:
    """Raise unless ``payload`` fits the response schema of ``operation_id``, and its top-level keys
    are all properties the schema names (the spec's schemas allow any other key)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = _spec()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                pointer = "/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}/responses/{status}"
                pointer += "/content/application~1json/schema"
                break
        else:
            continue
        break
    else:
        raise KeyError(operation_id)
    uri = "urn:fireworks"
    registry = Registry().with_resource(uri, Resource.from_contents(spec, default_specification=DRAFT202012))
    Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry).validate(payload)
    node: Any = spec
    for token in pointer.lstrip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    while "$ref" in node:
        node = functools.reduce(lambda n, t: n[t], node["$ref"].lstrip("#/").split("/"), spec)
    unknown = set(payload) - set(node.get("properties", {}))
    assert not unknown, f"{operation_id}: keys not in the spec: {sorted(unknown)}"


@pytest.fixture
async def fireworks() -> AsyncIterator[Emulator]:
    async with Emulator(provider="fireworks", job_seconds=1.5) as emu:
        yield emu


@pytest.fixture
async def http(fireworks: Emulator) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session, f"http://127.0.0.1:{fireworks.port}/v1/accounts/{ACCT}"


async def _json(resp: aiohttp.ClientResponse, status: int = 200) -> Any:
    body = await resp.json()
    assert resp.status == status, body
    return body


async def make_dataset(
    session: aiohttp.ClientSession, base: str, dataset_id: str, rows: int = 16, *, data: bytes | None = None
) -> dict[str, Any]:
    body = {"datasetId": dataset_id, "dataset": {"exampleCount": str(rows), "userUploaded": {}, "format": "CHAT"}}
    async with session.post(f"{base}/datasets", json=body) as resp:
        created = await _json(resp)
    form = aiohttp.FormData()
    content = jsonl(supervised_rows(rows)) if data is None else data
    form.add_field("file", content, filename="train.jsonl", content_type="application/jsonl")
    async with session.post(f"{base}/datasets/{dataset_id}:upload", data=form) as resp:
        uploaded = await _json(resp)
    check("Gateway_UploadDatasetFile", uploaded)
    assert created["state"] == "UPLOADING"
    return created


@requires_fw_spec
async def test_a_job_through_its_lifecycle(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    created = await make_dataset(session, base, "train-1")
    check("Gateway_CreateDataset", created)
    assert created["name"] == f"accounts/{ACCT}/datasets/train-1"
    with anyio.fail_after(5):
        while True:
            async with session.get(f"{base}/datasets/train-1") as resp:
                ds = await _json(resp)
            if ds["state"] == "READY":
                break
            await anyio.sleep(0.02)
    check("Gateway_GetDataset", ds)
    assert ds["exampleCount"] == "16"

    body = {"dataset": ds["name"], "baseModel": MODEL, "epochs": 2, "batchSizeSamples": 4, "displayName": "first"}
    url = f"{base}/supervisedFineTuningJobs?supervisedFineTuningJobId=my-job"
    async with session.post(url, json=body) as resp:
        job = await _json(resp)
    assert job["name"] == f"accounts/{ACCT}/supervisedFineTuningJobs/my-job"
    assert job["state"] == "JOB_STATE_CREATING"
    assert job["dataset"] == ds["name"]
    assert job["baseModel"] == MODEL
    assert job["epochs"] == 2

    # A chosen id makes the create idempotent: the same create again is AIP's 409.
    async with session.post(url, json=body) as resp:
        again = await _json(resp, 409)
    assert again["error"]["code"] == 409
    assert again["error"]["status"] == "ALREADY_EXISTS"
    assert "my-job" in again["error"]["message"]

    seen: list[str] = []
    polled: list[Any] = []
    with anyio.fail_after(15):
        while True:
            async with session.get(f"{base}/supervisedFineTuningJobs/my-job") as resp:
                got = await _json(resp)
            polled.append(got)
            if not seen or seen[-1] != got["state"]:
                seen.append(got["state"])
            if got["state"] == "JOB_STATE_COMPLETED":
                break
            await anyio.sleep(0.02)
    # Checked against the spec after the polls: a check can take longer than a state lasts on
    # a loaded machine, and the polls must see the job run.
    check("Gateway_CreateSupervisedFineTuningJob", job)
    for body in polled:
        check("Gateway_GetSupervisedFineTuningJob", body)
    assert seen[0] in ("JOB_STATE_VALIDATING", "JOB_STATE_PENDING", "JOB_STATE_RUNNING")
    assert "JOB_STATE_RUNNING" in seen
    assert got["jobProgress"] == {"percent": 100, "epoch": 1}
    assert got["completedTime"].endswith("Z")
    assert got["status"]["code"] == "OK"

    # Cancelling a finished job is refused in Google's shape.
    async with session.post(f"{base}/supervisedFineTuningJobs/my-job:cancel", json={}) as resp:
        refused = await _json(resp, 400)
    assert refused["error"]["status"] == "FAILED_PRECONDITION"


@requires_fw_spec
async def test_list_pages_and_cancel(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    await make_dataset(session, base, "train-2", rows=8)
    names = []
    for i in range(5):
        body = {"dataset": f"accounts/{ACCT}/datasets/train-2", "baseModel": MODEL}
        async with session.post(f"{base}/supervisedFineTuningJobs?supervisedFineTuningJobId=j-{i}", json=body) as resp:
            names.append((await _json(resp))["name"])
    listed: list[str] = []
    token = ""
    pages = 0
    while True:
        query = {"pageSize": "2", **({"pageToken": token} if token else {})}
        async with session.get(f"{base}/supervisedFineTuningJobs", params=query) as resp:
            page = await _json(resp)
        check("Gateway_ListSupervisedFineTuningJobs", page)
        pages += 1
        assert page["totalSize"] == 5
        assert len(page["supervisedFineTuningJobs"]) <= 2
        listed += [j["name"] for j in page["supervisedFineTuningJobs"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert pages == 3
    assert listed == names[::-1]  # newest first

    # Another account sees none of them.
    other = base.rsplit("/", 1)[0] + "/other"
    async with session.get(f"{other}/supervisedFineTuningJobs") as resp:
        assert (await _json(resp)) == {"supervisedFineTuningJobs": [], "totalSize": 0}

    async with session.post(f"{base}/supervisedFineTuningJobs/j-0:cancel", json={}) as resp:
        cancelled = await _json(resp)
    check("Gateway_CancelSupervisedFineTuningJob", cancelled)
    assert cancelled == {}
    # CANCELLING for a moment (a loaded machine may miss it), then CANCELLED.
    with anyio.fail_after(5):
        while True:
            async with session.get(f"{base}/supervisedFineTuningJobs/j-0") as resp:
                job = await _json(resp)
            check("Gateway_GetSupervisedFineTuningJob", job)
            assert job["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
            if job["state"] == "JOB_STATE_CANCELLED":
                break
            assert "completedTime" not in job
            await anyio.sleep(0.01)
    assert job["status"]["code"] == "CANCELLED"
    assert job["completedTime"].endswith("Z")


async def test_errors_are_googles(http: tuple[aiohttp.ClientSession, str], fireworks: Emulator) -> None:
    session, base = http
    async with session.get(f"{base}/supervisedFineTuningJobs/nope") as resp:
        missing = await _json(resp, 404)
    assert missing == {
        "error": {
            "code": 404,
            "message": f"SupervisedFineTuningJob accounts/{ACCT}/supervisedFineTuningJobs/nope not found.",
            "status": "NOT_FOUND",
        }
    }
    async with session.get(f"{base}/datasets/nope") as resp:
        assert (await _json(resp, 404))["error"]["status"] == "NOT_FOUND"
    async with session.get(f"{base}/fine_tuning/jobs") as resp:
        assert (await _json(resp, 404))["error"]["status"] == "NOT_FOUND"
    # A job on a dataset with no file yet: FAILED_PRECONDITION.
    body = {"datasetId": "empty", "dataset": {"exampleCount": "0", "userUploaded": {}}}
    async with session.post(f"{base}/datasets", json=body) as resp:
        await _json(resp)
    async with session.post(f"{base}/datasets", json=body) as resp:
        assert (await _json(resp, 409))["error"]["status"] == "ALREADY_EXISTS"
    job = {"dataset": f"accounts/{ACCT}/datasets/empty", "baseModel": MODEL}
    async with session.post(f"{base}/supervisedFineTuningJobs", json=job) as resp:
        assert (await _json(resp, 400))["error"]["status"] == "FAILED_PRECONDITION"
    async with session.post(f"{base}/supervisedFineTuningJobs?supervisedFineTuningJobId=Bad_Id", json=job) as resp:
        assert (await _json(resp, 400))["error"]["status"] == "INVALID_ARGUMENT"
    # Bearer only.
    url = f"http://127.0.0.1:{fireworks.port}/v1/accounts/{ACCT}/datasets"
    async with aiohttp.ClientSession() as bare, bare.get(url) as resp:
        assert (await _json(resp, 401))["error"]["status"] == "UNAUTHENTICATED"


async def test_a_generated_id_is_the_names_last_segment(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    await make_dataset(session, base, "train-3", rows=4)
    body = {"dataset": f"accounts/{ACCT}/datasets/train-3", "baseModel": MODEL}
    async with session.post(f"{base}/supervisedFineTuningJobs", json=body) as resp:
        job = await _json(resp)
    job_id = job["name"].rsplit("/", 1)[1]
    async with session.get(f"{base}/supervisedFineTuningJobs/{job_id}") as resp:
        assert (await _json(resp))["name"] == job["name"]


async def _wait(session: aiohttp.ClientSession, url: str, states: tuple[str, ...]) -> dict[str, Any]:
    with anyio.fail_after(15):
        while True:
            async with session.get(url) as resp:
                job: dict[str, Any] = await _json(resp)
            if job["state"] in states:
                return job
            await anyio.sleep(0.02)


async def test_concurrent_creates_with_one_id_make_one_job(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    await make_dataset(session, base, "train-4", rows=8)
    body = {"dataset": f"accounts/{ACCT}/datasets/train-4", "baseModel": MODEL}
    url = f"{base}/supervisedFineTuningJobs?supervisedFineTuningJobId=once"
    statuses: list[int] = []

    async def create() -> None:
        async with session.post(url, json=body) as resp:
            statuses.append(resp.status)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(create)
    assert sorted(statuses) == [200, 409, 409, 409]
    async with session.get(f"{base}/supervisedFineTuningJobs") as resp:
        assert (await _json(resp))["totalSize"] == 1


async def test_a_job_on_bad_lines_fails(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    await make_dataset(session, base, "bad", rows=12, data=b'{"not": "a chat line"}\n' * 12)
    body = {"dataset": f"accounts/{ACCT}/datasets/bad", "baseModel": MODEL}
    async with session.post(f"{base}/supervisedFineTuningJobs?supervisedFineTuningJobId=bad-job", json=body) as resp:
        await _json(resp)
    failed = await _wait(
        session, f"{base}/supervisedFineTuningJobs/bad-job", ("JOB_STATE_FAILED", "JOB_STATE_COMPLETED")
    )
    assert failed["state"] == "JOB_STATE_FAILED"
    assert failed["status"]["code"] == "INVALID_ARGUMENT"
    assert failed["status"]["message"]


@requires_fw_spec
async def test_a_dpo_job(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    await make_dataset(session, base, "prefs", rows=12, data=jsonl(dpo_rows(12)))
    config = {"baseModel": MODEL, "epochs": 1, "batchSizeSamples": 4, "learningRate": 5e-5}
    body = {
        "dataset": f"accounts/{ACCT}/datasets/prefs",
        "trainingConfig": config,
        "lossConfig": {"method": "DPO", "dpo": {"beta": 0.2}},
    }
    async with session.post(f"{base}/dpoJobs?dpoJobId=dpo-1", json=body) as resp:
        job = await _json(resp)
    check("Gateway_CreateDpoJob", job)
    assert job["name"] == f"accounts/{ACCT}/dpoJobs/dpo-1"
    assert job["trainingConfig"]["learningRate"] == 5e-5
    assert job["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.2}}
    async with session.post(f"{base}/dpoJobs?dpoJobId=dpo-1", json=body) as resp:
        assert (await _json(resp, 409))["error"]["status"] == "ALREADY_EXISTS"
    # The SFT collection does not hold it.
    async with session.get(f"{base}/supervisedFineTuningJobs/dpo-1") as resp:
        await _json(resp, 404)
    done = await _wait(session, f"{base}/dpoJobs/dpo-1", ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED"))
    check("Gateway_GetDpoJob", done)
    assert done["state"] == "JOB_STATE_COMPLETED", done
    async with session.get(f"{base}/dpoJobs", params={"pageSize": "1"}) as resp:
        listed = await _json(resp)
    check("Gateway_ListDpoJobs", listed)
    assert [j["name"] for j in listed["dpoJobs"]] == [job["name"]]
    assert "nextPageToken" not in listed

    # Without lossConfig.method Fireworks trains GRPO: the emulator asks for it to be said.
    del body["lossConfig"]
    async with session.post(f"{base}/dpoJobs", json=body) as resp:
        refused = await _json(resp, 400)
    assert "lossConfig.method" in refused["error"]["message"]

    # A second DPO job, cancelled.
    body["lossConfig"] = {"method": "ORPO"}
    async with session.post(f"{base}/dpoJobs?dpoJobId=dpo-2", json=body) as resp:
        await _json(resp)
    async with session.post(f"{base}/dpoJobs/dpo-2:cancel", json={}) as resp:
        check("Gateway_CancelDpoJob", await _json(resp))
    cancelled = await _wait(session, f"{base}/dpoJobs/dpo-2", ("JOB_STATE_CANCELLED",))
    check("Gateway_GetDpoJob", cancelled)


async def test_a_chosen_id_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "emu"
    body = {"dataset": f"accounts/{ACCT}/datasets/train-5", "baseModel": MODEL}
    url = "/v1/accounts/acme/supervisedFineTuningJobs"
    async with (
        Emulator(provider="fireworks", job_seconds=1.0, data_dir=data_dir) as emu,
        aiohttp.ClientSession(headers=AUTH) as session,
    ):
        base = f"http://127.0.0.1:{emu.port}/v1/accounts/{ACCT}"
        await make_dataset(session, base, "train-5", rows=8)
        async with session.post(f"http://127.0.0.1:{emu.port}{url}?supervisedFineTuningJobId=kept", json=body) as resp:
            await _json(resp)
    async with (
        Emulator(provider="fireworks", job_seconds=1.0, data_dir=data_dir) as emu,
        aiohttp.ClientSession(headers=AUTH) as session,
    ):
        root = f"http://127.0.0.1:{emu.port}{url}"
        async with session.get(f"{root}/kept") as resp:
            assert (await _json(resp))["name"] == f"accounts/{ACCT}/supervisedFineTuningJobs/kept"
        # The id is still taken (the datasets are not kept over a restart: see the module's docstring).
        async with session.post(f"{root}?supervisedFineTuningJobId=kept", json=body) as resp:
            assert (await _json(resp, 409))["error"]["status"] == "ALREADY_EXISTS"


def test_fault_rules_name_openais_paths() -> None:
    from finetune_async.emulator.dialects.fireworks import fault_path

    assert fault_path("/v1/accounts/a/supervisedFineTuningJobs") == "/v1/fine_tuning/jobs"
    assert fault_path("/v1/accounts/a/dpoJobs/j-1:cancel") == "/v1/fine_tuning/jobs/j-1/cancel"
    assert fault_path("/v1/accounts/{account_id}/supervisedFineTuningJobs/{job_id}") == (
        "/v1/fine_tuning/jobs/{fine_tuning_job_id}"
    )
    assert fault_path("/v1/accounts/a/datasets/d:upload") == "/v1/files"
    assert fault_path("/v1/accounts/{account_id}/datasets/{dataset_id}") == "/v1/files/{file_id}"


async def test_a_fault_on_the_create_answers_in_googles_shape() -> None:
    faults = "rate=1,kinds=500,routes=POST:/v1/fine_tuning/jobs"
    async with (
        Emulator(provider="fireworks", job_seconds=1.0, faults=faults) as emu,
        aiohttp.ClientSession(headers=AUTH) as session,
    ):
        base = f"http://127.0.0.1:{emu.port}/v1/accounts/{ACCT}"
        await make_dataset(session, base, "train-6", rows=8)  # not a faulted route
        body = {"dataset": f"accounts/{ACCT}/datasets/train-6", "baseModel": MODEL}
        async with session.post(f"{base}/supervisedFineTuningJobs?supervisedFineTuningJobId=f", json=body) as resp:
            failed = await _json(resp, 500)
        assert failed["error"]["status"] == "INTERNAL"
        assert failed["error"]["code"] == 500


async def test_uploading_twice_is_refused(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    await make_dataset(session, base, "once", rows=4)
    form = aiohttp.FormData()
    form.add_field("file", jsonl(supervised_rows(4)), filename="again.jsonl")
    async with session.post(f"{base}/datasets/once:upload", data=form) as resp:
        assert (await _json(resp, 400))["error"]["status"] == "FAILED_PRECONDITION"
    # A count of 0 at create is filled in from the uploaded lines.
    body = {"datasetId": "counted", "dataset": {"userUploaded": {}}}
    async with session.post(f"{base}/datasets", json=body) as resp:
        await _json(resp)
    form = aiohttp.FormData()
    form.add_field("file", jsonl(supervised_rows(7)), filename="t.jsonl")
    async with session.post(f"{base}/datasets/counted:upload", data=form) as resp:
        await _json(resp)
    async with session.get(f"{base}/datasets/counted") as resp:
        assert (await _json(resp))["exampleCount"] == "7"
    async with session.get(f"{base}/datasets", params={"pageSize": "1"}) as resp:
        page = await _json(resp)
    assert page["totalSize"] == 2
    assert len(page["datasets"]) == 1
    assert page["nextPageToken"]


@requires_fw_spec
async def test_datasets_and_jobs_are_deleted(http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    await make_dataset(session, base, "gone-1", rows=8)
    await make_dataset(session, base, "kept-1", rows=8)
    body = {"dataset": f"accounts/{ACCT}/datasets/kept-1", "baseModel": MODEL, "epochs": 3}
    for kind, id_param in (("supervisedFineTuningJobs", "supervisedFineTuningJobId"), ("dpoJobs", "dpoJobId")):
        wire = (
            body
            if kind == "supervisedFineTuningJobs"
            else {
                "dataset": body["dataset"],
                "trainingConfig": {"baseModel": MODEL},
                "lossConfig": {"method": "DPO"},
            }
        )
        async with session.post(f"{base}/{kind}?{id_param}=doomed", json=wire) as resp:
            await _json(resp)
        # Deleted while it runs: it stops, and is gone.
        async with session.delete(f"{base}/{kind}/doomed") as resp:
            answer = await _json(resp)
        check(
            "Gateway_DeleteSupervisedFineTuningJob" if kind == "supervisedFineTuningJobs" else "Gateway_DeleteDpoJob",
            answer,
        )
        assert answer == {}
        async with session.get(f"{base}/{kind}/doomed") as resp:
            missing = await _json(resp, 404)
        assert missing["error"]["status"] == "NOT_FOUND"
        async with session.get(f"{base}/{kind}") as resp:
            assert (await _json(resp))[kind] == []
        async with session.delete(f"{base}/{kind}/doomed") as resp:
            await _json(resp, 404)
    async with session.delete(f"{base}/datasets/gone-1") as resp:
        answer = await _json(resp)
    check("Gateway_DeleteDataset", answer)
    async with session.get(f"{base}/datasets/gone-1") as resp:
        await _json(resp, 404)
    async with session.get(f"{base}/datasets") as resp:
        assert [d["name"] for d in (await _json(resp))["datasets"]] == [f"accounts/{ACCT}/datasets/kept-1"]


@requires_fw_spec
async def test_lists_take_order_by_and_output_models_are_resource_names(
    http: tuple[aiohttp.ClientSession, str],
) -> None:
    session, base = http
    for name in ("b-set", "a-set", "c-set"):
        await make_dataset(session, base, name, rows=4)
    orders = {
        "": ["a-set", "b-set", "c-set"],
        "name desc": ["c-set", "b-set", "a-set"],
        "createTime": ["b-set", "a-set", "c-set"],
        "createTime desc": ["c-set", "a-set", "b-set"],
    }
    for order, expected in orders.items():
        async with session.get(f"{base}/datasets", params={"orderBy": order} if order else {}) as resp:
            page = await _json(resp)
        check("Gateway_ListDatasets", page)
        assert [d["name"].rsplit("/", 1)[1] for d in page["datasets"]] == expected, order
    async with session.get(f"{base}/datasets", params={"orderBy": "size"}) as resp:
        refused = await _json(resp, 400)
    assert "orderBy" in refused["error"]["message"]

    names = []
    for i, output in enumerate(("first-model", None)):
        body: dict[str, Any] = {"dataset": f"accounts/{ACCT}/datasets/a-set", "baseModel": MODEL}
        if output:
            body["outputModel"] = output
        async with session.post(f"{base}/supervisedFineTuningJobs?supervisedFineTuningJobId=o-{i}", json=body) as resp:
            job = await _json(resp)
        names.append(job["name"])
        assert job["outputModel"] == f"accounts/{ACCT}/models/{output or f'o-{i}'}"
    async with session.get(f"{base}/supervisedFineTuningJobs", params={"orderBy": "createTime"}) as resp:
        assert [j["name"] for j in (await _json(resp))["supervisedFineTuningJobs"]] == names
    async with session.get(f"{base}/supervisedFineTuningJobs", params={"orderBy": "createTime desc"}) as resp:
        assert [j["name"] for j in (await _json(resp))["supervisedFineTuningJobs"]] == names[::-1]


async def test_a_deleted_datasets_pending_upload_does_not_outlive_it() -> None:
    # Bytes PUT for a dataset that was deleted before its :validateUpload must not make a new
    # dataset of the same id READY without an upload of its own.
    data = jsonl(supervised_rows(3))
    async with Emulator(provider="fireworks") as emu, aiohttp.ClientSession() as http:
        base = f"{emu.base_url.removesuffix('/v1')}/v1/accounts/{ACCT}/datasets"

        async def register() -> str:
            async with http.post(
                f"{base}/ds1:getUploadEndpoint", json={"filenameToSize": {"t.jsonl": str(len(data))}}, headers=AUTH
            ) as r:
                assert r.status == 200
                return str((await r.json())["filenameToSignedUrls"]["t.jsonl"])

        create = {"datasetId": "ds1", "dataset": {"exampleCount": "3", "userUploaded": {}, "format": "CHAT"}}
        async with http.post(base, json=create, headers=AUTH) as r:
            assert r.status == 200
        url = await register()
        async with http.put(url, data=data, headers={"X-Goog-Content-Length-Range": f"{len(data)},{len(data)}"}) as r:
            assert r.status == 200
        async with http.delete(f"{base}/ds1", headers=AUTH) as r:
            assert r.status == 200
        async with http.post(base, json=create, headers=AUTH) as r:
            assert r.status == 200
        await register()
        async with http.post(f"{base}/ds1:validateUpload", json={}, headers=AUTH) as r:
            assert r.status == 400  # nothing was PUT for this dataset

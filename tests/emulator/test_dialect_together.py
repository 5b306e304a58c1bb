"""The emulator's ``together`` dialect: ``/v1/fine-tunes``, Together's statuses and shapes, its
file upload flow; answers checked against Together's published spec when it is present."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from finetune_async.emulator import Emulator
from tests.data import dpo_rows, jsonl, supervised_rows
from tests.spec import SPEC_DIR, _nullable

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
AUTH = {"Authorization": "Bearer tg-key"}
TOGETHER_SPEC = SPEC_DIR / "providers" / "together-fine-tuning.yaml"
requires_together_spec = pytest.mark.skipif(
    not TOGETHER_SPEC.is_file(),
    reason=f"Together's OpenAPI spec not found at {TOGETHER_SPEC} (set FINETUNE_ASYNC_SPEC_DIR to the directory "
    "holding providers/together-fine-tuning.yaml)",
)
_URN = "urn:together"


@functools.cache
def _validator(pointer: str) -> Any:
    import yaml
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = _nullable(yaml.safe_load(Path(TOGETHER_SPEC).read_text(encoding="utf-8")))
    registry = Registry().with_resource(_URN, Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{_URN}#{pointer}"}, registry=registry)


def validate_response(method: str, path: str, body: Any) -> None:
    """Raise unless ``body`` fits the 200 answer Together's spec documents for the operation."""
    if not TOGETHER_SPEC.is_file():
        return
    from jsonschema.exceptions import best_match

    escaped = path.replace("~", "~0").replace("/", "~1")
    pointer = f"/paths/{escaped}/{method.lower()}/responses/200/content/application~1json/schema"
    error = best_match(_validator(pointer).iter_errors(body))
    if error is not None:
        raise error


@pytest.fixture
async def together() -> AsyncIterator[Emulator]:
    async with Emulator(provider="together", job_seconds=1.0) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def upload(http: aiohttp.ClientSession, base: str, data: bytes, name: str = "train.jsonl") -> dict[str, Any]:
    """Upload as Together's own SDK does: announce, PUT the bytes, preprocess."""
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    form.add_field("file_name", name)
    form.add_field("file_type", "jsonl")
    form.add_field("checksum", hashlib.sha256(data).hexdigest())
    async with http.post(f"{base}/files", data=form, headers=AUTH, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        location, file_id = r.headers["Location"], r.headers["X-Together-File-Id"]
    async with http.put(location, data=data) as r:  # no Authorization: a signed URL
        assert r.status == 200, await r.text()
    async with http.post(f"{base}/files/{file_id}/preprocess", headers=AUTH) as r:
        assert r.status == 200
        out: dict[str, Any] = await r.json()
    assert out["id"] == file_id
    return out


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url, headers=AUTH) as r:
        return r.status, await r.json()


async def wait_for(http: aiohttp.ClientSession, base: str, job_id: str, statuses: Collection[str]) -> dict[str, Any]:
    with anyio.fail_after(15):
        while True:
            status, job = await get(http, f"{base}/fine-tunes/{job_id}")
            assert status == 200
            validate_response("GET", "/fine-tunes/{id}", job)
            if job["status"] in statuses:
                return job
            await anyio.sleep(0.02)


@requires_together_spec
async def test_a_lora_job_through_its_lifecycle(together: Emulator, http: aiohttp.ClientSession) -> None:
    base = together.base_url
    assert base.endswith("/v1")
    train = await upload(http, base, jsonl(supervised_rows(24)))
    assert train["Processed"] is True
    assert train["FileType"] == "jsonl"
    assert train["bytes"] > 0
    body = {
        "model": MODEL,
        "training_file": train["id"],
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate": 2e-4,
        "lr_scheduler": {"lr_scheduler_type": "linear", "lr_scheduler_args": {"min_lr_ratio": 0.1}},
        "warmup_ratio": 0.1,
        "n_checkpoints": 2,
        "suffix": "lora",
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
        "training_type": {"type": "Lora", "lora_r": 16, "lora_alpha": 32},
        "wandb_api_key": "wandb-secret",
    }
    async with http.post(f"{base}/fine-tunes", json=body, headers=AUTH) as r:
        assert r.status == 200, await r.text()
        created = await r.json()
    assert created["status"] in ("pending", "queued")
    assert created["n_epochs"] == 2
    assert created["batch_size"] == 4
    assert created["learning_rate"] == 2e-4
    assert created["training_type"]["lora_r"] == 16
    assert created["model_output_name"].endswith(created["model_output_name"].rsplit("-", 1)[-1])
    assert "lora" in created["model_output_name"]
    assert "wandb-secret" not in str(created)

    seen = set()
    with anyio.fail_after(15):
        while True:
            _, job = await get(http, f"{base}/fine-tunes/{created['id']}")
            seen.add(job["status"])
            if job["status"] == "completed":
                break
            await anyio.sleep(0.01)
    # Checked against the spec only now: the first check loads the spec, which on a loaded
    # machine took longer than the whole one-second job, and no poll then saw it run.
    validate_response("POST", "/fine-tunes", created)
    validate_response("GET", "/fine-tunes/{id}", job)
    assert seen <= {"pending", "queued", "running", "compressing", "uploading", "completed"}
    assert "running" in seen
    assert job["token_count"] > 0
    assert job["model_output_name"] == created["model_output_name"]

    status, listing = await get(http, f"{base}/fine-tunes")
    assert status == 200
    validate_response("GET", "/fine-tunes", listing)
    assert [j["id"] for j in listing["data"]] == [created["id"]]

    status, events = await get(http, f"{base}/fine-tunes/{created['id']}/events")
    assert status == 200
    validate_response("GET", "/fine-tunes/{id}/events", events)
    types = [e["type"] for e in events["data"]]
    assert "job_start" in types
    assert types[-1] == "job_complete"

    status, ckpts = await get(http, f"{base}/fine-tunes/{created['id']}/checkpoints")
    assert status == 200
    validate_response("GET", "/fine-tunes/{id}/checkpoints", ckpts)
    assert ckpts["data"][0]["checkpoint_type"] == "Final Merged"


@requires_together_spec
async def test_cancel_a_running_job(together: Emulator, http: aiohttp.ClientSession) -> None:
    base = together.base_url
    train = await upload(http, base, jsonl(supervised_rows(40)))
    async with http.post(
        f"{base}/fine-tunes", json={"model": MODEL, "training_file": train["id"], "n_epochs": 5}, headers=AUTH
    ) as r:
        created = await r.json()
    assert created["batch_size"] == 32  # "max" by default
    await wait_for(http, base, created["id"], ("running",))
    async with http.post(f"{base}/fine-tunes/{created['id']}/cancel", headers=AUTH) as r:
        assert r.status == 200
        cancelled = await r.json()
    validate_response("POST", "/fine-tunes/{id}/cancel", cancelled)
    assert cancelled["status"] == "cancel_requested"
    _, job = await get(http, f"{base}/fine-tunes/{created['id']}")
    assert job["status"] == "cancelled"
    async with http.post(f"{base}/fine-tunes/{created['id']}/cancel", headers=AUTH) as r:
        assert r.status == 400


@requires_together_spec
async def test_a_dpo_job_and_a_full_training(together: Emulator, http: aiohttp.ClientSession) -> None:
    base = together.base_url
    train = await upload(http, base, jsonl(dpo_rows(12)), "prefs.jsonl")
    body = {
        "model": MODEL,
        "training_file": train["id"],
        "training_method": {"method": "dpo", "dpo_beta": 0.2},
        "training_type": {"type": "Full"},
    }
    async with http.post(f"{base}/fine-tunes", json=body, headers=AUTH) as r:
        assert r.status == 200, await r.text()
        created = await r.json()
    validate_response("POST", "/fine-tunes", created)
    assert created["training_method"]["method"] == "dpo"
    assert created["training_method"]["dpo_beta"] == 0.2
    assert created["training_type"] == {"type": "Full"}
    job = await wait_for(http, base, created["id"], ("completed", "error"))
    assert job["status"] == "completed"


async def test_the_spec_upload_route(together: Emulator, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    form.add_field("file_name", "data.jsonl")
    form.add_field("file", jsonl(supervised_rows(10)), filename="data.jsonl")
    async with http.post(f"{together.base_url}/files/upload", data=form, headers=AUTH) as r:
        assert r.status == 200, await r.text()
        out = await r.json()
    validate_response("POST", "/files/upload", out)
    status, listing = await get(http, f"{together.base_url}/files")
    assert status == 200
    validate_response("GET", "/files", listing)
    assert [f["id"] for f in listing["data"]] == [out["id"]]
    status, one = await get(http, f"{together.base_url}/files/{out['id']}")
    validate_response("GET", "/files/{id}", one)


async def test_put_needs_the_signed_token(together: Emulator, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    form.add_field("file_name", "t.jsonl")
    async with http.post(f"{together.base_url}/files", data=form, headers=AUTH, allow_redirects=False) as r:
        location = r.headers["Location"]
    async with http.put(location.split("?")[0] + "?token=wrong", data=b"x") as r:
        assert r.status == 404


async def test_unknown_job_is_404(together: Emulator, http: aiohttp.ClientSession) -> None:
    base = together.base_url
    for path in ("", "/events", "/checkpoints"):
        status, body = await get(http, f"{base}/fine-tunes/ft-nope{path}")
        assert status == 404
        assert body["error"]["message"]
    async with http.post(f"{base}/fine-tunes/ft-nope/cancel", headers=AUTH) as r:
        assert r.status == 404


async def test_bearer_auth_is_required(together: Emulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{together.base_url}/fine-tunes") as r:
        assert r.status == 401
        assert (await r.json())["error"]["message"]
    async with http.get(f"{together.base_url}/fine-tunes", headers={"api-key": "tg-key"}) as r:
        assert r.status == 401


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("n_epochs", 0, "n_epochs"),
        ("batch_size", "min", "batch_size"),
        ("learning_rate", 0, "learning_rate"),
        ("warmup_ratio", 2, "warmup_ratio"),
        ("training_method", {"method": "reinforcement"}, "training_method.method"),
        ("training_type", {"type": "QLora"}, "training_type.type"),
        ("lr_scheduler", {"lr_scheduler_type": "step"}, "lr_scheduler"),
    ],
)
async def test_bad_hyperparameters_are_400(
    together: Emulator, http: aiohttp.ClientSession, field: str, value: Any, param: str
) -> None:
    body = {"model": MODEL, "training_file": "file-x", field: value}
    async with http.post(f"{together.base_url}/fine-tunes", json=body, headers=AUTH) as r:
        assert r.status == 400
        assert (await r.json())["error"]["param"] == param


async def test_an_openai_model_is_refused(together: Emulator, http: aiohttp.ClientSession) -> None:
    train = await upload(http, together.base_url, jsonl(supervised_rows(10)))
    body = {"model": "gpt-4o-mini-2024-07-18", "training_file": train["id"]}
    async with http.post(f"{together.base_url}/fine-tunes", json=body, headers=AUTH) as r:
        assert r.status == 400
        assert (await r.json())["error"]["param"] == "model"


async def test_openai_paths_are_not_served(together: Emulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{together.base_url}/fine_tuning/jobs", headers=AUTH) as r:
        assert r.status == 404


@requires_together_spec
async def test_limits_and_price_estimate(together: Emulator, http: aiohttp.ClientSession) -> None:
    base = together.base_url
    status, limits = await get(http, f"{base}/fine-tunes/models/limits?model_name={MODEL}")
    assert status == 200
    validate_response("GET", "/fine-tunes/models/limits", limits)
    assert limits["model_name"] == MODEL
    status, _ = await get(http, f"{base}/fine-tunes/models/limits?model_name=gpt-4o")
    assert status == 404
    train = await upload(http, base, jsonl(supervised_rows(10)))
    body = {"training_file": train["id"], "model": MODEL, "n_epochs": 2}
    async with http.post(f"{base}/fine-tunes/estimate-price", json=body, headers=AUTH) as r:
        assert r.status == 200
        estimate = await r.json()
    validate_response("POST", "/fine-tunes/estimate-price", estimate)
    assert estimate["allowed_to_proceed"] is True
    assert estimate["estimated_train_token_count"] > 0


async def test_another_dialects_job_reads_with_together_defaults(tmp_path: Path) -> None:
    """One state: a job made over OpenAI's paths reads on Together's, with Together's defaults."""
    async with Emulator(job_seconds=1.0, data_dir=tmp_path) as emu, aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("purpose", "fine-tune")
        form.add_field("file", jsonl(supervised_rows(10)), filename="t.jsonl")
        async with http.post(f"{emu.base_url}/files", data=form, headers=AUTH) as r:
            file_id = (await r.json())["id"]
        body = {"model": "gpt-4o-mini-2024-07-18", "training_file": file_id}
        async with http.post(f"{emu.base_url}/fine_tuning/jobs", json=body, headers=AUTH) as r:
            job_id = (await r.json())["id"]
    async with (
        Emulator(provider="together", job_seconds=1.0, data_dir=tmp_path) as emu,
        aiohttp.ClientSession() as http,
    ):
        status, job = await get(http, f"{emu.base_url}/fine-tunes/{job_id}")
    assert status == 200
    validate_response("GET", "/fine-tunes/{id}", job)
    assert job["training_type"]["type"] == "Lora"


async def test_fault_rules_name_openai_paths(together: Emulator, http: aiohttp.ClientSession) -> None:
    together.faults.inject("POST:/v1/fine_tuning/jobs", "429")
    async with http.post(f"{together.base_url}/fine-tunes", json={"model": MODEL}, headers=AUTH) as r:
        assert r.status == 429
    together.faults.inject("GET:/v1/fine_tuning/jobs/{fine_tuning_job_id}", "500")
    async with http.get(f"{together.base_url}/fine-tunes/ftjob-x", headers=AUTH) as r:
        assert r.status == 500
    async with http.get(f"{together.base_url}/fine-tunes/ftjob-x", headers=AUTH) as r:
        assert r.status == 404


@requires_together_spec
async def test_metrics_and_delete_of_a_finished_job(together: Emulator, http: aiohttp.ClientSession) -> None:
    base = together.base_url
    train = await upload(http, base, jsonl(supervised_rows(24)))
    async with http.post(f"{base}/fine-tunes", json={"model": MODEL, "training_file": train["id"]}, headers=AUTH) as r:
        created = await r.json()
    async with http.delete(f"{base}/fine-tunes/{created['id']}", headers=AUTH) as r:
        assert r.status == 400  # still running: cancel it first
    await wait_for(http, base, created["id"], ("completed",))
    status, metrics = await get(http, f"{base}/fine-tunes/{created['id']}/metrics")
    assert status == 200
    validate_response("GET", "/fine-tunes/{id}/metrics", metrics)
    steps = [m["train/global_step"] for m in metrics["metrics"]]
    assert steps
    assert steps == sorted(steps)
    status, tail = await get(http, f"{base}/fine-tunes/{created['id']}/metrics?global_step_from={steps[-1]}")
    assert [m["train/global_step"] for m in tail["metrics"]] == steps[-1:]
    status, _ = await get(http, f"{base}/fine-tunes/{created['id']}/metrics?global_step_to=x")
    assert status == 400
    async with http.delete(f"{base}/fine-tunes/{created['id']}", headers=AUTH) as r:
        assert r.status == 200
        deleted = await r.json()
    validate_response("DELETE", "/fine-tunes/{id}", deleted)
    assert created["id"] in deleted["message"]
    for path in ("", "/metrics"):
        status, _ = await get(http, f"{base}/fine-tunes/{created['id']}{path}")
        assert status == 404


async def test_the_wandb_name_is_echoed_by_list_and_retrieve(together: Emulator, http: aiohttp.ClientSession) -> None:
    """Our client keeps a job's metadata in wandb_name: both reads must answer it as sent."""
    base = together.base_url
    train = await upload(http, base, jsonl(supervised_rows(10)))
    name = "ft-metadata:ft_create=abc&team=ml%20ops"
    body = {"model": MODEL, "training_file": train["id"], "wandb_name": name}
    async with http.post(f"{base}/fine-tunes", json=body, headers=AUTH) as r:
        created = await r.json()
    assert created["wandb_name"] == name
    _, listing = await get(http, f"{base}/fine-tunes")
    assert [j.get("wandb_name") for j in listing["data"]] == [name]
    _, one = await get(http, f"{base}/fine-tunes/{created['id']}")
    assert one["wandb_name"] == name

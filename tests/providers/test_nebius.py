"""Our Nebius client against the emulator's Nebius dialect (``Emulator(provider="nebius")``).

Every request the client sends is validated against OpenAI's spec (tests/spec.py) once the
Nebius-only fields are taken out of it (:func:`openai_shaped`): Nebius' paths and bodies are
OpenAI's plus ``tags``, ``from_checkpoint``, its own hyperparameters and the ``spec-draft``
method, which OpenAI's spec cannot know.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.providers import NebiusHyperparameters, NebiusProvider, capabilities_of
from finetune_async.providers.nebius import metadata_from_tags, tags_from_metadata
from tests.conftest import SpecChecker
from tests.data import jsonl, supervised_rows
from tests.dialects import NEBIUS_MODEL as MODEL
from tests.dialects import openai_shaped
from tests.scripted import json_response, scripted_server


@attrs.define
class Recorder:
    """A request hook: every request sent, and (with ``spec``) each checked against OpenAI's spec."""

    spec: SpecChecker | None = None
    sent: list[ft.RequestInfo] = attrs.field(factory=list)

    def __call__(self, info: ft.RequestInfo) -> None:
        self.sent.append(info)
        if self.spec is not None:
            self.spec(attrs.evolve(info, json=openai_shaped(info.json)))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(provider="nebius", job_seconds=1.0) as emulator:
        yield emulator


def nebius(emu: Emulator, recorder: Recorder | None = None, **kwargs: Any) -> ft.AsyncClient:
    hooks = [recorder] if recorder is not None else []
    kwargs.setdefault("settle_window", 1.0)
    return ft.AsyncClient.nebius(api_key="nb-key", base_url=emu.base_url, request_hooks=hooks, **kwargs)


async def upload(client: ft.AsyncClient, n: int = 24) -> str:
    return (await client.files.create(file=("train.jsonl", jsonl(supervised_rows(n))), purpose="fine-tune")).id


async def test_lora_lifecycle_wait_events_checkpoints_and_result_files(
    emu: Emulator, spec_checker: SpecChecker
) -> None:
    recorder = Recorder(spec_checker)
    async with nebius(emu, recorder, ai_project_id="proj-1") as client:
        assert client.provider.name == "nebius"
        assert client.base_url == emu.base_url
        train = await upload(client)
        hp = NebiusHyperparameters(batch_size=4, learning_rate=2e-4, n_epochs=2, lora=True, lora_r=16, lora_alpha=32)
        job = await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=train,
            method={"type": "supervised", "supervised": {"hyperparameters": hp}},
            metadata={"team": "ml"},
            suffix="lora",
            extra_body={"tags": ["exp-1"], "from_checkpoint": {"repo": "me/base", "type": "hf"}},
        )
        assert job.status == ft.JobStatus.VALIDATING_FILES
        # metadata travelled as tags and came back from them, with the create-once marker.
        assert job.metadata is not None
        assert job.metadata["team"] == "ml"
        assert "ft_create" in job.metadata
        assert job.model_extra["tags"][:2] == ["exp-1", "team=ml"]
        assert job.model_extra["from_checkpoint"] == {"repo": "me/base", "type": "hf"}
        assert job.model_extra["total_steps"] == 12  # 24 rows / batch 4 x 2 epochs
        assert job.hyperparameters.batch_size == 4
        assert job.hyperparameters.model_extra["lora_r"] == 16
        assert job.hyperparameters.model_extra["learning_rate"] == 2e-4

        final = await ft.wait_for_job(client, job.id, poll_interval=0.02)
        assert final.status == ft.JobStatus.SUCCEEDED
        assert final.model_extra["trained_steps"] == final.model_extra["total_steps"] == 12
        assert final.fine_tuned_model

        events = [e async for e in ft.stream_events(client, job.id, poll_interval=0.02)]
        assert events
        assert events[-1].message.lower().startswith(("the job has successfully", "job succeeded", "fine-tuning"))

        checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id, limit=1)]
        assert checkpoints
        assert checkpoints[0].step_number == 12  # newest first
        files = checkpoints[0].model_extra["result_files"]
        assert len(files) == 2
        meta = await client.files.retrieve(files[0])
        assert meta.filename == "adapter_config.json"
        config = json.loads((await client.files.content(files[0])).content)
        assert (config["r"], config["lora_alpha"], config["base_model_name_or_path"]) == (16, 32, MODEL)

    # Every request carried the project; every body was OpenAI's shape once Nebius' own fields are out.
    assert recorder.sent
    assert all(info.params.get("ai_project_id") == "proj-1" for info in recorder.sent)
    assert ("POST", "/fine_tuning/jobs") in spec_checker.operations
    create = next(i for i in recorder.sent if i.method == "POST" and i.path.endswith("/fine_tuning/jobs"))
    assert "metadata" not in create.json
    assert create.json["method"]["supervised"]["hyperparameters"]["lora"] is True


async def test_plain_dict_hyperparameters_top_level_and_spec_draft(emu: Emulator, spec_checker: SpecChecker) -> None:
    recorder = Recorder(spec_checker)
    async with nebius(emu, recorder) as client:
        train = await upload(client, 8)
        job = await client.fine_tuning.jobs.create(
            model=MODEL, training_file=train, hyperparameters={"n_epochs": 1, "context_length": 16384, "packing": False}
        )
        assert job.hyperparameters.model_extra["context_length"] == 16384
        draft = await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=train,
            method={"type": "spec-draft", "spec-draft": {"hyperparameters": {"n_epochs": 1}}},
        )
        assert draft.method is not None
        assert draft.method.type == "spec-draft"


BAD = [
    ({"hyperparameters": {"batch_size": 65}}, "hyperparameters.batch_size", "from 1 to 64"),
    ({"hyperparameters": {"batch_size": True}}, "hyperparameters.batch_size", "integer"),
    ({"hyperparameters": {"n_epochs": "auto"}}, "hyperparameters.n_epochs", "no 'auto'"),
    ({"hyperparameters": {"learning_rate": 0}}, "hyperparameters.learning_rate", "above 0"),
    ({"hyperparameters": {"learning_rate_multiplier": 2}}, "hyperparameters.learning_rate_multiplier", "absolute"),
    ({"hyperparameters": {"warmup_ratio": 1.5}}, "hyperparameters.warmup_ratio", "0 to 1"),
    ({"hyperparameters": {"weight_decay": -0.1}}, "hyperparameters.weight_decay", "at least 0"),
    ({"hyperparameters": {"max_grad_norm": float("nan")}}, "hyperparameters.max_grad_norm", "at least 0"),
    ({"hyperparameters": {"packing": "yes"}}, "hyperparameters.packing", "boolean"),
    ({"hyperparameters": {"context_length": 4096}}, "hyperparameters.context_length", "8192 to 131072"),
    ({"hyperparameters": {"lora": 1}}, "hyperparameters.lora", "boolean"),
    ({"hyperparameters": {"lora_alpha": 0}}, "hyperparameters.lora_alpha", "at least 1"),
    (
        {"method": {"type": "supervised", "supervised": {"hyperparameters": {"lora_r": 4}}}},
        "method.supervised.hyperparameters.lora_r",
        "8 to 128",
    ),
    (
        {"method": {"type": "supervised", "supervised": {"hyperparameters": {"lora_dropout": 1.0}}}},
        "method.supervised.hyperparameters.lora_dropout",
        "not including",
    ),
    ({"hyperparameters": {"beta": 0.1}}, "hyperparameters.beta", "DPO"),
    ({"hyperparameters": {"rank": 8}}, "hyperparameters.rank", "not a Nebius hyperparameter"),
    ({"extra_body": {"tags": [1]}}, "tags", "list of strings"),
    ({"extra_body": {"from_checkpoint": "me/base"}}, "from_checkpoint", "repo"),
    ({"metadata": {"a=b": "c"}}, "metadata.a=b", "'='"),
]


@pytest.mark.parametrize(("kwargs", "param", "says"), BAD, ids=[b[1] + ":" + str(i) for i, b in enumerate(BAD)])
async def test_out_of_range_or_openai_only_values_fail_before_sending(
    emu: Emulator, kwargs: dict[str, Any], param: str, says: str
) -> None:
    recorder = Recorder()
    async with nebius(emu, recorder) as client:
        with pytest.raises(ft.ProviderParameterError) as caught:
            await client.fine_tuning.jobs.create(model=MODEL, training_file="file-x", **kwargs)
    assert caught.value.param == param
    assert says in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert recorder.sent == []


def test_typed_hyperparameters_check_when_made_and_read_as_a_mapping() -> None:
    hp = NebiusHyperparameters(lora=True, lora_r=32, learning_rate=1e-4)
    assert dict(hp) == {"learning_rate": 1e-4, "lora": True, "lora_r": 32}
    assert len(hp) == 3
    assert hash(hp) == hash(NebiusHyperparameters(lora=True, lora_r=32, learning_rate=1e-4))
    with pytest.raises(KeyError):
        hp["batch_size"]
    with pytest.raises(ft.ProviderParameterError, match="lora_r must be an integer from 8 to 128"):
        NebiusHyperparameters(lora_r=256)


@pytest.mark.parametrize("method", ["dpo", "reinforcement"])
async def test_dpo_and_reinforcement_are_refused_before_sending(emu: Emulator, method: str) -> None:
    recorder = Recorder()
    async with nebius(emu, recorder) as client:
        with pytest.raises(ft.UnsupportedByProviderError, match=f"'{method}'.*spec-draft, supervised"):
            await client.fine_tuning.jobs.create(model=MODEL, training_file="file-x", method={"type": method})
    assert recorder.sent == []


async def test_what_nebius_cannot_do_is_refused_before_sending(emu: Emulator) -> None:
    recorder = Recorder()
    async with nebius(emu, recorder) as client:
        calls = [
            client.fine_tuning.jobs.pause("ftjob-1"),
            client.fine_tuning.jobs.resume("ftjob-1"),
            client.uploads.create(filename="a.jsonl", purpose="fine-tune", bytes=1, mime_type="application/jsonl"),
            client.fine_tuning.checkpoints.permissions.retrieve("ft:x"),
            client.models.retrieve("ft:x"),
            client.fine_tuning.jobs.delete("ftjob-1"),
        ]
        for call in calls:
            with pytest.raises(ft.UnsupportedByProviderError, match="nebius cannot do"):
                await call
        with pytest.raises(ft.UnsupportedByProviderError, match=r"expires_after|file_expiration"):
            await client.files.create(
                file=("a.jsonl", b"{}\n"), purpose="fine-tune", expires_after={"anchor": "created_at", "seconds": 3600}
            )
        with pytest.raises(ft.UnsupportedByProviderError):
            ft.WebhookHub(secret="whsec_" + "A" * 32).attach(client)
    assert recorder.sent == []
    caps = capabilities_of("nebius")
    assert caps.methods == {"supervised", "spec-draft"}
    assert caps.paged_events
    assert caps.paged_checkpoints
    assert caps.jobs_listed_newest_first
    assert not caps.metadata_filter


@pytest.mark.parametrize("mark_creates", [True, False])
async def test_a_lost_create_ends_with_exactly_one_job(emu: Emulator, mark_creates: bool) -> None:
    recorder = Recorder()
    async with nebius(emu, recorder, mark_creates=mark_creates) as client:
        train = await upload(client)
        emu.faults.inject("POST:/v1/fine_tuning/jobs", "lost")
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train, metadata={"run": "a"})
        assert job.metadata is not None
        assert job.metadata["run"] == "a"
    assert list(emu.state.store.jobs) == [job.id]
    creates = [i for i in recorder.sent if i.method == "POST" and i.path.endswith("/fine_tuning/jobs")]
    assert len(creates) == 1
    # The settle walked the newest jobs (the listing cannot filter on tags): no metadata[...] sent.
    lists = [i for i in recorder.sent if i.method == "GET" and i.path.endswith("/fine_tuning/jobs")]
    assert lists
    assert all(not k.startswith("metadata[") for i in lists for k in i.params)


async def test_list_by_metadata_filters_here_across_pages(emu: Emulator) -> None:
    recorder = Recorder()
    async with nebius(emu, recorder) as client:
        train = await upload(client, 8)
        ids = []
        for i in range(5):
            job = await client.fine_tuning.jobs.create(
                model=MODEL, training_file=train, metadata={"run": "even" if i % 2 == 0 else "odd"}
            )
            ids.append(job.id)
        recorder.sent.clear()
        found = [j.id async for j in client.fine_tuning.jobs.list(limit=2, metadata={"run": "even"})]
        assert found == [ids[4], ids[2], ids[0]]  # newest first
        assert len(recorder.sent) == 3  # 5 jobs, 2 a page
        first = await client.fine_tuning.jobs.list(limit=2, metadata={"run": "odd"})
        assert [j.id for j in first.data] == [ids[3]]
        assert first.has_more
        second = await first.next_page()
        assert [j.id for j in second.data] == [ids[1]]


async def test_run_batch_runs_each_of_three_specs_exactly_once(emu: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    trains = []
    for i in range(3):
        path = data / f"t{i}.jsonl"
        path.write_bytes(jsonl(supervised_rows(10 + i)))
        trains.append(path)
    specs = [
        ft.BatchSpec(
            training_file=trains[i],
            model=MODEL,
            hyperparameters=NebiusHyperparameters(n_epochs=1, batch_size=4, lora=True),
            suffix=f"s{i}",
        )
        for i in range(3)
    ]
    journal = tmp_path / "j.sqlite"
    async with nebius(emu) as client:
        # The first create's answer is lost: it is settled by its marker, not sent again.
        emu.faults.inject("POST:/v1/fine_tuning/jobs", "lost")
        report = await ft.run_batch(client, specs, journal=journal, max_concurrent=3)
        assert report.ok, [r.error for r in report]
        assert report.created == 3
        again = await ft.run_batch(client, specs, journal=journal, max_concurrent=3)
        assert again.ok
        assert again.created == 0
    assert len(emu.state.store.jobs) == 3
    assert sorted(r.job_id or "" for r in report) == sorted(emu.state.store.jobs)
    assert sorted(r.job_id or "" for r in again) == sorted(emu.state.store.jobs)


async def test_a_fresh_run_of_the_same_batch_id_finds_its_jobs_by_their_tags(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(supervised_rows(10)))
    specs = [
        ft.BatchSpec(training_file=path, model=MODEL, suffix=f"s{i}", hyperparameters={"n_epochs": 1}) for i in range(3)
    ]
    async with nebius(emu) as client:
        first = await ft.run_batch(client, specs, journal=tmp_path / "a.sqlite")
        # Another journal (a lost one), same batch id: the server's jobs are found, none created.
        second = await ft.run_batch(client, specs, journal=tmp_path / "b.sqlite", batch_id=first.batch_id)
    assert second.created == 0
    assert second.reattached == 3
    assert len(emu.state.store.jobs) == 3


async def test_errors_in_fastapi_shapes() -> None:
    async def handler(request: Any) -> Any:
        if request.path.endswith("/fine_tuning/jobs") and request.method == "POST":
            return json_response(
                {
                    "detail": [
                        {"loc": ["body", "hyperparameters", "batch_size"], "msg": "Input should be ≤ 64", "type": "x"},
                        {"loc": ["body", "model"], "msg": "Field required", "type": "missing"},
                    ]
                },
                422,
            )
        if request.path.endswith("/events"):
            return json_response({"detail": "Method Not Allowed"}, 405)
        if "ftjob-gone" in request.path:
            return json_response({"detail": "Not Found"}, 404)
        return json_response({"detail": "Invalid API key"}, 401, {"WWW-Authenticate": "Bearer"})

    async with (
        scripted_server(handler) as server,
        ft.AsyncClient.nebius(api_key="nb-secret", base_url=server.base_url, max_retries=0) as client,
    ):
        with pytest.raises(ft.RequestValidationError) as invalid:
            await client.fine_tuning.jobs.create(model=MODEL, training_file="file-x")
        with pytest.raises(ft.NotFoundError) as missing:
            await client.fine_tuning.jobs.retrieve("ftjob-gone")
        with pytest.raises(ft.APIStatusError) as not_allowed:
            await client.fine_tuning.jobs.list_events("ftjob-1")
        with pytest.raises(ft.AuthenticationError) as unauthorised:
            await client.files.list()
    err = invalid.value
    assert isinstance(err, ft.BadRequestError)
    assert isinstance(err, ft.UnprocessableEntityError)
    assert err.status_code == 422
    assert err.param == "hyperparameters.batch_size"
    assert "Invalid 'hyperparameters.batch_size': Input should be ≤ 64 (and 1 more)" in str(err)
    assert len(err.errors) == 2
    assert str(missing.value).startswith("Error code: 404 - Not Found (GET ")
    assert "/fine_tuning/jobs/ftjob-gone" in str(missing.value)
    assert not_allowed.value.status_code == 405
    assert "Method Not Allowed" in str(not_allowed.value)
    assert "Invalid API key" in str(unauthorised.value)
    for exc in (err, missing.value, not_allowed.value, unauthorised.value):
        assert "nb-secret" not in str(exc)
        assert "nb-secret" not in repr(exc)
    # Nebius' Bearer auth was sent; the key stays out of the client's and provider's repr.
    assert server.seen[0].headers["Authorization"] == "Bearer nb-secret"


def test_constructor_env_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEBIUS_API_KEY", raising=False)
    monkeypatch.delenv("NEBIUS_BASE_URL", raising=False)
    with pytest.raises(ft.FineTuneError, match="NEBIUS_API_KEY"):
        ft.AsyncClient.nebius()
    monkeypatch.setenv("NEBIUS_API_KEY", "nb-env-key")
    client = ft.AsyncClient.nebius()
    assert client.base_url == "https://api.tokenfactory.nebius.com/v1"
    assert isinstance(client.provider, NebiusProvider)
    assert "nb-env-key" not in repr(client) + repr(client.provider)
    monkeypatch.setenv("NEBIUS_BASE_URL", "https://api.studio.nebius.com/v1/")
    assert ft.AsyncClient.nebius().base_url == "https://api.studio.nebius.com/v1"
    # Only the jobs' calls are mapped: the rest pays one set lookup.
    assert client.provider.translated == {"jobs.create", "jobs.retrieve", "jobs.list", "jobs.cancel"}


def test_metadata_and_tags_round_trip() -> None:
    metadata = {"ft_batch": "b1", "ft_spec": "k=v", "team": ""}
    tags = tags_from_metadata(metadata)
    assert tags == ["ft_batch=b1", "ft_spec=k=v", "team="]
    assert metadata_from_tags(["plain", *tags]) == metadata
    assert metadata_from_tags("solo") is None
    assert metadata_from_tags(None) is None


def test_cli_provider_nebius(monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_async.cli._context import PROVIDERS, Settings

    assert "nebius" in PROVIDERS
    monkeypatch.setenv("NEBIUS_API_KEY", "nb-cli-secret")
    settings = Settings(None, "http://127.0.0.1:9/v1", "nebius")
    client = settings.client()
    assert client.provider.name == "nebius"
    assert client.base_url == "http://127.0.0.1:9/v1"
    assert "nb-cli-secret" in settings.secrets()

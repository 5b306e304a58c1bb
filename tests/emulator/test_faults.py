"""Fault injection: each kind, over real HTTP, with the official SDK as the client."""

from __future__ import annotations

import time

import aiohttp
import openai
import pytest

from finetune_async.emulator import Emulator, FaultRule, Faults
from tests.data import jsonl, supervised_rows

from .conftest import OpenAIClient

CREATE = "POST:/v1/fine_tuning/jobs"


async def _train_file(client: openai.AsyncOpenAI) -> str:
    return (await client.files.create(file=("t.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")).id


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("500", 500), ("503", 503)])
async def test_error_kinds_answer_and_do_not_apply(
    emulator: Emulator, openai_client: OpenAIClient, kind: str, status: int
) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, kind, count=1)
    with pytest.raises(openai.APIStatusError) as info:
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert info.value.status_code == status
    assert info.value.response.headers["x-request-id"].startswith("req_")
    if kind == "429":
        assert isinstance(info.value, openai.RateLimitError)
        assert info.value.response.headers["retry-after-ms"] == "1000"
        assert info.value.response.headers["retry-after"] == "1"
        assert info.value.code == "rate_limit_exceeded"
    assert not emulator.state.store.jobs  # not applied
    # The injection is used up: the next create goes through.
    await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert len(emulator.state.store.jobs) == 1
    assert emulator.faults.history == [("POST:/v1/fine_tuning/jobs", kind)]


async def test_reset_drops_the_connection_without_applying(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, "reset")
    with pytest.raises(openai.APIConnectionError):
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert not emulator.state.store.jobs


async def test_lost_response_applies_the_action(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    train = await _train_file(client)
    emulator.faults.inject(CREATE, "lost")
    with pytest.raises(openai.APIConnectionError):
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert len(emulator.state.store.jobs) == 1  # created, but the client never heard
    # A lost file upload also creates the file.
    emulator.faults.inject("POST:/v1/files", "lost")
    with pytest.raises(openai.APIConnectionError):
        await _train_file(client)
    assert len(emulator.state.store.files) == 2


async def test_latency_rate_routes_and_runtime_changes(emulator: Emulator, openai_client: OpenAIClient) -> None:
    client = openai_client(emulator.base_url)
    emulator.faults.configure("latency=0.2,routes=GET:/v1/models")
    started = time.perf_counter()
    await client.models.list()
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    await client.files.list()
    assert time.perf_counter() - started < 0.2  # other routes untouched

    emulator.faults.configure("rate=1,kinds=503,routes=GET:/v1/files/*")
    with pytest.raises(openai.InternalServerError):
        await client.files.retrieve("file-x")
    assert (await client.models.list()).data  # not a matching route
    emulator.faults.clear()
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve("file-x")


async def test_header_forces_a_fault(emulator: Emulator) -> None:
    headers = {"Authorization": "Bearer sk-test"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{emulator.base_url}/models", headers={"x-emulator-fault": "500"}) as resp:
            assert resp.status == 500
            assert (await resp.json())["error"]["type"] == "server_error"
        async with session.get(f"{emulator.base_url}/models", headers={"x-emulator-fault": "nope"}) as resp:
            assert resp.status == 400
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.get(f"{emulator.base_url}/models", headers={"x-emulator-fault": "reset"}):
                pass


async def test_faults_given_at_start_and_azure_routes_match_v1_names(openai_client: OpenAIClient) -> None:
    async with Emulator(faults="rate=1,kinds=429,routes=GET:/v1/models") as emu:
        client = openai_client(emu.base_url)
        with pytest.raises(openai.RateLimitError):
            await client.models.list()
        async with aiohttp.ClientSession() as session:
            url = f"{emu.azure_endpoint}/openai/models?api-version=2024-10-21"
            async with session.get(url, headers={"api-key": "k"}) as resp:
                assert resp.status == 429


def test_spec_grammar() -> None:
    faults = Faults.parse(
        "rate=0.3,kinds=429+500+503+reset+lost,latency=0.05,routes=POST:/v1/fine_tuning/jobs+POST:/v1/files;"
        "latency=0.01-0.02,seed=4"
    )
    assert faults.rules == [
        FaultRule(
            rate=0.3,
            kinds=("429", "500", "503", "reset", "lost"),
            latency=(0.05, 0.05),
            routes=("POST:/v1/fine_tuning/jobs", "POST:/v1/files"),
        ),
        FaultRule(latency=(0.01, 0.02)),
    ]
    assert faults.seed == 4
    assert not Faults.parse("").active
    assert not Faults.parse("off").active
    for bad in ("rate=2", "kinds=418", "bogus=1", "rate", "latency=0.2-0.1"):
        with pytest.raises(ValueError, match=r"rate|kind|key|latency"):
            Faults.parse(bad)


def test_decisions_are_reproducible_with_a_seed() -> None:
    def draws() -> list[str | None]:
        faults = Faults(rate=0.5, kinds=("429", "reset"), seed=11)
        return [faults.decide("GET", "/v1/models", "/v1/models").kind for _ in range(50)]

    first = draws()
    assert first == draws()
    assert {"429", "reset", None} == set(first)


def test_injection_matches_templates_globs_and_counts() -> None:
    faults = Faults()
    faults.inject("GET:/v1/fine_tuning/jobs/*", "500", count=2)
    tpl = "/v1/fine_tuning/jobs/{fine_tuning_job_id}"
    assert faults.decide("POST", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs").kind is None
    assert faults.decide("GET", tpl, "/v1/fine_tuning/jobs/ftjob-1").kind == "500"
    assert faults.decide("GET", tpl, "/v1/fine_tuning/jobs/ftjob-1").kind == "500"
    assert faults.decide("GET", tpl, "/v1/fine_tuning/jobs/ftjob-1").kind is None
    faults.inject(tpl, "lost")  # no method: any method, matched against the template
    assert faults.decide("DELETE", tpl, "/v1/fine_tuning/jobs/x").kind == "lost"

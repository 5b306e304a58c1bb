"""``jobs.metrics`` on Fireworks: the metrics file behind a signed URL (a supervised job names
it in ``metricsFileSignedUrl``; DPO and reinforcement jobs answer it from
``:getMetricsFileEndpoint``), read through ``send.signed`` and parsed as JSON lines."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.providers.fireworks import parse_metrics
from tests.data import dpo_rows, jsonl
from tests.providers.test_fireworks import ACCOUNT, MODEL, Recorder, fireworks, requires_spec, upload
from tests.scripted import json_response, scripted_server


@pytest.fixture
async def emu() -> Any:
    async with Emulator(provider="fireworks", job_seconds=1.0) as emulator:
        yield emulator


@requires_spec
async def test_a_finished_jobs_metrics_are_its_steps_oldest_first(emu: Emulator) -> None:
    recorder = Recorder()
    async with fireworks(emu, recorder) as client:
        train = await upload(client)
        prefs = await upload(client, jsonl(dpo_rows(12)), "p.jsonl")
        sft = await client.fine_tuning.jobs.create(model=MODEL, training_file=train, extra_body={"learningRate": 2e-4})
        dpo = await client.fine_tuning.jobs.create(model=MODEL, training_file=prefs, method={"type": "dpo"})
        for job in (sft, dpo):
            await client.fine_tuning.jobs.wait(job.id, poll_interval=0.05)
        recorder.sent.clear()
        got = await client.fine_tuning.jobs.metrics(sft.id)
        got_dpo = await client.fine_tuning.jobs.metrics(dpo.id)
    for metrics in (got, got_dpo):
        assert isinstance(metrics, ft.FineTuningJobMetrics)
        steps = [m["step"] for m in metrics.metrics]
        assert steps
        assert steps == sorted(steps)
        assert all("train/loss" in m for m in metrics.metrics)
    assert {m["learning_rate"] for m in got.metrics} == {2e-4}
    # The supervised job is read for its metricsFileSignedUrl; the DPO job asks the endpoint.
    sent = [(i.method, i.path, i.signed) for i in recorder.sent]
    dpo_rid = dpo.id.removeprefix("dpo:")
    assert [(m, signed) for m, _, signed in sent] == [("GET", False), ("GET", True)] * 2
    assert sent[0][1].endswith(f"/supervisedFineTuningJobs/{sft.id}")
    assert sent[2][1].endswith(f"/dpoJobs/{dpo_rid}:getMetricsFileEndpoint")
    assert sent[1][1].startswith("/storage/metrics/")
    assert sent[3][1].startswith("/storage/metrics/")
    assert ("GET", "/v1/accounts/{account_id}/dpoJobs/{dpo_job_id}:getMetricsFileEndpoint") in recorder.spec.operations


async def test_a_job_without_a_metrics_file_yet_has_no_metrics() -> None:
    async with Emulator(provider="fireworks", job_seconds=600.0) as slow, fireworks(slow) as client:
        train = await upload(client)
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=train)
        assert (await client.fine_tuning.jobs.metrics(job.id)).metrics == []
        with pytest.raises(ft.NotFoundError):
            await client.fine_tuning.jobs.metrics("dpo:nope")


async def test_a_metrics_file_on_another_origin_is_read_without_the_key() -> None:
    lines = b'{"step": 1, "train/loss": 1.5}\n\n{"step": 2, "train/loss": 1.25, "note": "x"}\n'

    async def storage(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, body=lines)

    url = ""

    async def api(request: web.Request) -> web.StreamResponse:
        return json_response(
            {"name": f"accounts/{ACCOUNT}/supervisedFineTuningJobs/j1", "dataset": "d", "metricsFileSignedUrl": url}
        )

    async with scripted_server(storage, prefix="") as store, scripted_server(api, prefix="") as server:
        url = f"{store.base_url}/metrics/j1.jsonl?sig=abc"
        async with ft.AsyncClient.fireworks(api_key="fw-key-7", account_id=ACCOUNT, base_url=server.base_url) as c:
            got = await c.fine_tuning.jobs.metrics("j1")
    assert got.metrics == [{"step": 1, "train/loss": 1.5}, {"step": 2, "train/loss": 1.25}]
    (read,) = store.seen
    assert (read.method, read.path, read.query) == ("GET", "/metrics/j1.jsonl", {"sig": "abc"})
    assert "authorization" not in {k.lower() for k in read.headers}
    assert "fw-key-7" not in repr(read.headers)


# -- parsing ---------------------------------------------------------------------------------------

_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_NUMBERS = st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, allow_infinity=False)
_OTHER = st.none() | st.booleans() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)


@settings(max_examples=150)
@given(
    records=st.lists(st.dictionaries(_NAMES, _NUMBERS | _OTHER, max_size=6), max_size=8),
    blank=st.sampled_from([b"", b"  ", b"\t"]),
)
def test_a_metrics_file_keeps_each_lines_numbers(records: list[dict[str, Any]], blank: bytes) -> None:
    content = b"".join(json.dumps(r).encode() + b"\n" + blank + b"\n" for r in records)
    parsed = parse_metrics(content)
    assert parsed == [
        {k: v for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)} for r in records
    ]


@settings(max_examples=150)
@given(
    good=st.lists(st.dictionaries(_NAMES, _NUMBERS, max_size=3), max_size=5),
    bad=st.sampled_from([b"{", b"[1, 2]", b"3", b'"step"', b"not json", b"null", b"{'a': 1}"]),
)
def test_a_bad_line_is_refused_naming_it(good: list[dict[str, Any]], bad: bytes) -> None:
    content = b"".join(json.dumps(r).encode() + b"\n" for r in good) + bad + b"\n"
    with pytest.raises(ft.FineTuneError, match=f"line {len(good) + 1}:"):
        parse_metrics(content)

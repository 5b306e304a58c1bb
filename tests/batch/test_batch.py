"""``run_batch`` against the in-process emulator: files, limits, failures, re-runs, cancellation."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import anyio
import pytest

import finetune_async as ft
from finetune_async._journal import Journal, JournalBusyError
from finetune_async.emulator import Emulator
from tests.conftest import SpecChecker
from tests.data import dpo_rows, jsonl, supervised_rows
from tests.dialects import OPENAI, Dialect, client_job_id, openai_only, server_job, server_metadata
from tests.dialects import OPENAI_MODEL as MODEL

from .conftest import write_datasets


def sweep(trains: list[Path], valid: Path | None = None, n: int = 6, dialect: Dialect = OPENAI) -> list[ft.BatchSpec]:
    """``n`` specs over ``trains`` for ``dialect``'s model, each with ``team=search`` where the
    provider keeps the caller's metadata (:meth:`~tests.dialects.Dialect.caller_metadata`)."""
    return [
        ft.BatchSpec(
            training_file=trains[i % len(trains)],
            validation_file=valid,
            model=dialect.model,
            hyperparameters={"n_epochs": 1 + i},
            suffix=f"e{i}",
            metadata=dialect.caller_metadata({"team": "search"}),
        )
        for i in range(n)
    ]


def jsonl_files(emu: Emulator) -> Counter[str]:
    return Counter(f.filename for f in emu.state.store.files.values() if f.filename.endswith(".jsonl"))


async def test_runs_every_spec_and_uploads_each_file_once(
    tmp_path: Path, emulator: Emulator, client: ft.AsyncClient, spec_checker: SpecChecker, model: str, dialect: Dialect
) -> None:
    trains, valid = write_datasets(tmp_path / "data", n_train=2)
    specs = sweep(trains, valid, dialect=dialect)
    seen: list[ft.SpecResult] = []

    report = await ft.run_batch(client, specs, journal=tmp_path / "j.sqlite", max_concurrent=3, on_update=seen.append)

    assert report.ok
    assert [r.key for r in report] == [s.spec_key for s in specs]
    for result in report:
        assert result.status == "succeeded"
        assert result.job_id is not None
        assert result.fine_tuned_model is not None
        if dialect.trained_tokens:
            assert result.trained_tokens
            assert result.trained_tokens > 0
        else:
            assert result.trained_tokens is None
        assert result.duration is not None
        assert result.duration >= 0
        assert result.error is None
    # Two training files and one validation file, each uploaded once, named with their hash.
    uploaded = jsonl_files(emulator)
    assert len(uploaded) == 3
    assert set(uploaded.values()) == {1}
    assert all(len(name.split(".")) == 3 for name in uploaded)
    jobs = list(emulator.state.store.jobs.values())
    assert len(jobs) == 6
    metadata = [server_metadata(j) or {} for j in jobs]
    assert {m["ft_batch"] for m in metadata} == {dialect.kept("ft_batch", report.batch_id)}
    assert {m["ft_spec"] for m in metadata} == set(dialect.spec_keys(s.spec_key for s in specs))
    assert all(m.get("team") == ("search" if dialect.keeps_caller_metadata else None) for m in metadata)
    steps = {r.status for r in seen}
    assert {"pending", "validating", "uploading", "waiting", "creating", "succeeded"} <= steps
    # Every request the batch sent validates against the dialect's spec.
    assert ("POST", dialect.create_template) in spec_checker.operations


async def test_never_more_jobs_active_than_max_concurrent(tmp_path: Path, dialect: Dialect) -> None:
    trains, _ = write_datasets(tmp_path / "data", n_train=1)
    peak = 0
    async with dialect.emulator(job_seconds=1.0) as emu, dialect.client(emu.base_url) as client:

        def sample(_: ft.SpecResult) -> None:
            nonlocal peak
            peak = max(peak, emu.state.jobs_in_flight())

        report = await ft.run_batch(
            client, sweep(trains, n=8, dialect=dialect), journal=None, max_concurrent=3, on_update=sample
        )
    assert report.ok
    assert peak == 3


async def test_a_bad_file_fails_its_specs_and_is_not_uploaded(
    tmp_path: Path, emulator: Emulator, client: ft.AsyncClient, model: str
) -> None:
    # DPO where the provider has it (not Nebius): its specs are left out, not the whole test.
    dpo = "dpo" in client.provider.capabilities.methods
    trains, _ = write_datasets(tmp_path / "data", n_train=1)
    bad = tmp_path / "data" / "bad.jsonl"
    bad.write_bytes(jsonl(supervised_rows(3)) + b"{not json\n")
    dpo_file = tmp_path / "data" / "dpo.jsonl"
    dpo_file.write_bytes(jsonl(dpo_rows(12)))
    specs = [
        ft.BatchSpec(training_file=trains[0], model=model, key="good"),
        ft.BatchSpec(training_file=bad, model=model, key="bad"),
        ft.BatchSpec(training_file=tmp_path / "missing.jsonl", model=model, key="missing"),
        # Valid for DPO, not for supervised: validated for the spec's method.
        *(
            [ft.BatchSpec(training_file=dpo_file, model=model, key="dpo", method="dpo", hyperparameters={"beta": 0.2})]
            if dpo
            else []
        ),
        ft.BatchSpec(training_file=dpo_file, model=model, key="dpo-as-supervised"),
    ]
    report = await ft.run_batch(client, specs, journal=tmp_path / "j.sqlite")
    assert not report.ok
    assert report["good"].ok
    assert report["bad"].status == "invalid"
    # Three good lines are too few where the provider wants more (OpenAI's ten; Together takes one).
    few = {"too_few_examples"} if client.provider.data_rules.min_examples > 3 else set()
    assert {p.code for p in report["bad"].problems} >= {"invalid_json", *few}
    assert report["missing"].status == "invalid"
    assert report["missing"].error
    assert "cannot read" in report["missing"].error
    assert report["dpo-as-supervised"].status == "invalid"
    assert [r.key for r in report.failed] == ["bad", "missing", "dpo-as-supervised"]
    assert not any(name.startswith("bad.") for name in jsonl_files(emulator))
    if not dpo:
        return
    assert report["dpo"].ok
    dpo_job = server_job(emulator.state.store.jobs, report["dpo"].job_id or "")
    assert dpo_job.method_type == "dpo"
    assert dpo_job.hp_requested["beta"] == 0.2


async def test_file_ids_are_used_as_given(
    tmp_path: Path, emulator: Emulator, client: ft.AsyncClient, model: str
) -> None:
    uploaded = await client.files.create(file=("mine.jsonl", jsonl(supervised_rows(12))), purpose="fine-tune")
    # Where files must be processed first (Azure), run_batch waits for an id given as it is too.
    report = await ft.run_batch(
        client, [ft.BatchSpec(training_file=uploaded.id, model=model, key="k")], journal=tmp_path / "j.sqlite"
    )
    # A Fireworks dataset id (mine-1a2b3c4d) too: ids are the provider's shape.
    assert report.ok
    job = await client.fine_tuning.jobs.retrieve(report["k"].job_id or "")
    assert job.training_file == uploaded.id
    assert len(emulator.state.store.files) == 2  # the given file and the job's result file


async def test_a_rerun_reattaches_and_creates_nothing(
    tmp_path: Path, emulator: Emulator, client: ft.AsyncClient, model: str, dialect: Dialect
) -> None:
    trains, valid = write_datasets(tmp_path / "data", n_train=2)
    journal = tmp_path / "j.sqlite"
    first = await ft.run_batch(client, sweep(trains, valid, dialect=dialect), journal=journal)
    files_before = jsonl_files(emulator)
    second = await ft.run_batch(client, sweep(trains, valid, dialect=dialect), journal=journal)
    assert (first.created, first.reattached) == (6, 0)
    assert (second.created, second.reattached) == (0, 6)
    assert second.results == first.results
    assert len(emulator.state.store.jobs) == 6
    assert jsonl_files(emulator) == files_before

    # Without the journal, the server alone keeps it exactly-once: same derived batch id, the
    # jobs found by their metadata and the files by the hash in their names.
    journal.unlink()
    third = await ft.run_batch(client, sweep(trains, valid, dialect=dialect), journal=journal)
    assert third.batch_id == first.batch_id
    assert (third.created, third.reattached) == (0, 6)
    assert [r.job_id for r in third] == [r.job_id for r in first]
    assert len(emulator.state.store.jobs) == 6
    assert jsonl_files(emulator) == files_before

    # A spec added later gets its job; the others are left alone.
    more = [*sweep(trains, valid, dialect=dialect), ft.BatchSpec(training_file=trains[0], model=model, key="extra")]
    fourth = await ft.run_batch(client, more, journal=journal)
    assert fourth.ok
    assert len(emulator.state.store.jobs) == 7


async def test_metadata_of_the_callers_is_kept_or_refused_before_anything_is_created(
    tmp_path: Path, emulator: Emulator, client: ft.AsyncClient, dialect: Dialect
) -> None:
    """Where jobs keep the caller's metadata it is on the job; where they keep none (Fireworks:
    only this SDK's markers), the spec fails with an error naming the key and no job is made."""
    trains, _ = write_datasets(tmp_path / "data", n_train=1)
    spec = ft.BatchSpec(training_file=trains[0], model=dialect.model, key="m", metadata={"team": "search"})
    report = await ft.run_batch(client, [spec], journal=tmp_path / "j.sqlite")
    if dialect.keeps_caller_metadata:
        assert report.ok
        job = server_job(emulator.state.store.jobs, report["m"].job_id or "")
        assert (server_metadata(job) or {})["team"] == "search"
        return
    assert report["m"].status == "error"
    assert "metadata.team" in (report["m"].error or "")
    assert report["m"].job_id is None
    assert emulator.state.store.jobs == {}


async def test_lost_answers_do_not_duplicate(tmp_path: Path, dialect: Dialect) -> None:
    trains, valid = write_datasets(tmp_path / "data", n_train=2)
    async with dialect.emulator(job_seconds=1.0) as emu, dialect.client(emu.base_url) as client:
        emu.faults.inject("POST:/v1/fine_tuning/jobs", "lost", count=4)
        emu.faults.inject("POST:/v1/files", "lost", count=2)
        report = await ft.run_batch(client, sweep(trains, valid, dialect=dialect), journal=tmp_path / "j.sqlite")
        assert report.ok
        assert Counter(kind for _, kind in emu.faults.history) == {"lost": 6}
        assert len(emu.state.store.jobs) == 6
        assert set(jsonl_files(emu).values()) == {1}


async def test_a_refused_create_is_an_error_and_is_tried_again_next_run(
    tmp_path: Path, emulator: Emulator, client: ft.AsyncClient, model: str
) -> None:
    trains, _ = write_datasets(tmp_path / "data", n_train=1)
    journal = tmp_path / "j.sqlite"
    specs = [
        ft.BatchSpec(training_file=trains[0], model="no-such-model", key="bad-model"),
        ft.BatchSpec(training_file=trains[0], model=model, key="fine"),
    ]
    report = await ft.run_batch(client, specs, journal=journal)
    assert report["fine"].ok
    assert report["bad-model"].status == "error"
    assert report["bad-model"].error
    assert "no-such-model" in report["bad-model"].error
    assert report["bad-model"].job_id is None
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT state FROM specs WHERE key = 'bad-model'").fetchone() == ("pending",)
    db.close()
    fixed = [ft.BatchSpec(training_file=trains[0], model=model, key="bad-model"), specs[1]]
    assert (await ft.run_batch(client, fixed, journal=journal)).ok
    assert len(emulator.state.store.jobs) == 2


@pytest.mark.parametrize("cancel_jobs", [True, False])
async def test_cancelling_the_batch(tmp_path: Path, cancel_jobs: bool, dialect: Dialect) -> None:
    trains, _ = write_datasets(tmp_path / "data", n_train=1)
    journal = tmp_path / "j.sqlite"
    specs = sweep(trains, n=5, dialect=dialect)
    async with dialect.emulator(job_seconds=60.0) as emu, dialect.client(emu.base_url) as client:
        created = anyio.Event()
        statuses: dict[str, str] = {}

        def update(result: ft.SpecResult) -> None:
            # A job's status once it exists (Azure's dated route reads pending through the first
            # half of validation; the batch's own "pending" step has no job yet).
            if result.job_id is not None:
                statuses[result.key] = result.status
            if sum(1 for s in statuses.values() if s in ("pending", "validating_files")) == 3:
                created.set()

        async with anyio.create_task_group() as tg:

            async def go() -> None:
                await ft.run_batch(
                    client, specs, journal=journal, max_concurrent=3, cancel_jobs_on_exit=cancel_jobs, on_update=update
                )

            tg.start_soon(go)
            with anyio.fail_after(10):
                await created.wait()
            tg.cancel_scope.cancel()

        jobs = list(emu.state.store.jobs.values())
        assert len(jobs) == 3
        with sqlite3.connect(journal) as db:
            rows = dict(db.execute("SELECT job_id, state FROM specs WHERE job_id IS NOT NULL").fetchall())
        db.close()
        assert set(rows) == {client_job_id(j) for j in jobs}
        if cancel_jobs:
            assert {j.status for j in jobs} == {"cancelled"}
            # Where a cancel is answered before it lands (Together's cancel_requested reads
            # running), the spec is recorded as created and its cancelled job found next run.
            assert set(rows.values()) == ({"done"} if dialect.cancel_answers_cancelled else {"created"})
        else:
            assert emu.state.jobs_in_flight() == 3
            assert set(rows.values()) == {"created"}
            for job in jobs:
                await client.fine_tuning.jobs.cancel(client_job_id(job))


# The journal's own rules: the provider behind it changes nothing, one dialect is enough.
@openai_only
async def test_one_run_at_a_time(tmp_path: Path, client: ft.AsyncClient) -> None:
    trains, _ = write_datasets(tmp_path / "data", n_train=1)
    holder = Journal(tmp_path / "j.sqlite")
    try:
        with pytest.raises(JournalBusyError):
            await ft.run_batch(client, sweep(trains, n=1), journal=tmp_path / "j.sqlite")
    finally:
        holder.close()


@openai_only
async def test_the_journal_keeps_its_batch_id(tmp_path: Path, client: ft.AsyncClient) -> None:
    trains, _ = write_datasets(tmp_path / "data", n_train=1)
    journal = tmp_path / "j.sqlite"
    report = await ft.run_batch(client, sweep(trains, n=1), journal=journal, batch_id="nightly-1")
    assert report.batch_id == "nightly-1"
    with pytest.raises(ft.FineTuneError, match="nightly-1"):
        await ft.run_batch(client, sweep(trains, n=1), journal=journal, batch_id="nightly-2")


@openai_only
async def test_duplicate_keys_are_refused(tmp_path: Path, client: ft.AsyncClient) -> None:
    specs = [ft.BatchSpec(training_file="file-abc", model=MODEL, key="same")] * 2
    with pytest.raises(ValueError, match="same"):
        await ft.run_batch(client, specs, journal=tmp_path / "j.sqlite")

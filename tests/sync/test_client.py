"""``ft.Client`` against the emulator: the calls, pages, streams, helpers, threads and lifetime."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import weakref
from collections.abc import Iterator

import pytest

import finetune_async as ft
from finetune_async import sync
from finetune_async.emulator import Emulator
from finetune_async.models import JobStatus
from tests.sync.conftest import MODEL, child_env, dataset

pytestmark = pytest.mark.finetune_emulator(job_seconds=0.5)


@pytest.fixture
def client(finetune_emulator_sync: Emulator) -> Iterator[ft.Client]:
    with ft.Client(api_key="sk-test", base_url=finetune_emulator_sync.base_url) as client:
        yield client


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "finetune-async-sync"]


def test_upload_create_list_stream_wait(client: ft.Client) -> None:
    file = client.files.create(file=("train.jsonl", dataset()))
    assert isinstance(file, ft.FileObject)
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=file.id, metadata={"k": "v"})
    assert isinstance(job, ft.FineTuningJob)
    page = client.fine_tuning.jobs.list(limit=5)
    assert isinstance(page, ft.SyncPage)
    assert [j.id for j in page.data] == [job.id]
    events = list(client.fine_tuning.jobs.stream_events(job.id, poll_interval=0.05))
    assert events
    assert all(isinstance(e, ft.FineTuningJobEvent) for e in events)
    assert len({e.id for e in events}) == len(events)
    done = client.fine_tuning.jobs.wait(job.id, poll_interval=0.05)
    assert done.status == JobStatus.SUCCEEDED
    checkpoints = list(client.fine_tuning.jobs.stream_checkpoints(job.id, poll_interval=0.05))
    assert checkpoints
    assert all(isinstance(c, ft.FineTuningJobCheckpoint) for c in checkpoints)
    assert sync.wait_for_job(client, job.id).id == job.id
    assert [j.id for j in sync.as_completed(client, [job.id])] == [job.id]
    assert client.files.content(file.id).content == dataset()
    assert client.with_raw_response.fine_tuning.jobs.retrieve(job.id).parse().id == job.id
    assert client.fine_tuning.jobs.with_raw_response.retrieve(job.id).status_code == 200


def test_a_page_iterates_every_item_fetching_later_pages(client: ft.Client) -> None:
    file = client.files.create(file=("train.jsonl", dataset()))
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
    client.fine_tuning.jobs.wait(job.id, poll_interval=0.05)
    page = client.fine_tuning.jobs.list_events(job.id, limit=100)
    every = list(page.data)
    while page.has_next_page():
        page = page.next_page()
        every += page.data
    assert len(every) > 100
    first = client.fine_tuning.jobs.list_events(job.id, limit=7)
    assert len(first.data) == 7
    assert first.has_more
    assert first.has_next_page()
    assert [e.id for e in first] == [e.id for e in every]
    pages = list(first.iter_pages())
    assert sum(len(p) for p in pages) == len(every)
    assert pages[1].data == first.next_page().data
    with pytest.raises(StopIteration):
        pages[-1].next_page()


def test_errors_are_the_async_clients(client: ft.Client) -> None:
    with pytest.raises(ft.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")
    with pytest.raises(ValueError, match="poll_interval"):
        client.fine_tuning.jobs.stream_events("ftjob-x", poll_interval=0)  # at the call, as the async one
    with pytest.raises(ValueError, match="fine_tuning_job_id"):
        next(client.fine_tuning.jobs.stream_events("../x"))
    with pytest.raises(ft.FineTuneError):
        ft.Client(api_key="", base_url="http://127.0.0.1:9/v1")


def test_providers_constructors_give_a_sync_client(finetune_emulator_sync: Emulator) -> None:
    with ft.Client.nebius(api_key="sk-test", base_url=finetune_emulator_sync.base_url) as client:
        assert isinstance(client, ft.Client)
        assert client.provider.name == "nebius"
    view = None
    with ft.Client(api_key="sk-test", base_url=finetune_emulator_sync.base_url) as client:
        view = client.with_options(max_retries=5)
        assert view.max_retries == 5
        assert list(view.models.list()) == list(client.models.list())
        view.close()  # a view leaves its client open
        assert not client.is_closed
    assert view.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        view.models.list()


def test_eight_threads_share_one_client_for_forty_jobs(client: ft.Client, finetune_emulator_sync: Emulator) -> None:
    file = client.files.create(file=("train.jsonl", dataset()))
    waited: list[ft.FineTuningJob] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(5):
                job = client.fine_tuning.jobs.create(model=MODEL, training_file=file.id)
                done = client.fine_tuning.jobs.wait(job.id, poll_interval=0.05)
                with lock:
                    waited.append(done)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(waited) == 40
    assert len({j.id for j in waited}) == 40
    assert all(j.status == JobStatus.SUCCEEDED for j in waited)
    assert sorted(finetune_emulator_sync.state.store.jobs) == sorted(j.id for j in waited)


def test_close_and_collection_stop_the_loop_thread(finetune_emulator_sync: Emulator) -> None:
    before = len(_loop_threads())
    client = ft.Client(api_key="sk-test", base_url=finetune_emulator_sync.base_url)
    client.models.list()
    assert len(_loop_threads()) == before + 1
    client.close()
    client.close()
    assert client.is_closed
    assert len(_loop_threads()) == before
    with pytest.raises(RuntimeError, match="closed"):
        client.models.list()

    dropped = ft.Client(api_key="sk-test", base_url=finetune_emulator_sync.base_url)
    dropped.models.list()
    ref = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert ref() is None
    assert len(_loop_threads()) == before


def test_a_script_that_never_closes_its_client_exits_quietly(finetune_emulator_sync: Emulator) -> None:
    # -W error: an unclosed session or a stray thread would print (or fail) at exit.
    script = textwrap.dedent(
        f"""
        import finetune_async as ft
        client = ft.Client(api_key="sk-test", base_url={finetune_emulator_sync.base_url!r})
        page = client.models.list()
        events = client.fine_tuning.jobs.stream_events  # a stream left half-read as well:
        job = client.fine_tuning.jobs.create(model={MODEL!r}, training_file=client.files.create(file=b'x').id)
        it = events(job.id)
        next(it)
        print("ok", len(page.data))
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("ok")

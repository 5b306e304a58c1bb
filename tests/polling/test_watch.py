"""How the watch chooses its requests: which listing page shows the most of what is wanted.

The listing is newest first; a page ``after=X`` shows the hundred jobs listed right below X.
These tests lay out a listing by hand (as pages would have shown it) and check the request
the watch would send next; ``test_many`` and ``test_webhooks`` run the same choices against
the emulator.
"""

from __future__ import annotations

import time

import finetune_async as ft
from finetune_async._watch import PAGE_SIZE, Listener, WatchState, _Request
from tests.polling.conftest import CreateJob, assert_idle


def listing(watch: WatchState, n: int) -> list[str]:
    """``n`` watched running jobs, listed newest first as one long run of pages showed them
    (the newest last seen at the very top); the ids, newest first."""
    ids = [f"ftjob-{i:03d}" for i in reversed(range(n))]
    prev: str | None = None
    for job_id in ids:
        slot = watch.register(job_id, Listener(), None)
        slot.status, slot.created_at, slot.estimated_finish = "running", 1, None
        slot.prev_id = prev
        if prev is not None:
            watch._slots[prev].next_id = job_id
        prev = job_id
    return ids


def test_an_announced_job_gets_a_page_of_the_run_it_ended_with() -> None:
    watch = WatchState()
    ids = listing(watch, 250)
    # The 40 oldest ended earlier and are gone; a webhook announces one in the middle of the
    # 100 listed above them (they started together, so they are ending together too).
    for job_id in ids[-40:]:
        slot = watch._slots[job_id]
        watch.unregister(slot, slot.listeners[0])
    watch.notify("ftjob-070")
    request = watch._take_work(time.monotonic())
    assert request is not None
    assert request.page
    assert request.urgent
    shown = [s.job_id for s in request.slots]
    # One page from the job right above the run down to its oldest: all hundred, the
    # announced one among them (and only it marked as announced).
    assert shown == ids[110:210]
    assert "ftjob-070" in shown
    assert request.after == ids[109]
    assert [s.job_id for s in request.slots if s.urgent] == ["ftjob-070"]
    assert watch._urgent == {}
    assert all(s.in_flight is False for s in request.slots)  # marked only when sent


def test_a_page_never_starts_from_a_job_last_seen_at_the_top() -> None:
    watch = WatchState()
    ids = listing(watch, 30)
    watch.notify(ids[-1])
    request = watch._take_work(time.monotonic())
    assert request is not None
    assert request.page
    # The newest was at the top when last seen; newer jobs may have come since, so a page
    # from the top might not show it: the page starts right below it instead.
    assert request.after == ids[0]
    assert [s.job_id for s in request.slots] == ids[1:]


def test_an_announced_job_with_no_known_place_is_retrieved() -> None:
    watch = WatchState()
    ids = listing(watch, 5)
    watch.notify(ids[0])  # at the top when last seen: no page is known to show it
    request = watch._take_work(time.monotonic())
    assert request is not None
    assert not request.page
    assert [s.job_id for s in request.slots] == [ids[0]]


def test_routine_pages_show_the_due_jobs_around_the_target() -> None:
    watch = WatchState()
    ids = listing(watch, 300)
    now = time.monotonic()
    due = set(ids[50:200])
    for job_id, slot in watch._slots.items():
        watch._schedule(slot, now - 1 if job_id in due else now + 60)
    request = watch._take_work(now)
    assert request is not None
    assert request.page
    assert not request.urgent
    shown = [s.job_id for s in request.slots]
    assert len(shown) == PAGE_SIZE
    assert set(shown) <= due
    # Contiguous in the listing, and starting right below the job before the first of them.
    start = ids.index(shown[0])
    assert shown == ids[start : start + PAGE_SIZE]
    assert request.after == ids[start - 1]


def test_a_new_page_from_the_top_places_the_previous_one() -> None:
    """Two pages from the top, each all new jobs: the first job of the earlier one is taken to
    be listed right below the last of the later one."""
    watch = WatchState()
    older = [watch.register(f"ftjob-a{i}", Listener(), None) for i in range(3)]
    newer = [watch.register(f"ftjob-b{i}", Listener(), None) for i in range(3)]
    watch._top_page(older[0].job_id, older[-1].job_id, {s.job_id for s in older})
    assert watch._top_first is older[0]
    watch._top_page(newer[0].job_id, newer[-1].job_id, {s.job_id for s in newer})
    assert older[0].prev_id == newer[-1].job_id
    assert newer[-1].next_id == older[0].job_id
    assert watch._top_first is newer[0]
    # A job a later page did show is placed by that page, not by the guess.
    watch._top_page("ftjob-c0", None, {newer[0].job_id})
    assert newer[0].prev_id is None


async def test_a_page_corrects_the_places_it_shows_and_drops_a_wrong_one(
    client: ft.AsyncClient, create_job: CreateJob
) -> None:
    ids = [await create_job() for _ in range(6)]  # listed newest first: ids[5] ... ids[0]
    watch = client._watch
    listener = Listener()
    placed, misplaced = watch.register(ids[1], listener, None), watch.register(ids[5], listener, None)
    for slot in (placed, misplaced):
        slot.status, slot.created_at = "running", 1
    # Guessed places: ids[1] is listed a few rows lower than thought; ids[5] is not below ids[2] at all.
    placed.prev_id = ids[4]
    await watch._send(client, _Request([placed], page=True, after=ids[4]))
    assert placed.prev_id == ids[2]  # as the page showed it
    assert placed.misses == 0
    misplaced.prev_id = ids[2]
    await watch._send(client, _Request([misplaced], page=True, after=ids[2]))
    # A page starting right below the job thought to be listed above it did not show it first:
    # the place is forgotten (the job is next looked up by its id).
    assert misplaced.prev_id is None
    assert misplaced.misses == 1
    assert watch._plan(misplaced, lambda s: True).page is False
    for slot in (placed, misplaced):
        watch.unregister(slot, listener)
    assert_idle(client)

"""SEND_GUARD: a check at the last moment before a request is written, once its connection is made.

``run_batch`` on a shared journal sets it around a create: a worker stopped past its lease while
the create waited (for a connection, for its handshake) sends nothing when it wakes.
"""

from __future__ import annotations

import pytest
from aiohttp import web

import finetune_async as ft
from finetune_async._journal import LeaseLostError
from finetune_async._transport import SEND_GUARD

from .scripted import job_json, json_response, scripted_server


async def answer_job(request: web.Request) -> web.Response:
    return json_response(job_json())


@pytest.mark.anyio
async def test_a_guard_that_raises_stops_the_request_before_a_byte_is_sent() -> None:
    def lost() -> None:
        raise LeaseLostError("spec 'k': this worker's lease may have lapsed; it sends nothing for it")

    async with (
        scripted_server(answer_job) as server,
        ft.AsyncClient(api_key="sk-x", base_url=server.base_url) as client,
    ):
        token = SEND_GUARD.set(lost)
        try:
            with pytest.raises(LeaseLostError):
                await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file="file-abc")
        finally:
            SEND_GUARD.reset(token)
        assert server.seen == []
        # Outside the guard the client goes on as before, on a fresh connection.
        job = await client.fine_tuning.jobs.retrieve("ftjob-abc")
    assert job.id == "ftjob-abc"
    assert len(server.seen) == 1


@pytest.mark.anyio
async def test_the_guard_runs_for_every_attempt_and_lets_a_good_one_through() -> None:
    answers = [500, 200]

    async def flaky(request: web.Request) -> web.Response:
        status = answers.pop(0)
        return json_response(job_json() if status == 200 else {"error": {"message": "x"}}, status)

    calls: list[int] = []
    async with (
        scripted_server(flaky) as server,
        ft.AsyncClient(api_key="sk-x", base_url=server.base_url, max_retries=1) as client,
    ):
        client._transport.retry = ft.RetryPolicy(max_retries=1, initial=0.0, max_backoff=0.0)
        token = SEND_GUARD.set(lambda: calls.append(len(server.seen)))
        try:
            await client.fine_tuning.jobs.retrieve("ftjob-abc")
        finally:
            SEND_GUARD.reset(token)
    # Before each attempt was written: none had reached the server, then one.
    assert calls == [0, 1]


@pytest.mark.anyio
async def test_a_guard_that_fails_as_the_body_is_written_stops_it_there() -> None:
    # A create's body is written a loop step after its connection was made: a worker stopped
    # in between is asked again as the bytes leave, and sends nothing.
    calls: list[int] = []

    def lost_on_the_second_look() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise LeaseLostError("spec 'k': this worker's lease may have lapsed; it sends nothing for it")

    async with (
        scripted_server(answer_job) as server,
        ft.AsyncClient(api_key="sk-x", base_url=server.base_url, max_retries=3) as client,
    ):
        token = SEND_GUARD.set(lost_on_the_second_look)
        try:
            with pytest.raises(LeaseLostError):
                await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file="file-abc")
        finally:
            SEND_GUARD.reset(token)
        assert server.seen == []
        assert len(calls) == 2  # once the connection was made, once as the body was to be written
        assert (await client.fine_tuning.jobs.retrieve("ftjob-abc")).id == "ftjob-abc"

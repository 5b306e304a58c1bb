"""The synchronous client's loop: closing a stream whose step an interrupt is still unwinding."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest

from finetune_async.sync._loop import _close_when_idle


@pytest.mark.anyio
async def test_a_stream_is_closed_once_its_cancelled_step_has_unwound() -> None:
    closed: list[str] = []

    async def stream() -> AsyncIterator[int]:
        try:
            while True:
                yield 1
                await anyio.sleep(60)
        finally:
            # Unwinding takes a moment (a shielded cleanup, an aborted request).
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.05)
            closed.append("finally")

    it = stream()
    await it.__anext__()
    async with anyio.create_task_group() as tg:
        step = anyio.CancelScope()

        async def one_step() -> None:
            with step:
                await it.__anext__()

        tg.start_soon(one_step)
        await anyio.sleep(0.01)
        assert it.ag_running  # the step is in progress: aclose() would raise "already running"
        with pytest.raises(RuntimeError, match="already running"):
            await it.aclose()
        step.cancel()
        await anyio.lowlevel.checkpoint()
        assert it.ag_running  # still unwinding
        await _close_when_idle(it, it.aclose)
    assert closed == ["finally"]


def test_a_call_from_the_loops_own_thread_is_refused() -> None:
    from finetune_async.sync._loop import LoopThread

    loop = LoopThread()
    try:

        def from_a_callback() -> None:
            async def nothing() -> None:
                return None

            loop.run(nothing)

        with pytest.raises(RuntimeError, match="its own loop"):
            loop._portal.call(from_a_callback)
        assert loop.run(_one) == 1
    finally:
        loop.stop()


async def _one() -> int:
    return 1


def test_a_step_abandoned_before_the_loop_took_it_never_runs() -> None:
    import asyncio
    import warnings

    from finetune_async.sync._loop import _start, _Step

    ran: list[int] = []

    async def call() -> None:
        ran.append(1)

    async def main() -> None:
        state: _Step[None] = _Step()
        state.abandoned = True  # the waiting thread was interrupted before the loop took it
        _start(call, state)
        await asyncio.sleep(0.01)
        assert state.task is None
        assert state.finished.is_set()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no coroutine made and dropped: nothing "never awaited"
        asyncio.run(main())
    assert ran == []


def test_a_call_in_flight_when_the_client_closes_ends_with_runtimeerror() -> None:
    import threading

    import anyio

    from finetune_async.sync._loop import LoopThread

    loop = LoopThread()
    outcome: list[BaseException] = []
    started = threading.Event()

    async def long_call() -> None:
        started.set()
        await anyio.sleep(60)

    def caller() -> None:
        try:
            loop.run(long_call)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    assert started.wait(10)
    loop.stop()  # another thread closes the client under the call
    thread.join(10)
    assert not thread.is_alive()  # never a wait forever
    assert len(outcome) == 1
    assert isinstance(outcome[0], RuntimeError)
    assert "closed" in str(outcome[0])

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

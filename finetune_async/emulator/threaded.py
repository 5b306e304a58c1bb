"""An :class:`~finetune_async.emulator.Emulator` served from a thread of its own.

::

    with EmulatorThread(job_seconds=1) as emu:
        client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test")

The emulator runs on an event loop that this thread keeps running, so it answers whatever the
calling code does: a synchronous test, a notebook cell, or an async test on any event loop
and any plugin (the requests cross loopback HTTP, never an event loop). This is what the
pytest fixtures use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any, TypeVar, overload

from anyio.from_thread import BlockingPortal, start_blocking_portal

from .server import Emulator

__all__ = ["EmulatorThread"]

T = TypeVar("T")


class EmulatorThread(AbstractContextManager["Emulator"]):
    """Serve an :class:`Emulator` from a background thread for as long as the ``with`` block lasts.

    Keyword arguments go to :class:`Emulator` (its ``ValueError`` for a bad fault spec is raised
    here, in the caller's thread). ``with EmulatorThread(...) as emu`` gives the running
    Emulator: ``emu.base_url``, ``emu.faults`` (safe to change from any thread) and
    ``emu.state``, which belongs to the server's thread: read it, or change it through
    :meth:`call`. An error while starting (the port is taken, say) is raised from ``__enter__``.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.emulator = Emulator(**kwargs)
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None

    def __enter__(self) -> Emulator:
        if self._stack is not None:
            raise RuntimeError("this EmulatorThread is already running")
        stack = ExitStack()
        try:
            portal = stack.enter_context(start_blocking_portal("asyncio", name="finetune-emulator"))
            stack.enter_context(portal.wrap_async_context_manager(self.emulator))
        except BaseException:
            stack.close()
            raise
        self._stack, self._portal = stack, portal
        return self.emulator

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack, self._portal = self._stack, None, None
        if stack is not None:
            # Closes the emulator on its own loop, then stops the loop and joins the thread.
            stack.close()

    @overload
    def call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T: ...
    @overload
    def call(self, func: Callable[..., T], *args: Any) -> T: ...
    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on the emulator's thread and return its result (awaited if a coroutine).

        For touching ``emu.state`` safely, e.g. ``thread.call(emu.state.jobs.get, job_id)``.
        Raises RuntimeError when the thread is not running, and whatever ``func`` raises.
        """
        if self._portal is None:
            raise RuntimeError("the emulator thread is not running")
        return self._portal.call(func, *args)

"""The private event loop a synchronous :class:`~finetune_async.Client` runs the async core on.

One daemon thread per client runs an asyncio loop holding an anyio
:class:`~anyio.from_thread.BlockingPortal` (used to close the client and stop the loop); every
synchronous call is handed to that loop (``call_soon_threadsafe``, which does not wait for the
loop to take it; the loop starts it as a task) and the caller blocks on the answer, or cancels
the task and waits for it to unwind when interrupted. The calling thread needs no event loop
of its own and may already be running one (Jupyter, IPython, a thread of an async framework):
the loop the work runs on is never the caller's. Any number of threads may call through it at
once.

Why a thread of our own rather than :func:`anyio.from_thread.start_blocking_portal`: that runs
the loop in a non-daemon worker of a ``ThreadPoolExecutor``, which the interpreter joins at
exit *before* running ``atexit`` handlers. A client left open would then hang the exit; a
daemon thread lets the exit hook close the client on its loop and then stop it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import CancelledError as FutureCancelledError
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from types import TracebackType
from typing import Generic, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["LoopThread", "SyncIterator"]

T = TypeVar("T")

#: How long an interrupted call is given to unwind (its ``finally`` blocks, an aborted request)
#: before the interrupt is raised anyway: a few milliseconds, in practice.
_UNWIND_SECONDS = 5.0
#: How often a waiting caller looks whether the loop is still there (a client closed under it).
_ALIVE_CHECK_SECONDS = 0.5


class LoopThread:
    """An asyncio loop in a daemon thread that runs the synchronous client's calls (and the
    portal that closes the client and stops it).

    Raises :class:`RuntimeError` from :meth:`run` once stopped, or when called from the loop's
    own thread (a callback of a wait calling the synchronous client: it would wait on itself).
    """

    __slots__ = ("__weakref__", "_loop", "_portal", "_stopped", "_thread")

    def __init__(self) -> None:
        ready: Future[BlockingPortal] = Future()
        self._stopped = False
        self._thread = threading.Thread(target=_serve, args=(ready,), name="finetune-async-sync", daemon=True)
        self._thread.start()
        self._portal = ready.result()
        self._loop: asyncio.AbstractEventLoop = self._portal.call(_running_loop)

    @property
    def thread(self) -> threading.Thread:
        """The loop's thread."""
        return self._thread

    def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()`` on the loop; its result, or what it raised.

        When the waiting thread is interrupted (Ctrl-C: :class:`KeyboardInterrupt`, or any
        exception raised into it), the task on the loop is cancelled and given a moment to
        unwind before the interrupt goes on: nothing keeps running behind the caller's back.
        """
        if self._stopped:
            raise RuntimeError("this Client is closed")
        if threading.get_ident() == self._thread.ident:
            raise RuntimeError(
                "the synchronous Client cannot be called from its own loop (a callback of one of its calls)"
            )
        state: _Step[T] = _Step()
        # Handed over without waiting for the loop (anyio's portal would block this thread until
        # the loop spawned the task: a Ctrl-C landing there left the task running, unknown to
        # us), and the coroutine is made on the loop only when it starts (one made here and
        # dropped by an interrupt would warn "never awaited"). The task is never left behind:
        # this thread waits on it, or cancels it and waits for it to unwind.
        try:
            # Inside the try: an interrupt landing as the call is handed over abandons it too.
            self._loop.call_soon_threadsafe(_start, call, state)
            return self._wait(state)
        except BaseException:
            with state.lock:
                state.abandoned = True
                task = state.task
            if task is not None and not task.done():
                with contextlib.suppress(RuntimeError):  # the loop already ended
                    self._loop.call_soon_threadsafe(task.cancel)
                state.finished.wait(_UNWIND_SECONDS)
            raise

    def _wait(self, state: _Step[T]) -> T:
        """The call's outcome; :class:`RuntimeError` when the client was closed under it (the
        loop stopped before the call ended, or before it could start: never a wait forever)."""
        while True:
            try:
                return state.result.result(timeout=_ALIVE_CHECK_SECONDS)
            except FutureTimeoutError:
                if not self._thread.is_alive():
                    raise RuntimeError("this Client is closed") from None
            except FutureCancelledError:
                if self._stopped:
                    raise RuntimeError("this Client is closed") from None
                raise

    def stop(self, last: Callable[[], Awaitable[object]] | None = None) -> None:
        """Run ``last`` (closing the client) on the loop, then stop the loop and its thread.

        Idempotent and quiet: an error of ``last`` is dropped (the client is going away).
        From the loop's own thread (a collection that happened there) the work is handed to
        a short-lived thread, as the loop cannot wait on itself.
        """
        if self._stopped:
            return
        if threading.get_ident() == self._thread.ident:
            threading.Thread(target=self.stop, args=(last,), name="finetune-async-sync-stop", daemon=True).start()
            return
        self._stopped = True
        if last is not None:
            # Closing is best effort: the loop stops regardless.
            with contextlib.suppress(Exception):
                self._portal.call(last)
        with contextlib.suppress(RuntimeError):  # the loop already ended
            self._portal.call(self._portal.stop, True)
        self._thread.join()


class _Step(Generic[T]):
    """One call's hand-over between the waiting thread and the loop: its result, its task once
    the loop started it, whether the waiting thread gave up on it first, and when it has unwound."""

    __slots__ = ("abandoned", "finished", "lock", "result", "task")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.result: Future[T] = Future()
        self.task: asyncio.Task[T] | None = None
        self.abandoned = False
        self.finished = threading.Event()


def _start(call: Callable[[], Awaitable[T]], state: _Step[T]) -> None:
    """On the loop: start ``call`` as a task whose outcome goes to ``state.result`` (unless the
    waiting thread gave up on it first: then it never runs)."""
    with state.lock:
        if state.abandoned:
            state.finished.set()
            return
        task = state.task = asyncio.get_running_loop().create_task(_guarded(call, state))
    task.add_done_callback(functools.partial(_deliver, state))


def _deliver(state: _Step[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        state.result.cancel()
    elif (exc := task.exception()) is not None:
        state.result.set_exception(exc)
    else:
        state.result.set_result(task.result())


async def _guarded(call: Callable[[], Awaitable[T]], state: _Step[T]) -> T:
    try:
        return await call()
    finally:
        state.finished.set()


def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _serve(ready: Future[BlockingPortal]) -> None:
    async def serve() -> None:
        async with BlockingPortal() as portal:
            ready.set_result(portal)
            await portal.sleep_until_stopped()

    try:
        anyio.run(serve, backend="asyncio")
    except BaseException as exc:  # pragma: no cover - the loop could not start
        if not ready.done():
            ready.set_exception(exc)
        raise


class SyncIterator(Iterator[T]):
    """An async iterator walked with a plain ``for``, each step run on the client's loop.

    ``close()`` (or leaving a ``with`` block, or an interrupt such as Ctrl-C during a step)
    ends the underlying stream on the loop at once; an iterator dropped half-way is closed
    by the loop when it is collected.
    """

    __slots__ = ("_it", "_loop")

    def __init__(self, loop: LoopThread, iterator: AsyncIterator[T]) -> None:
        self._loop = loop
        self._it: AsyncIterator[T] | None = iterator

    def __iter__(self) -> SyncIterator[T]:
        return self

    def __next__(self) -> T:
        it = self._it
        if it is None:
            raise StopIteration
        try:
            return self._loop.run(it.__anext__)
        except StopAsyncIteration:
            self._it = None
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the stream now (idempotent)."""
        it, self._it = self._it, None
        aclose: Callable[[], Awaitable[object]] | None = getattr(it, "aclose", None)
        # On the loop's own thread (a collection there) the loop finalises the stream itself.
        if aclose is not None and not self._loop._stopped and threading.get_ident() != self._loop.thread.ident:
            self._loop.run(functools.partial(_close_when_idle, it, aclose))

    def __enter__(self) -> SyncIterator[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _close_when_idle(it: object, aclose: Callable[[], Awaitable[object]]) -> None:
    # A step cancelled by an interrupt may still be unwinding on the loop (an async generator
    # refuses aclose() while it runs): let it finish first, within the unwind allowance.
    with anyio.move_on_after(_UNWIND_SECONDS):
        while getattr(it, "ag_running", False):  # noqa: ASYNC110 - a generator's state has no event to wait on
            await anyio.sleep(0.005)
    await aclose()


# --- closing clients left open at exit --------------------------------------------------------

_OPEN: dict[int, weakref.finalize] = {}  # type: ignore[type-arg]
_lock = threading.Lock()
_hooked = False


def stop_when_dropped(owner: object, loop: LoopThread, close: Callable[[], Awaitable[object]]) -> Callable[[], None]:
    """Stop ``loop`` (after ``close()`` on it) when ``owner`` is collected or at interpreter exit.

    Returns the function that does it now (idempotent). At exit it runs before the finalisers
    of ``weakref``: those of the async transport would otherwise find its session still open
    and warn, where closing it first leaves nothing to report.
    """
    global _hooked
    key = id(loop)
    finalizer = weakref.finalize(owner, _stop, key, loop, close)
    finalizer.atexit = False
    with _lock:
        _OPEN[key] = finalizer
        if not _hooked:
            # Registered after weakref's own exit hook (the finalize above made sure of it), so
            # it runs first: atexit runs the last registered first.
            atexit.register(_stop_all)
            _hooked = True
    return finalizer


def _stop(key: int, loop: LoopThread, close: Callable[[], Awaitable[object]]) -> None:
    with _lock:
        _OPEN.pop(key, None)
    loop.stop(close)


def _stop_all() -> None:
    with _lock:
        finalizers = list(_OPEN.values())
    for finalizer in finalizers:
        finalizer()

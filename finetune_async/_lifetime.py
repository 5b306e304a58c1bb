"""Closing the HTTP session of a client that was never closed, quietly.

aiohttp reports an unclosed session and connector from their ``__del__`` by calling the event
loop's exception handler, which logs to stderr whatever the warning filters say ("Unclosed
client session", "Unclosed connector"). The official SDK prints nothing for a client left
open, and a script that ends without ``await client.close()`` is no bug worth a traceback.

So the transport that owns a session registers :func:`close_when_dropped`: when the transport
is garbage-collected, or at interpreter exit if it is still alive then, the connector is closed
(every connection at once, on the loop's thread) and the session is detached from it, which
leaves aiohttp nothing to report. Then one :class:`ResourceWarning` of ours, which Python's
default filters ignore, like an unclosed file's: nothing shows for a plain run, and those who
turn warnings on (``-W error``, ``-X dev``, pytest's ``filterwarnings = error``) learn which
object was left open and how to close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only typed against: `import finetune_async` does not load aiohttp (a client does).
    import aiohttp

__all__ = ["UNCLOSED_MESSAGE", "close_when_dropped"]

UNCLOSED_MESSAGE = (
    "finetune_async.AsyncClient was not closed; its connections were closed for it. "
    "Use `async with AsyncClient(...) as client:` or `await client.close()`."
)


def close_when_dropped(
    owner: object, session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop
) -> weakref.finalize:  # type: ignore[type-arg]
    """Close ``session`` (opened on ``loop``) when ``owner`` is collected or at exit.

    Returns the finaliser: ``detach()`` it when the session is closed the ordinary way.
    ``owner`` must not be reachable from ``session``, or it is never collected.
    """
    return weakref.finalize(owner, _close_dropped, session, loop)


def _close_dropped(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    if session.closed:
        return
    connector = session.connector
    # A detached session counts as closed: its __del__ has nothing to report.
    session.detach()
    if connector is not None:
        if loop.is_closed() or not loop.is_running() or _on_loop_thread(loop):
            _close_connector(connector)
        else:
            # The loop runs in another thread: its transports are only touched from there.
            try:
                loop.call_soon_threadsafe(_close_connector, connector)
            except RuntimeError:  # closed in the meantime
                _close_connector(connector)
    warnings.warn(UNCLOSED_MESSAGE, ResourceWarning, stacklevel=1)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _close_connector(connector: aiohttp.BaseConnector) -> None:
    """Close every connection now, with no event loop turn needed.

    ``connector.close()`` closes the connections before it returns, and gives back an awaitable
    for the rest (waiting for the sockets to finish closing, which the loop does by itself).
    Nobody can await it from here: stepping it once marks it awaited, so aiohttp does not warn
    that it never was. On a loop already closed, aiohttp closes nothing and the sockets are
    closed by their own finalisers.
    """
    step = connector.close().__await__()
    with contextlib.suppress(StopIteration):
        next(step)

"""A client that is never closed: quiet at exit and at garbage collection, its connections closed.

aiohttp complains about an unclosed session and connector by logging through the event loop's
exception handler, which prints to stderr whatever the warning filters say. The official SDK
prints nothing; nor do we. Our own ResourceWarning (ignored by Python's default filters, like
an unclosed file's) tells those who turn warnings on.

The scripts run in a subprocess, since what matters happens at interpreter exit, with an
emulator served from a thread in that same process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

import finetune_async as ft
from finetune_async.emulator import Emulator
from finetune_async.emulator.threaded import EmulatorThread

ROOT = Path(ft.__file__).resolve().parent.parent

PROLOGUE = """
import asyncio, gc, os, sys
import finetune_async as ft
from finetune_async.emulator.threaded import EmulatorThread

KEPT = []

def sockets():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count
"""

SCRIPTS = {
    # Kept alive to the end: closed at interpreter exit, after asyncio.run closed the loop.
    "kept to exit": """
    async def main(base_url):
        client = ft.AsyncClient(base_url=base_url, api_key="sk-test")
        await client.models.list()
        KEPT.append(client)

    with EmulatorThread() as emu:
        asyncio.run(main(emu.base_url))
    """,
    # Dropped while the loop runs: closed at garbage collection, its connection released at once.
    "dropped": """
    async def main(base_url):
        before = sockets()
        client = ft.AsyncClient(base_url=base_url, api_key="sk-test")
        await client.models.list()
        assert sockets() > before
        del client
        gc.collect()
        for _ in range(200):
            if sockets() == before:
                break
            await asyncio.sleep(0.01)
        print("sockets left open:", sockets() - before)

    with EmulatorThread() as emu:
        asyncio.run(main(emu.base_url))
    """,
    # The most common script of all: a client made and used in asyncio.run, never closed.
    "never closed": """
    async def main(base_url):
        client = ft.AsyncClient(base_url=base_url, api_key="sk-test")
        page = await client.fine_tuning.jobs.list()
        print(len(page.data))

    with EmulatorThread() as emu:
        asyncio.run(main(emu.base_url))
    """,
}


def run_script(body: str, *python_options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    source = PROLOGUE + textwrap.dedent(body)
    command = [sys.executable, *python_options, "-c", source]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("case", list(SCRIPTS))
def test_an_unclosed_client_prints_nothing(case: str) -> None:
    result = run_script(SCRIPTS[case])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    if case == "dropped":
        assert result.stdout == "sockets left open: 0\n"


def test_a_resource_warning_for_those_who_turn_warnings_on() -> None:
    result = run_script(SCRIPTS["dropped"], "-W", "always::ResourceWarning")
    assert result.returncode == 0, result.stderr
    assert "Unclosed client session" not in result.stderr
    assert "Unclosed connector" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "ResourceWarning:" in line]
    assert len(warnings) == 1, result.stderr
    assert "AsyncClient was not closed" in warnings[0]
    assert "await client.close()" in warnings[0]
    assert result.stdout == "sockets left open: 0\n"


async def test_garbage_collection_warns_once_and_closes(finetune_emulator: Emulator) -> None:
    client = ft.AsyncClient(base_url=finetune_emulator.base_url, api_key="sk-test")
    await client.models.list()
    session = client._transport._session
    assert session is not None
    # The client and its resources refer to each other: only the cycle collector frees them.
    del client
    with pytest.warns(ResourceWarning, match="AsyncClient was not closed") as record:
        gc.collect()
    assert len(record) == 1
    assert session.closed


async def test_a_closed_client_or_a_view_does_not_warn(finetune_emulator: Emulator) -> None:
    # filterwarnings = error: any warning here fails the test.
    client = ft.AsyncClient(base_url=finetune_emulator.base_url, api_key="sk-test")
    view = client.with_options(max_retries=0)
    await view.models.list()
    del view
    gc.collect()
    assert not client.is_closed
    await client.models.list()
    await client.close()
    del client
    gc.collect()


async def test_a_view_keeps_the_session_of_a_dropped_client(finetune_emulator: Emulator) -> None:
    view = ft.AsyncClient(base_url=finetune_emulator.base_url, api_key="sk-test").with_options(max_retries=1)
    gc.collect()
    await view.models.list()
    gc.collect()
    await view.models.list()
    await view._transport._owner.close()  # type: ignore[union-attr]


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def test_collected_in_another_thread_than_its_loop() -> None:
    # The client's loop runs in a portal thread; the collection happens here: its connections
    # are closed on the loop's own thread.
    async def make(base_url: str) -> ft.AsyncClient:
        client = ft.AsyncClient(base_url=base_url, api_key="sk-test")
        await client.models.list()
        return client

    with EmulatorThread() as emu, start_blocking_portal("asyncio") as portal:
        before = open_sockets()
        client = portal.call(make, emu.base_url)
        assert open_sockets() > before
        del client
        with pytest.warns(ResourceWarning, match="AsyncClient was not closed"):
            gc.collect()
        deadline = time.monotonic() + 5
        while open_sockets() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert open_sockets() == before

"""``import finetune_async`` loads no aiohttp: building a client does.

aiohttp (with yarl and multidict) was over a third of the package's import time. Importing the
package (to validate a file, to print ``--help``) must not pay for it. Building a client imports
it (``finetune_async._session``), so that its first burst of requests does not wait for it;
the retry loop (tenacity) is imported on the first failure. Each check runs in a fresh
interpreter: this test process has long since imported everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from finetune_async.emulator.threaded import EmulatorThread

ROOT = Path(__file__).resolve().parent.parent

#: Not loaded by `import finetune_async`: the HTTP stack (a client loads it), the retry loop (a
#: first failure does).
DEFERRED = ("aiohttp", "yarl", "multidict", "tenacity", "finetune_async._session")
#: What building a client loads: the HTTP stack, and nothing else deferred.
HTTP_STACK = ("aiohttp", "yarl", "multidict", "finetune_async._session")


def run(source: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "PYTHONDEVMODE")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environ.update(env)
    command = [sys.executable, "-c", textwrap.dedent(source)]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60, check=False)


def test_importing_the_package_loads_no_aiohttp() -> None:
    result = run("import finetune_async, sys; assert 'aiohttp' not in sys.modules")
    assert result.returncode == 0, result.stderr


def test_importing_the_package_loads_neither_the_http_stack_nor_the_emulator() -> None:
    result = run(
        f"""
        import sys
        import finetune_async
        loaded = [m for m in {DEFERRED!r} + ("finetune_async.emulator",) if m in sys.modules]
        assert not loaded, loaded
        """
    )
    assert result.returncode == 0, result.stderr


def test_building_a_client_loads_the_http_stack_and_nothing_more() -> None:
    result = run(
        f"""
        import sys
        import finetune_async as ft
        client = ft.AsyncClient(api_key="sk-test")
        azure = ft.AsyncClient.azure(endpoint="https://x.openai.azure.com", api_key="k", api_version="2025-04-01")
        view = client.with_options(max_retries=5, timeout=ft.Timeout(total=3.0))
        assert (client.connections_in_use, view.connections_in_use, azure.connections_in_use) == (0, 0, 0)
        repr(client), repr(azure), client.timeout, client.max_retries
        missing = [m for m in {HTTP_STACK!r} if m not in sys.modules]
        assert not missing, missing
        assert "tenacity" not in sys.modules  # nothing failed
        assert "finetune_async.emulator" not in sys.modules
        """
    )
    assert result.returncode == 0, result.stderr


def test_the_first_requests_find_aiohttp_loaded_and_everything_works() -> None:
    with EmulatorThread() as emu:
        # The first create answers 500: the retry loop (tenacity) is loaded then, and only then.
        emu.faults.inject("POST:/v1/fine_tuning/jobs", "500", count=1)
        result = run(
            f"""
            import asyncio, json, sys
            import finetune_async as ft

            TURNS = [{{"role": "user", "content": "hi"}}, {{"role": "assistant", "content": "yo"}}]
            GOOD = (json.dumps({{"messages": TURNS}}) + "\\n").encode() * 10

            async def main():
                async with ft.AsyncClient(api_key="sk-test", base_url={emu.base_url!r}) as client:
                    # Loaded by the constructor: the first request does not wait for it.
                    assert "aiohttp" in sys.modules and "finetune_async._session" in sys.modules
                    assert client.connections_in_use == 0
                    page = await client.models.list()
                    assert "tenacity" not in sys.modules  # nothing failed yet
                    assert page.data
                    file = await client.files.create(file=("train.jsonl", GOOD), purpose="fine-tune")
                    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file.id)
                    assert "tenacity" in sys.modules  # the 500 was retried
                    again = await client.fine_tuning.jobs.retrieve(job.id)
                    assert again.id == job.id
                    listed = [j.id async for j in client.fine_tuning.jobs.list()]
                    assert listed == [job.id], listed
                    assert client.connections_in_use == 0
                assert client.is_closed and client.connections_in_use == 0
                print("ok")

            asyncio.run(main())
            """,
            FINETUNE_ASYNC_INSTANT_BACKOFF="1",
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_no_public_name_exposes_aiohttp() -> None:
    import finetune_async as ft

    # Turning a Timeout into aiohttp's deadlines is the session module's business.
    assert not any("aiohttp" in name for name in dir(ft.Timeout))
    assert not any("aiohttp" in name for name in dir(ft.AsyncClient))

"""The pytest plugin as a user meets it: a test file of theirs, run by pytest in a subprocess.

Each run is a fresh ``python -m pytest`` on a file written to ``tmp_path``, with its own ini
file (so none of this project's pytest settings apply), ``-W error``, and pytest-timeout: a
fixture whose server is not being served fails in seconds instead of hanging the suite.
The anyio plugin is always installed beside ours (anyio is a dependency), so the
pytest-asyncio runs have both plugins active, as a user's would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import finetune_async
from finetune_async.emulator import Emulator
from finetune_async.emulator.threaded import EmulatorThread

ROOT = Path(finetune_async.__file__).resolve().parent.parent

# What a user writes. The ``# MARK`` line becomes the one line that differs between plugins and
# modes, and ``# FIXTURES`` what anyio users add (see ANYIO_BACKEND).
USER_TESTS = r"""
import json
import urllib.request

import openai
import pytest

import finetune_async as ft

ROWS = [
    {"messages": [{"role": "user", "content": f"{i} + {i}?"}, {"role": "assistant", "content": str(2 * i)}]}
    for i in range(10)
]
# FIXTURES


# MARK
@pytest.mark.finetune_emulator(job_seconds=0.2)
async def test_a_job_runs_to_the_end(finetune_emulator, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    async with ft.AsyncClient(base_url=finetune_emulator.base_url, api_key="sk-test") as client:
        uploaded = await client.files.create(file=path, purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
        done = await ft.wait_for_job(client, job.id, timeout=30, poll_interval=0.05)
    assert done.status == "succeeded"
    assert done.fine_tuned_model
    assert finetune_emulator.state.jobs_in_flight() == 0


def test_the_official_sync_client(finetune_emulator_sync, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    with openai.OpenAI(base_url=finetune_emulator_sync.base_url, api_key="sk-test", max_retries=0) as client:
        with path.open("rb") as handle:
            uploaded = client.files.create(file=handle, purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
        assert client.fine_tuning.jobs.retrieve(job.id).id == job.id


def test_plain_http(finetune_emulator_sync):
    request = urllib.request.Request(
        f"{finetune_emulator_sync.base_url}/models", headers={"Authorization": "Bearer sk-test"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["object"] == "list"
"""

# anyio runs each of its tests on every backend it finds (trio too, here) unless told otherwise,
# and AsyncClient needs asyncio: what anyio's documentation has its users write.
ANYIO_BACKEND = """
@pytest.fixture
def anyio_backend():
    return "asyncio"
"""

# pytest-asyncio warns at start-up until this is set, and -W error makes that an error.
ASYNCIO_INI = ["asyncio_default_fixture_loop_scope = function"]

# plugin setup -> (fixtures the file starts with, the line above the async test, ini lines, options)
SETUPS = {
    "pytest-asyncio strict": ("", "@pytest.mark.asyncio", ["asyncio_mode = strict", *ASYNCIO_INI], []),
    "pytest-asyncio auto": ("", "", ["asyncio_mode = auto", *ASYNCIO_INI], []),
    "anyio only": (ANYIO_BACKEND, "@pytest.mark.anyio", [], ["-p", "no:asyncio"]),
}


# Plugins of this machine that a user's file has nothing to do with: they only cost start-up time
# (hypothesis's alone is a second of imports).
QUIET_PLUGINS = ["-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:benchmark", "-p", "no:hypothesispytest"]


def start_user_tests(
    tmp_path: Path, prelude: str, mark: str, ini: list[str], options: list[str]
) -> subprocess.Popen[str]:
    source = USER_TESTS.replace("# FIXTURES\n", prelude).replace("# MARK\n", f"{mark}\n" if mark else "")
    (tmp_path / "test_user.py").write_text(source)
    lines = ["[pytest]", "filterwarnings = error", *ini]
    (tmp_path / "pytest.ini").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "-W", "error", "-p", "timeout", "--timeout", "30", "-q"]
    command += [*QUIET_PLUGINS, *options, "test_user.py"]
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def user_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Each setup's run of the user's file, all started at once: separate processes, so together
    they take about the time of the slowest, not of all of them in a row."""
    runs: dict[str, subprocess.Popen[str]] = {}
    for setup, args in SETUPS.items():
        if not setup.startswith("pytest-asyncio") or importlib.util.find_spec("pytest_asyncio") is not None:
            runs[setup] = start_user_tests(tmp_path_factory.mktemp("user"), *args)
    yield runs
    for proc in runs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.parametrize("setup", list(SETUPS))
def test_a_users_test_file_passes(user_runs: dict[str, subprocess.Popen[str]], setup: str) -> None:
    if setup not in user_runs:
        # Not a skip: the promise is about pytest-asyncio, and the dev extra installs it.
        pytest.fail("pytest-asyncio is not installed: pip install -e '.[dev]'")
    stdout, stderr = user_runs[setup].communicate(timeout=120)
    output = stdout + stderr
    assert user_runs[setup].returncode == 0, output
    assert "3 passed" in stdout, output


def test_pytest_fixtures_explains_both(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "--fixtures", *QUIET_PLUGINS, "test_nothing.py"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    for name in ("finetune_emulator", "finetune_emulator_sync"):
        block = text.split(f"\n{name} ", 1)[1].split("\n\n", 1)[0]
        assert ".base_url" in block, block
        assert "thread" in block, block
    assert "pytest-asyncio" in text.split("\nfinetune_emulator ", 1)[1].split("\n\n", 1)[0]


def get_models(base_url: str) -> dict[str, object]:
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": "Bearer sk-test"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body: dict[str, object] = json.load(answer)
        return body


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "finetune-emulator"]


@pytest.mark.finetune_emulator(job_seconds=4)
def test_the_sync_fixture_in_a_sync_test(finetune_emulator_sync: Emulator) -> None:
    assert finetune_emulator_sync.job_seconds == 4
    assert get_models(finetune_emulator_sync.base_url)["object"] == "list"
    assert len(emulator_threads()) == 1


def test_emulator_thread_serves_and_stops() -> None:
    server = EmulatorThread(job_seconds=1)
    with server as emu:
        assert get_models(emu.base_url)["object"] == "list"
        # The state's own thread answers: a consistent read, or a change, without racing the server.
        assert server.call(emu.state.jobs_in_flight) == 0
    assert emulator_threads() == []
    with pytest.raises(urllib.error.URLError):
        get_models(emu.base_url)
    with pytest.raises(RuntimeError, match="not running"):
        server.call(emu.state.jobs_in_flight)


def test_emulator_thread_raises_what_stopped_it_starting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="address already in use"), EmulatorThread(port=taken.getsockname()[1]):
            pass
    assert emulator_threads() == []
    with pytest.raises(ValueError, match="fault spec"):
        EmulatorThread(faults="nonsense")

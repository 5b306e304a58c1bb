"""The command line is tested as a person uses it: ``python -m finetune_async ...`` in a
subprocess, with ``OPENAI_BASE_URL`` pointing at emulators that run in a thread of the test
process for the whole session (over real loopback HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator

T = TypeVar("T")

#: The key the tests use: no output may ever contain it.
API_KEY = "sk-test-cli-SECRET-4f2a9c"

#: How long a job on the ``slow`` emulator takes: a fifth of it before it runs, the rest running.
SLOW_JOB_SECONDS = 40.0

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[=>()][0-9A-Za-z]?")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


class EmulatorThread:
    """Emulators served by an event loop in a daemon thread, started once per session."""

    def __init__(self, **configs: dict[str, Any]) -> None:
        self.configs = configs
        self.emulators: dict[str, Emulator] = {}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cli-test-emulators", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        started = [Emulator(**config) for config in self.configs.values()]
        try:
            for name, emu in zip(self.configs, started, strict=True):
                await emu.start()
                self.emulators[name] = emu
            self._ready.set()
            await self._stop.wait()
        finally:
            for emu in started:
                await emu.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def url(self, name: str) -> str:
        return self.emulators[name].base_url


@pytest.fixture(scope="session")
def emulators() -> Iterator[EmulatorThread]:
    """``fast``: jobs take 1 s. ``medium``: 4 s (long enough to watch a live bar). ``slow``: 40 s,
    of which the first 8 s validate and queue; its jobs are parked (see :class:`ParkedJobs`).
    ``locked``: accepts one other key only. ``batch``: for the ``batch`` command's tests, which
    set its ``state.job_seconds`` to what each run needs."""
    thread = EmulatorThread(
        fast={"job_seconds": 1.0},
        batch={"job_seconds": 6.0},
        medium={"job_seconds": 4.0},
        slow={"job_seconds": SLOW_JOB_SECONDS},
        locked={"job_seconds": 1.0, "api_keys": ["sk-the-only-good-key"]},
    )
    thread.start()
    yield thread
    thread.stop()


def cli_env(base_url: str | None, *, api_key: str | None = API_KEY, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FINETUNE_ASYNC_"))}
    # The command backs off as the tests do (tests/conftest.py): at once, unless the run is on
    # real backoff (FINETUNE_ASYNC_INSTANT_BACKOFF=0).
    instant = os.environ.get("FINETUNE_ASYNC_INSTANT_BACKOFF")
    if instant is not None:
        env["FINETUNE_ASYNC_INSTANT_BACKOFF"] = instant
    env.pop("COLUMNS", None)
    env["PYTHONUNBUFFERED"] = "1"
    # (Each command is a new interpreter: it finds the package's bytecode in the cache
    # PYTHONPYCACHEPREFIX names when the environment says not to write it beside the sources;
    # see tests/conftest.py.)
    if base_url is not None:
        env["OPENAI_BASE_URL"] = base_url
    if api_key is not None:
        env["OPENAI_API_KEY"] = api_key
    env.update(extra)
    return env


def run_cli(
    *args: str,
    base_url: str | None = None,
    api_key: str | None = API_KEY,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m finetune_async ARGS`` (not on a terminal); checks no output leaks the key."""
    proc = subprocess.run(
        [sys.executable, "-m", "finetune_async", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else cli_env(base_url, api_key=api_key),
        stdin=subprocess.DEVNULL,
    )
    assert API_KEY not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


class ServedEmulator:
    """A ``python -m finetune_async emulator --port 0 ARGS`` child: ``first_line`` (what it
    printed once listening), and once stopped ``out`` (the rest of stdout) and ``err``."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.first_line = ""
        self.out = ""
        self.err = ""

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


@contextlib.contextmanager
def cli_emulator(*args: str) -> Iterator[ServedEmulator]:
    """Serve the CLI's emulator on a free port while the block runs, then stop it with Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "finetune_async", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(None),
    )
    served = ServedEmulator(proc)
    try:
        assert proc.stdout is not None
        served.first_line = proc.stdout.readline()
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        served.out, served.err = proc.communicate(timeout=15)


def run_json(*args: str, base_url: str, expect: int = 0) -> Any:
    proc = run_cli(*args, "--json", base_url=base_url)
    assert proc.returncode == expect, proc.stderr
    return json.loads(proc.stdout)


def supervised_lines(n: int, *, start: int = 0) -> list[str]:
    return [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Answer with a number."},
                    {"role": "user", "content": f"What is {i} + {i}?"},
                    {"role": "assistant", "content": str(2 * i)},
                ]
            }
        )
        for i in range(start, start + n)
    ]


def write_jsonl(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-data")
    return {
        "train": write_jsonl(root / "train.jsonl", supervised_lines(12)),
        "valid": write_jsonl(root / "valid.jsonl", supervised_lines(10, start=100)),
        "tiny": write_jsonl(root / "tiny.jsonl", supervised_lines(3)),
    }


def sdk(base_url: str, action: Callable[[ft.AsyncClient], Awaitable[T]]) -> T:
    """Run ``action(client)`` with the SDK: for setting up what a test then drives with the CLI."""

    async def main() -> T:
        async with ft.AsyncClient(api_key=API_KEY, base_url=base_url) as client:
            return await action(client)

    return asyncio.run(main())


@pytest.fixture(scope="session")
def files(emulators: EmulatorThread, datasets: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Training and validation file ids on each emulator (uploaded with the SDK)."""

    async def upload(client: ft.AsyncClient) -> dict[str, str]:
        train = await client.files.create(file=datasets["train"])
        valid = await client.files.create(file=datasets["valid"])
        return {"train": train.id, "valid": valid.id}

    return {name: sdk(emulators.url(name), upload) for name in ("fast", "medium", "slow")}


def create_job(emulators: EmulatorThread, files: dict[str, dict[str, str]], name: str, **kwargs: Any) -> str:
    """A supervised job with a validation file on the emulator ``name`` (created with the SDK)."""

    async def create(client: ft.AsyncClient) -> str:
        job = await client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=files[name]["train"], validation_file=files[name]["valid"], **kwargs
        )
        return job.id

    return sdk(emulators.url(name), create)


@pytest.fixture(scope="session")
def finished_job(emulators: EmulatorThread, files: dict[str, dict[str, str]]) -> str:
    """A job on the fast emulator that has succeeded."""
    job_id = create_job(emulators, files, "fast", suffix="cli-test")
    sdk(emulators.url("fast"), lambda client: ft.wait_for_job(client, job_id, timeout=30))
    return job_id


#: The jobs on the slow emulator, one per test that needs a job that does not end by itself.
SLOW_ROLES = ("steer", "metrics", "timeout", "interrupt-wait", "interrupt-events", "interrupt-json")


class ParkedJobs:
    """Jobs that are running whenever a test needs them, however long the session took to get there.

    Each job is paused (a paused job's clock stops) as soon as it starts running, by a thread of
    the test process; :meth:`resume` hands a test its own job running again, with nearly all of
    its running time (four fifths of ``SLOW_JOB_SECONDS``) ahead of it.
    """

    def __init__(self, base_url: str, jobs: dict[str, str]) -> None:
        self.base_url = base_url
        self.jobs = jobs
        self._parked = {role: threading.Event() for role in jobs}
        self._trouble: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._park_all, name="cli-test-parker", daemon=True)
        self._thread.start()

    def _park_all(self) -> None:
        waiting = dict(self.jobs)
        deadline = time.monotonic() + 10 * SLOW_JOB_SECONDS
        while waiting and time.monotonic() < deadline and not self._stop.is_set():
            for role, job_id in list(waiting.items()):
                status = get_job(self.base_url, job_id)["status"]
                if status in ("validating_files", "queued"):
                    continue
                if status == "running":
                    try:
                        status = job_action(self.base_url, job_id, "pause")["status"]
                    except urllib.error.HTTPError as exc:  # it ended between the two requests
                        status = f"not paused: {exc.code} {exc.read()[:200]!r}"
                if status != "paused":
                    self._trouble[role] = f"job {job_id} was {status} before it could be parked"
                del waiting[role]
                self._parked[role].set()
            self._stop.wait(0.2)
        for role in waiting:
            self._trouble[role] = f"job {self.jobs[role]} did not start running"
            self._parked[role].set()

    def close(self) -> None:
        """Stop parking (the session is over), before the emulator it polls stops."""
        self._stop.set()
        self._thread.join()

    def parked(self, role: str) -> str:
        """The id of the job for ``role``, once paused: a job that does not end while the test runs."""
        assert self._parked[role].wait(10 * SLOW_JOB_SECONDS), f"the {role} job was not parked in time"
        assert role not in self._trouble, self._trouble[role]
        return self.jobs[role]

    def resume(self, role: str) -> str:
        """The id of the job for ``role``, running again."""
        job_id = self.parked(role)
        assert job_action(self.base_url, job_id, "resume")["status"] == "running"
        return job_id


@pytest.fixture(scope="session", autouse=True)
def slow_jobs(emulators: EmulatorThread, files: dict[str, dict[str, str]]) -> Iterator[ParkedJobs]:
    """One parked job on the slow emulator per role in ``SLOW_ROLES``, created when the first
    CLI test starts: ``steer`` (pause, resume, cancel), ``metrics`` (read while running),
    ``timeout`` (``wait --timeout`` on a job that does not end) and ``interrupt-*`` (Ctrl-C while
    watching; the job must keep running)."""

    async def create_all(client: ft.AsyncClient) -> dict[str, str]:
        found = {}
        for role in SLOW_ROLES:
            job = await client.fine_tuning.jobs.create(
                model="gpt-4o-mini",
                training_file=files["slow"]["train"],
                validation_file=files["slow"]["valid"],
                metadata={"role": role},
            )
            found[role] = job.id
        return found

    url = emulators.url("slow")
    parked = ParkedJobs(url, sdk(url, create_all))
    yield parked
    parked.close()


def get_job(base_url: str, job_id: str) -> dict[str, Any]:
    """The job as the API answers (stdlib HTTP, independent of the CLI and the SDK)."""
    request = urllib.request.Request(
        f"{base_url}/fine_tuning/jobs/{job_id}", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def job_action(base_url: str, job_id: str, action: str) -> dict[str, Any]:
    """``POST .../jobs/{job_id}/{action}`` (``pause``, ``resume``, ``cancel``) with stdlib HTTP:
    the job as the API answers; raises :class:`urllib.error.HTTPError` for an error status."""
    request = urllib.request.Request(
        f"{base_url}/fine_tuning/jobs/{job_id}/{action}",
        method="POST",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


class Terminal:
    """A command running on a pseudo-terminal, 160 columns wide; ``output`` is all it wrote."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.master = master
        self.raw = b""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finetune_async", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)

    @property
    def output(self) -> str:
        return strip_ansi(self.raw.decode("utf-8", errors="replace"))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the command exited and the terminal closed
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            if not self._read(0.1) and self.proc.poll() is not None:
                break
        raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self._read(0.1) or self.proc.poll() is None):
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()

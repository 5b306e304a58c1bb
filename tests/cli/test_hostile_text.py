"""Strings the CLI did not write: what the API sends and what the user put in are shown as
text, never read as rich markup, and control characters reach the terminal escaped.

A server of the tests' own answers with fields full of markup and escape sequences (an OSC
title change, a hyperlink, a screen clear, an 8-bit CSI); the emulator holds the user's own
metadata with brackets in it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.cli.conftest import EmulatorThread, Terminal, cli_env, create_job, run_cli, strip_ansi

MARKUP = "[/draft] [bold red]loud[/] [link=https://evil.example]x[/link]"
OSC_TITLE = "\x1b]0;pwned\x07"
HYPERLINK = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[H"
CSI8 = "\x9b31m"
HOSTILE = f"{MARKUP} {OSC_TITLE}{HYPERLINK}{CLEAR}{CSI8}\r\x08 end"


def assert_clean(output: str) -> None:
    """Nothing the terminal would act on: no ESC, BEL, 8-bit CSI, backspace or bare CR."""
    for char in ("\x1b", "\x07", "\x9b", "\x08", "\r"):
        assert char not in output, (char, output)


class HostileServer:
    """An aiohttp app on a loop in a daemon thread: one job whose text fields are hostile, and a
    400 whose message is."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.base_url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def _app(self) -> web.Application:
        job = self.job

        async def retrieve(request: web.Request) -> web.Response:
            if request.match_info["job_id"] == "ftjob-bad":
                error = {"message": f"no such job {HOSTILE}", "type": "invalid_request_error",
                         "param": HOSTILE, "code": HOSTILE}  # fmt: skip
                return web.json_response({"error": error}, status=400)
            return web.json_response(job)

        async def listing(request: web.Request) -> web.Response:
            return web.json_response({"object": "list", "data": [job], "has_more": False})

        async def events(request: web.Request) -> web.Response:
            event = {"object": "fine_tuning.job.event", "id": "ftevent-1", "created_at": job["created_at"],
                     "level": "info", "message": HOSTILE, "type": "message"}  # fmt: skip
            return web.json_response({"object": "list", "data": [event], "has_more": False})

        async def checkpoints(request: web.Request) -> web.Response:
            return web.json_response({"object": "list", "data": [], "has_more": False})

        app = web.Application()
        app.router.add_get("/v1/fine_tuning/jobs", listing)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}", retrieve)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}/events", events)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}/checkpoints", checkpoints)
        return app

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> HostileServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="module")
def hostile(finished_job: str, emulators: EmulatorThread) -> Iterator[HostileServer]:
    """A real finished job from the emulator, as the API sends it, with its strings replaced."""
    job: dict[str, Any] = json.loads(run_cli("retrieve", finished_job, "--json", base_url=emulators.url("fast")).stdout)
    job = copy.deepcopy(job)
    job["fine_tuned_model"] = f"ft:gpt-4o-mini:{HOSTILE}"
    job["model"] = HOSTILE
    job["training_file"] = HOSTILE
    job["result_files"] = [HOSTILE]
    job["metadata"] = {"note": HOSTILE, MARKUP: "[/x]"}
    job["error"] = {"message": HOSTILE, "code": HOSTILE, "param": None}
    with HostileServer(job) as server:
        yield server


@pytest.mark.parametrize(
    "args",
    [("retrieve", "ftjob-x"), ("list",), ("events", "ftjob-x"), ("wait", "ftjob-x"), ("checkpoints", "ftjob-x")],
    ids=lambda a: a[0],
)
def test_api_strings_are_text_and_escaped(hostile: HostileServer, args: tuple[str, ...]) -> None:
    proc = run_cli(*args, base_url=hostile.base_url)
    assert "MarkupError" not in proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    output = proc.stdout + proc.stderr
    assert_clean(output)
    if args[0] in ("retrieve", "events", "wait"):
        # Shown literally: the brackets and a visible form of each escape.
        assert "[/draft]" in output, output
        assert "[bold red]loud[/]" in output, output
        assert "\\x1b]0;pwned" in output, output  # (rich drops the BEL itself)
        assert "\\x9b31m" in output, output


def test_an_error_message_from_the_server_is_escaped(hostile: HostileServer) -> None:
    proc = run_cli("retrieve", "ftjob-bad", base_url=hostile.base_url)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: 400 Bad Request: no such job [/draft]")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert_clean(proc.stderr)
    assert "\\x1b]0;pwned\\x07" in proc.stderr


def test_json_output_stays_exact_json(hostile: HostileServer) -> None:
    proc = run_cli("retrieve", "ftjob-x", "--json", base_url=hostile.base_url)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc.stdout)  # JSON escapes them: \u001b, \u009b
    job = json.loads(proc.stdout)
    assert job["model"] == HOSTILE  # and the value is exactly what the server sent


def test_the_users_own_metadata_with_brackets(emulators: EmulatorThread, files: dict[str, dict[str, str]]) -> None:
    job_id = create_job(emulators, files, "fast", metadata={"note": "[/draft]", "[b]": "x[/b]"})
    for args in (("retrieve", job_id), ("list",), ("wait", job_id)):
        proc = run_cli(*args, base_url=emulators.url("fast"))
        assert proc.returncode == 0, proc.stderr
        if args[0] == "retrieve":
            assert "note=[/draft]" in proc.stdout
            assert "[b]=x[/b]" in proc.stdout


def test_escape_keeps_text_and_escapes_controls() -> None:
    from finetune_async.cli._output import escape_controls

    assert escape_controls("plain [/x] ünïcödé 日本 🎉\ttab\nline") == "plain [/x] ünïcödé 日本 🎉\ttab\nline"
    assert escape_controls("\x1b[2J\x07\x00\x7f\x9b\r") == "\\x1b[2J\\x07\\x00\\x7f\\x9b\\x0d"
    assert escape_controls("\u202eevil\u2066") == "\\u202eevil\\u2066"  # bidi overrides


def test_on_a_terminal_names_and_fields_are_text(
    emulators: EmulatorThread, hostile: HostileServer, tmp_path: Path, datasets: dict[str, Path]
) -> None:
    """The live displays (the upload's progress bar, ``wait``'s bar) take file names and API
    fields as text too, and the terminal sees no escape sequence that the CLI did not write."""
    named = tmp_path / "[bold]x[link=y].jsonl"  # (a name cannot hold the "/" of a closing tag)
    named.write_bytes(datasets["train"].read_bytes())
    for args, url in ((["upload", str(named)], emulators.url("fast")), (["wait", "ftjob-x"], hostile.base_url)):
        term = Terminal(args, cli_env(url))
        try:
            code = term.finish()
            raw = term.raw.decode("utf-8", errors="replace")
            assert "MarkupError" not in term.output, term.output
            assert code in (0, 1), term.output
            assert "pwned" not in strip_ansi(raw.replace("\\x1b]0;pwned", "")), raw  # only escaped
            assert "\x1b]" not in raw  # no OSC sequence (title, hyperlink) at all
            assert "\x9b" not in raw
            if args[0] == "upload":
                assert "[bold]x[link=y].jsonl" in term.output, term.output
        finally:
            term.close()

"""``--provider`` on both command lines, ``serve``, ``EmulatorThread`` and the fixtures' ways to pick a provider."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from click.testing import CliRunner

from finetune_async.cli._emulator import emulator as emulator_command
from finetune_async.emulator import Emulator, EmulatorThread, build_parser, create_app, serve
from tests.cli.conftest import cli_emulator


def test_parser_takes_the_five_providers() -> None:
    parser = build_parser()
    assert parser.parse_args([]).provider == "openai"
    for provider in ("openai", "azure", "nebius", "together", "fireworks"):
        assert parser.parse_args(["--provider", provider]).provider == provider
    with pytest.raises(SystemExit):
        parser.parse_args(["--provider", "mistral"])


def test_package_cli_offers_provider_as_a_choice() -> None:
    result = CliRunner().invoke(emulator_command, ["--provider", "mistral"])
    assert result.exit_code == 2
    assert "fireworks" in result.output
    shown = CliRunner().invoke(emulator_command, ["--help"]).output
    assert "--provider [openai|azure|nebius|together|fireworks]" in shown


def test_unknown_provider_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        Emulator(provider="mistral")


@pytest.mark.parametrize(("provider", "path"), [("azure", "/openai/v1"), ("nebius", "/v1"), ("together", "/v1")])
def test_finetune_async_emulator_serves_the_provider(provider: str, path: str) -> None:
    with cli_emulator("--provider", provider, "--json") as served:
        ready = json.loads(served.first_line)
        assert ready["provider"] == provider
        assert ready["base_url"].endswith(path)
        jobs = "/fine-tunes" if provider == "together" else "/fine_tuning/jobs"
        request = urllib.request.Request(ready["base_url"] + jobs, headers={"Authorization": "Bearer k"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            assert ("apim-request-id" in resp.headers) == (provider == "azure")
    assert served.returncode == 0, served.err


def test_finetune_async_emulator_serves_fireworks() -> None:
    with cli_emulator("--provider", "fireworks", "--json") as served:
        ready = json.loads(served.first_line)
        assert ready["provider"] == "fireworks"
        assert ready["base_url"].endswith("/v1")
        url = ready["base_url"] + "/accounts/me/supervisedFineTuningJobs"
        request = urllib.request.Request(url, headers={"Authorization": "Bearer k"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.load(resp) == {"supervisedFineTuningJobs": [], "totalSize": 0}
    assert served.returncode == 0, served.err


async def test_serve_yields_the_providers_base_url() -> None:
    async with serve(provider="azure") as base_url:
        assert base_url.endswith("/openai/v1")


def test_emulator_thread_takes_provider() -> None:
    with EmulatorThread(provider="nebius") as emu:
        request = urllib.request.Request(emu.base_url + "/uploads", data=b"{}", method="POST")
        request.add_header("Authorization", "Bearer k")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=10)
        assert missing.value.code == 404
        assert json.loads(missing.value.read()) == {"detail": "Not Found"}


def test_create_app_refuses_an_unknown_provider() -> None:
    from finetune_async.emulator import EmulatorState, Faults, Store

    store = Store()
    try:
        with pytest.raises(ValueError, match="unknown provider"):
            create_app(EmulatorState(store), Faults.parse(None), provider="cohere")
    finally:
        store.close()


def _provider_of(emu: Emulator) -> str:
    return emu.provider


@pytest.mark.parametrize("finetune_emulator", ["openai", "azure", "nebius"], indirect=True)
def test_fixture_by_indirect_parametrization(finetune_emulator: Emulator, request: Any) -> None:
    assert finetune_emulator.provider == request.node.callspec.params["finetune_emulator"]


@pytest.mark.finetune_emulator(provider="azure")
def test_fixture_by_marker(finetune_emulator_sync: Emulator) -> None:
    assert finetune_emulator_sync.provider == "azure"
    assert finetune_emulator_sync.base_url.endswith("/openai/v1")


def test_fixture_default_is_openai(finetune_emulator_sync: Emulator) -> None:
    assert _provider_of(finetune_emulator_sync) == "openai"

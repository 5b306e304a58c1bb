"""The dialects the helpers' tests run on: the emulator's OpenAI, Azure (v1 and one dated
route), Nebius, Together and Fireworks, each with the client our users would build for it.

A test reaches them through the ``dialect`` fixture (tests/conftest.py: OpenAI only;
tests/polling/conftest.py, tests/batch/conftest.py: parametrized over :data:`DIALECTS`), and
through it the ``emulator``, ``client``, ``spec_checker`` and ``model`` fixtures. What a provider
cannot do is skipped by its capabilities (:func:`skip_unless`), never by its name.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

import finetune_async as ft
from finetune_async._auth import ApiKeyAuth
from finetune_async.emulator import Emulator
from finetune_async.emulator.store import JobRecord
from finetune_async.providers import AzureProvider, Capabilities, capabilities_of
from finetune_async.providers.nebius import metadata_from_tags
from finetune_async.providers.together import metadata_from_wandb_name
from tests.spec import FIREWORKS_SPEC, OPENAI_SPEC, TOGETHER_SPEC, OpenAPISpec

OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
NEBIUS_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TOGETHER_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
FIREWORKS_MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
#: The Fireworks account the tests' clients name (the emulator takes any).
FIREWORKS_ACCOUNT = "acct-tests"
# The providers whose learning rates are absolute, with their defaults.
_BASE_RATE = {"nebius": 1e-5, "together": 1e-5, "fireworks": 1e-4}
AZURE_DATED = "2025-04-01-preview"
# OpenAI's hyperparameter keys: the others in a Nebius body are Nebius' own.
_OPENAI_HP = {"batch_size", "n_epochs", "learning_rate_multiplier"}


def openai_shaped(body: Any) -> Any:
    """A request body with the Nebius-only fields taken out (what OpenAI's spec can check):
    ``tags``, ``from_checkpoint``, non-OpenAI hyperparameter keys, a ``spec-draft`` method.
    An OpenAI-shaped body is returned unchanged (a copy)."""
    body = copy.deepcopy(body)
    if not isinstance(body, dict):
        return body
    body.pop("tags", None)
    body.pop("from_checkpoint", None)
    hp = body.get("hyperparameters")
    if isinstance(hp, dict):
        body["hyperparameters"] = {k: v for k, v in hp.items() if k in _OPENAI_HP}
    method = body.get("method")
    if isinstance(method, dict):
        if method.get("type") == "spec-draft":
            del body["method"]
        else:
            for config in method.values():
                if isinstance(config, dict) and isinstance(config.get("hyperparameters"), dict):
                    config["hyperparameters"] = {k: v for k, v in config["hyperparameters"].items() if k in _OPENAI_HP}
    return body


@attrs.frozen
class Dialect:
    """One way of reaching the API: the emulator's dialect and the client for it."""

    #: The test id (``openai``, ``azure``, ``azure-dated``, ``nebius``).
    id: str
    #: The emulator's dialect (``Emulator(provider=...)``) and the SDK's provider.
    provider: str
    #: The base model its jobs name.
    model: str = OPENAI_MODEL
    #: Azure: a dated api-version (the dated route); None: the v1 route, no api-version sent.
    api_version: str | None = None

    def __str__(self) -> str:
        return self.id

    def emulator(self, **kwargs: Any) -> Emulator:
        """An emulator speaking this dialect (``kwargs`` as for :class:`Emulator`)."""
        return Emulator(provider=self.provider, **kwargs)

    def client(self, base_url: str, *, api_key: str = "sk-test", **kwargs: Any) -> ft.AsyncClient:
        """The client a user of this provider builds, for an emulator whose OpenAI-shaped base is
        ``base_url`` (``emu.base_url``): ``AsyncClient``, ``AsyncClient.azure(endpoint=...)``
        (the endpoint: the base without ``/openai/v1``) or ``AsyncClient.nebius``."""
        if self.provider == "azure":
            endpoint = base_url.removesuffix("/openai/v1")
            return ft.AsyncClient.azure(endpoint=endpoint, api_key=api_key, api_version=self.api_version, **kwargs)
        if self.provider == "nebius":
            return ft.AsyncClient.nebius(api_key=api_key, base_url=base_url, **kwargs)
        if self.provider == "together":
            return ft.AsyncClient.together(api_key=api_key, base_url=base_url, **kwargs)
        if self.provider == "fireworks":
            origin = base_url.removesuffix("/v1")
            return ft.AsyncClient.fireworks(api_key=api_key, account_id=FIREWORKS_ACCOUNT, base_url=origin, **kwargs)
        return ft.AsyncClient(api_key=api_key, base_url=base_url, **kwargs)

    def reads_jobs(self, info: ft.RequestInfo) -> bool:
        """True when ``info`` (a request hook's) reads jobs: a retrieve or a list, on this
        provider's wire (``/fine_tuning/jobs``, Together's ``/fine-tunes``, Fireworks' job collections)."""
        marks = {"together": ("/fine-tunes",), "fireworks": ("/supervisedFineTuningJobs", "/dpoJobs")}
        return info.method == "GET" and any(m in info.path for m in marks.get(self.provider, ("/fine_tuning/jobs",)))

    @property
    def create_template(self) -> str:
        """The spec's path template of a supervised job's create on this dialect."""
        return {
            "together": "/fine-tunes",
            "fireworks": "/v1/accounts/{account_id}/supervisedFineTuningJobs",
        }.get(self.provider, "/fine_tuning/jobs")

    @property
    def cancel_answers_cancelled(self) -> bool:
        """True when ``jobs.cancel`` answers the job already ``cancelled`` (Together answers
        ``cancel_requested``, which reads ``running`` until the cancel lands)."""
        return self.provider != "together"

    @property
    def job_error_codes(self) -> bool:
        """True when a failed job's error carries the API's code (``invalid_training_file``):
        Together and Fireworks give only a message."""
        return self.provider not in ("together", "fireworks")

    @property
    def spec(self) -> OpenAPISpec:
        """The spec this dialect's requests are checked against (OpenAI's for OpenAI, Azure and
        Nebius; the provider's own for Together and Fireworks)."""
        return {"together": TOGETHER_SPEC, "fireworks": FIREWORKS_SPEC}.get(self.provider, OPENAI_SPEC)

    @property
    def capabilities(self) -> Capabilities:
        """What the client of this dialect can do (the dated route's differ from v1's)."""
        if self.provider == "azure":
            auth = ApiKeyAuth("k", azure=True)
            return AzureProvider(endpoint="http://127.0.0.1", auth=auth, api_version=self.api_version).capabilities
        return capabilities_of(self.provider)

    def env(self, base_url: str, api_key: str) -> dict[str, str]:
        """The environment variables that point the CLI (``--provider`` by
        ``$FINETUNE_ASYNC_PROVIDER``) at an emulator whose base is ``base_url``."""
        if self.provider == "azure":
            env = {"AZURE_OPENAI_ENDPOINT": base_url.removesuffix("/openai/v1"), "AZURE_OPENAI_API_KEY": api_key}
            if self.api_version is not None:
                env["OPENAI_API_VERSION"] = self.api_version
        elif self.provider == "nebius":
            env = {"NEBIUS_BASE_URL": base_url, "NEBIUS_API_KEY": api_key}
        elif self.provider == "together":
            env = {"TOGETHER_BASE_URL": base_url, "TOGETHER_API_KEY": api_key}
        elif self.provider == "fireworks":
            env = {
                "FIREWORKS_BASE_URL": base_url.removesuffix("/v1"),
                "FIREWORKS_API_KEY": api_key,
                "FIREWORKS_ACCOUNT_ID": FIREWORKS_ACCOUNT,
            }
        else:
            env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": api_key}
        return {"FINETUNE_ASYNC_PROVIDER": self.provider, **env}

    def shape(self, body: Any) -> Any:
        """A request body as OpenAI's spec can check it (Nebius' own fields taken out)."""
        return openai_shaped(body) if self.provider == "nebius" else body

    def learning_rate(self, factor: float) -> dict[str, float]:
        """A learning-rate hyperparameter: OpenAI's relative multiplier, or ``factor`` times the
        provider's default absolute rate (Nebius, Together, Fireworks)."""
        base = _BASE_RATE.get(self.provider)
        if base is not None:
            return {"learning_rate": base * factor}
        return {"learning_rate_multiplier": factor}


def server_metadata(record: JobRecord) -> dict[str, str] | None:
    """A job's metadata as the emulator keeps it: OpenAI's and Azure's field, or Nebius'
    ``key=value`` tags."""
    if record.metadata is not None:
        return record.metadata
    extra = record.extra or {}
    together = extra.get("together") or {}
    if together.get("wandb_name"):
        return metadata_from_wandb_name(together["wandb_name"])
    nebius = extra.get("nebius") or {}
    return metadata_from_tags(nebius.get("tags"))


OPENAI = Dialect("openai", "openai")
AZURE = Dialect("azure", "azure")
AZURE_DATED_ROUTE = Dialect("azure-dated", "azure", api_version=AZURE_DATED)
NEBIUS = Dialect("nebius", "nebius", model=NEBIUS_MODEL)
TOGETHER = Dialect("together", "together", model=TOGETHER_MODEL)
FIREWORKS = Dialect("fireworks", "fireworks", model=FIREWORKS_MODEL)
#: What the helpers' tests run on.
DIALECTS = (OPENAI, AZURE, AZURE_DATED_ROUTE, NEBIUS, TOGETHER, FIREWORKS)
BY_ID = {d.id: d for d in DIALECTS}


def skip_unless(client_or_dialect: ft.AsyncClient | Dialect, capability: str, why: str) -> None:
    """Skip the running test where the provider lacks ``capability`` (a
    :class:`~finetune_async.providers.Capabilities` field; ``method:NAME`` for a training method)."""
    caps = (
        client_or_dialect.capabilities if isinstance(client_or_dialect, Dialect) else capabilities_of(client_or_dialect)
    )
    if capability.startswith("method:"):
        has = capability.removeprefix("method:") in caps.methods
    else:
        has = bool(getattr(caps, capability))
    if not has:
        pytest.skip(f"the provider has no {capability}: {why}")


#: Runs a test on the OpenAI dialect only, where a directory's conftest parametrizes ``dialect``
#: (a test whose emulator is only a prop: it tests no helper).
openai_only = pytest.mark.parametrize("dialect", ["openai"], indirect=True)

#: Runs a test once per provider (Azure on its v1 route only): for the longest tests, where the
#: dated route's differences (201 + Location, pending) are already covered by the shorter ones.
one_route_each = pytest.mark.parametrize(
    "dialect", ["openai", "azure", "nebius", "together", "fireworks"], indirect=True
)

#: The dialects the whole batch suite (tests/batch) runs on. Not Fireworks yet: its jobs keep
#: only this SDK's markers, as digests, and no metadata of the caller's, while most batch tests
#: give their specs metadata and read the server's back. run_batch on Fireworks, with a lost
#: create, is tested in tests/providers/test_fireworks.py.
BATCH_DIALECT_IDS = ("openai", "azure", "nebius", "together")

#: :data:`one_route_each` for the batch tests (:data:`BATCH_DIALECT_IDS`).
batch_route_each = pytest.mark.parametrize("dialect", list(BATCH_DIALECT_IDS), indirect=True)

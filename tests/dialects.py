"""The dialects the helpers' tests run on: the emulator's OpenAI, Azure (v1 and one dated
route), Nebius, Together and Fireworks, each with the client our users would build for it.

A test reaches them through the ``dialect`` fixture (tests/conftest.py: OpenAI only;
tests/polling/conftest.py, tests/batch/conftest.py: parametrized over :data:`DIALECTS`), and
through it the ``emulator``, ``client``, ``spec_checker`` and ``model`` fixtures. What a provider
cannot do is skipped by its capabilities (:func:`skip_unless`), never by its name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pytest

import finetune_async as ft
from finetune_async._auth import ApiKeyAuth
from finetune_async.emulator import Emulator
from finetune_async.emulator.store import JobRecord
from finetune_async.providers import BY_NAME, AzureProvider, Capabilities, capabilities_of
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
    def uploads_in_several_requests(self) -> bool:
        """True when ``files.create`` sends several requests (the provider's
        ``uploads_its_own_way``: Fireworks' dataset, then its content), so a process killed
        between them leaves a file that never holds an upload."""
        return BY_NAME[self.provider].uploads_its_own_way

    @property
    def trained_tokens(self) -> bool:
        """True when a succeeded job says how many tokens it trained (Fireworks' jobs do not)."""
        return self.provider != "fireworks"

    @property
    def keeps_caller_metadata(self) -> bool:
        """True when jobs keep the caller's own metadata (``{"team": "search"}``). Fireworks jobs
        keep only this SDK's markers, as digests in their ``displayName``, and refuse any other
        key (tests/batch/test_batch.py checks both sides of this)."""
        return self.provider != "fireworks"

    def caller_metadata(self, metadata: Mapping[str, str]) -> dict[str, str]:
        """``metadata`` where jobs keep the caller's metadata, else none: what a spec of the
        batch tests carries on this dialect."""
        return dict(metadata) if self.keeps_caller_metadata else {}

    def kept(self, key: str, value: str) -> str:
        """What ``job.metadata[key]`` reads back for a job created with ``{key: value}``: the
        value, or the provider's digest of it (its ``kept_metadata``)."""
        return _kept(self.provider, {key: value})[key]

    def spec_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """The ``ft_spec`` values jobs of the specs ``keys`` read back, mapped to the keys."""
        return {self.kept("ft_spec", key): key for key in keys}

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


def _kept(provider: str, metadata: Mapping[str, str]) -> Mapping[str, str]:
    # Only the provider's kept_metadata is asked: no request is sent.
    client = Dialect(provider, provider).client("http://127.0.0.1:9/v1", max_retries=0)
    return client.provider.kept_metadata(metadata)


# Fireworks' displayName tail, read here on its own (not with the SDK's parser): ``ft c=... s=...``.
_FIREWORKS_TAG = re.compile(r"(?:^| )ft((?: [a-z]=[0-9a-f]{12})+)$")
_FIREWORKS_KEYS = {"c": "ft_create", "b": "ft_batch", "s": "ft_spec"}


def server_metadata(record: JobRecord) -> dict[str, str] | None:
    """A job's metadata as the emulator keeps it: OpenAI's and Azure's field, Nebius'
    ``key=value`` tags, Together's W&B name, or the digests in Fireworks' ``displayName``."""
    if record.metadata is not None:
        return record.metadata
    extra = record.extra or {}
    fireworks = extra.get("fireworks") or {}
    found = _FIREWORKS_TAG.search(fireworks.get("displayName") or "")
    if found is not None:
        pairs = (item.partition("=") for item in found.group(1).split())
        return {_FIREWORKS_KEYS[letter]: value for letter, _, value in pairs}
    together = extra.get("together") or {}
    if together.get("wandb_name"):
        return metadata_from_wandb_name(together["wandb_name"])
    nebius = extra.get("nebius") or {}
    return metadata_from_tags(nebius.get("tags"))


def client_job_id(record: JobRecord) -> str:
    """The id the client calls the emulator's job ``record`` by: its own, or (Fireworks) the job
    id the create chose (``dpo:`` and it for a DPO job)."""
    fireworks = (record.extra or {}).get("fireworks")
    if not fireworks:
        return record.id
    return ("dpo:" if fireworks.get("kind") == "dpo" else "") + str(fireworks["id"])


def server_job(jobs: Mapping[str, JobRecord], job_id: str) -> JobRecord:
    """The emulator's record (``emu.state.store.jobs``) of the job the client calls ``job_id``:
    the same id, or (Fireworks) the record whose job id the dialect chose (``dpo:`` taken off)."""
    if job_id in jobs:
        return jobs[job_id]
    wanted = job_id.removeprefix("dpo:")
    for record in jobs.values():
        if ((record.extra or {}).get("fireworks") or {}).get("id") == wanted:
            return record
    raise KeyError(job_id)


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

#: The dialects the whole batch suite (tests/batch) runs on: every provider. Where jobs keep no
#: metadata of the caller's (Fireworks), the specs carry none (:meth:`Dialect.caller_metadata`)
#: and the markers are compared as the provider keeps them (:meth:`Dialect.kept`).
BATCH_DIALECT_IDS = ("openai", "azure", "nebius", "together", "fireworks")

#: :data:`one_route_each` for the batch tests (:data:`BATCH_DIALECT_IDS`).
batch_route_each = pytest.mark.parametrize("dialect", list(BATCH_DIALECT_IDS), indirect=True)

"""Azure OpenAI (Foundry): OpenAI's wire on two routes, with Azure's statuses, errors and extras.

* Routes: without an api-version, the v1 route ``{endpoint}/openai/v1/...``; with a dated one
  (``2024-10-21``, ``2025-04-01-preview``), ``{endpoint}/openai/...?api-version=``; ``v1`` or
  ``preview`` keep the v1 route and send that ``api-version``.
* Auth: the ``api-key`` header, or a Microsoft Entra ID bearer token (:mod:`finetune_async._auth`).
* Answers: a job may read ``pending`` (:attr:`~finetune_async.JobStatus.PENDING`) or ``paused``;
  ``-1`` for a hyperparameter means auto and reads as ``"auto"``; fields Azure leaves out of a
  job (``error``, ``finished_at``, ``result_files``, ``organization_id``, ...) read as OpenAI's
  empty values. A create answered 201 with a ``Location`` and no body is read from the Location
  (``resources/_base.py``). The request id is ``apim-request-id`` when ``x-request-id`` is absent.
* Errors: ``{"error": {code, message, param, type, inner_error}}``; ``inner_error`` is kept on the
  exception (:attr:`~finetune_async.APIStatusError.inner_error`).
* Capabilities: pause/resume, checkpoint copy (v1 route, preview header), job delete (dated
  routes), no webhooks, no checkpoint permissions, no Python grader, no Uploads API on the v1
  route, and a file must be ``processed`` before a job may use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from .._auth import ApiKeyAuth, Auth, TokenProvider, TokenProviderAuth
from ..errors import APIStatusError, FineTuneError
from ._base import Capabilities, Operation, Provider, each_object

__all__ = ["COPY_CHECKPOINT_HEADERS", "V1_VERSIONS", "AzureProvider", "configure"]

#: ``api_version`` values that keep the v1 route (sent as its ``api-version``).
V1_VERSIONS = frozenset({"v1", "preview", "latest"})

#: The preview header the checkpoint copy needs.
COPY_CHECKPOINT_HEADERS = {"aoai-copy-ft-checkpoints": "preview"}

_V1 = Capabilities(
    webhooks=False,
    checkpoint_permissions=False,
    checkpoint_copy=True,
    python_grader=False,
    uploads=False,
    delete_job=False,
    # Not in the specs we read: the create-once marker is found by walking the listing instead.
    metadata_filter=False,
    files_must_be_processed=True,
)
_DATED = attrs.evolve(_V1, uploads=True, delete_job=True, checkpoint_copy=False)
_DATED_GA = attrs.evolve(_DATED, graders=False)

# Keys of a job Azure may leave out, with OpenAI's value for "none".
_JOB_DEFAULTS: Mapping[str, Any] = {
    "error": None,
    "fine_tuned_model": None,
    "finished_at": None,
    "trained_tokens": None,
    "validation_file": None,
    "organization_id": "",
}
_AUTO_KEYS = ("n_epochs", "batch_size", "learning_rate_multiplier")


class AzureProvider(Provider):
    """Azure OpenAI on the v1 route or a dated one (see the module docstring)."""

    name = "azure"
    capabilities = _V1
    env = {
        "AZURE_OPENAI_ENDPOINT": "the resource URL, e.g. https://my-resource.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "the api-key header (or pass azure_ad_token_provider=)",
        "OPENAI_API_VERSION": "a dated api-version (none: the v1 route)",
    }
    # Answers are mapped (-1 as auto, missing fields); requests go out as they are.
    translates = True
    request_id_headers = ("x-request-id", "apim-request-id")
    operation_headers = {
        "jobs.checkpoints.copy": COPY_CHECKPOINT_HEADERS,
        "jobs.checkpoints.retrieve_copy": COPY_CHECKPOINT_HEADERS,
    }

    def __init__(self, *, endpoint: str, auth: Auth, api_version: str | None = None) -> None:
        endpoint = endpoint.rstrip("/")
        if endpoint.endswith("/openai/v1"):
            endpoint = endpoint[: -len("/openai/v1")]
        elif endpoint.endswith("/openai"):
            endpoint = endpoint[: -len("/openai")]
        #: The resource URL, e.g. ``https://my-resource.openai.azure.com``.
        self.endpoint = endpoint
        #: The ``api-version`` sent (None on the plain v1 route).
        self.api_version = api_version
        #: True on the v1 route ``{endpoint}/openai/v1``.
        self.v1 = api_version is None or api_version in V1_VERSIONS
        if self.v1:
            base_url, capabilities = f"{endpoint}/openai/v1", _V1
        else:
            assert api_version is not None
            base_url = f"{endpoint}/openai"
            capabilities = _DATED if api_version.endswith("-preview") else _DATED_GA
        super().__init__(
            base_url=base_url,
            auth=auth,
            default_query={"api-version": api_version} if api_version else None,
            capabilities=capabilities,
        )

    def _reason(self, operation: str, capability: str) -> str:
        route = "the v1 route" if self.v1 else f"api-version {self.api_version}"
        return f"not on {route} (capabilities.{capability} is false)"

    def from_wire(self, operation: Operation, body: Any) -> Any:
        """Jobs in OpenAI's shape: ``-1`` hyperparameters as ``"auto"``, missing fields filled."""
        if not operation.startswith("jobs.") or operation.startswith(("jobs.list_events", "jobs.checkpoints")):
            return body
        return each_object(body, _normalise_job)

    def status_error(
        self,
        status_code: int,
        body: object,
        *,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> APIStatusError:
        """OpenAI's mapping, with Azure's ``inner_error`` (or ``innererror``) kept on the exception."""
        error = super().status_error(status_code, body, request_id=request_id, headers=headers, method=method, url=url)
        err = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(err, Mapping):
            inner = err.get("inner_error", err.get("innererror"))
            if inner is not None:
                error.inner_error = inner
        return error


def _normalise_job(job: Any) -> None:
    if not isinstance(job, dict) or job.get("object", "fine_tuning.job") != "fine_tuning.job":
        return
    for key, value in _JOB_DEFAULTS.items():
        if job.get(key) is None and (key not in job or value is not None):
            job[key] = value
    if job.get("result_files") is None:
        job["result_files"] = []
    _auto(job.get("hyperparameters"))
    method = job.get("method")
    if isinstance(method, dict):
        for config in method.values():
            if isinstance(config, dict):
                _auto(config.get("hyperparameters"))


def _auto(hyperparameters: Any) -> None:
    if isinstance(hyperparameters, dict):
        for key in _AUTO_KEYS:
            if hyperparameters.get(key) == -1:
                hyperparameters[key] = "auto"


def configure(
    *,
    endpoint: str | None,
    api_key: str | None,
    azure_ad_token_provider: TokenProvider | None,
    api_version: str | None,
) -> AzureProvider:
    """The provider of ``AsyncClient.azure(...)``, defaults from the environment.

    Raises :class:`~finetune_async.FineTuneError` when the endpoint or the credentials are missing.
    """
    endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
    api_version = api_version or os.environ.get("OPENAI_API_VERSION") or None
    if not endpoint:
        raise FineTuneError("No Azure endpoint: pass endpoint=... or set AZURE_OPENAI_ENDPOINT.")
    auth: Auth
    if azure_ad_token_provider is not None:
        auth = TokenProviderAuth(azure_ad_token_provider)
    else:
        api_key = api_key if api_key is not None else os.environ.get("AZURE_OPENAI_API_KEY")
        if not api_key:
            raise FineTuneError(
                "No Azure credentials: pass api_key=... (or set AZURE_OPENAI_API_KEY) or azure_ad_token_provider=..."
            )
        auth = ApiKeyAuth(api_key, azure=True)
    return AzureProvider(endpoint=endpoint, auth=auth, api_version=api_version)

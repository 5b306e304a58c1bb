"""OpenAI: the wire every other provider is mapped to, so every mapping here is the identity."""

from __future__ import annotations

import os

from .._auth import ApiKeyAuth, Auth
from ..errors import FineTuneError
from ._base import Capabilities, Provider

__all__ = ["DEFAULT_BASE_URL", "OpenAIProvider", "configure"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(Provider):
    """OpenAI's API (``https://api.openai.com/v1``): every capability, no mapping."""

    name = "openai"
    capabilities = Capabilities()
    env = {
        "OPENAI_API_KEY": "the API key (a bearer token)",
        "OPENAI_BASE_URL": "the base URL (default https://api.openai.com/v1)",
        "OPENAI_ORG_ID": "the OpenAI-Organization header",
        "OPENAI_PROJECT_ID": "the OpenAI-Project header",
    }


def configure(*, api_key: str | None, base_url: str | None, auth: Auth | None = None) -> OpenAIProvider:
    """The provider of ``AsyncClient(api_key=..., base_url=...)``, defaults from the environment.

    Raises :class:`~finetune_async.FineTuneError` when no API key is given or found.
    """
    if auth is None:
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise FineTuneError(
                "No API key: pass api_key=... or set OPENAI_API_KEY (for Azure OpenAI use AsyncClient.azure(...))."
            )
        auth = ApiKeyAuth(api_key)
    return OpenAIProvider(base_url=base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL, auth=auth)

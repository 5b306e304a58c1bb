"""Providers: one module each, holding base URL and env vars, auth, path shapes, the mapping
of requests and answers, errors, and capabilities (:mod:`finetune_async.providers._base`).

``openai``, ``azure`` and ``nebius`` (OpenAI's paths, absolute LoRA hyperparameters checked in
``check_create``, method ``spec-draft``, metadata as tags) are here; ``together`` and
``fireworks`` (other wires: ``translates`` with ``to_wire`` / ``from_wire``) plug in the same way.
"""

from __future__ import annotations

from ._base import (
    ALL_OPERATIONS,
    JOB_STATUSES,
    Capabilities,
    FileUpload,
    Operation,
    Provider,
    Send,
    WireRequest,
    grader_types,
)
from .azure import AzureProvider
from .fireworks import FireworksProvider
from .nebius import NebiusHyperparameters, NebiusProvider
from .openai import OpenAIProvider
from .together import TogetherProvider

#: Each provider by its name (``--provider``, ``validate_dataset(provider=...)``).
BY_NAME: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "azure": AzureProvider,
    "nebius": NebiusProvider,
    "together": TogetherProvider,
    "fireworks": FireworksProvider,
}


def capabilities_of(provider: object) -> Capabilities:
    """The capabilities of ``provider``: a :class:`Provider`, a client (its ``provider``), or a
    name from :data:`BY_NAME` (Azure's: those of its v1 route).

    Raises :class:`ValueError` for an unknown name, :class:`TypeError` for anything else.
    """
    if isinstance(provider, str):
        cls = BY_NAME.get(provider)
        if cls is None:
            raise ValueError(f"provider must be one of {', '.join(BY_NAME)}, not {provider!r}")
        return cls.capabilities
    provider = getattr(provider, "provider", provider)
    if isinstance(provider, Provider):
        return provider.capabilities
    raise TypeError(f"provider must be a name, a Provider or a client, not {type(provider).__name__}")


__all__ = [
    "ALL_OPERATIONS",
    "BY_NAME",
    "JOB_STATUSES",
    "AzureProvider",
    "Capabilities",
    "FileUpload",
    "FireworksProvider",
    "NebiusHyperparameters",
    "NebiusProvider",
    "OpenAIProvider",
    "Operation",
    "Provider",
    "Send",
    "TogetherProvider",
    "WireRequest",
    "capabilities_of",
    "grader_types",
]

"""Providers: one module each, holding base URL and env vars, auth, path shapes, the mapping
of requests and answers, errors, and capabilities (:mod:`finetune_async.providers._base`).

``openai`` and ``azure`` are here; ``nebius`` (OpenAI's wire, absolute LoRA hyperparameters
checked in ``check_create``, method ``spec-draft``), ``together`` and ``fireworks`` (other
wires: ``translates`` with ``to_wire`` / ``from_wire``) plug in the same way.
"""

from __future__ import annotations

from ._base import JOB_STATUSES, Capabilities, Operation, Provider, WireRequest, grader_types
from .azure import AzureProvider
from .openai import OpenAIProvider

__all__ = [
    "JOB_STATUSES",
    "AzureProvider",
    "Capabilities",
    "OpenAIProvider",
    "Operation",
    "Provider",
    "WireRequest",
    "grader_types",
]

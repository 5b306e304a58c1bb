"""The emulator's dialects: each provider's paths, auth, errors and answer shapes over one state.

A dialect is a translation at the HTTP edge (:class:`~._base.Dialect`, made of
:class:`~._base.Surface` objects, one per prefix); the resources of
:class:`~..state.EmulatorState` underneath are the same for every provider.

- ``"openai"`` (:mod:`.openai`): ``/v1``, and OpenAI's shapes under Azure's ``/openai`` paths.
- ``"azure"`` (:mod:`.azure`): Azure OpenAI's v1 route ``/openai/v1`` and its dated routes
  ``/openai/...?api-version=``.
- ``"nebius"`` (:mod:`.nebius`): Nebius Token Factory's ``/v1``.
- ``"together"`` (:mod:`.together`): Together AI's ``/v1`` (``/fine-tunes``, its file upload flow).
- ``"fireworks"`` (:mod:`.fireworks`): Fireworks AI's ``/v1/accounts/{account_id}/...``.
"""

from __future__ import annotations

from ._base import Dialect, Surface
from .azure import AzureDialect
from .fireworks import FireworksDialect
from .nebius import NebiusDialect
from .openai import OpenAIDialect
from .together import TogetherDialect

__all__ = ["PROVIDERS", "Dialect", "Surface", "make_dialect"]

#: The providers the emulator speaks, the default first.
PROVIDERS: tuple[str, ...] = ("openai", "azure", "nebius", "together", "fireworks")


def make_dialect(provider: str) -> Dialect:
    """A fresh dialect for ``provider`` (one of :data:`PROVIDERS`); ValueError for another."""
    if provider == "openai":
        return OpenAIDialect()
    if provider == "azure":
        return AzureDialect()
    if provider == "nebius":
        return NebiusDialect()
    if provider == "together":
        return TogetherDialect()
    if provider == "fireworks":
        return FireworksDialect()
    raise ValueError(f"unknown provider {provider!r}: expected one of {', '.join(PROVIDERS)}")

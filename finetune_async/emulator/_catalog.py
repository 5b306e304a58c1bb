"""The base models the fine-tuning guides list as fine-tunable, with the methods each supports."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALIASES", "BASE_MODELS", "BaseModel", "resolve_base"]


@dataclass(frozen=True, slots=True)
class BaseModel:
    """A fine-tunable base model snapshot."""

    id: str
    created: int
    methods: tuple[str, ...]
    # babbage-002 and davinci-002 train on legacy {"prompt", "completion"} lines.
    legacy_completions: bool = False
    owned_by: str = "system"
    #: Which data lines its jobs train on: ``"openai"`` (the chat, DPO and reinforcement
    #: formats), or ``"nebius"`` (chat ``messages``, ``prompt``/``completion``, ``text``,
    #: pre-tokenized ``input_ids``). ``legacy_completions`` wins over it.
    line_formats: str = "openai"


_SD = ("supervised", "dpo")

BASE_MODELS: dict[str, BaseModel] = {
    m.id: m
    for m in (
        BaseModel("gpt-4.1-2025-04-14", 1744316542, _SD),
        BaseModel("gpt-4.1-mini-2025-04-14", 1744317547, _SD),
        BaseModel("gpt-4.1-nano-2025-04-14", 1744321025, _SD),
        BaseModel("gpt-4o-2024-08-06", 1722814719, _SD),
        BaseModel("gpt-4o-mini-2024-07-18", 1721172717, _SD),
        BaseModel("gpt-3.5-turbo-0125", 1706048358, ("supervised",)),
        BaseModel("babbage-002", 1692634615, ("supervised",), legacy_completions=True),
        BaseModel("davinci-002", 1692634301, ("supervised",), legacy_completions=True),
        BaseModel("o4-mini-2025-04-16", 1744133506, ("reinforcement",)),
    )
}

# Undated names resolve to the snapshot the API fine-tunes (the job then reports the snapshot).
ALIASES: dict[str, str] = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "o4-mini": "o4-mini-2025-04-16",
}


def resolve_base(name: str) -> BaseModel | None:
    """The base model for a name or alias, or None when it is not fine-tunable."""
    return BASE_MODELS.get(ALIASES.get(name, name))

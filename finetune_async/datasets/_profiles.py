"""What each provider accepts in a training file, as data: line formats per method, limits, stats.

A :class:`DataRules` profile says which line formats (:class:`LineFormat`) each of a
provider's methods takes, whether a file may mix them, the context limits, the example-count
minimums and which of the report's statistics mean anything there. The validator reads these
fields and never a provider's name: a new provider is a new profile (and, for a line format
of its own, one entry in ``_formats.RULES``), registered with :func:`register_data_rules`.

The profiles here, and where their facts come from:

- :data:`OPENAI` (also :data:`AZURE`: Azure OpenAI takes the same create body and lines):
  ``supervised`` (``chat``), ``dpo`` (``preference``), ``reinforcement``, per OpenAI's
  fine-tuning guides and ``fine-tuning-training-data.yaml``; at least 10 examples; contexts
  per base model (65,536 for the current ones); cl100k token accounting, the ``n_epochs="auto"``
  rule and the billed-token estimate are OpenAI's.
- :data:`NEBIUS` (Nebius Token Factory): ``supervised`` and ``spec-draft`` both take chat
  ``messages`` (roles system, developer, user, assistant, tool; content a string, a list or
  null; the last turn the assistant's), ``prompt``/``completion``, ``text`` and pre-tokenized
  ``input_ids``, one format per file; ``context_length`` 8192 to 131,072 (default 8192); at
  least 10 examples (as the emulator's Nebius dialect requires). Nebius trains open models
  with their own tokenizers: token counts are estimates, and no epochs or billing rule is
  published, so ``epochs`` and ``billed_tokens`` stay 0.

- :data:`TOGETHER` (Together AI): ``supervised`` takes ``conversation`` (Together's chat
  ``messages``: roles system, user, assistant, tool, each with ``content`` (an assistant's may
  be absent beside ``tool_calls``); a system message only first, the first message system or
  user, no two user or assistant messages in a row, at least one assistant message; ``weight``
  0 or 1 on any message), ``prompt``/``completion`` and ``text`` lines, one format per file and
  one per line (a line holding both ``messages`` and ``text``, say, is refused); ``dpo`` takes
  OpenAI's ``preference`` lines. At least 1 example (Together's SDK, ``MIN_SAMPLES``); files
  up to 50.1 GiB (its ``MAX_FILE_SIZE_GB``). No reinforcement.
- :data:`FIREWORKS` (Fireworks AI): ``supervised`` takes OpenAI's ``chat`` lines and ``dpo``
  OpenAI's ``preference`` lines ("OpenAI-compatible chat completion format"); at least 3 and
  at most 3,000,000 examples (Fireworks' SFT and DPO guides); no file size (``files.create``
  sends a file over the 150 MB of ``datasets/{id}:upload`` through a signed URL, which states
  none). No reinforcement here (Fireworks' reinforcement jobs need an evaluator and another
  line format).

Both train open models with their own tokenizers and per-model context lengths: token counts
are estimates, ``epochs`` and ``billed_tokens`` stay 0, and the context is 8,192 unless
``context_limit`` gives the job's (Together's ``max_seq_length``, Fireworks'
``maxContextLength``; Fireworks' largest is 262,144).

A format that differs from these in its rules (another role set, say) gets its own
:class:`LineFormat` and rule entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from attrs import define, evolve, field

__all__ = [
    "ALL_STATS",
    "AZURE",
    "CHAT",
    "CONVERSATION",
    "FIREWORKS",
    "FORMATS",
    "INPUT_IDS",
    "MESSAGES",
    "NEBIUS",
    "OPENAI",
    "PREFERENCE",
    "PROMPT_COMPLETION",
    "REINFORCEMENT",
    "TEXT",
    "TOGETHER",
    "ContextLimits",
    "DataRules",
    "LineFormat",
    "data_rules_for",
    "provider_names",
    "register_data_rules",
]


@define(frozen=True, slots=True, kw_only=True)
class LineFormat:
    """One shape of training line.

    ``name`` is how reports and problems call it (``report.line_format``); ``keys`` are the
    top-level keys that mark a line as this format (any one of them, checked in the order a
    method lists its formats, so the first format whose key a line has is the line's);
    ``description`` is what problem messages say it is.
    """

    name: str
    keys: tuple[str, ...]
    description: str


#: OpenAI's supervised chat example (``FineTuneChatRequestInput``).
CHAT = LineFormat(name="chat", keys=("messages",), description="chat messages ending with the assistant's answer")
#: OpenAI's DPO example (``FineTunePreferenceRequestInput``).
PREFERENCE = LineFormat(
    name="preference",
    keys=("input", "preferred_output", "non_preferred_output"),
    description="input, preferred_output and non_preferred_output",
)
#: OpenAI's reinforcement example: messages the model answers, other keys free for the grader.
REINFORCEMENT = LineFormat(
    name="reinforcement", keys=("messages",), description="messages the model answers, with reference keys"
)
#: A plain chat: roles system, developer, user, assistant, tool; the last turn the assistant's.
MESSAGES = LineFormat(name="messages", keys=("messages",), description="'messages', the last turn the assistant's")
#: ``{"prompt": str, "completion": str}``.
PROMPT_COMPLETION = LineFormat(
    name="prompt_completion", keys=("prompt", "completion"), description="'prompt' and 'completion'"
)
#: ``{"text": str}``, a non-empty string.
TEXT = LineFormat(name="text", keys=("text",), description="'text'")
#: Pre-tokenized ``{"input_ids": [int, ...]}``, a non-empty list.
INPUT_IDS = LineFormat(name="input_ids", keys=("input_ids",), description="pre-tokenized 'input_ids'")
#: Together's chat: roles system, user, assistant, tool; starts with system or user; user and
#: assistant turns alternate; at least one assistant message.
CONVERSATION = LineFormat(
    name="conversation", keys=("messages",), description="'messages' alternating user and assistant turns"
)

#: Every known line format by name.
FORMATS: Mapping[str, LineFormat] = MappingProxyType(
    {f.name: f for f in (CHAT, PREFERENCE, REINFORCEMENT, MESSAGES, PROMPT_COMPLETION, TEXT, INPUT_IDS, CONVERSATION)}
)

#: The :class:`~finetune_async.datasets.DatasetStats` estimates a profile may or may not have.
ALL_STATS = frozenset({"tokens", "context", "duplicates", "epochs", "billed_tokens"})


@define(frozen=True, slots=True, kw_only=True)
class ContextLimits:
    """The training context: ``default`` when neither a limit nor a known model is given;
    ``minimum``/``maximum`` bound a ``context_limit`` the caller gives (the job's context
    length, where the provider lets it be set; None: no bound); ``by_model`` maps base-model
    prefixes to their limit (the longest matching prefix wins; ``ft:`` ids use their base)."""

    default: int
    minimum: int | None = None
    maximum: int | None = None
    by_model: tuple[tuple[str, int], ...] = ()

    def for_model(self, model: str | None) -> int:
        """The limit for ``model`` (a base or ``ft:`` model id), else :attr:`default`."""
        if not model:
            return self.default
        name = model[3:] if model.startswith("ft:") else model
        best = ("", self.default)
        for prefix, limit in self.by_model:
            if name.startswith(prefix) and len(prefix) > len(best[0]):
                best = (prefix, limit)
        return best[1]


def _methods(value: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    methods = {str(k): tuple(v) for k, v in value.items()}
    for method, names in methods.items():
        if not names:
            raise ValueError(f"method {method!r} takes no line format")
        unknown = [n for n in names if n not in FORMATS]
        if unknown:
            raise ValueError(f"method {method!r}: unknown line format(s) {', '.join(unknown)}")
    return MappingProxyType(methods)


@define(frozen=True, slots=True, kw_only=True)
class DataRules:
    """What one provider accepts in a training file (pure data; the validator reads it).

    ``name``: the registry name (``"nebius"``); ``display_name``: how messages call it.
    ``methods``: each method's line formats (names in :data:`FORMATS`), in the order a line's
    keys are matched against them. ``default_method``: checked when no method is given and
    the lines do not show one. ``one_format_per_file``: a file must keep to the format of its
    first line. ``one_format_per_line``: a line holding every key of two of the method's
    formats (``messages`` and ``text``) is refused, not read as the first. ``min_examples``: a
    training file's minimum; ``max_examples``: its maximum (None: none). ``max_file_bytes``: the
    largest file the provider takes (None: not checked), ``max_file_note`` says whose limit it
    is in the problem's message. ``context``: the limits.
    ``tokenizer``: ``"cl100k_base"`` when the provider counts tokens with it (counts can then
    be exact), None when the base model's own tokenizer decides (counts are estimates).
    ``stats``: which estimates of :data:`ALL_STATS` apply; the others are reported as 0.
    """

    name: str
    display_name: str
    methods: Mapping[str, tuple[str, ...]] = field(converter=_methods)
    default_method: str
    one_format_per_file: bool = False
    one_format_per_line: bool = False
    min_examples: int = 10
    max_examples: int | None = None
    max_file_bytes: int | None = None
    max_file_note: str = ""
    context: ContextLimits
    tokenizer: str | None = None
    stats: frozenset[str] = ALL_STATS

    def __attrs_post_init__(self) -> None:
        if self.default_method not in self.methods:
            raise ValueError(f"default_method {self.default_method!r} is not one of the methods")
        if self.max_examples is not None and self.max_examples < self.min_examples:
            raise ValueError("max_examples is below min_examples")
        if self.max_file_bytes is not None and self.max_file_bytes <= 0:
            raise ValueError("max_file_bytes must be positive")

    def formats_for(self, method: str) -> tuple[LineFormat, ...]:
        """The line formats ``method`` takes (KeyError for a method the provider lacks)."""
        return tuple(FORMATS[n] for n in self.methods[method])

    @property
    def same_formats(self) -> bool:
        """True when every method takes the same formats: the lines cannot tell methods apart."""
        return len({self.methods[m] for m in self.methods}) == 1


#: OpenAI's training context per base model (fine-tuning guide); the longest prefix wins.
_OPENAI_CONTEXTS: tuple[tuple[str, int], ...] = (
    ("gpt-4.1-nano", 65_536),
    ("gpt-4.1-mini", 65_536),
    ("gpt-4.1", 65_536),
    ("gpt-4o-mini", 65_536),
    ("gpt-4o", 65_536),
    ("o4-mini", 65_536),
    ("gpt-3.5-turbo-0613", 4_096),
    ("gpt-3.5-turbo-1106", 16_385),
    ("gpt-3.5-turbo-0125", 16_385),
    ("gpt-3.5-turbo", 16_385),
    ("babbage-002", 16_384),
    ("davinci-002", 16_384),
)

OPENAI = DataRules(
    name="openai",
    display_name="OpenAI",
    methods={"supervised": ("chat",), "dpo": ("preference",), "reinforcement": ("reinforcement",)},
    default_method="supervised",
    min_examples=10,
    context=ContextLimits(default=65_536, by_model=_OPENAI_CONTEXTS),
    tokenizer="cl100k_base",
    stats=ALL_STATS,
)

#: Azure OpenAI: OpenAI's lines and limits under Azure's name.
AZURE = evolve(OPENAI, name="azure", display_name="Azure OpenAI")

_NEBIUS_FORMATS = ("messages", "prompt_completion", "text", "input_ids")
NEBIUS = DataRules(
    name="nebius",
    display_name="Nebius",
    methods={"supervised": _NEBIUS_FORMATS, "spec-draft": _NEBIUS_FORMATS},
    default_method="supervised",
    one_format_per_file=True,
    min_examples=10,
    context=ContextLimits(default=8_192, minimum=8_192, maximum=131_072),
    tokenizer=None,
    stats=ALL_STATS - {"epochs", "billed_tokens"},
)

_OPEN_MODEL_STATS = ALL_STATS - {"epochs", "billed_tokens"}

TOGETHER = DataRules(
    name="together",
    display_name="Together AI",
    # Together's data-preparation guide: conversational (messages), instruction (prompt and
    # completion) and generic text lines for SFT; preference lines (OpenAI's DPO shape) for DPO;
    # "if the same file has two possible formats (for example both text and messages), the
    # server rejects it". Its SDK 3.1.1 (lib/constants.py) names the same four formats.
    methods={"supervised": ("conversation", "prompt_completion", "text"), "dpo": ("preference",)},
    default_method="supervised",
    one_format_per_file=True,
    one_format_per_line=True,
    # MIN_SAMPLES = 1 and MAX_FILE_SIZE_GB = 50.1 (of 2**30 bytes) in together 3.1.1's
    # lib/constants.py, checked by its check_file before an upload. Its guides give no maximum
    # of examples; the model's max_seq_length bounds an example (per model, not gathered).
    min_examples=1,
    max_file_bytes=int(50.1 * 2**30),
    context=ContextLimits(default=8_192),
    tokenizer=None,
    stats=_OPEN_MODEL_STATS,
)

FIREWORKS = DataRules(
    name="fireworks",
    display_name="Fireworks AI",
    # "Fireworks uses the OpenAI-compatible chat completion format for SFT training data" and
    # OpenAI's preference shape for DPO (Fireworks' SFT and DPO guides).
    methods={"supervised": ("chat",), "dpo": ("preference",)},
    default_method="supervised",
    # "Minimum examples: 3; Maximum examples: 3 million per dataset" (the SFT and DPO guides).
    min_examples=3,
    max_examples=3_000_000,
    # No size is checked: ":upload can handle file sizes up to 150Mb. For larger file sizes use
    # Get Dataset Upload Endpoint" (fireworks-fine-tuning.yaml), and files.create does so; the
    # signed-URL upload states no limit.
    # maxContextLength is per job, bounded per base model; the largest in Fireworks' table of
    # supported base models is 256K (262,144 tokens).
    context=ContextLimits(default=8_192, maximum=262_144),
    tokenizer=None,
    stats=_OPEN_MODEL_STATS,
)

_REGISTRY: dict[str, DataRules] = {}


def register_data_rules(rules: DataRules, *aliases: str) -> DataRules:
    """Make ``rules`` reachable by its name (and ``aliases``, case-insensitive); returns it.

    Registering a name again replaces the profile it named.
    """
    for name in (rules.name, *aliases):
        _REGISTRY[name.lower()] = rules
    return rules


for _rules in (OPENAI, AZURE, NEBIUS, TOGETHER, FIREWORKS):
    register_data_rules(_rules)


def provider_names() -> tuple[str, ...]:
    """The names :func:`data_rules_for` knows, in registration order."""
    return tuple(_REGISTRY)


def data_rules_for(provider: object = None) -> DataRules:
    """The data rules of ``provider``.

    ``provider`` is None (OpenAI's), a :class:`DataRules`, a registered name (``"openai"``,
    ``"azure"``, ``"nebius"``, ``"together"``, ``"fireworks"``), or an object with a
    ``data_rules`` attribute holding one (a provider object), or with a ``provider`` attribute
    that has it (a client).

    Raises ValueError for an unknown name, TypeError for anything else.
    """
    if provider is None:
        return OPENAI
    if isinstance(provider, DataRules):
        return provider
    if isinstance(provider, str):
        rules = _REGISTRY.get(provider.lower())
        if rules is None:
            raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(_REGISTRY)}")
        return rules
    for owner in (provider, getattr(provider, "provider", None)):
        rules = getattr(owner, "data_rules", None)
        if isinstance(rules, DataRules):
            return rules
    raise TypeError(
        f"provider must be a name, DataRules, or an object with a 'data_rules' attribute, not {type(provider).__name__}"
    )

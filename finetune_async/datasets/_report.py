"""The report a validation returns: problems, and statistics over the valid examples."""

from __future__ import annotations

import json
from typing import Any

from attrs import asdict, define, field

from ..errors import DatasetError

__all__ = ["DatasetReport", "DatasetStats", "Distribution", "Problem"]


@define(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    ``line`` is the 1-based line number, or ``None`` for a file-level problem (empty file,
    too few examples). ``code`` is a stable snake_case identifier (listed in
    :mod:`finetune_async.datasets`); ``message`` says what is wrong and where in the line.
    """

    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: [{self.code}] {self.message}"


@define(frozen=True, kw_only=True)
class Distribution:
    """Summary of one per-example quantity over the measured examples (all zero when none).

    ``mean``, ``median``, ``p10`` and ``p90`` are rounded to 3 decimals; percentiles interpolate
    linearly between closest ranks, like ``statistics.quantiles(method="inclusive")``.
    """

    min: int = 0
    max: int = 0
    mean: float = 0.0
    median: float = 0.0
    p10: float = 0.0
    p90: float = 0.0


@define(frozen=True, kw_only=True)
class DatasetStats:
    """Statistics over the examples that passed validation.

    Token counts follow the cl100k chat accounting (3 per message, the tokens of every value,
    1 more for a ``name``, 3 per example); ``token_estimate_method`` says whether they are exact
    (``"tiktoken:cl100k_base"``) or the documented character-based ``"estimate"``.

    ``epochs`` is what the API's ``n_epochs="auto"`` would choose for this many examples, and
    ``billed_tokens`` is ``epochs * sum(min(context_limit, tokens))``: an estimate.
    ``quantiles_exact`` is false when some per-example value was above 65,536 and the median
    and percentiles were read from a coarser histogram (relative error below 0.05%).
    """

    n_examples: int = 0
    messages_per_example: Distribution = field(factory=Distribution)
    tokens_per_example: Distribution = field(factory=Distribution)
    assistant_tokens_per_example: Distribution = field(factory=Distribution)
    total_tokens: int = 0
    n_missing_system: int = 0
    n_missing_user: int = 0
    n_over_context: int = 0
    n_duplicates: int = 0
    context_limit: int = 0
    epochs: int = 0
    billed_tokens: int = 0
    token_estimate_method: str = "estimate"
    quantiles_exact: bool = True


@define(frozen=True, kw_only=True)
class DatasetReport:
    """What :func:`~finetune_async.datasets.validate_dataset` found.

    ``problems`` holds at most ``max_problems`` line problems (in line order) plus any
    file-level problems (never dropped, listed first); ``n_problems`` counts every problem
    found, including those beyond the cap. ``n_examples`` counts the non-blank lines;
    ``stats`` describes the examples among them that passed validation.
    """

    method: str
    path: str | None = None
    #: Whose data rules were applied (``"openai"``, ``"azure"``, ``"nebius"``).
    provider: str = "openai"
    #: The line format checked: the method's only one (``"chat"``, ``"preference"``,
    #: ``"reinforcement"``), or, where a method takes several, the first line's (``"messages"``,
    #: ``"prompt_completion"``, ``"text"``, ``"input_ids"``; None when no line showed one).
    line_format: str | None = None
    #: True when no method was given and the lines' shape chose ``method``.
    method_detected: bool = False
    #: How the method was chosen, when it was detected ("method not given: assumed dpo, ...").
    method_note: str | None = None
    n_examples: int = 0
    problems: list[Problem] = field(factory=list)
    n_problems: int = 0
    stats: DatasetStats = field(factory=DatasetStats)

    @property
    def ok(self) -> bool:
        """True when no problem at all was found."""
        return self.n_problems == 0

    @property
    def n_problems_not_shown(self) -> int:
        """How many problems were counted but not kept in ``problems`` (the cap)."""
        return max(0, self.n_problems - len(self.problems))

    def raise_for_problems(self) -> None:
        """Raise :class:`~finetune_async.errors.DatasetError` carrying ``problems`` unless ``ok``."""
        if not self.ok:
            raise DatasetError(list(self.problems), path=self.path, total=self.n_problems)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (dicts, lists, str, int, float, bool, None)."""
        return {
            "ok": self.ok,
            "method": self.method,
            "method_detected": self.method_detected,
            "method_note": self.method_note,
            "provider": self.provider,
            "line_format": self.line_format,
            "path": self.path,
            "n_examples": self.n_examples,
            "n_problems": self.n_problems,
            "n_problems_not_shown": self.n_problems_not_shown,
            "problems": [asdict(p) for p in self.problems],
            "stats": asdict(self.stats),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`as_dict` serialized as JSON text."""
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)

"""Streaming statistics: bounded-memory distributions, duplicates, context limits, epochs, billing.

Distributions are kept as histograms (value -> count), not lists: values up to 65,536 are kept
exactly, larger ones are rounded down to 12 significant bits (relative error < 0.05%). A
histogram never holds more than about 115,000 keys whatever the number of examples, so the
median and percentiles are exact for every realistic dataset and bounded in memory for any.
Percentiles interpolate linearly between closest ranks (``statistics.quantiles(...,
method="inclusive")``, numpy's default); the median of an even count is the mean of the middle two.

Duplicates: each valid example keeps a 64-bit keyed hash (SipHash, Python's ``hash``) of its
line, never the text, appended to one of 256 ``array("q")`` buckets chosen by the hash's low
byte: 8 bytes per example (a ``set`` would take about 90). Duplicates are counted once, at
the end, bucket by bucket, so the largest transient set holds 1/256th of the hashes. A 16-byte
cryptographic digest (BLAKE2b, SHA-1) costs 30-40% of a stdlib JSON parse per line, which alone
would sink the throughput target; with 64 bits the chance of even one false duplicate stays
under one in a million below 6 million examples. Two lines are duplicates when they are
byte-identical (apart from a missing final newline): the same example with its keys in another
order or other inner whitespace is not detected, because canonicalizing (re-serializing with
sorted keys) costs about three times the JSON parse of every line.
"""

from __future__ import annotations

from array import array

from ._measure import Measurement
from ._profiles import OPENAI
from ._report import DatasetStats, Distribution

__all__ = [
    "DEFAULT_CONTEXT_LIMIT",
    "EXACT_LIMIT",
    "Histogram",
    "StatsAccumulator",
    "context_limit_for",
    "default_epochs",
]

# Training-example context length by base model: OpenAI's profile holds the table.
DEFAULT_CONTEXT_LIMIT = OPENAI.context.default

EXACT_LIMIT = 65_536
_DECIMALS = 3  # of the mean and the interpolated quantiles
_BUCKETS = 256
_BUCKET_MASK = _BUCKETS - 1
_SIGNIFICANT_BITS = 12

MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
TARGET_EPOCHS = 3
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def context_limit_for(model: str | None) -> int:
    """OpenAI's training context limit for ``model`` (a base or ``ft:`` model id), default 65,536."""
    return OPENAI.context.for_model(model)


def default_epochs(n_examples: int) -> int:
    """Epochs the API picks for ``n_epochs="auto"``: 3, raised so that n x epochs reaches 100
    (at most 25), lowered so that it stays near 25,000 (at least 1). 0 for no examples."""
    if n_examples <= 0:
        return 0
    epochs = TARGET_EPOCHS
    if n_examples * epochs < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * epochs > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


class Histogram:
    """Counts of non-negative integers in bounded memory (see the module doc).

    The hot loop updates ``counts`` directly for values up to 65,536 (``EXACT_LIMIT``) and
    calls :meth:`add_big` for larger ones.
    """

    __slots__ = ("big_counts", "big_max", "big_min", "big_total", "counts")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}  # exact values
        self.big_counts: dict[int, int] = {}  # rounded values above EXACT_LIMIT
        self.big_total = 0
        self.big_min = 0
        self.big_max = 0

    def add(self, value: int) -> None:
        if value > EXACT_LIMIT:
            self.add_big(value)
        else:
            counts = self.counts
            counts[value] = counts.get(value, 0) + 1

    def add_big(self, value: int) -> None:
        if self.big_max == 0 or value < self.big_min:
            self.big_min = value
        if value > self.big_max:
            self.big_max = value
        self.big_total += value
        shift = value.bit_length() - _SIGNIFICANT_BITS
        key = (value >> shift) << shift
        self.big_counts[key] = self.big_counts.get(key, 0) + 1

    @property
    def total(self) -> int:
        """The exact sum of every value added."""
        return self.big_total + sum(v * c for v, c in self.counts.items())

    @property
    def exact(self) -> bool:
        """False when some value was rounded (the quantiles are then approximate)."""
        return self.big_max == 0

    def quantile(self, q: float) -> float:
        """Linear interpolation between closest ranks; 0.0 when empty."""
        return self._quantiles((q,), self._items())[0]

    def _items(self) -> list[tuple[int, int]]:
        return sorted(self.counts.items()) + sorted(self.big_counts.items())

    def _quantiles(self, qs: tuple[float, ...], items: list[tuple[int, int]]) -> list[float]:
        n = sum(c for _, c in items)
        if n == 0:
            return [0.0 for _ in qs]
        result = []
        for q in qs:
            pos = (n - 1) * q
            lo_rank = int(pos)
            frac = pos - lo_rank
            hi_rank = lo_rank + 1 if frac > 0 else lo_rank
            lo_value = hi_value = -1
            seen = 0
            for value, count in items:
                seen += count
                if lo_value < 0 and seen > lo_rank:
                    lo_value = value
                if seen > hi_rank:
                    hi_value = value
                    break
            result.append(lo_value + (hi_value - lo_value) * frac)
        return result

    def distribution(self) -> Distribution:
        items = self._items()
        if not items:
            return Distribution()
        n = sum(c for _, c in items)
        lo = min(self.counts) if self.counts else self.big_min
        hi = self.big_max if self.big_max else max(self.counts)
        median, p10, p90 = self._quantiles((0.5, 0.1, 0.9), items)
        return Distribution(
            min=lo,
            max=hi,
            mean=round(self.total / n, _DECIMALS),
            median=round(median, _DECIMALS),
            p10=round(p10, _DECIMALS),
            p90=round(p90, _DECIMALS),
        )


class StatsAccumulator:
    """Collects per-example measurements one example at a time."""

    __slots__ = (
        "_buckets",
        "assistant_tokens",
        "big_billable",
        "context_limit",
        "messages",
        "n_missing_system",
        "n_missing_user",
        "n_over_context",
        "token_method",
        "tokens",
        "with_epochs",
    )

    def __init__(self, context_limit: int, token_method: str, *, epochs: bool = True) -> None:
        self.context_limit = context_limit
        # False where the provider publishes no n_epochs="auto" rule: epochs and billing stay 0.
        self.with_epochs = epochs
        self.token_method = token_method
        self.messages = Histogram()
        self.tokens = Histogram()
        self.assistant_tokens = Histogram()
        self.n_missing_system = 0
        self.n_missing_user = 0
        self.n_over_context = 0
        self.big_billable = 0
        # Line hashes, spread over 256 compact arrays by their low byte (see the module doc).
        self._buckets = [array("q") for _ in range(_BUCKETS)]

    def add(self, m: Measurement, line: bytes | str) -> None:
        """Record one valid example: its measurement and its line (for duplicates)."""
        # Runs once per example of files of millions of lines: histogram updates are inlined,
        # and totals that the histograms already hold are computed once at the end.
        n_messages, tokens, assistant, has_system, has_user, longest = m
        if n_messages > EXACT_LIMIT:
            self.messages.add_big(n_messages)
        else:
            c = self.messages.counts
            c[n_messages] = c.get(n_messages, 0) + 1
        if tokens > EXACT_LIMIT:
            self.tokens.add_big(tokens)
            self.big_billable += min(tokens, self.context_limit)
        else:
            c = self.tokens.counts
            c[tokens] = c.get(tokens, 0) + 1
        if assistant > EXACT_LIMIT:
            self.assistant_tokens.add_big(assistant)
        else:
            c = self.assistant_tokens.counts
            c[assistant] = c.get(assistant, 0) + 1
        if not has_system:
            self.n_missing_system += 1
        if not has_user:
            self.n_missing_user += 1
        if longest > self.context_limit:
            self.n_over_context += 1
        # One key for the same line whatever its ending (LF, CRLF, or none: the last line, a
        # CR-ended one), at the cost of no copy for the usual line: bytes lines (as read) are
        # keyed with one LF; str lines (long lines are decoded without their ending) without.
        # A valid example's line is never empty; indexing is cheaper than endswith.
        if type(line) is bytes:
            if line[-1] != 10:
                line += b"\n"
            elif line[-2:-1] == b"\r":
                line = line[:-2] + b"\n"
        elif line[-1] == "\n":
            line = line[:-2] if line[-2:-1] == "\r" else line[:-1]
        key = hash(line)
        self._buckets[key & _BUCKET_MASK].append(key)

    def _distinct(self) -> int:
        """Distinct line hashes, one bucket at a time (the largest transient set is 1/256th)."""
        return sum(len(set(bucket)) for bucket in self._buckets)

    def finish(self) -> DatasetStats:
        tokens = self.tokens
        n = sum(tokens.counts.values()) + sum(tokens.big_counts.values())
        limit = self.context_limit
        billable = self.big_billable + sum(min(v, limit) * c for v, c in tokens.counts.items())
        epochs = default_epochs(n) if self.with_epochs else 0
        return DatasetStats(
            n_examples=n,
            messages_per_example=self.messages.distribution(),
            tokens_per_example=self.tokens.distribution(),
            assistant_tokens_per_example=self.assistant_tokens.distribution(),
            total_tokens=tokens.total,
            n_missing_system=self.n_missing_system,
            n_missing_user=self.n_missing_user,
            n_over_context=self.n_over_context,
            n_duplicates=n - self._distinct(),
            context_limit=self.context_limit,
            epochs=epochs,
            billed_tokens=epochs * billable,
            token_estimate_method=self.token_method,
            quantiles_exact=self.messages.exact and self.tokens.exact and self.assistant_tokens.exact,
        )

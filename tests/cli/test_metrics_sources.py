"""The rows the ``metrics`` command reads from a provider's metrics endpoint (Together's
``jobs.metrics`` snapshots: ``train/loss``, ``eval/loss``, ``train/global_step``, ...), whatever
the endpoint answers."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from finetune_async.cli._metrics import MetricRow, rows_from_snapshots

_NAMES = [
    "train/global_step",
    "train/loss",
    "train/learning_rate",
    "train/mean_token_accuracy",
    "eval/loss",
    "eval/mean_token_accuracy",
    "global_step",
    "step",
]
_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
_SNAPSHOTS = st.lists(
    st.dictionaries(st.one_of(st.sampled_from(_NAMES), st.text(max_size=12)), _VALUES, max_size=8), max_size=12
)


def _finite(value: Any) -> float | None:
    # A number, or a string of one (as the result file's CSV has them); not a bool.
    if isinstance(value, str) and value.strip():
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def test_together_names_become_the_result_files_columns() -> None:
    rows = rows_from_snapshots(
        [
            {"train/loss": 0.5, "train/learning_rate": 1e-4, "train/global_step": 7},
            {"train/loss": 0.45, "eval/loss": 0.6, "eval/mean_token_accuracy": 0.8, "train/global_step": 14},
            {"train/loss": 0.4},  # no step: left out
        ]
    )
    assert rows == [
        MetricRow(step=7, train_loss=0.5),
        MetricRow(step=14, train_loss=0.45, valid_loss=0.6, valid_accuracy=0.8),
    ]


@given(_SNAPSHOTS)
def test_any_answer_gives_one_row_per_step_in_order_holding_the_last_values(snapshots: list[dict[str, Any]]) -> None:
    rows = rows_from_snapshots(snapshots)
    steps = [row.step for row in rows]
    assert steps == sorted(set(steps))
    for row in rows:
        for value in (row.train_loss, row.train_accuracy, row.valid_loss, row.valid_accuracy):
            assert value is None or math.isfinite(value)
    # Each step's row is its last snapshot's: the train loss it holds, if a finite number.
    last: dict[int, dict[str, Any]] = {}
    for snapshot in snapshots:
        raw = next((snapshot[k] for k in ("train/global_step", "global_step", "step") if k in snapshot), None)
        step = _finite(raw)
        if step is not None:
            last[int(step)] = snapshot
    assert steps == sorted(last)
    for row in rows:
        assert row.train_loss == _finite(last[row.step].get("train/loss"))

"""Decode cost of models: ``structure_list`` of a 100-item page vs ``json.loads`` of the same page.

Run: ``python benchmarks/bench_decode.py``. Prints microseconds per object for parsing the JSON
text, for decoding the parsed dicts into models, and their ratio ((loads + decode) / loads),
which is what a paginated listing pays on top of plain JSON parsing.
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from typing import Any

from finetune_async.models import FineTuningJob, FineTuningJobCheckpoint, FineTuningJobEvent, structure_list

N_ITEMS = 100


def _event(i: int) -> dict[str, Any]:
    if i % 2:
        return {
            "object": "fine_tuning.job.event",
            "id": f"ftevent-{i:024d}",
            "created_at": 1_721_764_800 + i,
            "level": "info",
            "message": f"Step {i}/2000: training loss=0.{i:04d}",
            "type": "metrics",
            "data": {
                "step": i,
                "total_steps": 2000,
                "train_loss": 0.5 - i / 10_000,
                "train_mean_token_accuracy": 0.8 + i / 100_000,
            },
        }
    return {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{i:024d}",
        "created_at": 1_721_764_800 + i,
        "level": "info",
        "message": "Fine-tuning job started",
        "type": "message",
        "data": {},
    }


def _job(i: int) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job",
        "id": f"ftjob-{i:024d}",
        "model": "gpt-4o-mini-2024-07-18",
        "created_at": 1_721_764_800 + i,
        "finished_at": 1_721_768_400 + i,
        "fine_tuned_model": f"ft:gpt-4o-mini-2024-07-18:org:suffix:{i:08d}",
        "organization_id": "org-123",
        "result_files": [f"file-result{i}"],
        "status": "succeeded",
        "validation_file": None,
        "training_file": "file-abc123",
        "hyperparameters": {"batch_size": 1, "learning_rate_multiplier": 1.8, "n_epochs": 3},
        "trained_tokens": 123_456,
        "error": None,
        "integrations": [],
        "seed": 42,
        "estimated_finish": None,
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"batch_size": 1, "learning_rate_multiplier": 1.8, "n_epochs": 3}},
        },
        "metadata": {"customer": "acme"},
        "user_provided_suffix": "suffix",
    }


def _checkpoint(i: int) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": f"ftckpt_{i:024d}",
        "created_at": 1_721_764_800 + i,
        "fine_tuned_model_checkpoint": f"ft:gpt-4o-mini-2024-07-18:org:suffix:{i:08d}:ckpt-step-{i}",
        "fine_tuning_job_id": "ftjob-abc",
        "step_number": i,
        "metrics": {
            "step": i,
            "train_loss": 0.3,
            "train_mean_token_accuracy": 0.9,
            "valid_loss": 0.4,
            "valid_mean_token_accuracy": 0.85,
            "full_valid_loss": 0.41,
            "full_valid_mean_token_accuracy": 0.84,
        },
    }


def _best_per_item(fn: Callable[[], object], repeat: int = 7, number: int = 200) -> float:
    return min(timeit.repeat(fn, repeat=repeat, number=number)) / number / N_ITEMS * 1e6


def main() -> None:
    rows = []
    for name, make, cls in (
        ("FineTuningJobEvent", _event, FineTuningJobEvent),
        ("FineTuningJob", _job, FineTuningJob),
        ("FineTuningJobCheckpoint", _checkpoint, FineTuningJobCheckpoint),
    ):
        text = json.dumps({"object": "list", "data": [make(i) for i in range(N_ITEMS)], "has_more": True})
        items = json.loads(text)["data"]
        loads = _best_per_item(lambda text=text: json.loads(text))
        decode = _best_per_item(lambda items=items, cls=cls: structure_list(items, cls))
        rows.append((name, loads, decode, (loads + decode) / loads))
    print(f"{'model':<26}{'json.loads µs/obj':>19}{'structure µs/obj':>18}{'(loads+decode)/loads':>22}")
    for name, loads, decode, ratio in rows:
        print(f"{name:<26}{loads:>19.2f}{decode:>18.2f}{ratio:>22.2f}x")


if __name__ == "__main__":
    main()

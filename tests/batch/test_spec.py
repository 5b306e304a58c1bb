"""``BatchSpec``: keys, the method it sends, and the limits it enforces (no I/O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import finetune_async as ft
from finetune_async._journal import Journal

MODEL = "gpt-4o-mini-2024-07-18"

hyper = st.fixed_dictionaries(
    {},
    optional={
        "n_epochs": st.integers(1, 50),
        "batch_size": st.integers(1, 256),
        "learning_rate_multiplier": st.floats(0.01, 10, allow_nan=False),
    },
)


@given(hp=hyper, suffix=st.none() | st.text("abc-", min_size=1, max_size=10))
def test_derived_keys_are_stable_and_follow_the_content(hp: dict[str, Any], suffix: str | None) -> None:
    spec = ft.BatchSpec(training_file="data/t.jsonl", model=MODEL, hyperparameters=hp, suffix=suffix)
    same = ft.BatchSpec(training_file="./data/t.jsonl", model=MODEL, hyperparameters=dict(hp), suffix=suffix)
    assert spec.spec_key == same.spec_key
    assert spec.spec_key.startswith(f"{suffix or 'spec'}-")
    other = ft.BatchSpec(training_file="data/t.jsonl", model=MODEL, hyperparameters=hp, suffix=suffix, seed=7)
    assert other.spec_key != spec.spec_key


def test_hyperparameters_go_inside_the_method() -> None:
    attrs_hp = ft.BatchSpec(
        training_file="t.jsonl", model=MODEL, hyperparameters=ft.SupervisedHyperparameters(n_epochs=3)
    )
    dict_hp = ft.BatchSpec(training_file="t.jsonl", model=MODEL, hyperparameters={"n_epochs": 3})
    assert attrs_hp.method_param() == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    assert attrs_hp.spec_key == dict_hp.spec_key
    dpo = ft.BatchSpec(training_file="t.jsonl", model=MODEL, method="dpo", hyperparameters={"beta": 0.1})
    assert dpo.method_param() == {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}
    full = ft.BatchSpec(
        training_file="t.jsonl",
        model=MODEL,
        method=ft.Method(type=ft.MethodType.DPO, dpo=ft.DpoMethod(hyperparameters=ft.DpoHyperparameters(beta=0.2))),
    )
    assert full.method_type == "dpo"
    assert full.method_param()["dpo"]["hyperparameters"]["beta"] == 0.2
    twice = ft.BatchSpec(
        training_file="t.jsonl",
        model=MODEL,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
        hyperparameters={"n_epochs": 2},
    )
    with pytest.raises(ValueError, match="twice"):
        twice.method_param()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metadata": {f"k{i}": "v" for i in range(15)}}, "at most 14"),
        ({"metadata": {"ft_batch": "x"}}, "reserved"),
        ({"metadata": {"k" * 65: "v"}}, "keys up to 64"),
        ({"metadata": {"k": "v" * 513}}, "values up to 512"),
        ({"method": "magic"}, "unknown method"),
        ({"key": "k" * 513}, "spec key"),
        ({"model": ""}, "needs a model"),
    ],
)
def test_specs_that_the_api_would_refuse_are_refused_early(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ft.BatchSpec(**{"training_file": "t.jsonl", "model": MODEL, **kwargs})


def test_from_dict() -> None:
    spec = ft.BatchSpec.from_dict({"training_file": "t.jsonl", "model": MODEL, "seed": "3", "metadata": {"a": 1}})
    assert spec.seed == 3
    assert spec.metadata == {"a": "1"}
    with pytest.raises(ValueError, match="unknown spec field"):
        ft.BatchSpec.from_dict({"training_file": "t.jsonl", "model": MODEL, "epochs": 3})


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ft.FineTuneError, match="not a batch journal"):
        Journal(path)
    with pytest.raises(ft.FineTuneError, match="cannot"):
        Journal(tmp_path / "missing-dir" / "j.sqlite")

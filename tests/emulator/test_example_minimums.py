"""Each dialect asks a training file for its provider's minimum of examples: 10 on OpenAI,
Azure and Nebius, 1 on Together, 3 on Fireworks (as their own guides and SDKs say, and as the
SDK's validator checks them: ``validate_dataset(provider=...)``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import finetune_async as ft
from finetune_async.emulator._datasets import check_dataset
from tests.data import jsonl, supervised_rows
from tests.dialects import DIALECTS, Dialect

#: Written down here, not read from the code under test.
MINIMUM = {"openai": 10, "azure": 10, "nebius": 10, "together": 1, "fireworks": 3}


@pytest.mark.parametrize("dialect", DIALECTS, ids=str)
async def test_a_training_file_needs_the_providers_minimum(dialect: Dialect) -> None:
    minimum = MINIMUM[dialect.provider]
    counts = sorted({1, 3, 9, minimum - 1, minimum} - {0})
    async with dialect.emulator(job_seconds=0.2) as emu, dialect.client(emu.base_url) as client:
        # The SDK's validator and the emulator ask the same.
        assert client.provider.data_rules.min_examples == minimum
        jobs = {}
        for n in counts:
            file = await client.files.create(file=(f"n{n}.jsonl", jsonl(supervised_rows(n))), purpose="fine-tune")
            if client.provider.capabilities.files_must_be_processed:
                await client.files.wait_for_processing(file.id)
            job = await client.fine_tuning.jobs.create(model=dialect.model, training_file=file.id)
            jobs[n] = job.id
        for n, job_id in jobs.items():
            job = await ft.wait_for_job(client, job_id, raise_on_failure=False)
            if n >= minimum:
                assert job.status == "succeeded", (n, job.error)
            else:
                assert job.status == "failed", n
                assert job.error is not None
                assert f"at least {minimum}" in job.error.message


@pytest.mark.parametrize("provider", sorted(MINIMUM))
def test_a_validation_file_needs_one_example_on_every_provider(provider: str, tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_bytes(jsonl(supervised_rows(1)))
    assert check_dataset(path, "supervised", validation=True, provider=provider).problem is None
    training = check_dataset(path, "supervised", provider=provider).problem
    assert (training is None) == (MINIMUM[provider] == 1), training


def test_an_unknown_provider_has_no_rules(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_bytes(jsonl(supervised_rows(1)))
    with pytest.raises(ValueError, match="unknown provider"):
        check_dataset(path, "supervised", provider="nobody")

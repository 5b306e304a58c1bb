"""client.fine_tuning.alpha.graders against the emulator over loopback HTTP."""

from __future__ import annotations

import pytest

import finetune_async as ft
from finetune_async.emulator import Emulator


async def test_run_string_check_grader(client: ft.AsyncClient) -> None:
    grader = ft.StringCheckGrader(
        type="string_check",
        name="exact",
        input="{{sample.output_text}}",
        reference="{{item.answer}}",
        operation="eq",
    )
    hit = await client.fine_tuning.alpha.graders.run(grader=grader, model_sample="42", item={"answer": "42"})
    miss = await client.fine_tuning.alpha.graders.run(grader=grader, model_sample="41", item={"answer": "42"})
    assert hit.reward == 1.0
    assert miss.reward == 0.0
    assert hit.metadata.name == "exact"


async def test_run_with_a_plain_dict_grader(client: ft.AsyncClient) -> None:
    grader = {
        "type": "text_similarity",
        "name": "sim",
        "input": "{{sample.output_text}}",
        "reference": "hello world",
        "evaluation_metric": "fuzzy_match",
    }
    result = await client.fine_tuning.alpha.graders.run(grader=grader, model_sample="hello world")
    assert 0.99 <= result.reward <= 1.0


async def test_validate(client: ft.AsyncClient, emulator: Emulator) -> None:
    grader = ft.PythonGrader(type="python", name="py", source="def grade(sample, item):\n    return 1.0\n")
    validated = await client.fine_tuning.alpha.graders.validate(grader=grader)
    assert isinstance(validated.grader, ft.PythonGrader)
    assert validated.grader.source == grader.source
    # An invalid grader is refused by the server (sent by a client without the spec check,
    # which would refuse to send it at all).
    async with ft.AsyncClient(api_key="sk-test", base_url=emulator.base_url) as unchecked:
        with pytest.raises(ft.BadRequestError):
            await unchecked.fine_tuning.alpha.graders.validate(grader={"type": "string_check", "name": "incomplete"})

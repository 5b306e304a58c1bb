"""The task-group error helpers: a caller hears the error it knows, not a group around it."""

from __future__ import annotations

import anyio
import pytest

import finetune_async as ft
from finetune_async._compat import BaseExceptionGroup, first_of_like_errors, sole_error


async def _fail(exc: BaseException, delay: float = 0.0) -> None:
    await anyio.sleep(delay)
    raise exc


async def _group_of(*errors: BaseException) -> BaseExceptionGroup[BaseException]:
    try:
        async with anyio.create_task_group() as tg:
            for exc in errors:
                tg.start_soon(_fail, exc)
    except BaseExceptionGroup as group:
        return group
    raise AssertionError("the task group did not fail")


@pytest.mark.anyio
async def test_several_like_errors_give_the_first_with_a_note() -> None:
    first = ft.InternalServerError("part 1 failed", status_code=500)
    second = ft.InternalServerError("part 2 failed", status_code=500)
    group = await _group_of(first, second)
    assert sole_error(group) is None
    assert first_of_like_errors(group) is first
    assert first.__notes__ == ["(1 other request(s) running beside it failed too)"]


@pytest.mark.anyio
async def test_one_error_is_given_as_it_is() -> None:
    only = ft.APIConnectionError("no answer", maybe_sent=True)
    group = await _group_of(only)
    assert first_of_like_errors(group) is only
    assert not getattr(only, "__notes__", None)


def test_an_interrupt_among_them_keeps_the_group() -> None:
    group = BaseExceptionGroup("parts", [ValueError("x"), KeyboardInterrupt()])
    assert first_of_like_errors(group) is None

"""``client.fine_tuning.alpha.graders``: run and validate graders for reinforcement fine-tuning."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...models import Grader, RunGraderResponse, ValidateGraderResponse
from ...models._converter import to_json_param
from .._base import CallOptions, Resource
from .._response import endpoint

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

    from ...client import AsyncClient

__all__ = ["Alpha", "Graders"]


class Graders(Resource):
    """The graders API (``/fine_tuning/alpha/graders``). Both calls have no side effects."""

    __slots__ = ()

    @endpoint
    async def run(
        self,
        *,
        grader: Grader | Mapping[str, Any],
        model_sample: str,
        item: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> RunGraderResponse:
        """Grade ``model_sample`` (with ``item`` as the dataset row); returns the reward and details."""
        self._require("alpha.graders.run")
        body: dict[str, Any] = {"grader": to_json_param(grader), "model_sample": model_sample}
        if item is not None:
            body["item"] = dict(item)
        return await self._request(
            RunGraderResponse,
            "POST",
            "/fine_tuning/alpha/graders/run",
            json_body=body,
            idempotent=True,
            options=options,
            op="alpha.graders.run",
        )

    @endpoint
    async def validate(
        self, *, grader: Grader | Mapping[str, Any], **options: Unpack[CallOptions]
    ) -> ValidateGraderResponse:
        """Check a grader's definition; returns it as the API understood it.

        Raises :class:`~finetune_async.BadRequestError` when the grader is invalid.
        """
        self._require("alpha.graders.validate")
        return await self._request(
            ValidateGraderResponse,
            "POST",
            "/fine_tuning/alpha/graders/validate",
            json_body={"grader": to_json_param(grader)},
            idempotent=True,
            options=options,
            op="alpha.graders.validate",
        )


class Alpha(Resource):
    """``client.fine_tuning.alpha``."""

    __slots__ = ("graders",)

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.graders = Graders(client)

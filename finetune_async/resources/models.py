"""``client.models``: the models this key can use, and deleting fine-tuned ones."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..models import Model, ModelDeleted
from ..pagination import AsyncPaginator
from ._base import CallOptions, Resource, path_id
from ._response import endpoint

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["Models"]


class Models(Resource):
    """The Models API (``/models``)."""

    __slots__ = ()

    @endpoint
    async def retrieve(self, model: str, **options: Unpack[CallOptions]) -> Model:
        """One model. Raises :class:`~finetune_async.NotFoundError`."""
        self._require("models.retrieve")
        return await self._request(
            Model, "GET", f"/models/{path_id(model, 'model')}", options=options, op="models.retrieve"
        )

    @endpoint
    def list(self, **options: Unpack[CallOptions]) -> AsyncPaginator[Model]:
        """Every model (one page: the endpoint does not paginate)."""
        self._require("models.list")
        return self._paginate(Model, "/models", options=options, op="models.list")

    @endpoint
    async def delete(self, model: str, **options: Unpack[CallOptions]) -> ModelDeleted:
        """Delete a fine-tuned model you own. Raises :class:`~finetune_async.PermissionDeniedError`
        or :class:`~finetune_async.NotFoundError`."""
        self._require("models.delete")
        return await self._request(
            ModelDeleted, "DELETE", f"/models/{path_id(model, 'model')}", options=options, op="models.delete"
        )

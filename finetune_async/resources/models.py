"""``client.models``: the models this key can use, and deleting fine-tuned ones."""

from __future__ import annotations

from ..models import Model, ModelDeleted
from ..pagination import AsyncPaginator
from ._base import Resource, path_id

__all__ = ["Models"]


class Models(Resource):
    """The Models API (``/models``)."""

    __slots__ = ()

    async def retrieve(self, model: str) -> Model:
        """One model. Raises :class:`~finetune_async.NotFoundError`."""
        return await self._request(Model, "GET", f"/models/{path_id(model, 'model')}")

    def list(self) -> AsyncPaginator[Model]:
        """Every model (one page: the endpoint does not paginate)."""
        return self._paginate(Model, "/models")

    async def delete(self, model: str) -> ModelDeleted:
        """Delete a fine-tuned model you own. Raises :class:`~finetune_async.PermissionDeniedError`
        or :class:`~finetune_async.NotFoundError`."""
        return await self._request(ModelDeleted, "DELETE", f"/models/{path_id(model, 'model')}")

"""``client.fine_tuning.checkpoints.permissions``: share a checkpoint with other projects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ...models import Permission, PermissionDeleted
from ...pagination import Page
from .._base import Resource, path_id

if TYPE_CHECKING:
    from ...client import AsyncClient

__all__ = ["Checkpoints", "Permissions"]


class Permissions(Resource):
    """Permissions on a fine-tuned model checkpoint (an admin API key is needed)."""

    __slots__ = ()

    async def create(self, fine_tuned_model_checkpoint: str, *, project_ids: Sequence[str]) -> Page[Permission]:
        """Grant ``project_ids`` access to the checkpoint; returns the permissions created.

        After a lost answer the SDK lists the checkpoint's permissions and returns the ones
        for these projects if they exist, instead of granting twice.
        """
        path = _permissions(fine_tuned_model_checkpoint)
        wanted = list(project_ids)

        async def find(since: float) -> Page[Permission] | None:
            existing = await self.retrieve(fine_tuned_model_checkpoint, limit=100)
            found = {p.project_id: p for p in existing.data if p.project_id in wanted and p.created_at >= since}
            if len(found) < len(set(wanted)):
                return None
            return Page(data=[found[p] for p in dict.fromkeys(wanted)], has_more=False)

        result = await self._transport.request(
            "POST",
            path,
            json_body={"project_ids": wanted},
            idempotent=False,
            # Granting twice leaves the same access: one look is enough before sending again.
            reconcile=self._ledger.reconciler("the permissions", find, patient=False),
        )
        if isinstance(result, Page):
            return result
        return self._decode_page(Permission, result, f"POST {path}")

    async def retrieve(
        self,
        fine_tuned_model_checkpoint: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        order: Literal["ascending", "descending"] | None = None,
        project_id: str | None = None,
    ) -> Page[Permission]:
        """One page of the checkpoint's permissions (``next_page()`` for more)."""
        path = _permissions(fine_tuned_model_checkpoint)
        params = {"limit": limit, "order": order, "project_id": project_id}
        return await self._paginate(Permission, path, params, after=after)

    async def delete(self, fine_tuned_model_checkpoint: str, permission_id: str) -> PermissionDeleted:
        """Revoke one permission. Raises :class:`~finetune_async.NotFoundError` if it does not exist."""
        path = f"{_permissions(fine_tuned_model_checkpoint)}/{path_id(permission_id, 'permission_id')}"
        return await self._request(PermissionDeleted, "DELETE", path)


def _permissions(fine_tuned_model_checkpoint: str) -> str:
    return f"/fine_tuning/checkpoints/{path_id(fine_tuned_model_checkpoint, 'fine_tuned_model_checkpoint')}/permissions"


class Checkpoints(Resource):
    """``client.fine_tuning.checkpoints``."""

    __slots__ = ("permissions",)

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.permissions = Permissions(client)

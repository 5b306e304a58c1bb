"""``client.fine_tuning.checkpoints.permissions``: share a checkpoint with other projects."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ..._transport import Response
from ...models import Permission, PermissionDeleted
from ...pagination import Page
from .._base import CallOptions, Resource, path_id, request_options
from .._response import endpoint

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

    from ...client import AsyncClient

__all__ = ["Checkpoints", "Permissions"]


class Permissions(Resource):
    """Permissions on a fine-tuned model checkpoint (an admin API key is needed)."""

    __slots__ = ()

    @endpoint
    async def create(
        self, fine_tuned_model_checkpoint: str, *, project_ids: Sequence[str], **options: Unpack[CallOptions]
    ) -> Page[Permission]:
        """Grant ``project_ids`` access to the checkpoint; returns the permissions created.

        After a lost answer the SDK lists the checkpoint's permissions and returns the ones
        for these projects if they exist, instead of granting twice.
        """
        self._require("checkpoints.permissions.create")
        path = _permissions(fine_tuned_model_checkpoint)
        opts = request_options(options)
        body = opts.merge_json({"project_ids": list(project_ids)})
        sent = body.get("project_ids")
        wanted = [p for p in sent if isinstance(p, str)] if isinstance(sent, list) else []
        rest = opts.without_body()

        async def find(since: float) -> Page[Permission] | None:
            existing = await self._paginate(
                Permission, path, {"limit": 100}, options=rest, op="checkpoints.permissions.retrieve"
            )
            found = {p.project_id: p for p in existing.data if p.project_id in wanted and p.created_at >= since}
            if not wanted or len(found) < len(set(wanted)):
                return None
            return Page(data=[found[p] for p in dict.fromkeys(wanted)], has_more=False)

        result = await self._call(
            "POST",
            path,
            json_body=body,
            idempotent=False,
            # Granting twice leaves the same access: one look is enough before sending again.
            reconcile=self._ledger.reconciler("the permissions", find, patient=False),
            options=rest,
            op="checkpoints.permissions.create",
        )
        if isinstance(result, Response):
            return self._decode_page(Permission, result, f"POST {path}")
        return result

    @endpoint
    async def retrieve(
        self,
        fine_tuned_model_checkpoint: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        order: Literal["ascending", "descending"] | None = None,
        project_id: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[Permission]:
        """One page of the checkpoint's permissions (``next_page()`` for more)."""
        self._require("checkpoints.permissions.retrieve")
        path = _permissions(fine_tuned_model_checkpoint)
        params = {"limit": limit, "order": order, "project_id": project_id}
        return await self._paginate(
            Permission, path, params, after=after, options=options, op="checkpoints.permissions.retrieve"
        )

    @endpoint
    async def delete(
        self, fine_tuned_model_checkpoint: str, permission_id: str, **options: Unpack[CallOptions]
    ) -> PermissionDeleted:
        """Revoke one permission. Raises :class:`~finetune_async.NotFoundError` if it does not exist."""
        self._require("checkpoints.permissions.delete")
        path = f"{_permissions(fine_tuned_model_checkpoint)}/{path_id(permission_id, 'permission_id')}"
        return await self._request(
            PermissionDeleted, "DELETE", path, options=options, op="checkpoints.permissions.delete"
        )


def _permissions(fine_tuned_model_checkpoint: str) -> str:
    return f"/fine_tuning/checkpoints/{path_id(fine_tuned_model_checkpoint, 'fine_tuned_model_checkpoint')}/permissions"


class Checkpoints(Resource):
    """``client.fine_tuning.checkpoints``."""

    __slots__ = ("permissions",)

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.permissions = Permissions(client)

"""The Models resource (``/models``) and checkpoint permissions (``/fine_tuning/checkpoints/…/permissions``).

:class:`Models` also keeps the index of what fine-tuning made: each succeeded job's model and
each checkpoint's model name. :mod:`.jobs` adds to it as jobs progress and asks it whether a
model can be fine-tuned further; permissions are granted on what it knows.
"""

from __future__ import annotations

from typing import Any

from ._catalog import BASE_MODELS, BaseModel
from ._util import APIError, bad_request, new_id, not_found, now
from ._validation import page_after
from .store import Store

__all__ = ["Models", "Permissions"]


class Models:
    """The fine-tunable base models and the models fine-tuning made, over ``store``.

    ``organization_id`` owns the checkpoint models (a job's model is owned by its job's org).
    """

    def __init__(self, store: Store, organization_id: str) -> None:
        self._store = store
        self._organization_id = organization_id
        self._by_name: dict[str, str] = {}  # fine-tuned model name -> job id
        self._checkpoints: dict[str, dict[str, Any]] = {}  # checkpoint model name -> checkpoint
        for job in store.jobs.values():
            if job.status == "succeeded" and job.fine_tuned_model:
                self.add_fine_tuned(job.fine_tuned_model, job.id)
            self.add_checkpoints(store.checkpoints.get(job.id, ()))

    # -- the index ---------------------------------------------------------------------------

    def add_fine_tuned(self, name: str, job_id: str) -> None:
        """Remember that job ``job_id`` made model ``name``."""
        self._by_name[name] = job_id

    def add_checkpoints(self, checkpoints: Any) -> None:
        """Remember the models of ``checkpoints`` (an iterable of checkpoint JSON objects)."""
        for ck in checkpoints:
            self._checkpoints[ck["fine_tuned_model_checkpoint"]] = ck

    def _live_fine_tuned(self, name: str) -> bool:
        return name in self._by_name and name not in self._store.deleted_models

    def fine_tuned_base(self, name: str) -> BaseModel | None:
        """The base model under fine-tuned model ``name`` (None when it is not ours or deleted):
        what continued fine-tuning of it trains."""
        if not self._live_fine_tuned(name):
            return None
        return BASE_MODELS[self._store.jobs[self._by_name[name]].base_model]

    def permission_target(self, checkpoint: str) -> str:
        """``checkpoint`` when permissions can be granted on it (a checkpoint's model or a live
        fine-tuned model); 404 otherwise."""
        if checkpoint in self._checkpoints or self._live_fine_tuned(checkpoint):
            return checkpoint
        raise not_found(f"Fine-tuned model checkpoint {checkpoint} not found.", "fine_tuned_model_checkpoint")

    # -- the resource ------------------------------------------------------------------------

    def _api(self, model_id: str) -> dict[str, Any] | None:
        base = BASE_MODELS.get(model_id)
        if base is not None:
            return {
                "id": base.id,
                "object": "model",
                "created": base.created,
                "owned_by": base.owned_by,
                # Not in the spec's Model; lets tools see what each base model can be tuned with.
                "fine_tuning_methods": list(base.methods),
            }
        if model_id in self._store.deleted_models:
            return None
        job_id = self._by_name.get(model_id)
        if job_id is not None:
            job = self._store.jobs[job_id]
            return {
                "id": model_id,
                "object": "model",
                "created": int(job.finished_at or job.created_at),
                "owned_by": job.organization_id,
            }
        ck = self._checkpoints.get(model_id)
        if ck is not None:
            return {"id": model_id, "object": "model", "created": ck["created_at"], "owned_by": self._organization_id}
        return None

    def listing(self) -> dict[str, Any]:
        """``GET /models``: the fine-tunable base models and our fine-tuned models."""
        ids = list(BASE_MODELS) + [m for m in self._by_name if m not in self._store.deleted_models]
        return {"object": "list", "data": [m for i in ids if (m := self._api(i)) is not None]}

    def get(self, model_id: str) -> dict[str, Any]:
        """``GET /models/{model}``: the ``Model`` JSON; 404 for unknown or deleted models."""
        out = self._api(model_id)
        if out is None:
            raise not_found(f"The model '{model_id}' does not exist", "model", "model_not_found")
        return out

    def delete(self, model_id: str) -> dict[str, Any]:
        """``DELETE /models/{model}``: fine-tuned models only (403 for a base model, 404 for an unknown one)."""
        if model_id in BASE_MODELS:
            raise APIError(
                403, f"You do not have permission to delete the model '{model_id}'.", code="model_not_deletable"
            )
        if not self._live_fine_tuned(model_id):
            raise not_found(f"The model '{model_id}' does not exist", "model", "model_not_found")
        self._store.delete_model(model_id)
        return {"id": model_id, "object": "model", "deleted": True}


class Permissions:
    """Who may use a checkpoint or fine-tuned model, over ``store``; targets as ``models`` knows them."""

    def __init__(self, store: Store, models: Models) -> None:
        self._store = store
        self._models = models

    def create(self, checkpoint: str, body: Any) -> dict[str, Any]:
        """``POST …/permissions``: one permission per project id (an existing one is kept); the list JSON."""
        target = self._models.permission_target(checkpoint)
        ids = body.get("project_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(p, str) and p for p in ids):
            raise bad_request("Invalid 'project_ids': expected a non-empty list of project ids.", "project_ids")
        existing = {p["project_id"]: p for p in self._store.permissions.get(target, [])}
        out = []
        for pid in ids:
            perm = existing.get(pid)
            if perm is None:
                perm = {
                    "object": "checkpoint.permission",
                    "id": new_id("cp_", 24),
                    "created_at": int(now()),
                    "project_id": pid,
                }
                self._store.add_permission(target, perm)
                existing[pid] = perm
            out.append(perm)
        return {
            "object": "list",
            "data": out,
            "first_id": out[0]["id"],
            "last_id": out[-1]["id"],
            "has_more": False,
        }

    def listing(
        self, checkpoint: str, *, project_id: str | None, after: str | None, limit: int, order: str
    ) -> dict[str, Any]:
        """``GET …/permissions``: the page as list JSON; 404 for an unknown target, 400 for a bad cursor."""
        target = self._models.permission_target(checkpoint)
        if order not in ("ascending", "descending"):
            raise bad_request("Invalid 'order': expected 'ascending' or 'descending'.", "order")
        perms = list(self._store.permissions.get(target, []))
        if order == "descending":
            perms.reverse()
        if project_id is not None:
            perms = [p for p in perms if p["project_id"] == project_id]
        page, has_more = page_after(
            perms, after, limit, lambda p: p["id"], f"Invalid 'after': no permission {after!r}."
        )
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": has_more,
        }

    def delete(self, checkpoint: str, permission_id: str) -> dict[str, Any]:
        """``DELETE …/permissions/{id}``; 404 for an unknown target or permission."""
        target = self._models.permission_target(checkpoint)
        if not self._store.delete_permission(target, permission_id):
            raise not_found(f"No such permission: {permission_id}", "permission_id")
        return {"object": "checkpoint.permission", "id": permission_id, "deleted": True}

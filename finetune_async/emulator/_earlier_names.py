"""The methods :class:`~.state.EmulatorState` had before it was split by resource.

Each calls the resource that now holds it (``state.files``, ``state.uploads``, ``state.jobs``,
``state.models``, ``state.permissions``), so code written against the old names (benchmarks,
users' tests) keeps working. New code calls the resources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._lifecycle import results_csv
from ._util import APIError
from .files import Files
from .jobs import Jobs
from .models import Models, Permissions
from .store import FileRecord, JobRecord, UploadRecord
from .uploads import Uploads

__all__ = ["EarlierNames"]


class EarlierNames:
    """The old flat method names of the state, each delegating to its resource."""

    files: Files
    uploads: Uploads
    jobs: Jobs
    models: Models
    permissions: Permissions

    # files
    def new_blob(self) -> tuple[str, Path]:
        """:meth:`.files.Files.new_blob`."""
        return self.files.new_blob()

    def add_file(
        self, *, filename: str, purpose: str, blob: str, size: int, expires_after: dict[str, Any] | None
    ) -> dict[str, Any]:
        """:meth:`.files.Files.add`."""
        return self.files.add(filename=filename, purpose=purpose, blob=blob, size=size, expires_after=expires_after)

    def get_file_record(self, file_id: str) -> FileRecord:
        """:meth:`.files.Files.get`."""
        return self.files.get(file_id)

    def list_files(self, *, purpose: str | None, limit: int, order: str, after: str | None) -> dict[str, Any]:
        """:meth:`.files.Files.listing`."""
        return self.files.listing(purpose=purpose, limit=limit, order=order, after=after)

    def delete_file(self, file_id: str) -> dict[str, Any]:
        """:meth:`.files.Files.delete`."""
        return self.files.delete(file_id)

    # uploads
    def create_upload(self, body: Any) -> dict[str, Any]:
        """:meth:`.uploads.Uploads.create`."""
        return self.uploads.create(body)

    def pending_upload(self, upload_id: str) -> UploadRecord:
        """:meth:`.uploads.Uploads.pending`."""
        return self.uploads.pending(upload_id)

    def part_room(self, upload_id: str) -> int:
        """:meth:`.uploads.Uploads.part_room`."""
        return self.uploads.part_room(upload_id)

    def part_too_large(self, upload_id: str, size: int) -> APIError:
        """:meth:`.uploads.Uploads.part_too_large`."""
        return self.uploads.part_too_large(upload_id, size)

    def add_part(self, upload_id: str, blob: str, size: int) -> dict[str, Any]:
        """:meth:`.uploads.Uploads.add_part`."""
        return self.uploads.add_part(upload_id, blob, size)

    async def complete_upload(self, upload_id: str, body: Any) -> dict[str, Any]:
        """:meth:`.uploads.Uploads.complete`."""
        return await self.uploads.complete(upload_id, body)

    def cancel_upload(self, upload_id: str) -> dict[str, Any]:
        """:meth:`.uploads.Uploads.cancel`."""
        return self.uploads.cancel(upload_id)

    # jobs
    async def create_job(self, body: Any) -> dict[str, Any]:
        """:meth:`.jobs.Jobs.create`."""
        return await self.jobs.create(body)

    def get_job(self, job_id: str) -> JobRecord:
        """:meth:`.jobs.Jobs.get`."""
        return self.jobs.get(job_id)

    def job_api(self, job: JobRecord) -> dict[str, Any]:
        """:meth:`.jobs.Jobs.to_api`."""
        return self.jobs.to_api(job)

    def results_csv(self, job: JobRecord) -> bytes:
        """:func:`._lifecycle.results_csv`."""
        return results_csv(job)

    def list_jobs(
        self, *, limit: int, after: str | None, metadata: dict[str, str] | None, no_metadata: bool
    ) -> dict[str, Any]:
        """:meth:`.jobs.Jobs.listing`."""
        return self.jobs.listing(limit=limit, after=after, metadata=metadata, no_metadata=no_metadata)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """:meth:`.jobs.Jobs.cancel`."""
        return self.jobs.cancel(job_id)

    def pause_job(self, job_id: str) -> dict[str, Any]:
        """:meth:`.jobs.Jobs.pause`."""
        return self.jobs.pause(job_id)

    def resume_job(self, job_id: str) -> dict[str, Any]:
        """:meth:`.jobs.Jobs.resume`."""
        return self.jobs.resume(job_id)

    def list_events(self, job_id: str, *, limit: int, after: str | None) -> str:
        """:meth:`.jobs.Jobs.events_text`."""
        return self.jobs.events_text(job_id, limit=limit, after=after)

    def list_checkpoints(self, job_id: str, *, limit: int, after: str | None) -> dict[str, Any]:
        """:meth:`.jobs.Jobs.checkpoints`."""
        return self.jobs.checkpoints(job_id, limit=limit, after=after)

    # checkpoint permissions
    def create_permissions(self, checkpoint: str, body: Any) -> dict[str, Any]:
        """:meth:`.models.Permissions.create`."""
        return self.permissions.create(checkpoint, body)

    def list_permissions(
        self, checkpoint: str, *, project_id: str | None, after: str | None, limit: int, order: str
    ) -> dict[str, Any]:
        """:meth:`.models.Permissions.listing`."""
        return self.permissions.listing(checkpoint, project_id=project_id, after=after, limit=limit, order=order)

    def delete_permission(self, checkpoint: str, permission_id: str) -> dict[str, Any]:
        """:meth:`.models.Permissions.delete`."""
        return self.permissions.delete(checkpoint, permission_id)

    # models
    def list_models(self) -> dict[str, Any]:
        """:meth:`.models.Models.listing`."""
        return self.models.listing()

    def get_model(self, model_id: str) -> dict[str, Any]:
        """:meth:`.models.Models.get`."""
        return self.models.get(model_id)

    def delete_model(self, model_id: str) -> dict[str, Any]:
        """:meth:`.models.Models.delete`."""
        return self.models.delete(model_id)

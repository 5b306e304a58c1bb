"""The synchronous resource namespaces: each method is its async twin, run on the client's loop.

The names, parameters, docstrings and results are the async resources' (``finetune_async.resources``);
only ``await`` goes away. ``list…`` calls return their first page, fetched (a
:class:`~finetune_async.sync.SyncPage`, which iterates every item); streams are plain iterators.
Callbacks (``on_event``, ``on_progress``) run on the client's loop thread: keep them short, and
do not call the synchronous client from one (it raises :class:`RuntimeError`).
"""

from __future__ import annotations

from ..resources import files as _files
from ..resources import models as _models
from ..resources import uploads as _uploads
from ..resources.fine_tuning import FineTuning as _FineTuning
from ..resources.fine_tuning import alpha as _alpha
from ..resources.fine_tuning import jobs as _jobs
from ..resources.fine_tuning import permissions as _permissions
from ._facade import SyncResource, call, listing, paged, stream
from ._loop import LoopThread

__all__ = [
    "Alpha",
    "Checkpoints",
    "Files",
    "FineTuning",
    "Graders",
    "JobCheckpoints",
    "Jobs",
    "Models",
    "Parts",
    "Permissions",
    "Uploads",
]


class Files(SyncResource):
    """``client.files``: the Files API (see :class:`finetune_async.resources.Files`)."""

    create = call(_files.Files.create)
    retrieve = call(_files.Files.retrieve)
    list = listing(_files.Files.list)
    delete = call(_files.Files.delete)
    content = call(_files.Files.content)
    wait_for_processing = call(_files.Files.wait_for_processing)


class Parts(SyncResource):
    """``client.uploads.parts``."""

    create = call(_uploads.Parts.create)


class Uploads(SyncResource):
    """``client.uploads``: the Uploads API (see :class:`finetune_async.resources.Uploads`)."""

    def __init__(self, inner: _uploads.Uploads, loop: LoopThread) -> None:
        super().__init__(inner, loop)
        self.parts = Parts(inner.parts, loop)

    create = call(_uploads.Uploads.create)
    complete = call(_uploads.Uploads.complete)
    cancel = call(_uploads.Uploads.cancel)
    upload_file_chunked = call(_uploads.Uploads.upload_file_chunked)


class JobCheckpoints(SyncResource):
    """``client.fine_tuning.jobs.checkpoints``."""

    list = listing(_jobs.Checkpoints.list)
    copy = call(_jobs.Checkpoints.copy)
    retrieve_copy = call(_jobs.Checkpoints.retrieve_copy)


class Jobs(SyncResource):
    """``client.fine_tuning.jobs``: the fine-tuning jobs API, and waiting on jobs.

    ``wait(job_id)`` blocks until the job ends; ``stream_events(job_id)`` and
    ``stream_checkpoints(job_id)`` are plain iterators. Ctrl-C during any of them raises
    :class:`KeyboardInterrupt` at once and stops the polling; the job itself is untouched.
    """

    def __init__(self, inner: _jobs.Jobs, loop: LoopThread) -> None:
        super().__init__(inner, loop)
        self.checkpoints = JobCheckpoints(inner.checkpoints, loop)

    create = call(_jobs.Jobs.create)
    retrieve = call(_jobs.Jobs.retrieve)
    list = listing(_jobs.Jobs.list)
    cancel = call(_jobs.Jobs.cancel)
    pause = call(_jobs.Jobs.pause)
    resume = call(_jobs.Jobs.resume)
    delete = call(_jobs.Jobs.delete)
    list_events = listing(_jobs.Jobs.list_events)
    metrics = call(_jobs.Jobs.metrics)
    wait = call(_jobs.Jobs.wait)
    stream_events = stream(_jobs.Jobs.stream_events)
    stream_checkpoints = stream(_jobs.Jobs.stream_checkpoints)


class Permissions(SyncResource):
    """``client.fine_tuning.checkpoints.permissions``."""

    create = paged(_permissions.Permissions.create)
    retrieve = paged(_permissions.Permissions.retrieve)
    delete = call(_permissions.Permissions.delete)


class Checkpoints(SyncResource):
    """``client.fine_tuning.checkpoints``."""

    def __init__(self, inner: _permissions.Checkpoints, loop: LoopThread) -> None:
        super().__init__(inner, loop)
        self.permissions = Permissions(inner.permissions, loop)


class Graders(SyncResource):
    """``client.fine_tuning.alpha.graders``."""

    run = call(_alpha.Graders.run)
    validate = call(_alpha.Graders.validate)


class Alpha(SyncResource):
    """``client.fine_tuning.alpha``."""

    def __init__(self, inner: _alpha.Alpha, loop: LoopThread) -> None:
        super().__init__(inner, loop)
        self.graders = Graders(inner.graders, loop)


class FineTuning(SyncResource):
    """``client.fine_tuning``: jobs, checkpoint permissions and graders."""

    def __init__(self, inner: _FineTuning, loop: LoopThread) -> None:
        super().__init__(inner, loop)
        self.jobs = Jobs(inner.jobs, loop)
        self.checkpoints = Checkpoints(inner.checkpoints, loop)
        self.alpha = Alpha(inner.alpha, loop)


class Models(SyncResource):
    """``client.models``: the Models API."""

    retrieve = call(_models.Models.retrieve)
    list = listing(_models.Models.list)
    delete = call(_models.Models.delete)

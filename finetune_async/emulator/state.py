"""The emulator's state: one :class:`~.store.Store` and the resources over it.

Each resource is its own module, plain synchronous logic (async only where it waits for work
done off the loop) raising :class:`~._util.APIError` for the answers the API gives as errors:

- :mod:`.files` and :mod:`.uploads`: bytes in, files out;
- :mod:`.jobs`: fine-tuning jobs, their lifecycle (:mod:`._lifecycle`), events, checkpoints and
  results; ``create`` in steps (:mod:`._job_request`);
- :mod:`.models`: base and fine-tuned models, and checkpoint permissions;
- :mod:`.graders`: grader validation and runs (stateless).

Shared pieces have modules of their own: request value checks (:mod:`._validation`), dataset
checks made once per file (:mod:`._datasets`), and the one timer that advances jobs
(:mod:`._timer`). The HTTP edge (:mod:`.app`, :mod:`.routes`) only turns requests into calls
on these resources and their answers into responses; it holds no behaviour of its own, so a
provider's dialect can sit at that edge over the same state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# ``X as X``: the module's public names from before the split, importable from here as they were.
from ._datasets import MIN_EXAMPLES as MIN_EXAMPLES
from ._datasets import DatasetCheck as DatasetCheck
from ._datasets import DatasetChecks
from ._datasets import check_dataset as check_dataset
from ._job_request import MAX_SEED as MAX_SEED
from ._lifecycle import TERMINAL
from ._util import now
from ._validation import check_expires_after as check_expires_after
from ._validation import check_filename as check_filename
from ._validation import parse_limit as parse_limit
from ._validation import validate_metadata_filter as validate_metadata_filter
from .files import FILE_PURPOSES as FILE_PURPOSES
from .files import MAX_FILE_BYTES as MAX_FILE_BYTES
from .files import Files
from .jobs import Jobs
from .models import Models, Permissions
from .store import JobRecord, Store
from .uploads import MAX_HELD_FACTOR as MAX_HELD_FACTOR
from .uploads import MAX_PART_BYTES as MAX_PART_BYTES
from .uploads import MAX_UPLOAD_BYTES as MAX_UPLOAD_BYTES
from .uploads import UPLOAD_PURPOSES as UPLOAD_PURPOSES
from .uploads import UPLOAD_TTL as UPLOAD_TTL
from .uploads import Uploads

__all__ = ["TERMINAL", "EmulatorState"]


class EmulatorState:
    """All API behaviour over one :class:`Store`: ``files``, ``uploads``, ``jobs``, ``models``
    and ``permissions``, sharing ``datasets`` (the dataset checks).

    ``on_terminal(job)`` is called once when a job reaches ``succeeded``, ``failed`` or
    ``cancelled`` (the webhook sender listens there). ``job_seconds`` and
    ``training_available`` may be set while the emulator runs; they apply to new jobs.
    Each resource's methods are reached through its attribute: ``state.jobs.get(job_id)``,
    ``state.files.add(...)``.
    """

    def __init__(
        self,
        store: Store,
        *,
        job_seconds: float = 10.0,
        organization: str = "emulator",
        on_terminal: Callable[[JobRecord], None] | None = None,
        training_available: bool = True,
    ) -> None:
        self.store = store
        self.datasets = DatasetChecks(store)
        self.files = Files(store, self.datasets)
        self.uploads = Uploads(store, self.files)
        self.models = Models(store, f"org-{organization}")
        self.permissions = Permissions(store, self.models)
        self.jobs = Jobs(
            store,
            self.models,
            self.datasets,
            job_seconds=job_seconds,
            organization=organization,
            on_terminal=on_terminal,
            training_available=training_available,
        )

    # Settings the emulator's users change while it runs (README: the platform's wind-down).

    @property
    def training_available(self) -> bool:
        """False refuses every new job with 403 ``training_not_available``."""
        return self.jobs.training_available

    @training_available.setter
    def training_available(self, value: bool) -> None:
        self.jobs.training_available = value

    @property
    def job_seconds(self) -> float:
        """How long a new job takes, validating through succeeded."""
        return self.jobs.job_seconds

    @job_seconds.setter
    def job_seconds(self, value: float) -> None:
        self.jobs.job_seconds = value

    @property
    def organization_id(self) -> str:
        """``org-<slug>``: the organization new jobs belong to."""
        return self.jobs.organization_id

    @property
    def org_slug(self) -> str:
        """The organization's slug, as fine-tuned model names show it."""
        return self.jobs.org_slug

    @property
    def on_terminal(self) -> Callable[[JobRecord], None] | None:
        """Called once with each job that reaches a terminal status."""
        return self.jobs.on_terminal

    @on_terminal.setter
    def on_terminal(self, value: Callable[[JobRecord], None] | None) -> None:
        self.jobs.on_terminal = value

    @property
    def dataset_checks(self) -> int:
        """How many times a training or validation file was read and checked (each file is
        checked once per method, however many jobs name it)."""
        return self.datasets.count

    # -- the clock -----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin waking for due phase changes (also those of jobs loaded from disk)."""
        self.jobs.timer.start(loop)
        self.jobs.start()

    def stop(self) -> None:
        """Stop the timer; nothing runs after this."""
        self.jobs.timer.stop()

    def advance(self, job: JobRecord, t: float | None = None) -> None:
        """Materialise everything due for ``job`` up to wall time ``t`` (default: now; idempotent)."""
        self.jobs.advance(job, now() if t is None else t)

    def jobs_in_flight(self) -> int:
        """How many jobs have not reached a terminal status (for tests and benchmarks)."""
        return self.jobs.in_flight()

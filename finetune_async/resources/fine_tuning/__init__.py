"""``client.fine_tuning``: jobs, checkpoint permissions and graders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._base import Resource
from .alpha import Alpha, Graders
from .jobs import Checkpoints as JobCheckpoints
from .jobs import Jobs
from .permissions import Checkpoints, Permissions

if TYPE_CHECKING:
    from ...client import AsyncClient

__all__ = ["Alpha", "Checkpoints", "FineTuning", "Graders", "JobCheckpoints", "Jobs", "Permissions"]


class FineTuning(Resource):
    """The ``client.fine_tuning`` namespace."""

    __slots__ = ("alpha", "checkpoints", "jobs")

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.jobs = Jobs(client)
        self.checkpoints = Checkpoints(client)
        self.alpha = Alpha(client)

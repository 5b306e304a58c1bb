"""The emulator's HTTP edge, one module per resource: each lists its ``ROUTES`` as
(method, path under the API's prefix, handler), and each handler only parses HTTP, calls one
resource of the :class:`~..state.EmulatorState` and answers its JSON.

:func:`~..app.create_app` mounts :data:`ROUTES` under every prefix it serves (``/v1`` for
OpenAI, ``/openai`` for Azure OpenAI). A provider's dialect is a translation at this edge
(its paths, its request and answer shapes) over the same resources.
"""

from __future__ import annotations

from . import files, graders, jobs, models, uploads
from ._http import Route

__all__ = ["ROUTES", "Route"]

#: Every route the emulator serves, in the order the router tries them.
ROUTES: list[Route] = [*files.ROUTES, *uploads.ROUTES, *jobs.ROUTES, *models.ROUTES, *graders.ROUTES]

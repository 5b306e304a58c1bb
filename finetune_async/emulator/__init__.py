"""A local server that behaves like OpenAI's fine-tuning API (and Azure OpenAI's).

::

    async with finetune_async.emulator.serve(job_seconds=5) as base_url:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test")

    async with Emulator(faults="rate=0.2,kinds=429+reset") as emu:
        emu.faults.inject("POST:/v1/fine_tuning/jobs", "lost")
        ...

Also ``python -m finetune_async.emulator --port 8089``, :class:`EmulatorThread` (served from a
background thread, for synchronous code) and the ``finetune_emulator`` / ``finetune_emulator_sync``
pytest fixtures.
The emulator is an independent implementation of the wire contract: it does not import the
SDK's client, models or transport, so each checks the other.
"""

from ._cli import build_parser, main, serve_until_stopped
from .app import create_app
from .faults import Fault, FaultRule, Faults
from .server import Emulator, serve
from .state import EmulatorState
from .store import Store
from .threaded import EmulatorThread
from .webhooks import sign as sign_webhook

__all__ = [
    "Emulator",
    "EmulatorState",
    "EmulatorThread",
    "Fault",
    "FaultRule",
    "Faults",
    "Store",
    "build_parser",
    "create_app",
    "main",
    "serve",
    "serve_until_stopped",
    "sign_webhook",
]

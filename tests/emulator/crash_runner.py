"""The emulator's command line in a process that SIGKILLs itself right after its N-th job write.

    EMULATOR_KILL_AT_JOB_WRITE=N python -m tests.emulator.crash_runner --port 0 --data-dir D

A job's row is written whenever the job changes (created, validated, started, steps done,
finished, cancelled, paused, resumed), and every such change also appends events. Dying just
after the row was written, with no cleanup of any kind (as with ``kill -9``), is the instant
where a store that commits the row on its own leaves the job ahead of its events for good.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any

from finetune_async.emulator import main
from finetune_async.emulator.store import Store


def _install(target: int) -> None:
    original = Store._write
    calls = [0]

    @functools.wraps(original)
    def write(self: Store, kind: str, *args: Any, **kwargs: Any) -> None:
        original(self, kind, *args, **kwargs)
        if kind == "job":
            calls[0] += 1
            if calls[0] == target:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    Store._write = write  # type: ignore[method-assign]


if __name__ == "__main__":
    _install(int(os.environ["EMULATOR_KILL_AT_JOB_WRITE"]))
    sys.exit(main(sys.argv[1:]))

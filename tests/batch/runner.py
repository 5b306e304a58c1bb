"""Run the ``batch`` command in a child process that SIGKILLs itself at a chosen point.

    BATCH_KILL=POINT python -m tests.batch.runner SPECS --journal J --json

POINT says when the process kills itself (no cleanup of any kind runs, as with ``kill -9``):

    METHOD:N:before     just before the N-th call of ``Journal.METHOD`` in this process writes
    METHOD:N:after      just after the N-th call committed
    delay:METHOD:N:S    S seconds after the N-th call of ``Journal.METHOD`` committed
    done:K              just before a ``job_finished`` write when K specs are already done
    after:S             S seconds after the process started, wherever it is then

METHOD is one of the journal's writes: ``file_intent``, ``file_uploaded``, ``job_intent``,
``job_created``, ``job_not_created``, ``job_finished``. The journal is where every side effect is
bracketed, so these points are the interesting instants: an upload sent but not recorded, an
intent recorded but the create not sent, a job created but its id not recorded, and so on.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from typing import Any

from finetune_async import _journal
from finetune_async.cli._batch import batch


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install(point: str) -> None:
    parts = point.split(":")
    if parts[0] == "after":
        timer = threading.Timer(float(parts[1]), _die)
        timer.daemon = True
        timer.start()
        return
    if parts[0] == "done":
        threshold = int(parts[1])
        original = _journal.Journal.job_finished

        @functools.wraps(original)
        def finished(self: _journal.Journal, key: str, **kwargs: Any) -> None:
            done = self._db.execute("SELECT count(*) FROM specs WHERE state = 'done'").fetchone()[0]
            if done >= threshold:
                _die()
            original(self, key, **kwargs)

        _journal.Journal.job_finished = finished  # type: ignore[method-assign]
        return
    delay: float | None = None
    if parts[0] == "delay":
        _, method, n, seconds = parts
        delay = float(seconds)
        when = "after"
    else:
        method, n, when = parts
    target = int(n)
    original_method = getattr(_journal.Journal, method)
    calls = [0]

    @functools.wraps(original_method)
    def wrapper(self: _journal.Journal, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        hit = calls[0] == target
        if hit and when == "before":
            _die()
        result = original_method(self, *args, **kwargs)
        if hit and delay is not None:
            threading.Timer(delay, _die).start()
        elif hit:
            _die()
        return result

    setattr(_journal.Journal, method, wrapper)


def main() -> int:
    point = os.environ.get("BATCH_KILL")
    if point:
        _install(point)
    result = batch.main(args=sys.argv[1:], prog_name="finetune-async batch", standalone_mode=False)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())

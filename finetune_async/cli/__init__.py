"""The ``finetune-async`` command (also ``python -m finetune_async``).

A thin layer over the public API: every command builds an :class:`~finetune_async.AsyncClient`
from ``--api-key`` / ``--base-url`` (or the SDK's environment variables), calls the SDK, and
prints the result with rich (``--json`` prints the same information as JSON instead).

Exit codes: 0 done; 1 the job or the validation failed, or a request failed; 2 usage (bad
arguments, no API key, a missing optional dependency); 130 interrupted (the job keeps running).

The command line needs the ``cli`` extra (click and rich): ``pip install 'finetune-async[cli]'``.
This module imports neither until :func:`main` runs, so a missing extra is one clear line.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

INSTALL_HINT = "pip install 'finetune-async[cli]'"


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    try:
        try:
            import click  # noqa: F401
            import rich  # noqa: F401
        except ImportError as exc:
            missing = exc.name or "a dependency"
            print(
                f"finetune-async: the command line needs {missing}, which is not installed: {INSTALL_HINT}",
                file=sys.stderr,
            )
            return 2
        from ._app import run

        return run(argv)
    except KeyboardInterrupt:
        # Ctrl-C before a command started (while importing): nothing to clean up.
        return 130

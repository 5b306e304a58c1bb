"""Helpers that own the longer-lived loops built on the resources (they poll; resources never do)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from .models import FileObject, FileStatus

if TYPE_CHECKING:
    from .client import AsyncClient

__all__ = ["wait_for_file_processing"]


async def wait_for_file_processing(
    client: AsyncClient, file_id: str, *, poll_interval: float = 1.0, max_wait_seconds: float = 30 * 60
) -> FileObject:
    """Poll the file until its status is ``processed`` or ``error``, and return it.

    Raises :class:`TimeoutError` if it is still being processed after ``max_wait_seconds``,
    and the transport's errors (after its own retries) if the file cannot be fetched.
    """
    with anyio.fail_after(max_wait_seconds):
        while True:
            file = await client.files.retrieve(file_id)
            if file.status in (FileStatus.PROCESSED, FileStatus.ERROR):
                return file
            await anyio.sleep(poll_interval)

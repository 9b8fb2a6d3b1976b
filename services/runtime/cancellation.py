"""Telling a real failure from a cancellation that a library reported as an ordinary error.

SQLAlchemy's async layer can surface a task's cancellation as another exception (for example
"greenlet_spawn has not been called"); a loop that retries on ``Exception`` would then never stop.
"""

from __future__ import annotations

import asyncio


def being_cancelled() -> bool:
    """True when the current task has been asked to stop (``Task.cancelling()``)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_if_cancelled(error: BaseException) -> None:
    """Re-raise as CancelledError when ``error`` happened because the task is being cancelled."""
    if being_cancelled():
        raise asyncio.CancelledError from error

"""Faults a test injects into a notify process, wired by ``services.notify.app`` only when the
runtime allows development settings (development and test, never production).

The crash test starts notify with ``PATRON_NOTIFY_FAULT_KILL_BEFORE_RECORD=1``: the process is
SIGKILLed after the providers answered a delivery round and before the round's results commit — the
moment a naive worker would send twice after its restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Mapping

KILL_BEFORE_RECORD_ENV = "PATRON_NOTIFY_FAULT_KILL_BEFORE_RECORD"


async def _kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    await asyncio.sleep(3600)  # never reached: the signal cannot be caught


def before_record_fault(
    allowed: bool, environ: Mapping[str, str] = os.environ
) -> Callable[[], Awaitable[None]] | None:
    """The hook the delivery worker awaits before recording a round: a SIGKILL when fault injection
    is ``allowed`` and asked for by the environment, otherwise None."""
    if allowed and environ.get(KILL_BEFORE_RECORD_ENV) == "1":
        return _kill_this_process
    return None

"""Faults a test injects into a loyalty process, wired by ``services.loyalty.app`` only when the
runtime allows development settings (development and test, never production).

The crash test starts a loyalty process with ``PATRON_LOYALTY_FAULT_KILL_AFTER_EARN=1``: the
process is SIGKILLed right after an order's points are written, before the consumer's transaction
(with the stream position) commits, to show the order still earns exactly once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

KILL_AFTER_EARN_ENV = "PATRON_LOYALTY_FAULT_KILL_AFTER_EARN"


def _kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def after_earn_fault(allowed: bool, environ: Mapping[str, str] = os.environ) -> Callable[[], None] | None:
    """The hook the consumer calls after an order's points are written: a SIGKILL of this process
    when fault injection is ``allowed`` and asked for by the environment, otherwise None."""
    if allowed and environ.get(KILL_AFTER_EARN_ENV) == "1":
        return _kill_this_process
    return None

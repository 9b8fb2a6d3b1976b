"""Faults a test injects into a notify process, wired by ``services.notify.app`` only when the
runtime allows development settings (development and test, never production).

The crash test starts notify with ``PATRON_NOTIFY_FAULT_KILL_BEFORE_RECORD=1``: the process is
SIGKILLed after the providers answered a delivery round and before the round's results commit — the
moment a naive worker would send twice after its restart.

The journey crash test starts notify with ``PATRON_NOTIFY_FAULT_KILL_AFTER_COUPON=N``: the process is
SIGKILLed once loyalty answered the N-th coupon a journey step asked for and before that step commits
— the moment a runner without idempotency keys would issue a second coupon after its restart.

The campaign crash test starts notify with ``PATRON_NOTIFY_FAULT_KILL_BEFORE_PLANNED=N``: the process
is SIGKILLed inside the N-th planning transaction, after its messages were inserted and its cursor
advanced and before either commits — the moment that proves the two are rolled back together.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Mapping

KILL_BEFORE_RECORD_ENV = "PATRON_NOTIFY_FAULT_KILL_BEFORE_RECORD"
KILL_AFTER_COUPON_ENV = "PATRON_NOTIFY_FAULT_KILL_AFTER_COUPON"
KILL_BEFORE_PLANNED_ENV = "PATRON_NOTIFY_FAULT_KILL_BEFORE_PLANNED"


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


def after_coupon_fault(
    allowed: bool, environ: Mapping[str, str] = os.environ
) -> Callable[[str], Awaitable[None]] | None:
    """The hook the journey runner awaits after each coupon issued and before its step commits: a
    SIGKILL at the N-th when fault injection is ``allowed`` and N is asked for, otherwise None."""
    countdown = _countdown(allowed, environ.get(KILL_AFTER_COUPON_ENV, ""))
    if countdown is None:
        return None

    async def count(_key: str) -> None:
        await countdown()

    return count


def before_planned_fault(
    allowed: bool, environ: Mapping[str, str] = os.environ
) -> Callable[[], Awaitable[None]] | None:
    """The hook awaited inside each campaign planning transaction before it commits: a SIGKILL at
    the N-th when fault injection is ``allowed`` and N is asked for, otherwise None."""
    return _countdown(allowed, environ.get(KILL_BEFORE_PLANNED_ENV, ""))


def _countdown(allowed: bool, raw: str) -> Callable[[], Awaitable[None]] | None:
    """A hook that kills this process on its N-th call (``raw`` is N), or None when not asked for."""
    if not allowed or not raw.isdigit() or int(raw) < 1:
        return None
    left = [int(raw)]

    async def count() -> None:
        left[0] -= 1
        if left[0] == 0:
            await _kill_this_process()

    return count

"""The journey worker of a notify process: runs due instances round after round, and sweeps date
triggers (birthdays) every ``journey_sweep_seconds``. Several processes may run it: claims skip what
another holds, and the sweep's entries are decided under the entry row's lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.notify.domain.journey_runner import JourneyRunner

log = logging.getLogger(__name__)


class JourneyWorker:
    """Round after round while there is work; otherwise waits for a wake-up or ``idle_seconds``."""

    def __init__(
        self,
        runner: JourneyRunner,
        sweep: Callable[[datetime], Awaitable[int]] | None,
        clock: Callable[[], datetime],
        *,
        batch: int,
        idle_seconds: float,
        sweep_seconds: float,
        loops: int = 1,
    ) -> None:
        self._runner = runner
        self._sweep = sweep
        self._clock = clock
        self._batch = batch
        self._idle = idle_seconds
        self._sweep_every = sweep_seconds
        self._wake_ups = [asyncio.Event() for _ in range(loops)]
        self._next_sweep = 0.0

    def wake(self) -> None:
        """New instances are due now (an entry committed in this process)."""
        for event in self._wake_ups:
            event.set()

    async def run(self) -> None:
        """``loops`` round loops until cancelled: while one loop waits on the database or another
        service, another works its batch (claims skip each other's instances)."""
        async with asyncio.TaskGroup() as group:
            for index, event in enumerate(self._wake_ups):
                group.create_task(self._loop(event, sweeps=index == 0))

    async def _loop(self, woken: asyncio.Event, *, sweeps: bool) -> None:
        loop = asyncio.get_running_loop()
        while True:
            woken.clear()  # a wake-up during the round below is kept, not lost
            try:
                if sweeps and self._sweep is not None and loop.time() >= self._next_sweep:
                    self._next_sweep = loop.time() + self._sweep_every
                    await self._sweep(self._clock())
                claimed = await self._runner.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: log, wait, go on
                log.exception("journey round failed")
                claimed = 0
            if claimed < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), self._idle)

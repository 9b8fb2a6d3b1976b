"""The scoring process's background task: the daily schedule's loop, and the shutdown of what runs.

Every minute one round of ``domain.run_schedule.DailySchedule`` starts the tenants' due runs; a
failed round is logged and the next one tries again. When the service stops, the runs in flight
are cancelled (each ends failed, "cancelled") and the channel to profile is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.runtime.cancellation import raise_if_cancelled
from services.runtime.server import BackgroundTask, ServiceServer
from services.scoring.domain.batch_runs import BatchRuns
from services.scoring.domain.run_schedule import DailySchedule

logger = logging.getLogger(__name__)

SCHEDULE_EVERY_SECONDS = 60.0


def schedule_task(
    schedule: DailySchedule, runs: BatchRuns, close: Callable[[], Awaitable[None]]
) -> BackgroundTask:
    """The background task that keeps the daily schedule until the service stops."""

    async def keep_schedule(_: ServiceServer) -> None:
        try:
            while True:
                try:
                    await schedule.round()
                except Exception as error:
                    raise_if_cancelled(error)
                    logger.warning("scoring schedule round failed: %s", error)
                await asyncio.sleep(SCHEDULE_EVERY_SECONDS)
        finally:
            await runs.stop()
            await close()

    return keep_schedule

"""The scoring process's export tasks: workers that fill segment exports, and their prune.

``EXPORT_WORKERS`` loops per process each claim one export at a time (``ExportWorker.work_once``)
and sleep ``POLL_SECONDS`` when none is due, so an export starts within about a second. Every replica
runs them: claims skip what another worker holds. The prune runs every ``PRUNE_EVERY_SECONDS``.
A failed round is logged and the loop goes on; nothing is lost, since a claim is only a lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from services.runtime.cancellation import raise_if_cancelled
from services.runtime.server import BackgroundTask, ServiceServer
from services.scoring.background import periodic_task
from services.scoring.domain.segments.export_worker import ExportWorker

logger = logging.getLogger(__name__)

EXPORT_WORKERS = 2
"""Exports worked at once per process: one large export never holds every worker."""

POLL_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 600.0


def export_tasks(new_worker: Callable[[], ExportWorker]) -> list[BackgroundTask]:
    """The worker loops (a worker each: each holds its own leases) and the prune loop."""

    def work_loop(worker: ExportWorker) -> BackgroundTask:
        async def work(_: ServiceServer) -> None:
            while True:
                try:
                    worked = await worker.work_once()
                except Exception as error:
                    raise_if_cancelled(error)
                    logger.warning("segment export round failed: %s", error)
                    worked = False
                if not worked:
                    await asyncio.sleep(POLL_SECONDS)

        return work

    pruner = new_worker()

    async def prune() -> None:
        deleted = await pruner.prune()
        if deleted:
            logger.info("pruned %d rows of expired or failed segment exports", deleted)

    prune_loop = periodic_task("segment export prune", PRUNE_EVERY_SECONDS, prune)

    return [*(work_loop(new_worker()) for _ in range(EXPORT_WORKERS)), prune_loop]

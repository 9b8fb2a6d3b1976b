"""The scoring process's background tasks: the daily schedule's loop, and the shutdown of what runs;
the daily prune of behaviour events past their retention; the segment due worker; the re-scorer of
customers whose behaviour changed; the segments' daily size snapshot.

Every minute one round of ``domain.run_schedule.DailySchedule`` starts the tenants' due runs; a
failed round is logged and the next one tries again. When the service stops, the runs in flight
are cancelled (each ends failed, "cancelled") and the channel to profile is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.runtime.cancellation import raise_if_cancelled
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.server import BackgroundTask, ServiceServer
from services.scoring.domain.batch_runs import BatchRuns
from services.scoring.domain.run_schedule import DailySchedule
from services.scoring.store.behaviour_events import prune_behaviour
from services.scoring.store.rescore_marks import ROUND_LIMIT, rescore_marked
from services.scoring.store.saved_segments import take_size_snapshot
from services.scoring.store.segment_live import DUE_BATCH, apply_due

logger = logging.getLogger(__name__)

SCHEDULE_EVERY_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 24 * 3600.0
PRUNE_FIRST_AFTER_SECONDS = 300.0  # not in the rush of a start
SIZES_EVERY_SECONDS = 3600.0


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


def periodic_task(
    what: str, every_seconds: float, round_: Callable[[], Awaitable[None]], first_after: float = 0.0
) -> BackgroundTask:
    """A task that runs ``round_`` every ``every_seconds`` (after ``first_after``) until the service
    stops; a failed round is logged as ``what`` and the next one tries again."""

    async def loop(_: ServiceServer) -> None:
        await asyncio.sleep(first_after)
        while True:
            try:
                await round_()
            except Exception as error:
                raise_if_cancelled(error)
                logger.warning("%s failed: %s", what, error)
            await asyncio.sleep(every_seconds)

    return loop


def prune_task(database: Database) -> BackgroundTask:
    """The background task that deletes behaviour events past their retention once a day (every
    replica may run it: the deletes are idempotent batches)."""

    async def prune() -> None:
        pruned = await prune_behaviour(database, datetime.now(UTC))
        logger.info("pruned %d behaviour events past their retention", pruned)

    return periodic_task("behaviour prune", PRUNE_EVERY_SECONDS, prune, PRUNE_FIRST_AFTER_SECONDS)


def segment_due_task(database: Database, outbox: Outbox, every_seconds: float) -> BackgroundTask:
    """The due worker: every ``every_seconds``, re-evaluate the segment members whose due moment has
    come (a window closed, a tag expired, a birthday neared), batch after batch until none is due."""

    async def apply() -> None:
        while await apply_due(database, outbox, datetime.now(UTC)) >= DUE_BATCH:
            pass

    return periodic_task("segment due round", every_seconds, apply)


def rescore_task(database: Database, outbox: Outbox, every_seconds: float) -> BackgroundTask:
    """The re-scorer: every ``every_seconds``, re-score the customers whose behaviour changed since
    their last scores (``rescore_marks``), round after round while a round is full."""

    async def rescore() -> None:
        while await rescore_marked(database, outbox) >= ROUND_LIMIT:
            pass

    return periodic_task("re-scoring round", every_seconds, rescore)


def size_snapshot_task(
    database: Database,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    every_seconds: float = SIZES_EVERY_SECONDS,
) -> BackgroundTask:
    """The background task that writes every live segment's member count for its tenant's today, at
    start and then hourly: the day keeps its latest count, so a day's size is its last snapshot (every
    replica may run it: the upsert is idempotent, and an older snapshot never replaces a newer one)."""

    async def snapshot() -> None:
        written = await take_size_snapshot(database, clock())
        logger.info("segment sizes: %d daily snapshots written", written)

    return periodic_task("segment size snapshot", every_seconds, snapshot)


def dispatch_task(runs: BatchRuns, every_seconds: float) -> BackgroundTask:
    """The periodic dispatch: start the queued runs a slot freed (in any replica) lets start; a run
    freed here dispatches at once, this catches the others and a service that restarted."""

    async def dispatch() -> None:
        await runs.dispatch()

    return periodic_task("scoring run dispatch", every_seconds, dispatch)

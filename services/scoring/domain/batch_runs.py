"""The batch run use case: start a tenant's run, execute its phases in this process, read it back.

``BatchRuns.start`` records the run (one running per tenant, see ``domain.runs``) and executes it as
a task of this process. The phases (recompute the scores, fit the predictions, sync the computed
tags to profile) report progress to the run after every step, so a client can follow it; a run
always ends succeeded or failed, never left running. The stores are protocols: ``store.runs``,
``store.run_phases`` and ``store.config`` implement them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from services.scoring.domain.computed_tags import ComputedTagSync
from services.scoring.domain.runs import Run, parse_as_of
from services.scoring.domain.scores import known_id

logger = logging.getLogger(__name__)


class RunStore(Protocol):
    async def start(self, tenant_id: uuid.UUID, as_of: date, trigger: str) -> Run | None: ...
    async def progress(
        self, run_id: uuid.UUID, phase: str, done: int, total: int, **details: Any
    ) -> None: ...
    async def finish(self, run_id: uuid.UUID, error: str | None) -> None: ...
    async def get(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Run: ...
    async def last_scheduled(self) -> dict[uuid.UUID, date]: ...


class TenantClock(Protocol):
    async def timezone(self, tenant_id: uuid.UUID) -> str: ...


class Recompute(Protocol):
    """One tenant's set-based recompute of every score, a phase at a time, on a session of its own."""

    async def snapshot_features(self) -> int: ...
    async def baselines(self) -> dict[str, Any] | None: ...
    async def score(self) -> None: ...
    async def publish(self) -> int: ...


class FitOutcome(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def customers(self) -> int: ...


class RunPhases(Protocol):
    def recompute(self, tenant_id: uuid.UUID, as_of: date) -> AbstractAsyncContextManager[Recompute]: ...
    async def fit_predictions(self, tenant_id: uuid.UUID, as_of: date) -> FitOutcome: ...


class _Stopwatch:
    """Seconds per phase, kept in the run's details."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._began = time.perf_counter()

    def start(self) -> None:
        self._began = time.perf_counter()

    def stop(self, phase: str) -> None:
        self.seconds[phase] = time.perf_counter() - self._began


class BatchRuns:
    """Starts runs, executes them as tasks of this process, and stops those in flight on shutdown."""

    def __init__(
        self, runs: RunStore, clock: TenantClock, phases: RunPhases, tags: ComputedTagSync | None
    ) -> None:
        self._runs = runs
        self._clock = clock
        self._phases = phases
        self._tags = tags
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, tenant_id: uuid.UUID, as_of_text: str, trigger: str = "api") -> Run | None:
        """Record a run for the tenant and start it; RunAlreadyRunning while one runs, None when the
        schedule's run of that day was already started (by another replica)."""
        zone = await self._clock.timezone(tenant_id)
        as_of = parse_as_of(as_of_text, datetime.now(ZoneInfo(zone)).date())
        run = await self._runs.start(tenant_id, as_of, trigger)
        if run is not None:
            task = asyncio.create_task(self.execute(run), name=f"scoring-run-{run.run_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return run

    async def last_scheduled(self) -> dict[uuid.UUID, date]:
        """Each tenant's latest as-of day started by the schedule."""
        return await self._runs.last_scheduled()

    async def get(self, tenant_id: uuid.UUID, run_id: str) -> Run:
        """The tenant's run; a malformed id is simply not found."""
        return await self._runs.get(tenant_id, known_id(run_id, "run"))

    async def execute(self, run: Run) -> None:
        """Run every phase; the run ends succeeded or failed with the error, never left running."""
        try:
            await self._execute_phases(run)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._runs.finish(run.run_id, "cancelled: the service stopped"))
            raise
        except Exception as failure:
            logger.exception("scoring run %s failed", run.run_id)
            await self._runs.finish(run.run_id, f"{type(failure).__name__}: {failure}")
            return
        await self._runs.finish(run.run_id, None)

    async def _execute_phases(self, run: Run) -> None:
        progress = self._runs.progress
        watch = _Stopwatch()
        async with self._phases.recompute(run.tenant_id, run.as_of) as recompute:
            watch.start()
            customers = await recompute.snapshot_features()
            watch.stop("features")
            await progress(run.run_id, "rfm", customers, customers, customers=customers)
            watch.start()
            baseline = await recompute.baselines()
            await recompute.score()
            watch.stop("rfm")
            await progress(
                run.run_id, "lifecycle", 0, customers, rfm_customers=(baseline or {}).get("customers", 0)
            )
            watch.start()
            changes = await recompute.publish()
            watch.stop("lifecycle")
        await progress(run.run_id, "predictions", 0, customers, stage_changes=changes, seconds=watch.seconds)
        watch.start()
        outcome = await self._phases.fit_predictions(run.tenant_id, run.as_of)
        watch.stop("predictions")
        await progress(
            run.run_id,
            "tags",
            0,
            customers,
            predictions={"status": outcome.status, "customers": outcome.customers},
            seconds=watch.seconds,
        )
        watch.start()
        written = 0 if self._tags is None else await self._tags.sync(run)
        watch.stop("tags")
        await progress(run.run_id, "done", customers, customers, tags_written=written, seconds=watch.seconds)

    async def stop(self) -> None:
        """Cancel the runs in flight (each ends failed, "cancelled") and wait for them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

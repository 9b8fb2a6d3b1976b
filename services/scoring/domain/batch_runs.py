"""The batch run use case: start a tenant's run, execute its phases in this process, read it back.

``BatchRuns.start`` records the run queued (one active per tenant, see ``domain.runs``) and
dispatches: a run is claimed (moved to running) only while fewer runs than the global bound run, in
every replica together; the claimed runs execute as tasks of this process. A slot freed here is
dispatched at once; one freed in another replica by the periodic dispatch (``background``).
The phases (recompute the scores, fit the predictions, sync the computed
tags to profile) report progress to the run after every step, so a client can follow it; a run
always ends succeeded or failed, never left running. The stores are protocols: ``store.runs``,
``store.run_phases`` and ``store.config`` implement them.

A run as of the tenant's today (or tomorrow) is **live**: it publishes the scores, the RFM
thresholds, the stage changes and the computed tags. A run as of an earlier day is a **snapshot**
(a what-if or a backfill): it computes the same figures as of that day and keeps their summary in
the run (``details.snapshot``: customers per stage and RFM group, the thresholds), readable by its
run id; it writes no live score, threshold, stage event or tag, and its predictive fit never
replaces the predictions of a later fit (see docs/scoring.md).
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
from services.scoring.domain.runs import Run, is_backdated, parse_as_of
from services.scoring.domain.scores import known_id

logger = logging.getLogger(__name__)

# A running run beats at least this often, so the claims of other replicas never take it for
# abandoned (``domain.runs.STALE_AFTER``) during a long phase.
BEAT_EVERY_SECONDS = 30.0


def failed_message(reference: str) -> str:
    """What a failed run tells the tenant: never the failure itself, which may name internals."""
    return f"the scoring run failed; see the operator logs, reference {reference}"


class RunStore(Protocol):
    async def start(self, tenant_id: uuid.UUID, as_of: date, trigger: str) -> Run | None: ...
    async def progress(
        self, run_id: uuid.UUID, phase: str, done: int, total: int, **details: Any
    ) -> None: ...
    async def finish(self, run_id: uuid.UUID, error: str | None) -> None: ...
    async def claim(self) -> list[Run]: ...
    async def beat(self, run_id: uuid.UUID) -> None: ...
    async def get(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Run: ...
    async def last_scheduled(self) -> dict[uuid.UUID, date]: ...


class TenantClock(Protocol):
    async def timezone(self, tenant_id: uuid.UUID) -> str: ...


class Recompute(Protocol):
    """One tenant's set-based recompute of every score, a phase at a time, on a session of its own."""

    async def snapshot_features(self, daily: bool) -> int: ...
    @property
    def features_mode(self) -> str: ...
    async def baselines(self) -> dict[str, Any] | None: ...
    async def score(self) -> None: ...
    async def publish(self) -> int: ...
    async def summarise(self) -> dict[str, Any]: ...


class FitOutcome(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def customers(self) -> int: ...


class RunPhases(Protocol):
    def recompute(self, tenant_id: uuid.UUID, as_of: date) -> AbstractAsyncContextManager[Recompute]: ...
    async def fit_predictions(self, tenant_id: uuid.UUID, as_of: date, *, snapshot: bool) -> FitOutcome: ...
    async def move_segments(self, tenant_id: uuid.UUID) -> int: ...


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
        self._stopping = False
        self.beat_every_seconds = BEAT_EVERY_SECONDS

    async def start(self, tenant_id: uuid.UUID, as_of_text: str, trigger: str = "api") -> Run | None:
        """Record a run for the tenant and start it; RunAlreadyRunning while one runs, None when the
        schedule's run of that day was already started (by another replica)."""
        zone = await self._clock.timezone(tenant_id)
        today = datetime.now(ZoneInfo(zone)).date()
        as_of = parse_as_of(as_of_text, today)
        run = await self._runs.start(tenant_id, as_of, trigger)
        if run is None:
            return None
        claimed = {started.run_id: started for started in await self.dispatch()}
        return claimed.get(run.run_id, run)

    async def dispatch(self) -> list[Run]:
        """Claim the queued runs that fit under the global bound and execute them here; those runs."""
        if self._stopping:
            return []
        claimed = await self._runs.claim()
        for run in claimed:
            task = asyncio.create_task(self.execute(run), name=f"scoring-run-{run.run_id}")
            self._tasks.add(task)
            task.add_done_callback(self._ended)
        return claimed

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A run ended: its slot is free, so the next queued run may start (here or elsewhere)."""
        self._tasks.discard(task)
        if not self._stopping:
            follow = asyncio.get_running_loop().create_task(self._dispatch_quietly())
            self._tasks.add(follow)
            follow.add_done_callback(self._tasks.discard)

    async def _dispatch_quietly(self) -> None:
        try:
            await self.dispatch()
        except Exception:
            logger.warning("scoring run dispatch failed; the periodic dispatch tries again", exc_info=True)

    async def last_scheduled(self) -> dict[uuid.UUID, date]:
        """Each tenant's latest as-of day started by the schedule."""
        return await self._runs.last_scheduled()

    async def get(self, tenant_id: uuid.UUID, run_id: str) -> Run:
        """The tenant's run; a malformed id is simply not found."""
        return await self._runs.get(tenant_id, known_id(run_id, "run"))

    async def execute(self, run: Run, *, snapshot: bool | None = None) -> None:
        """Run every phase; the run ends succeeded or failed with the error, never left running.
        ``snapshot``: a backdated run, which keeps its figures in the run and leaves the live ones
        (None: as the run's day is before the tenant's today when it starts)."""
        beating = asyncio.create_task(self._beat(run.run_id))
        try:
            if snapshot is None:
                zone = await self._clock.timezone(run.tenant_id)
                snapshot = is_backdated(run.as_of, datetime.now(ZoneInfo(zone)).date())
            await self._execute_phases(run, snapshot)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._runs.finish(run.run_id, "cancelled: the service stopped"))
            raise
        except Exception:
            # The detail (SQL, table names, values) is for the operators: the tenant reads a
            # generic message whose reference finds the log line.
            reference = uuid.uuid4().hex[:12]
            logger.exception("scoring run %s failed (reference %s)", run.run_id, reference)
            await self._runs.finish(run.run_id, failed_message(reference))
            return
        finally:
            beating.cancel()
        await self._runs.finish(run.run_id, None)

    async def _beat(self, run_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.beat_every_seconds)
            try:
                await self._runs.beat(run_id)
            except Exception:
                logger.warning("scoring run %s heartbeat failed", run_id, exc_info=True)

    async def _execute_phases(self, run: Run, snapshot: bool) -> None:
        progress = self._runs.progress
        watch = _Stopwatch()
        writes = "snapshot" if snapshot else "live"
        async with self._phases.recompute(run.tenant_id, run.as_of) as recompute:
            watch.start()
            # A live run may carry the day-independent features forward from the stored scores; a
            # backdated one reads every fact up to its day (docs/scoring.md "The daily run").
            customers = await recompute.snapshot_features(daily=not snapshot)
            watch.stop("features")
            await progress(
                run.run_id,
                "rfm",
                customers,
                customers,
                customers=customers,
                writes=writes,
                features=recompute.features_mode,
            )
            watch.start()
            baseline = await recompute.baselines()
            await recompute.score()
            watch.stop("rfm")
            await progress(
                run.run_id, "lifecycle", 0, customers, rfm_customers=(baseline or {}).get("customers", 0)
            )
            watch.start()
            if snapshot:
                await progress(run.run_id, "lifecycle", 0, customers, snapshot=await recompute.summarise())
                changes = 0
            else:
                changes = await recompute.publish()
            watch.stop("lifecycle")
        await progress(run.run_id, "predictions", 0, customers, stage_changes=changes, seconds=watch.seconds)
        watch.start()
        outcome = await self._phases.fit_predictions(run.tenant_id, run.as_of, snapshot=snapshot)
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
        # Computed tags describe the customers now: a snapshot leaves them as they are.
        written = 0 if self._tags is None or snapshot else await self._tags.sync(run)
        watch.stop("tags")
        await progress(run.run_id, "segments", 0, customers, tags_written=written, seconds=watch.seconds)
        watch.start()
        # New scores and predictions move segment membership (live figures only).
        moved = 0 if snapshot else await self._phases.move_segments(run.tenant_id)
        watch.stop("segments")
        await progress(run.run_id, "done", customers, customers, segment_changes=moved, seconds=watch.seconds)

    async def wait_idle(self) -> None:
        """Wait for the runs this process executes to end (a drain, or a test's wait)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel the runs in flight (each ends failed, "cancelled") and wait for them; queued runs
        stay queued for another replica (or this service's next start)."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

"""Executing batch runs inside the scoring process, and the daily schedule that starts them.

``RunExecutor.start`` records the run (one running per tenant, see ``domain.runs``) and runs it as a
task of this process; the phases (``store.batch``, the predictions of ``store.predictions``, the
tags of ``store.tagging`` written through ``transport.profile_tags``) report progress to the run's
row after every step. ``schedule`` is a background task: once a minute it starts the run of every
tenant whose local time has reached its configured hour and that has no scheduled run for that day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from services.runtime.cancellation import raise_if_cancelled
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.server import ServiceServer
from services.scoring.domain.runs import Run, is_due, parse_as_of
from services.scoring.store.batch import BatchSession
from services.scoring.store.config import load_config, load_configs
from services.scoring.store.predictions import fit_and_score
from services.scoring.store.rescoring import tenant_timezone
from services.scoring.store.runs import SqlRunStore
from services.scoring.store.tables import tenants
from services.scoring.store.tagging import (
    catalog,
    changed_page,
    desired_tags,
    remember_tags,
    remember_written,
    split_key,
)
from services.scoring.transport.profile_tags import ProfileTags

logger = logging.getLogger(__name__)

TAG_PAGE = 500
SCHEDULE_EVERY_SECONDS = 60.0


class RunExecutor:
    """Starts runs, executes them as tasks of this process and keeps the daily schedule."""

    def __init__(self, database: Database, outbox: Outbox, tags: ProfileTags | None) -> None:
        self.database = database
        self.outbox = outbox
        self.tags = tags
        self.store = SqlRunStore(database)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, tenant_id: uuid.UUID, as_of_text: str, trigger: str = "api") -> Run | None:
        """Record a run for the tenant and start it; RunAlreadyRunning while one runs."""
        async with self.database.read() as connection:
            zone = await tenant_timezone(connection, tenant_id)
        as_of = parse_as_of(as_of_text, datetime.now(ZoneInfo(zone)).date())
        run = await self.store.start(tenant_id, as_of, trigger)
        if run is not None:
            task = asyncio.create_task(self.execute(run), name=f"scoring-run-{run.run_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return run

    async def execute(self, run: Run) -> None:
        """Run every phase; the run ends succeeded or failed with the error, never left running."""
        try:
            await self._phases(run)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.finish(run.run_id, "cancelled: the service stopped"))
            raise
        except Exception as failure:
            logger.exception("scoring run %s failed", run.run_id)
            await self.store.finish(run.run_id, f"{type(failure).__name__}: {failure}")
            return
        await self.store.finish(run.run_id, None)

    async def _phases(self, run: Run) -> None:
        progress = self.store.progress
        timings: dict[str, float] = {}
        async with BatchSession.open(self.database, run.tenant_id, run.as_of) as batch:
            began = time.perf_counter()
            customers = await batch.snapshot_features()
            timings["features"] = time.perf_counter() - began
            await progress(run.run_id, "rfm", customers, customers, customers=customers)
            began = time.perf_counter()
            baseline = await batch.baselines()
            await batch.score()
            timings["rfm"] = time.perf_counter() - began
            await progress(
                run.run_id, "lifecycle", 0, customers, rfm_customers=(baseline or {}).get("customers", 0)
            )
            began = time.perf_counter()
            changes = await batch.write(self.outbox)
            timings["lifecycle"] = time.perf_counter() - began
        await progress(run.run_id, "predictions", 0, customers, stage_changes=changes, seconds=timings)
        began = time.perf_counter()
        async with self.database.transaction() as connection:
            config = await load_config(connection, run.tenant_id)
            outcome = await fit_and_score(connection, run.tenant_id, run.as_of, config)
        timings["predictions"] = time.perf_counter() - began
        await progress(
            run.run_id,
            "tags",
            0,
            customers,
            predictions={"status": outcome.status, "customers": outcome.customers},
            seconds=timings,
        )
        began = time.perf_counter()
        written = await self._tags(run)
        timings["tags"] = time.perf_counter() - began
        await progress(run.run_id, "done", customers, customers, tags_written=written, seconds=timings)

    async def _tags(self, run: Run) -> int:
        """Write every changed tag set to profile, a page at a time; the number of customers written."""
        if self.tags is None:
            return 0
        written_total = 0
        async with self.database.engine.connect() as connection:
            try:
                await connection.execute(sa.text("SET statement_timeout = 0"))
                await desired_tags(connection, run.tenant_id)
                await connection.commit()
                after: uuid.UUID | None = None
                while page := await changed_page(connection, run.tenant_id, after, TAG_PAGE):
                    after = page[-1].customer_id
                    keys = sorted({key for row in page for key in row.tag_keys})
                    known = await catalog(connection, run.tenant_id, keys)
                    missing = [key for key in keys if key not in known]
                    created = await self.tags.ensure(run.tenant_id, [split_key(k) for k in missing])
                    fresh = dict(zip(missing, created, strict=True))
                    await remember_tags(connection, run.tenant_id, fresh)
                    known.update(fresh)
                    results = await asyncio.gather(
                        *(
                            self.tags.set_computed(
                                run.tenant_id, row.customer_id, [known[k] for k in row.tag_keys]
                            )
                            for row in page
                        )
                    )
                    written = [
                        (row.customer_id, list(row.tag_keys))
                        for row, ok in zip(page, results, strict=True)
                        if ok
                    ]
                    await remember_written(connection, run.tenant_id, written)
                    await connection.commit()
                    written_total += len(written)
                    await self.store.progress(run.run_id, "tags", written_total, written_total)
            finally:
                await connection.rollback()
                await connection.execute(sa.text("DROP TABLE IF EXISTS run_tags"))
                await connection.commit()
        return written_total

    async def schedule(self, _: ServiceServer) -> None:
        """Background task: start each tenant's daily run at its local hour (see module docstring)."""
        try:
            while True:
                try:
                    await self._schedule_round()
                except Exception as error:
                    raise_if_cancelled(error)
                    logger.warning("scoring schedule round failed: %s", error)
                await asyncio.sleep(SCHEDULE_EVERY_SECONDS)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.tags is not None:
                await self.tags.close()

    async def _schedule_round(self) -> None:
        last = await self.store.last_scheduled()
        async with self.database.read() as connection:
            rows = (await connection.execute(sa.select(tenants.c.tenant_id, tenants.c.timezone))).all()
            configs = await load_configs(connection, [tenant for tenant, _ in rows])
        now = datetime.now(UTC)
        for tenant, zone in rows:
            config = configs[tenant]
            local = now.astimezone(ZoneInfo(zone))
            if is_due(local, config.run_local_hour, config.schedule_enabled, last.get(tenant)):
                with contextlib.suppress(Exception):
                    await self.start(tenant, local.date().isoformat(), trigger="schedule")

"""Batch run rows: start (one active per tenant, queued), claim under the global bound, progress with
heartbeat, finish, read.

The bound holds across replicas: a claim serialises on one transaction-scoped advisory lock, counts
the running runs (those whose process stopped beating are failed first, so they free their slot)
and moves the oldest queued runs to running, ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg

from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.scoring.domain.runs import STALE_AFTER, Run, RunAlreadyRunning, RunCooldown
from services.scoring.store.feature_tables import scoring_runs

# The advisory lock key every replica's claim takes ("scoring runs claim").
_CLAIM_LOCK = 0x5C0_12E5
_ACTIVE = ("queued", "running")

# Whole seconds left of the cooldown after the tenant's latest manual run started (claimed, or
# requested while queued); None without a manual run.
_COOLDOWN_LEFT = sa.text(
    "SELECT ceil(extract(epoch FROM max(started_at) + make_interval(secs => :s) - now()))::int "
    "FROM scoring_runs WHERE tenant_id = :t AND trigger = 'api'"
)

# Attempts to insert a run when the conflicting run finished in between (see SqlRunStore.start).
_START_ATTEMPTS = 3


def _run(row: sa.Row[Any]) -> Run:
    return Run(
        run_id=row.run_id,
        tenant_id=row.tenant_id,
        as_of=row.as_of,
        trigger=row.trigger,
        status=row.status,
        phase=row.phase,
        done=row.done,
        total=row.total,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        details=dict(row.details or {}),
    )


class SqlRunStore:
    """The ``scoring_runs`` table."""

    def __init__(self, database: Database, max_running: int = 2, cooldown_seconds: int = 0) -> None:
        self._database = database
        self._max_running = max_running
        self._cooldown_seconds = cooldown_seconds

    async def start(self, tenant_id: uuid.UUID, as_of: date, trigger: str) -> Run | None:
        """Insert a queued run. RunAlreadyRunning when one is queued or runs; RunCooldown when a
        manual (``api``) run follows the tenant's last manual start by less than the cooldown; None
        when the schedule already started this day's run (another replica did).

        The insert can conflict with a run that finishes before we look for it: nothing runs any
        more, so the insert is tried again (a few times; the schedule's day conflict stays None).
        """
        for _ in range(_START_ATTEMPTS):
            started, running = await self._try_start(tenant_id, as_of, trigger)
            if started is not None:
                return started
            if running is not None:
                raise RunAlreadyRunning(running)
        return None

    async def _try_start(
        self, tenant_id: uuid.UUID, as_of: date, trigger: str
    ) -> tuple[Run | None, uuid.UUID | None]:
        """One attempt: the run started, or the id of the run running instead (both None: neither)."""
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(scoring_runs)
                .where(
                    scoring_runs.c.tenant_id == tenant_id,
                    scoring_runs.c.status == "running",
                    scoring_runs.c.heartbeat_at < sa.func.now() - STALE_AFTER,
                )
                .values(status="failed", error="abandoned: its process stopped", finished_at=sa.func.now())
            )
            if trigger == "api" and self._cooldown_seconds > 0:
                active = (
                    await connection.execute(
                        sa.select(scoring_runs.c.run_id).where(
                            scoring_runs.c.tenant_id == tenant_id, scoring_runs.c.status.in_(_ACTIVE)
                        )
                    )
                ).scalar_one_or_none()
                if active is not None:
                    return None, active
                wait = (
                    await connection.execute(_COOLDOWN_LEFT, {"t": tenant_id, "s": self._cooldown_seconds})
                ).scalar_one()
                if wait is not None and wait > 0:
                    raise RunCooldown(int(wait))
            statement = (
                pg.insert(scoring_runs)
                .values(
                    run_id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    as_of=as_of,
                    trigger=trigger,
                    status="queued",
                    phase="features",
                )
                .on_conflict_do_nothing()
                .returning(*scoring_runs.c)
            )
            try:
                async with connection.begin_nested():
                    row = (await connection.execute(statement)).first()
            except sa_exc.IntegrityError:
                row = None
            if row is not None:
                return _run(row), None
            running = (
                await connection.execute(
                    sa.select(scoring_runs.c.run_id).where(
                        scoring_runs.c.tenant_id == tenant_id, scoring_runs.c.status.in_(_ACTIVE)
                    )
                )
            ).scalar_one_or_none()
        return None, running

    async def claim(self) -> list[Run]:
        """Move the oldest queued runs to running while fewer than the bound run (across replicas);
        the runs this caller now executes."""
        async with self._database.transaction() as connection:
            await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK})
            await connection.execute(
                sa.update(scoring_runs)
                .where(
                    scoring_runs.c.status == "running",
                    scoring_runs.c.heartbeat_at < sa.func.now() - STALE_AFTER,
                )
                .values(status="failed", error="abandoned: its process stopped", finished_at=sa.func.now())
            )
            running = (
                await connection.execute(sa.select(sa.func.count()).where(scoring_runs.c.status == "running"))
            ).scalar_one()
            free = self._max_running - int(running)
            if free <= 0:
                return []
            queued = (
                sa.select(scoring_runs.c.run_id)
                .where(scoring_runs.c.status == "queued")
                .order_by(scoring_runs.c.started_at, scoring_runs.c.run_id)
                .limit(free)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            rows = await connection.execute(
                sa.update(scoring_runs)
                .where(scoring_runs.c.run_id.in_(queued))
                .values(status="running", started_at=sa.func.now(), heartbeat_at=sa.func.now())
                .returning(*scoring_runs.c)
            )
            return sorted((_run(row) for row in rows), key=lambda run: run.started_at)

    async def beat(self, run_id: uuid.UUID) -> None:
        """Show the run's process is alive during a long phase (no progress to report)."""
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(scoring_runs)
                .where(scoring_runs.c.run_id == run_id, scoring_runs.c.status == "running")
                .values(heartbeat_at=sa.func.now())
            )

    async def progress(self, run_id: uuid.UUID, phase: str, done: int, total: int, **details: Any) -> None:
        """Record the phase and progress (and beat the heart); details merge into the run's."""
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(scoring_runs)
                .where(scoring_runs.c.run_id == run_id)
                .values(
                    phase=phase,
                    done=done,
                    total=total,
                    heartbeat_at=sa.func.now(),
                    details=scoring_runs.c.details.op("||")(sa.cast(details, pg.JSONB)),
                )
            )

    async def finish(self, run_id: uuid.UUID, error: str | None) -> None:
        """Mark the run succeeded (no error) or failed."""
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(scoring_runs)
                .where(scoring_runs.c.run_id == run_id, scoring_runs.c.status == "running")
                .values(
                    status="failed" if error else "succeeded",
                    phase="done" if error is None else scoring_runs.c.phase,
                    error=error,
                    finished_at=sa.func.now(),
                    heartbeat_at=sa.func.now(),
                )
            )

    async def get(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Run:
        """The tenant's run; NotFound for another tenant's or an unknown id."""
        async with self._database.read() as connection:
            row = (
                await connection.execute(
                    sa.select(scoring_runs).where(
                        scoring_runs.c.tenant_id == tenant_id, scoring_runs.c.run_id == run_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"run {run_id} not found")
        return _run(row)

    async def last_scheduled(self) -> dict[uuid.UUID, date]:
        """Each tenant's latest as-of day started by the schedule."""
        async with self._database.read() as connection:
            rows = await connection.execute(
                sa.select(scoring_runs.c.tenant_id, sa.func.max(scoring_runs.c.as_of))
                .where(scoring_runs.c.trigger == "schedule")
                .group_by(scoring_runs.c.tenant_id)
            )
            return {tenant: day for tenant, day in rows}

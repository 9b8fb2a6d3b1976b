"""Campaign planning at a million recipients, measured on notify's database with notify's own code.

Target (issue 14): planning through the policy at **>= 10,000 messages/s**. No running system is
needed, only a PostgreSQL server where the bench may create databases (``--database-url``).

What runs, per ``--batches`` size, on a fresh clone of the world (``bench/_campaign_world.py``):

1. a campaign row (variants A and B 45/45, holdout 10 %, sent at start, in the tenant's zone) in
   status ``running``, phase ``snapshot``, as ``POST /v1/campaigns/{id}/start`` leaves it;
2. **snapshot**: ``CampaignWorker.work_once`` claims it and ``SqlCampaignPlanning.take_snapshot``
   takes the audience from an async iterator of ``AudienceBatch`` of 10,000 ids (as scoring's member
   stream delivers them): COPY, then one INSERT … SELECT;
3. **planning**: ``CampaignWorker.work_once`` again and again (5 s slices, leases, releases, exactly
   as notify's loop) until the campaign's phase is ``sending``; every ``plan_batch`` is timed;
4. **report**: ``campaign_report.campaign_totals``, notify's statement for the report, three times.

The worker's clock is fixed at the anchor (the latest 14:30 UTC), so quiet hours fall the same way
on every run: Shanghai 22:30 and Los Angeles 06:30/07:30 are quiet, Urumqi and Berlin are not.
The services' engine settings are kept (``statement_timeout`` 10 s) unless ``--statement-timeout``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench._campaign_world import World, admin, clone, dsn, ensure_world
from bench._common import BenchError, emit_report, latency_summary, log, machine_info, positive_int
from bench._cpu import cpu_snapshot, cpu_usage
from bench.events import run_loop
from services.notify.domain.campaign_assignment import thresholds
from services.notify.domain.campaign_worker import (
    AudienceBatch,
    CampaignWorker,
    Claim,
    PlanningStore,
    PlanOutcome,
    WorkerLimits,
)
from services.notify.store.campaign_planning import SqlCampaignPlanning
from services.notify.store.tables import outbox
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.events.tables import DEFAULT_PARTITIONS

TARGET = ">= 10,000 messages/s planned through the policy (issue 14)"
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AUDIENCE_BATCH = 10_000
ASSIGNMENT_KEY = "bench-campaigns-assignment-key"
MAX_FAILURES = 3

BREAKDOWN = sa.text(
    """
    SELECT status, COALESCE(reason, '') AS reason, count(*) AS n FROM messages
    WHERE tenant_id = :tenant AND sender = 'campaign' AND sender_ref = :ref GROUP BY status, reason
    """
)


def anchor_instant(now: datetime) -> datetime:
    """The latest 14:30 UTC at or before ``now``: the worker's fixed clock."""
    today = now.replace(hour=14, minute=30, second=0, microsecond=0)
    return today if today <= now else today - timedelta(days=1)


class TimedStore:
    """The real planning store, with each ``plan_batch`` timed (the worker sees no difference)."""

    def __init__(self, store: SqlCampaignPlanning) -> None:
        self._store = store
        self.batch_ms: list[float] = []
        self.messages = 0

    async def claim(self, lease: timedelta) -> Claim | None:
        return await self._store.claim(lease)

    async def take_snapshot(self, claim: Claim, members: AsyncIterator[AudienceBatch]) -> int | None:
        return await self._store.take_snapshot(claim, members)

    async def plan_batch(self, claim: Claim, limit: int, lease: timedelta, now: datetime) -> PlanOutcome:
        started = time.perf_counter()
        outcome = await self._store.plan_batch(claim, limit, lease, now)
        self.batch_ms.append((time.perf_counter() - started) * 1000)
        self.messages += outcome.planned
        return outcome

    async def complete(self, claim: Claim) -> bool:
        return await self._store.complete(claim)

    async def release(
        self, claim: Claim, wake_at: datetime, *, failed: bool = False, error: str | None = None
    ) -> None:
        await self._store.release(claim, wake_at, failed=failed, error=error)

    async def abandon(self, claim: Claim, error: str) -> None:
        await self._store.abandon(claim, error)


class WorldAudience:
    """The world's customers as scoring's member stream delivers them: batches of 10,000."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def members(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> AsyncIterator[AudienceBatch]:
        ids, zones = self._world.customers, self._world.zones
        for start in range(0, len(ids), AUDIENCE_BATCH):
            end = start + AUDIENCE_BATCH
            yield AudienceBatch(ids[start:end], zones[start:end], 1, self._world.anchor)


async def insert_campaign(engine: AsyncEngine, world: World) -> uuid.UUID:
    """A started campaign (as ``/start`` leaves it): running, phase snapshot, due at the anchor. Its id
    is fixed by the world, so every run draws the same groups (the draw hashes the campaign id)."""
    campaign = uuid.uuid5(world.tenant_id, "bench-campaign")
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                """
                INSERT INTO campaigns (tenant_id, campaign_id, name, segment_id, document, status, phase,
                  groups, templates, ends, conversion_window, send_zone, created_at, updated_at,
                  started_at, wake_at, first_send_at)
                VALUES (:tenant, :campaign, 'bench', :segment, CAST(:document AS jsonb), 'running',
                  'snapshot', :groups, :templates, :ends, interval '7 days', 'tenant', :at, :at, :at, :at,
                  :at)
                """
            ),
            {
                "tenant": world.tenant_id,
                "campaign": campaign,
                "segment": uuid.uuid4(),
                "document": '{"bench": true}',
                "groups": ["A", "B"],
                "templates": list(world.templates),
                "ends": thresholds([45, 45], 10.0),
                "at": world.anchor,
            },
        )
    return campaign


async def _row(engine: AsyncEngine, campaign: uuid.UUID) -> Any:
    async with engine.connect() as connection:
        query = "SELECT phase, status, recipients, planned_through, attempts, last_error FROM campaigns "
        return (await connection.execute(sa.text(query + "WHERE campaign_id = :c"), {"c": campaign})).one()


async def _timed_report(engine: AsyncEngine, world: World, campaign: uuid.UUID) -> dict[str, Any]:
    """The report's totals three times: ``campaign_report.campaign_totals`` (notify's own statement)."""
    from services.notify.store.campaign_report import campaign_totals

    times: list[float] = []
    errors: list[str] = []
    groups: dict[str, Any] = {}
    for _ in range(3):
        started = time.perf_counter()
        try:
            async with engine.connect() as connection:
                totals = await campaign_totals(connection, world.tenant_id, campaign)
        except sa.exc.DBAPIError as error:  # the statement cap: recorded, the run goes on
            errors.append(str(error.orig).splitlines()[0])
            continue
        finally:
            times.append(round((time.perf_counter() - started) * 1000, 1))
        groups = {t.group: {k: v for k, v in vars(t).items() if k != "group"} for t in totals}
    return {
        "query": "campaign_report.campaign_totals",
        "ms_each_of_3": times,
        "errors": errors,
        "groups": groups,
    }


async def _explain(engine: AsyncEngine, statement: str, params: dict[str, Any]) -> list[str]:
    """EXPLAIN ANALYZE one planning statement in a transaction that is rolled back."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        rows = (await connection.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {statement}"), params)).all()
        await transaction.rollback()
    return [row[0] for row in rows]


async def plan_once(options: argparse.Namespace, world_name: str, batch: int) -> dict[str, Any]:
    """One run at ``batch`` recipients a transaction, on a fresh clone of the world."""
    anchor = anchor_instant(datetime.now(UTC))
    name, world = await clone(options.database_url, world_name, options.customers, options.seed, anchor)
    url = dsn(options.database_url, name).replace("postgresql://", "postgresql+asyncpg://")
    settings = {"application_name": "bench-campaigns", "statement_timeout": str(options.statement_timeout)}
    engine = create_async_engine(url, pool_size=4, connect_args={"server_settings": settings})
    observer = create_async_engine(url, pool_size=1)
    log(f"batch {batch}: clone {name}, anchor {anchor:%Y-%m-%d %H:%M}Z")
    try:
        campaign = await insert_campaign(engine, world)
        store = TimedStore(
            SqlCampaignPlanning(
                Database(engine), Outbox("notify", outbox, DEFAULT_PARTITIONS), ASSIGNMENT_KEY
            )
        )
        planning: PlanningStore = store
        worker = CampaignWorker(planning, WorldAudience(world), lambda: anchor, WorkerLimits(batch=batch))
        async with engine.connect() as connection:  # the pool's connection exists before the CPU reading
            await connection.execute(sa.text("SELECT 1"))
        load = {"before": os.getloadavg()}
        before = await cpu_snapshot(observer, None)
        started = time.perf_counter()
        await worker.work_once()
        snapshot_s = time.perf_counter() - started
        after_snapshot = await cpu_snapshot(observer, None)
        row = await _row(engine, campaign)
        if row.phase != "planning":
            raise BenchError(f"snapshot did not finish: {row.phase} {row.status} {row.last_error}")
        log(f"batch {batch}: snapshot of {row.recipients:,} in {snapshot_s:.1f} s")
        explained = await _explain_batch(engine, world, campaign, batch) if options.explain else None
        planning_started = time.perf_counter()
        plan_cpu_before = await cpu_snapshot(observer, None)
        error = None
        while True:
            await worker.work_once()
            row = await _row(engine, campaign)
            log(f"batch {batch}: planned through {row.planned_through:,} ({store.messages:,} messages)")
            if row.phase != "planning":
                break
            if row.attempts >= MAX_FAILURES:
                error = row.last_error
                break
        planning_s = time.perf_counter() - planning_started
        after = await cpu_snapshot(observer, None)
        load["after"] = os.getloadavg()
        plan_cpu = cpu_usage(plan_cpu_before, after)
        async with engine.connect() as connection:
            counts = (
                await connection.execute(BREAKDOWN, {"tenant": world.tenant_id, "ref": str(campaign)})
            ).all()
        return {
            "campaign_batch": batch,
            "recipients": int(row.recipients),
            "snapshot": {
                "seconds": round(snapshot_s, 2),
                "recipients_per_s": round(row.recipients / snapshot_s),
                "cpu": cpu_usage(before, after_snapshot),
            },
            "planning": {
                "error": error,
                "seconds": round(planning_s, 2),
                "messages": store.messages,
                "messages_per_s": round(store.messages / planning_s),
                "positions_per_s": round(int(row.planned_through) / planning_s),
                "transactions": len(store.batch_ms),
                "transaction_ms": latency_summary(store.batch_ms),
                "statuses": {f"{c.status}/{c.reason}".rstrip("/"): int(c.n) for c in counts},
                "cpu": plan_cpu,
                "cpu_us_per_message": _per_message(plan_cpu, planning_s, store.messages),
            },
            "report": await _timed_report(engine, world, campaign),
            "explain": explained,
            "load_average": load,
        }
    finally:
        await engine.dispose()
        await observer.dispose()
        if not options.keep_runs:
            await admin(options.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _per_message(cpu: dict[str, float | None], seconds: float, messages: int) -> dict[str, float]:
    """CPU microseconds per planned message of this process and of the database's backends: steadier
    than the rate on a shared machine (the rate is what is left of the cores to the run)."""
    return {
        name: round(pct / 100 * seconds / messages * 1e6, 1)
        for name in ("bench_process", "postgres_backends")
        if messages and (pct := cpu.get(f"{name}_pct_of_one_core")) is not None
    }


async def _explain_batch(
    engine: AsyncEngine, world: World, campaign: uuid.UUID, batch: int
) -> dict[str, Any]:
    """The planning statements of one batch in the middle of the audience, explained and rolled back."""
    from services.notify.store import campaign_planning as planning

    after = len(world.customers) // 2
    keys = {"tenant": world.tenant_id, "campaign": campaign, "after": after, "through": after + batch}
    plan = {
        **keys,
        "ref": str(campaign),
        "groups": ["A", "B"],
        "templates": list(world.templates),
        "tenant_zone": "Asia/Shanghai",
        "now": world.anchor,
        "cap_max": [2],
        "cap_seconds": [7 * 86_400.0],
        "quiet_start": datetime(2000, 1, 1, 22).time(),
        "quiet_end": datetime(2000, 1, 1, 8).time(),
    }
    return {
        "through": await _explain(engine, planning._THROUGH.text, {**keys, "limit": batch}),
        "lock_customers": await _explain(engine, planning._LOCK_CUSTOMERS.text, keys),
        "plan": await _explain(engine, planning._PLAN.text, plan),
    }


async def run(options: argparse.Namespace) -> dict[str, Any]:
    """Build or reuse the world, then one run per batch size."""
    anchor = anchor_instant(datetime.now(UTC))
    try:
        world = await ensure_world(
            options.database_url, options.customers, options.seed, anchor, options.rebuild
        )
    except (OSError, asyncpg.PostgresError) as error:
        raise BenchError(f"cannot build the world on {options.database_url}: {error}") from error
    runs = [await plan_once(options, world, batch) for batch in options.batches]
    async with asyncpg.create_pool(dsn(options.database_url, world), min_size=1, max_size=1) as pool:
        settings = await pool.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
            ["server_version", "max_connections", "max_locks_per_transaction", "shared_buffers",
             "synchronous_commit", "work_mem"],
        )  # fmt: skip
    return {
        "benchmark": "campaigns.planning",
        "world": {"database": world, "customers": options.customers, "seed": options.seed},
        "runs": runs,
        "target": TARGET,
        "machine": {**machine_info(), "postgres": {r["name"]: r["setting"] for r in settings}},
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; the defaults are the benchmark's fixed workload."""
    parser = argparse.ArgumentParser(prog="python -m bench.campaigns", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("PATRON_BENCH_DATABASE_URL") or DEFAULT_SERVER_URL,
        help=f"PostgreSQL server to create the databases on (default $PATRON_BENCH_DATABASE_URL, else "
        f"{DEFAULT_SERVER_URL})",
    )
    parser.add_argument("--customers", type=positive_int, default=1_000_000, help="audience (1000000)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the world (1)")
    parser.add_argument(
        "--batches", type=positive_int, nargs="+", default=[1_000, 2_000, 5_000], help="campaign_batch values"
    )
    parser.add_argument("--statement-timeout", type=int, default=10_000, help="ms, as the services (10000)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE one mid-audience batch")
    parser.add_argument("--rebuild", action="store_true", help="build the world again")
    parser.add_argument("--keep-runs", action="store_true", help="keep each run's database")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run and print the report. Returns the exit code."""
    options = parse_args(argv)
    try:
        report = run_loop(lambda: run(options))
    except BenchError as error:
        log(str(error))
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    emit_report(report, options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Writing customers' scores and announcing their lifecycle stage changes.

Three writers share ``customer_scores``: the consumer re-scores the customers an event batch
touched, the re-scorer's round (``rescore_marks``) the customers whose behaviour changed, and the
batch run rewrites the whole tenant. The first two hold each customer's lock while they compute and
write it (``SCORES_LOCK_CLASS``). The run meets them on a per-tenant advisory lock: they hold it
shared (consumers of different partitions still run side by side), the run takes it exclusively
only for the instant it fixes its snapshot and for its final write. A row they wrote after the
run's snapshot is newer than the run's result and is left as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import scoring_events_pb2
from services.runtime.events.outbox import NewEvent, Outbox
from services.scoring.domain.config import ScoringConfig
from services.scoring.store.config import load_config
from services.scoring.store.feature_tables import tenant_baselines
from services.scoring.store.score_sql import (
    PROBE_IDS,
    SCORE_COLUMNS,
    Scope,
    feature_parameters,
    features_sql,
    probe_source,
    score_parameters,
    scores_sql,
)
from services.scoring.store.tables import tenants

DEFAULT_TIMEZONE = "Asia/Shanghai"
STAGE_CHANGED = "lifecycle.stage_changed"

_UPDATABLE = [c.strip() for c in SCORE_COLUMNS.split(",") if c.strip() != "customer_id"]
UPSERT_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATABLE) + ", updated_at = EXCLUDED.updated_at"

RESCORE = sa.text(
    " ".join(
        [
            "WITH",
            PROBE_IDS,
            ", new AS (",
            scores_sql("(" + features_sql(Scope.PROBE) + ")"),
            "), old AS (SELECT s.customer_id, s.stage FROM",
            probe_source("customer_scores", "s"),
            "),",
            "up AS (INSERT INTO customer_scores (tenant_id,",
            SCORE_COLUMNS,
            ", updated_at) SELECT CAST(:tenant_id AS uuid),",
            SCORE_COLUMNS,
            ", clock_timestamp() FROM new ON CONFLICT (tenant_id, customer_id) DO UPDATE SET",
            UPSERT_SET,
            "RETURNING customer_id, stage, stage_reason)",
            "SELECT up.customer_id, old.stage AS from_stage, up.stage AS to_stage, up.stage_reason",
            "FROM up LEFT JOIN old ON old.customer_id = up.customer_id",
            "WHERE old.stage IS DISTINCT FROM up.stage",
        ]
    )
)  # built once: parsing this text for its parameters took a tenth of scoring's CPU per call


# Per-customer locks (the two-integer advisory key space, apart from every bigint key): whoever
# writes or forgets a customer's scores holds the customer's lock until it commits, and computes
# after taking it. Without them, the re-scorer's round (rescore_marks) could compute a customer from
# a snapshot older than a consumer's order, then write its older result over the consumer's, or
# write a score row for a customer a concurrent erasure had just forgotten.
SCORES_LOCK_CLASS = 0x5C0E5C0
_LOCK_SCORES_SQL = (
    "SELECT count(pg_advisory_xact_lock(:lock_class, k)) FROM unnest(CAST(:customer_keys AS int[])) AS k"
)
_LOCK_SCORES = sa.text(_LOCK_SCORES_SQL)


def customer_key(customer_id: uuid.UUID) -> int:
    """A customer's scores lock key; two customers sharing a key only wait for each other."""
    return int.from_bytes(customer_id.bytes[:4], "big", signed=True)


def customer_keys(customer_ids: Iterable[uuid.UUID]) -> list[int]:
    """The customers' lock keys, sorted: lockers of overlapping sets take them in the same order."""
    return sorted({customer_key(customer) for customer in customer_ids})


# Planning ``RESCORE`` (a dozen CTEs) costs 5-35 ms, executing it for the one to few hundred
# customers of an event batch 1-3 ms: the consumer's throughput was its planner's. Every per-customer
# scan is an index probe per customer of ``:ids`` (``score_sql.probe_source``), so the generic plan,
# made once per pooled connection (its prepared statement is cached) is as good as a custom one, but
# for one thing: it cannot know how many ids the array holds and takes it for a few. It then joined
# every per-customer aggregate (behaviour counts, hours, orders) to the customers by nested loops,
# re-running the aggregate over all the batch's customers once per customer: a batch of 1,000
# customers took about 300 ms instead of 20, and scoring fell minutes behind under ingest
# (docs/performance.md). Nested loops are therefore off for this statement (merge and hash joins,
# linear whatever the batch); the probes and the joins to the one-row ``params`` stay nested loops,
# the only plan for a lateral subquery and for a join without a condition. Both settings are put back.
_LOCK_AND_GENERIC_PLAN = sa.text(
    "WITH saved AS MATERIALIZED (SELECT current_setting('plan_cache_mode') AS previous, "  # noqa: S608
    "current_setting('enable_nestloop') AS nestloop) "
    "SELECT saved.previous, saved.nestloop, pg_advisory_xact_lock_shared(:key), "
    "(" + _LOCK_SCORES_SQL + "), "
    "set_config('plan_cache_mode', 'force_generic_plan', true), "
    "set_config('enable_nestloop', 'off', true) FROM saved"
)

_RESTORE_PLAN_SETTINGS = sa.text(
    "SELECT set_config('plan_cache_mode', :mode, true), set_config('enable_nestloop', :nestloop, true)"
)


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What scoring a tenant needs besides its facts: time zone, configuration and baselines."""

    tenant_id: uuid.UUID
    timezone: str
    config: ScoringConfig
    baseline: dict[str, Any] | None

    def today(self) -> date:
        """The tenant's local date now: the as-of day of incremental scoring."""
        return datetime.now(ZoneInfo(self.timezone)).date()


def lock_key(tenant_id: uuid.UUID) -> int:
    """The advisory lock key of a tenant's scores (a signed 64-bit integer)."""
    return int.from_bytes(tenant_id.bytes[:8], "big", signed=True) ^ 0x5C0_12E


async def tenant_timezone(connection: AsyncConnection, tenant_id: uuid.UUID) -> str:
    """The tenant's time zone as provisioned to scoring (the default zone when not provisioned)."""
    zone = (
        await connection.execute(sa.select(tenants.c.timezone).where(tenants.c.tenant_id == tenant_id))
    ).scalar_one_or_none()
    return zone or DEFAULT_TIMEZONE


async def load_baseline(connection: AsyncConnection, tenant_id: uuid.UUID) -> dict[str, Any] | None:
    """The thresholds of the tenant's last batch run, or None before its first run."""
    row = (
        await connection.execute(sa.select(tenant_baselines).where(tenant_baselines.c.tenant_id == tenant_id))
    ).first()
    return None if row is None else dict(row._mapping)


async def tenant_context(connection: AsyncConnection, tenant_id: uuid.UUID) -> TenantContext:
    """Everything scoring needs about the tenant, read in the caller's transaction."""
    return TenantContext(
        tenant_id,
        await tenant_timezone(connection, tenant_id),
        await load_config(connection, tenant_id),
        await load_baseline(connection, tenant_id),
    )


def stage_events(
    tenant_id: uuid.UUID, changes: Sequence[sa.Row[Any]], changed_at: datetime
) -> list[NewEvent]:
    """``lifecycle.stage_changed`` for each (customer_id, from_stage, to_stage, stage_reason) row."""
    events = []
    for row in changes:
        payload = scoring_events_pb2.LifecycleStageChanged(
            from_stage=row.from_stage or "", to_stage=row.to_stage, reason=row.stage_reason
        )
        payload.changed_at.FromDatetime(changed_at)
        events.append(NewEvent(tenant_id, STAGE_CHANGED, row.customer_id, payload, occurred_at=changed_at))
    return events


def rescore_parameters(context: TenantContext, customer_ids: Sequence[uuid.UUID]) -> dict[str, Any]:
    """The bound parameters of ``RESCORE`` for the given customers, as of the tenant's today."""
    return {
        **feature_parameters(context.tenant_id, context.timezone, context.today(), context.config),
        **score_parameters(context.timezone, context.config, context.baseline),
        "ids": sorted(set(customer_ids)),
    }


async def rescore(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    customer_ids: Sequence[uuid.UUID],
) -> int:
    """Recompute the given customers' features and scores as of the tenant's today, against the stored
    baselines, and announce stage changes in the same transaction. Returns the changes announced."""
    if not customer_ids:
        return 0
    locks = {
        "key": lock_key(tenant_id),
        "lock_class": SCORES_LOCK_CLASS,
        "customer_keys": customer_keys(customer_ids),
    }
    previous = (await connection.execute(_LOCK_AND_GENERIC_PLAN, locks)).one()
    parameters = rescore_parameters(await tenant_context(connection, tenant_id), customer_ids)
    changes = (await connection.execute(RESCORE, parameters)).all()
    await connection.execute(
        _RESTORE_PLAN_SETTINGS, {"mode": previous.previous, "nestloop": previous.nestloop}
    )
    await outbox.append(connection, stage_events(tenant_id, changes, datetime.now(UTC)))
    return len(changes)


async def forget_customers(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> None:
    """Drop the derived rows of customers that were merged away or erased (after any re-scoring
    round that holds them has committed: see ``SCORES_LOCK_CLASS``)."""
    await connection.execute(
        _LOCK_SCORES, {"lock_class": SCORES_LOCK_CLASS, "customer_keys": customer_keys(customer_ids)}
    )
    for table in ("customer_scores", "computed_tags", "rescore_marks"):
        await connection.execute(
            sa.text(
                f"DELETE FROM {table} WHERE tenant_id = :t "  # noqa: S608 (two constant names)
                "AND customer_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"t": tenant_id, "ids": list(customer_ids)},
        )

"""The batch recompute of one tenant, set-based, on one connection of its own.

``BatchSession`` holds a dedicated connection so that the run's working tables (``run_features``,
``run_scores``, temporary: never logged, dropped with the session) live across its phases:

1. ``snapshot_features``: takes the tenant's lock exclusively for an instant, fixes a REPEATABLE READ
   snapshot and its time, releases the lock and builds ``run_features`` from the facts in it: every
   fact (a full run), or for a live run whose stored rows can be trusted the stored day-independent
   features plus the facts inside the windows (a daily run, ``store.daily_features_sql``).
2. ``baselines``: the RFM cut points (quintiles by ``percentile_cont``, or the operator's fixed
   thresholds), the group split values (mean or median) and the price-band tertiles.
3. ``score``: ``run_scores`` = RFM, price band, lifecycle stage and engagement for every customer.
4. ``write``: under the exclusive lock, in one transaction: find the stage changes, update the
   rows whose values changed (skipping rows the consumer rewrote after the snapshot), insert the
   rows of new customers still live, drop rows of customers merged or erased meanwhile, store the
   baselines, and append one ``lifecycle.stage_changed`` per change, encoded by PostgreSQL
   (``stage_envelopes``).

Nothing loops over customers in Python.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.rfm import QUINTILES
from services.scoring.store.config import load_config
from services.scoring.store.daily_features_sql import (
    FEATURES_VERSION,
    MAX_MISSING_ROWS,
    MISSING_ROWS,
    daily_features_sql,
)
from services.scoring.store.rescoring import (
    load_baseline,
    lock_key,
    tenant_timezone,
)
from services.scoring.store.score_sql import (
    SCORE_COLUMNS,
    Scope,
    feature_parameters,
    features_sql,
    saturated,
    score_parameters,
    scores_sql,
)
from services.scoring.store.stage_envelopes import append_stage_changes

# Per transaction of the run only: no statement timeout; hash aggregates over millions of
# customers in memory rather than spilled to disk in batches (a run has one such statement at a
# time); no JIT, whose compilation of the features statement took ~6 s and saved less.
# The facts the features statement reads. Their statistics must be current before it is planned:
# on tables filled since the last (auto)analyze the planner guesses a few rows and picks nested
# loops (CDNOW's 6,919 orders, just loaded: 3.4 s instead of 0.1 s). Only stale tables are analyzed
# (never analyzed, or more than a tenth changed since), so a run on settled data pays one catalog read.
# The daily statement also reads the stored scores, which a run or the consumers rewrite wholesale.
_FACT_TABLES = (
    "customers",
    "orders",
    "order_items",
    "order_extras",
    "activity_daily",
    "activity_hours",
    "customer_scores",
)
_STALE_FACTS = """
SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = ANY(CAST(:names AS text[]))
  AND (coalesce(last_analyze, last_autoanalyze) IS NULL
       OR n_mod_since_analyze > greatest(50, n_live_tup / 10))
ORDER BY relname
"""

_SESSION_SETTINGS = ("SET LOCAL statement_timeout = 0", "SET LOCAL work_mem = '1GB'", "SET LOCAL jit = off")

_BASELINES = """
SELECT count(*) AS customers,
       percentile_cont(CAST(:q AS float8[])) WITHIN GROUP (ORDER BY recency_days) AS r_q,
       percentile_cont(CAST(:q AS float8[])) WITHIN GROUP (ORDER BY frequency) AS f_q,
       percentile_cont(CAST(:q AS float8[])) WITHIN GROUP (ORDER BY monetary_minor) AS m_q,
       avg(recency_days)::float8 AS r_mean, avg(frequency)::float8 AS f_mean,
       avg(monetary_minor)::float8 AS m_mean,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY recency_days) AS r_median,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY frequency) AS f_median,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY monetary_minor) AS m_median,
       percentile_cont(ARRAY[1.0 / 3, 2.0 / 3]) WITHIN GROUP (ORDER BY avg_unit_price_minor)
           FILTER (WHERE avg_unit_price_minor IS NOT NULL) AS price_q
FROM run_features WHERE order_count > 0
"""

_LIVE = (
    "JOIN customers c ON c.tenant_id = :tenant_id AND c.customer_id = n.customer_id "
    "AND c.merged_into IS NULL AND c.erased_at IS NULL"
)

_CHANGES = f"""
CREATE TEMP TABLE run_changes ON COMMIT DROP AS
SELECT n.customer_id, o.stage AS from_stage, n.stage AS to_stage, n.stage_reason,
       o.customer_id IS NULL AS is_new
FROM run_scores n {_LIVE}
LEFT JOIN customer_scores o ON o.tenant_id = :tenant_id AND o.customer_id = n.customer_id
WHERE (o.customer_id IS NULL OR o.updated_at < :snapshot_at) AND o.stage IS DISTINCT FROM n.stage
"""  # noqa: S608 - constant fragments

_COLUMNS = [c.strip() for c in SCORE_COLUMNS.split(",")]
_VALUES = [c for c in _COLUMNS if c != "customer_id"]

# Only rows whose values differ are rewritten (a re-run of the same day writes nothing), and only
# rows the consumer has not rewritten since the snapshot (those are newer than the run's).
_UPDATE = f"""
UPDATE customer_scores cs
SET ({", ".join(_VALUES)}, updated_at) = ({", ".join("n." + c for c in _VALUES)}, now())
FROM run_scores n
WHERE cs.tenant_id = :tenant_id AND cs.customer_id = n.customer_id AND cs.updated_at < :snapshot_at
  AND ({", ".join("cs." + c for c in _VALUES)}) IS DISTINCT FROM ({", ".join("n." + c for c in _VALUES)})
"""  # noqa: S608 - constant column lists

# Customers without a row yet (new since the last run), if still live: a customer merged away or
# erased since the snapshot lost its row in the consumer's transaction and must not get it back.
# They are the changes with no old row (``run_changes`` has only live customers): an anti-join
# against ``customer_scores`` here was planned, on statistics taken while the table was empty, as a
# scan of the table per inserted row, which the insert itself keeps growing (1 M rows: minutes).
_INSERT = f"""
INSERT INTO customer_scores (tenant_id, {SCORE_COLUMNS}, updated_at)
SELECT CAST(:tenant_id AS uuid), {", ".join("n." + c for c in _COLUMNS)}, now()
FROM run_changes ch JOIN run_scores n ON n.customer_id = ch.customer_id
WHERE ch.is_new
ON CONFLICT (tenant_id, customer_id) DO NOTHING
"""  # noqa: S608 - constant column lists

_RUN_SCORES = " ".join(
    ["CREATE TEMP TABLE run_scores AS SELECT", SCORE_COLUMNS, "FROM (", scores_sql("run_features"), ") x"]
)

# A safety net: rows of customers merged away or erased (the consumer deletes them in the same
# transaction as the merge or erasure, so this normally finds nothing). Driven by the dead customers,
# a few, not by an anti-join over every score of the tenant.
_DROP_GONE = """
DELETE FROM customer_scores s USING customers c
WHERE c.tenant_id = :tenant_id AND (c.merged_into IS NOT NULL OR c.erased_at IS NOT NULL)
  AND s.tenant_id = :tenant_id AND s.customer_id = c.customer_id
"""

_SNAPSHOT_STAGES = "SELECT stage, count(*) FROM run_scores GROUP BY stage ORDER BY stage"
_SNAPSHOT_GROUPS = f"""
SELECT rfm_group, count(*), {saturated("coalesce(sum(monetary_minor), 0)")}
FROM run_scores WHERE rfm_group IS NOT NULL GROUP BY rfm_group ORDER BY rfm_group
"""  # noqa: S608 - a constant fragment

_SAVE_BASELINE = """
INSERT INTO tenant_baselines AS b (tenant_id, as_of, method, split, r_cuts, f_cuts, m_cuts, r_split,
    f_split, m_split, price_cuts, customers, computed_at, features_key)
VALUES (:tenant_id, :as_of, :method, :split, :r_cuts, :f_cuts, :m_cuts, :r_split, :f_split, :m_split,
    :price_cuts, :customers, now(), :features_key)
ON CONFLICT (tenant_id) DO UPDATE SET as_of = EXCLUDED.as_of, method = EXCLUDED.method,
    split = EXCLUDED.split, r_cuts = EXCLUDED.r_cuts, f_cuts = EXCLUDED.f_cuts, m_cuts = EXCLUDED.m_cuts,
    r_split = EXCLUDED.r_split, f_split = EXCLUDED.f_split, m_split = EXCLUDED.m_split,
    price_cuts = EXCLUDED.price_cuts, customers = EXCLUDED.customers, computed_at = now(),
    features_key = EXCLUDED.features_key
"""

# The key of the facts' reading (``daily_features_sql.FEATURES_VERSION``, time zone, currency) and
# the one the stored rows were last computed under in full; a daily run needs the two to match.
_FEATURES_KEYS = """
SELECT concat_ws('|', CAST(:version AS text), t.timezone, t.currency) AS current,
       (SELECT b.features_key FROM tenant_baselines b WHERE b.tenant_id = :tenant_id) AS stored
FROM (SELECT CAST(:tenant_id AS uuid) AS tenant_id) k LEFT JOIN tenants t ON t.tenant_id = k.tenant_id
"""


def compute_baseline(row: sa.Row[Any], config: ScoringConfig, as_of: date) -> dict[str, Any] | None:
    """The baseline from the aggregate row of ``_BASELINES`` under the tenant's method and split."""
    if row.customers == 0:
        return None
    fixed = config.rfm_fixed_thresholds
    if config.rfm_method == "fixed" and fixed is not None:
        cuts = [list(map(float, fixed.recency_days)), list(map(float, fixed.frequency))]
        cuts.append(list(map(float, fixed.monetary_minor)))
    else:
        cuts = [list(row.r_q), list(row.f_q), list(row.m_q)]
    split = "mean" if config.rfm_split == "mean" else "median"
    return {
        "as_of": as_of,
        "method": config.rfm_method,
        "split": config.rfm_split,
        "r_cuts": cuts[0],
        "f_cuts": cuts[1],
        "m_cuts": cuts[2],
        "r_split": float(getattr(row, f"r_{split}")),
        "f_split": float(getattr(row, f"f_{split}")),
        "m_split": float(getattr(row, f"m_{split}")),
        "price_cuts": list(row.price_q) if row.price_q is not None else [],
        "customers": int(row.customers),
    }


class BatchSession:
    """One run's dedicated connection and the tenant facts it reads."""

    def __init__(self, connection: AsyncConnection, tenant_id: uuid.UUID, as_of: date) -> None:
        self.connection = connection
        self.tenant_id = tenant_id
        self.as_of = as_of
        self.timezone = ""
        self.config = ScoringConfig()
        self.baseline: dict[str, Any] | None = None
        self.snapshot_at: datetime | None = None
        self.timings: dict[str, float] = {}
        # "full" (every feature from the facts) or "daily" (store.daily_features_sql), and the key
        # the stored rows are computed under after this run
        self.features_mode = "full"
        self.features_key: str | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, database: Database, tenant_id: uuid.UUID, as_of: date) -> AsyncIterator[BatchSession]:
        """A session on a connection of its own; its working tables go with it."""
        async with database.engine.connect() as connection:
            try:
                yield cls(connection, tenant_id, as_of)
            finally:
                await connection.rollback()
                await connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                await connection.execute(sa.text("DISCARD TEMP"))
                # asyncpg's type introspection (first use of a type on a connection) turns jit off and
                # "restores" it with the value it read, which inside our transaction is the run's
                # SET LOCAL jit = off, at session level: reset it so the pooled connection is as new.
                await connection.execute(sa.text("RESET jit"))
                await connection.commit()

    async def _settings(self) -> None:
        for statement in _SESSION_SETTINGS:
            await self.connection.execute(sa.text(statement))

    async def refresh_statistics(self) -> list[str]:
        """ANALYZE the fact tables whose statistics are stale (see ``_STALE_FACTS``); their names."""
        stale = (
            (await self.connection.execute(sa.text(_STALE_FACTS), {"names": list(_FACT_TABLES)}))
            .scalars()
            .all()
        )
        for table in stale:
            if table in _FACT_TABLES:  # a name from the constant list, never from elsewhere
                await self.connection.execute(sa.text(f"ANALYZE {table}"))
        await self.connection.commit()
        return list(stale)

    async def snapshot_features(self, daily: bool = False) -> int:
        """Fix the snapshot (see the module docstring) and build ``run_features``; customers count.

        ``daily`` allows the daily statement (a live run of today; never a backdated one): it is
        used when the stored rows were computed under the current key and nearly every live
        customer has one, else every feature is computed from the facts."""
        connection = self.connection
        began = time.perf_counter()
        await self.refresh_statistics()
        self.timings["statistics"] = time.perf_counter() - began
        await connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(self.tenant_id)})
        await connection.commit()
        await connection.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        self.snapshot_at = (await connection.execute(sa.text("SELECT clock_timestamp()"))).scalar_one()
        await connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.tenant_id)})
        await self._settings()
        self.timezone = await tenant_timezone(connection, self.tenant_id)
        self.config = await load_config(connection, self.tenant_id)
        await connection.execute(sa.text("DROP TABLE IF EXISTS run_features, run_scores"))
        parameters = feature_parameters(self.tenant_id, self.timezone, self.as_of, self.config)
        began = time.perf_counter()
        missing = await self._daily_gaps(daily)
        self.timings["missing_rows"] = time.perf_counter() - began
        began = time.perf_counter()
        if missing is None:
            await connection.execute(
                sa.text("CREATE TEMP TABLE run_features AS " + features_sql(Scope.ALL)), parameters
            )
        else:
            self.features_mode = "daily"
            await connection.execute(
                sa.text("CREATE TEMP TABLE run_features AS " + daily_features_sql()), parameters
            )
            if missing:
                await connection.execute(
                    sa.text("INSERT INTO run_features " + features_sql(Scope.IDS)),
                    {**parameters, "ids": missing},
                )
        self.timings["features_statement"] = time.perf_counter() - began
        await connection.execute(sa.text("ANALYZE run_features"))
        count = (await connection.execute(sa.text("SELECT count(*) FROM run_features"))).scalar_one()
        await connection.commit()
        return int(count)

    async def _daily_gaps(self, daily: bool) -> list[uuid.UUID] | None:
        """The live customers without a stored row when the daily statement may be used, else None
        (not ``daily``, the stored rows were computed under another key, or too many customers have
        none). Sets the key this run's rows are computed under."""
        keys = (
            await self.connection.execute(
                sa.text(_FEATURES_KEYS), {"tenant_id": self.tenant_id, "version": f"v{FEATURES_VERSION}"}
            )
        ).one()
        self.features_key = keys.current
        if not daily or keys.stored is None or keys.stored != keys.current:
            return None
        missing = (
            await self.connection.execute(
                sa.text(MISSING_ROWS), {"tenant_id": self.tenant_id, "limit": MAX_MISSING_ROWS + 1}
            )
        ).scalars()
        gaps = list(missing)
        return None if len(gaps) > MAX_MISSING_ROWS else gaps

    async def baselines(self) -> dict[str, Any] | None:
        """The tenant's new RFM and price thresholds (None when nobody has a paid order)."""
        await self._settings()
        row = (await self.connection.execute(sa.text(_BASELINES), {"q": list(QUINTILES)})).one()
        await self.connection.commit()
        self.baseline = compute_baseline(row, self.config, self.as_of)
        return self.baseline

    async def score(self) -> None:
        """Build ``run_scores``: RFM, price band, lifecycle and engagement for every customer."""
        await self._settings()
        await self.connection.execute(
            sa.text(_RUN_SCORES),
            score_parameters(self.timezone, self.config, self.baseline),
        )
        await self.connection.commit()

    async def write(self, outbox: Outbox) -> int:
        """Publish the run's scores, baselines and stage changes in one transaction; changes count."""
        connection = self.connection
        await self._settings()
        await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(self.tenant_id)})
        guard = {"tenant_id": self.tenant_id, "snapshot_at": self.snapshot_at}
        steps = [("changes", _CHANGES), ("update", _UPDATE), ("insert", _INSERT), ("drop_gone", _DROP_GONE)]
        for name, statement in steps:
            began = time.perf_counter()
            await connection.execute(sa.text(statement), guard)
            self.timings[name] = time.perf_counter() - began
        if self.baseline is not None:
            key = {"features_key": self.features_key}
            await connection.execute(
                sa.text(_SAVE_BASELINE), {"tenant_id": self.tenant_id, **self.baseline, **key}
            )
        began = time.perf_counter()
        now = datetime.now(UTC)
        changed = await append_stage_changes(connection, outbox, self.tenant_id, "run_changes", now)
        self.timings["events"] = time.perf_counter() - began
        began = time.perf_counter()
        await connection.commit()
        self.timings["commit"] = time.perf_counter() - began
        return changed

    async def summarise(self) -> dict[str, Any]:
        """A backdated run's snapshot, kept in the run instead of published: customers per stage and
        per RFM group (with their spend in the window) and the thresholds as of the run's day."""
        await self._settings()
        stages = await self.connection.execute(sa.text(_SNAPSHOT_STAGES))
        groups = await self.connection.execute(sa.text(_SNAPSHOT_GROUPS))
        summary = {
            "as_of": self.as_of.isoformat(),
            "stages": {stage: int(count) for stage, count in stages},
            "rfm_groups": {
                group: {"customers": int(count), "spend_minor": int(spend)} for group, count, spend in groups
            },
            "thresholds": None
            if self.baseline is None
            else {**self.baseline, "as_of": self.as_of.isoformat()},
        }
        await self.connection.commit()
        return summary

    async def stored_baseline(self) -> dict[str, Any] | None:
        """The baseline as stored (what incremental scoring now uses)."""
        baseline = await load_baseline(self.connection, self.tenant_id)
        await self.connection.commit()
        return baseline

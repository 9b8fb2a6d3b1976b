"""Fit a tenant's predictive models as of a date and write every customer's predictions.

``fit_and_score`` runs inside the caller's transaction (the scoring run's), all set-based:

1. One statement summarises the tenant's orders into a temporary table, one row per customer:
   orders paid up to the end of ``as_of`` in the tenant's time zone, in the tenant's currency, not
   refunded in full by then (a zero-amount order still counts as a purchase); orders on one local day
   are one purchase with their amounts summed, net of what was refunded by then. Then x = days - 1,
   recency = last day - first day, age = as_of - first day (whole days), and the repeat spend = the
   net amount of every day but the first (lifetimes' ``summary_data_from_transaction_data``).
   Customers merged away or erased are left out.
2. Two GROUP BYs reduce that to distinct histories and distinct repeat spends, read into numpy with
   binary COPY; the domain fits and scores them (``domain/predictive.py``) in a worker thread.
3. The fit is recorded in ``prediction_models``; the tenant's ``predictions`` are replaced by one
   INSERT ... SELECT that joins every customer to its history's and spend's scores (or deleted when
   the fit did not end ``fitted``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.errors import NotFound
from services.runtime.tenancy import Tenant
from services.runtime.tenant_store import load_tenant
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.predictive import (
    FITTED,
    HistoryGroups,
    Prediction,
    PredictionSettings,
    SpendGroups,
    currency_exponent,
    predict,
)
from services.scoring.store.prediction_io import copy_columns, fetch_columns
from services.scoring.store.prediction_tables import prediction_models, predictions
from services.scoring.store.tables import tenants

# A million customers take seconds, not the service's default 10 s per statement / 30 s idle cap.
_BATCH_TIMEOUTS = (
    "SET LOCAL statement_timeout = '600s'",
    "SET LOCAL idle_in_transaction_session_timeout = '600s'",
)

# The cutoff (the first instant after as_of in the tenant's zone) is computed first and bound as a
# value, so the planner sees a real bound on paid_at.
_CUTOFF = "SELECT (CAST(:as_of AS date) + 1)::timestamp AT TIME ZONE :tz"

# One sort of the tenant's orders by customer: a window gives each order its customer's first local
# day, and one aggregate per customer counts distinct days and sums the repeat days' net amounts.
# Merged-away and erased customers are dropped after aggregation (a million rows, not five).
_SUMMARY = """
CREATE TEMPORARY TABLE prediction_customers ON COMMIT DROP AS
WITH refunded_later AS (
    SELECT r.order_id, sum(r.amount_minor)::bigint AS amount_minor
    FROM order_refunds r
    WHERE r.tenant_id = :tenant_id AND r.refunded_at >= :cutoff
    GROUP BY r.order_id
), purchases AS (
    SELECT o.customer_id,
           (o.paid_at AT TIME ZONE :tz)::date AS day,
           o.amount_minor - (o.refunded_minor - coalesce(l.amount_minor, 0)) AS net_minor,
           min((o.paid_at AT TIME ZONE :tz)::date) OVER (PARTITION BY o.customer_id) AS first_day
    FROM orders o
    LEFT JOIN refunded_later l ON l.order_id = o.order_id
    WHERE o.tenant_id = :tenant_id
      AND o.currency = :currency
      AND o.paid_at < :cutoff
      AND (o.amount_minor = 0 OR o.refunded_minor - coalesce(l.amount_minor, 0) < o.amount_minor)
), summaries AS (
    SELECT customer_id,
           (count(DISTINCT day) - 1)::bigint AS repeat_days,
           (max(day) - min(day))::bigint AS recency_days,
           (CAST(:as_of AS date) - min(day))::bigint AS age_days,
           least(coalesce(sum(net_minor) FILTER (WHERE day > first_day), 0), 9223372036854775807)::bigint
               AS repeat_net_minor
    FROM purchases
    GROUP BY customer_id
)
SELECT s.* FROM summaries s
WHERE NOT EXISTS (
    SELECT 1 FROM customers c
    WHERE c.tenant_id = :tenant_id AND c.customer_id = s.customer_id
      AND (c.merged_into IS NOT NULL OR c.erased_at IS NOT NULL)
)
"""
# The refund predicate defeats row estimates (a third of the rows, for nearly all of them), which
# tempts the planner into walking the customer index over the whole tenant: a sort is far cheaper.
_SUMMARY_SETTINGS = ("SET LOCAL enable_indexscan = off", "SET LOCAL work_mem = '256MB'")
_SUMMARY_RESET = ("SET LOCAL enable_indexscan = on", "SET LOCAL work_mem TO DEFAULT")

_HISTORY_GROUPS = """
SELECT repeat_days, recency_days, age_days, count(*)::bigint
FROM prediction_customers GROUP BY 1, 2, 3
"""
_SPEND_GROUPS = """
SELECT repeat_days, repeat_net_minor, count(*)::bigint
FROM prediction_customers GROUP BY 1, 2
"""
_SCORE_TABLES = (
    "CREATE TEMPORARY TABLE prediction_history_scores (repeat_days bigint, recency_days bigint,"
    " age_days bigint, p_alive float8, expected_purchases_30d float8, discounted_purchases float8)"
    " ON COMMIT DROP",
    "CREATE TEMPORARY TABLE prediction_spend_scores (repeat_days bigint, repeat_net_minor bigint,"
    " spend_minor float8) ON COMMIT DROP",
)
_WRITE = """
INSERT INTO predictions (tenant_id, customer_id, as_of, p_alive, expected_purchases_30d,
                         expected_avg_spend_minor, clv_minor)
SELECT :tenant_id, c.customer_id, :as_of, h.p_alive, h.expected_purchases_30d,
       least(round(s.spend_minor)::numeric, 9223372036854775807)::bigint,
       least(round(s.spend_minor * h.discounted_purchases)::numeric, 9223372036854775807)::bigint
FROM prediction_customers c
JOIN prediction_history_scores h
  ON h.repeat_days = c.repeat_days AND h.recency_days = c.recency_days AND h.age_days = c.age_days
JOIN prediction_spend_scores s
  ON s.repeat_days = c.repeat_days AND s.repeat_net_minor = c.repeat_net_minor
"""
_DROP = "DROP TABLE IF EXISTS prediction_customers, prediction_history_scores, prediction_spend_scores"


@dataclass(frozen=True, slots=True)
class PredictionOutcome:
    """What a fit did: its status (see domain/predictive.py), how many customers it covered and
    how many prediction rows it wrote (0 unless ``fitted``)."""

    status: str
    customers: int
    repeat_customers: int
    written: int
    detail: str
    as_of: date
    history_groups: int = 0  # distinct (x, recency, age): what the models actually iterate over
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # per phase, for run progress


async def _lock_tenant(connection: AsyncConnection, tenant_id: uuid.UUID) -> None:
    """Fits of one tenant take turns (the temporary tables are per session, the rows are not)."""
    await connection.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended('scoring.predictions:' || :key, 0))"),
        {"key": str(tenant_id)},
    )


async def _batch_tenant(connection: AsyncConnection, tenant_id: uuid.UUID) -> Tenant:
    """The tenant's settings, its transaction given the batch timeouts; NotFound when scoring was
    never told of the tenant."""
    tenant = await load_tenant(connection, tenants, tenant_id)
    if tenant is None:
        raise NotFound(f"scoring has not been told of tenant {tenant_id}")
    for statement in _BATCH_TIMEOUTS:
        await connection.execute(sa.text(statement))
    return tenant


async def _groups(connection: AsyncConnection) -> tuple[HistoryGroups, SpendGroups]:
    x, recency, age, count = await fetch_columns(connection, _HISTORY_GROUPS, (), ["int8"] * 4)
    histories = HistoryGroups(x, recency, age, count)
    sx, net, scount = await fetch_columns(connection, _SPEND_GROUPS, (), ["int8"] * 3)
    return histories, SpendGroups(sx, net, scount)


async def _write_scores(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    as_of: date,
    groups: tuple[HistoryGroups, SpendGroups],
    prediction: Prediction,
) -> int:
    histories, spends = groups
    scores, spend_minor = prediction.history_scores, prediction.spend_minor
    if scores is None or spend_minor is None:
        raise ValueError("only a fitted prediction has scores to write")
    for statement in _SCORE_TABLES:
        await connection.execute(sa.text(statement))
    await copy_columns(
        connection,
        "prediction_history_scores",
        [
            ("repeat_days", "int8", histories.repeat_days),
            ("recency_days", "int8", histories.recency_days),
            ("age_days", "int8", histories.age_days),
            ("p_alive", "float8", scores.p_alive),
            ("expected_purchases_30d", "float8", scores.expected_purchases_30d),
            ("discounted_purchases", "float8", scores.discounted_purchases),
        ],
    )
    await copy_columns(
        connection,
        "prediction_spend_scores",
        [
            ("repeat_days", "int8", spends.repeat_days),
            ("repeat_net_minor", "int8", spends.repeat_net_minor),
            ("spend_minor", "float8", spend_minor),
        ],
    )
    await connection.execute(sa.text("ANALYZE prediction_history_scores, prediction_spend_scores"))
    result = await connection.execute(sa.text(_WRITE), {"tenant_id": tenant_id, "as_of": as_of})
    return int(result.rowcount)


def _finite(value: float) -> float | None:
    """A parameter as stored: NULL rather than NaN or infinity (a failed fit may leave those)."""
    return value if np.isfinite(value) else None


def _report(report: Any) -> dict[str, Any] | None:
    return None if report is None else dataclasses.asdict(report)


async def _record_model(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    as_of: date,
    currency: str,
    settings: PredictionSettings,
    prediction: Prediction,
    duration_ms: int,
) -> None:
    purchases, spending = prediction.bgnbd, prediction.gamma_gamma
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "as_of": as_of,
        "status": prediction.status,
        "detail": prediction.detail,
        "customers": prediction.customers,
        "repeat_customers": prediction.repeat_customers,
        "currency": currency,
        "clv_horizon_months": settings.horizon_months,
        "annual_discount_rate": settings.annual_discount_rate,
        "diagnostics": {
            "bgnbd": _report(purchases.report if purchases else None),
            "gamma_gamma": _report(spending.report if spending else None),
        },
        "duration_ms": duration_ms,
        "fitted_at": datetime.now(UTC),
    }
    if purchases is not None:
        p = purchases.params
        values.update(
            bgnbd_r=_finite(p.r),
            bgnbd_alpha=_finite(p.alpha),
            bgnbd_a=_finite(p.a),
            bgnbd_b=_finite(p.b),
            bgnbd_log_likelihood=_finite(purchases.log_likelihood),
        )
    if spending is not None:
        g = spending.params
        values.update(
            gg_p=_finite(g.p),
            gg_q=_finite(g.q),
            gg_gamma=_finite(g.gamma),
            gg_log_likelihood=_finite(spending.log_likelihood),
        )
    statement = pg.insert(prediction_models).values(values)
    # A new fit for the same date replaces every column (those it leaves out become NULL).
    replace = {c.name: statement.excluded[c.name] for c in prediction_models.c if not c.primary_key}
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[prediction_models.c.tenant_id, prediction_models.c.as_of], set_=replace
        )
    )


async def _summarise(
    connection: AsyncConnection, tenant_id: uuid.UUID, as_of: date, timezone: str, currency: str
) -> None:
    """Fill the temporary table ``prediction_customers`` (see the module docstring)."""
    await connection.execute(sa.text(_DROP))
    cutoff = (await connection.execute(sa.text(_CUTOFF), {"as_of": as_of, "tz": timezone})).scalar_one()
    for statement in _SUMMARY_SETTINGS:
        await connection.execute(sa.text(statement))
    parameters = {"tenant_id": tenant_id, "as_of": as_of, "tz": timezone, "currency": currency}
    await connection.execute(sa.text(_SUMMARY), {**parameters, "cutoff": cutoff})
    await connection.execute(sa.text("ANALYZE prediction_customers"))  # temp tables get no autovacuum
    for statement in _SUMMARY_RESET:
        await connection.execute(sa.text(statement))


async def customer_summaries(
    connection: AsyncConnection, tenant_id: uuid.UUID, as_of: date
) -> dict[str, npt.NDArray[np.int64]]:
    """Every customer's (x, recency_days, age_days, repeat_net_minor) as ``fit_and_score`` sees them,
    as columns (for benchmarks and checks against other implementations; not used by a run)."""
    tenant = await _batch_tenant(connection, tenant_id)
    await _summarise(connection, tenant_id, as_of, tenant.timezone, tenant.currency)
    names = ["repeat_days", "recency_days", "age_days", "repeat_net_minor"]
    query = f"SELECT {', '.join(names)} FROM prediction_customers ORDER BY customer_id"  # noqa: S608
    columns = await fetch_columns(connection, query, (), ["int8"] * len(names))
    await connection.execute(sa.text(_DROP))
    return dict(zip(names, columns, strict=True))


async def _later_fit_exists(connection: AsyncConnection, tenant_id: uuid.UUID, as_of: date) -> bool:
    later = await connection.execute(
        sa.select(
            sa.exists().where(prediction_models.c.tenant_id == tenant_id, prediction_models.c.as_of > as_of)
        )
    )
    return bool(later.scalar_one())


async def fit_and_score(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    as_of: date,
    config: ScoringConfig,
    *,
    keep_later_fit: bool = False,
) -> PredictionOutcome:
    """Fit BG/NBD and Gamma-Gamma on the tenant's orders up to ``as_of`` (tenant-local, inclusive)
    and replace its predictions; see the module docstring. Never stores NaN: a tenant whose data
    cannot support the models gets a model row with a clear status and no predictions."""
    began = time.perf_counter()
    tenant = await _batch_tenant(connection, tenant_id)
    await _lock_tenant(connection, tenant_id)
    settings = PredictionSettings(
        min_customers=config.min_model_customers,
        horizon_months=config.clv_horizon_months,
        annual_discount_rate=config.annual_discount_rate,
        currency_exponent=currency_exponent(tenant.currency),
    )
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = round(now - clock, 3)
        clock = now

    await _summarise(connection, tenant_id, as_of, tenant.timezone, tenant.currency)
    lap("summary")
    groups = await _groups(connection)
    lap("groups")
    prediction = await asyncio.to_thread(predict, groups[0], groups[1], settings)
    lap("fit_and_score")
    # ``keep_later_fit`` (a backdated run's fit): when a fit as of a later day exists, this one is
    # recorded as its dated model but does not replace the customers' predictions of the later fit.
    superseded = keep_later_fit and await _later_fit_exists(connection, tenant_id, as_of)
    if not superseded:
        await connection.execute(sa.delete(predictions).where(predictions.c.tenant_id == tenant_id))
    lap("clear")
    written = 0
    if prediction.status == FITTED and not superseded:
        written = await _write_scores(connection, tenant_id, as_of, groups, prediction)
    await connection.execute(sa.text(_DROP))
    lap("write")
    duration_ms = int((time.perf_counter() - began) * 1000)
    await _record_model(connection, tenant_id, as_of, tenant.currency, settings, prediction, duration_ms)
    return PredictionOutcome(
        status=prediction.status,
        customers=prediction.customers,
        repeat_customers=prediction.repeat_customers,
        written=written,
        detail=prediction.detail,
        as_of=as_of,
        history_groups=int(groups[0].customers.size),
        seconds=seconds,
    )

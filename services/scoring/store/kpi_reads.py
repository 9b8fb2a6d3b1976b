"""Reading scoring's KPIs from the rollups (implements ``domain.kpis.KpiStore``; docs/kpis.md).

A period's figures are a few statements in one read (one snapshot), none of them over the facts:

1. distinct active customers of a period of other than 1, 7 or 30 days: one sum over its days in
   ``kpi_returns`` (a period of 1, 7 or 30 days reads the day sums);
2. buyers and repeat buyers: one sum over the period's days in ``kpi_order_returns``;
3. the day sums over the tenant's history to the period's last day: the period's orders, revenue,
   refunds, active customer-days, survey answers and new buyers, and the lifetime revenue and
   buyers (``kpi_daily``, a few rows per day);
4. with the series, the same per day.

Customers (live, created by the period's end) and new customers are day sums too: a trigger on
``customers`` keeps ``kpi_daily.new_customers`` (migration ``scoring_0011``).

Reads plan as previews do (no JIT, hashes in memory).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.runtime.periods import Period
from services.scoring.domain.kpis import (
    MAU_DAYS,
    WAU_DAYS,
    DaySums,
    KpiFigures,
    PeriodSums,
    RetentionCounts,
)
from services.scoring.store.kpi_facts import tenant_money
from services.scoring.store.kpi_sql import DAILY_COLUMNS
from services.scoring.store.segment_preview import PREVIEW_SETTINGS

# Distinct customers active on the days of a range: each counts on its first day in it, the one whose
# previous active day is before the range (kpi_sql: active customers of any period as returns).
_ACTIVE_IN_RANGE = sa.text(
    "SELECT coalesce(sum(customers), 0) FROM kpi_returns"
    " WHERE tenant_id = :t AND day BETWEEN :first AND :last AND previous_day < :first"
)

# Buyers and repeat buyers of the period: its orders whose order one back is before it are its buyers,
# those whose order two back is, the sum of min(orders, 2) over them (kpi_sql: buyers and repeat
# buyers as order returns).
_BUYERS = sa.text(
    """
    SELECT coalesce(sum(orders) FILTER (WHERE back = 1), 0) AS buyers,
           coalesce(sum(orders) FILTER (WHERE back = 2), 0) - coalesce(sum(orders) FILTER (WHERE back = 1), 0)
           AS repeat_buyers
    FROM kpi_order_returns
    WHERE tenant_id = :t AND day BETWEEN :first AND :last AND previous_day < :first
    """
)

_SUMS = sa.text(
    "SELECT "  # noqa: S608 (constant names)
    + ", ".join(f"coalesce(sum({c}) FILTER (WHERE day >= :first), 0) AS {c}" for c in DAILY_COLUMNS)
    + ", coalesce(sum(revenue_minor), 0) AS lifetime_revenue_minor"
    ", coalesce(sum(new_buyers), 0) AS lifetime_buyers"
    ", coalesce(sum(wau_change), 0) AS wau, coalesce(sum(mau_change), 0) AS mau"
    ", coalesce(sum(new_customers), 0) AS customers"
    " FROM kpi_daily WHERE tenant_id = :t AND day <= :last"
)

# Each day's sums, with the weekly and monthly active customers (running sums of their changes, so
# from the tenant's first day: a few rows a day).
_SERIES_DAILY = sa.text(
    """
    SELECT day, sum(active_customers) AS active_customers, sum(orders) AS orders,
           sum(revenue_minor) AS revenue_minor, sum(refunds_minor) AS refunds_minor,
           sum(new_buyers) AS new_buyers, sum(new_customers) AS new_customers,
           sum(sum(wau_change)) OVER running AS wau,
           sum(sum(mau_change)) OVER running AS mau
    FROM kpi_daily WHERE tenant_id = :t AND day <= :last
    GROUP BY day WINDOW running AS (ORDER BY day)
    ORDER BY day
    """
)

# The cohort customers, and each one's later periods with a counted order: read from its counted
# order days (kpi_first_orders.order_days, the days of kpi_customer_days with orders), up to the last
# day (a period after it is not asked for), without a join to the customer-days.
_RETENTION = sa.text(
    """
    WITH cohort AS MATERIALIZED (
        SELECT customer_id, date_trunc(:unit, first_day::timestamp)::date AS cohort_start, order_days
        FROM kpi_first_orders WHERE tenant_id = :t AND first_day BETWEEN :first AND :last
    ),
    again AS (
        SELECT c.cohort_start, p.period_start
        FROM cohort c
        CROSS JOIN LATERAL (
            SELECT DISTINCT date_trunc(:unit, d::timestamp)::date AS period_start
            FROM unnest(c.order_days) AS d
            WHERE d <= :last AND date_trunc(:unit, d::timestamp)::date > c.cohort_start
        ) AS p
    )
    SELECT cohort_start, NULL::date AS period_start, count(*) AS n FROM cohort GROUP BY 1
    UNION ALL
    SELECT cohort_start, period_start, count(*) FROM again GROUP BY 1, 2
    """
)


def local_midnight(day: date, timezone: str) -> datetime:
    """The instant a tenant-local day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))


async def _plan_as_reads(connection: AsyncConnection) -> None:
    await connection.execute(
        sa.select(*(sa.func.set_config(name, value, True) for name, value in PREVIEW_SETTINGS))
    )


async def period_sums(
    connection: AsyncConnection, tenant_id: uuid.UUID, period: Period, timezone: str
) -> PeriodSums:
    """The period's sums (docs/kpis.md), in the caller's read."""
    parameters: dict[str, Any] = {
        "t": tenant_id,
        "first": period.first,
        "last": period.last,
        "start": local_midnight(period.first, timezone),
        "end": local_midnight(period.last + timedelta(days=1), timezone),
    }
    buyers = (await connection.execute(_BUYERS, parameters)).one()
    sums = (await connection.execute(_SUMS, parameters)).one()
    # the period's distinct active customers: kept as day sums for a day, a week and 30 days
    kept = {1: sums.active_customers, WAU_DAYS: sums.wau, MAU_DAYS: sums.mau}
    if period.days in kept:
        active = int(kept[period.days])
    else:
        active = int((await connection.execute(_ACTIVE_IN_RANGE, parameters)).scalar_one())
    return PeriodSums(
        customers=int(sums.customers),
        new_customers=int(sums.new_customers),
        active_customers=active,
        active_customer_days=int(sums.active_customers),
        wau=int(sums.wau),
        mau=int(sums.mau),
        orders=int(sums.orders),
        money_orders=int(sums.money_orders),
        revenue_minor=int(sums.revenue_minor),
        refunds_minor=int(sums.refunds_minor),
        buyers=int(buyers.buyers),
        repeat_buyers=int(buyers.repeat_buyers),
        new_buyers=int(sums.new_buyers),
        lifetime_revenue_minor=int(sums.lifetime_revenue_minor),
        lifetime_buyers=int(sums.lifetime_buyers),
        nps_promoters=int(sums.nps_promoters),
        nps_passives=int(sums.nps_passives),
        nps_detractors=int(sums.nps_detractors),
        csat_responses=int(sums.csat_responses),
        csat_satisfied=int(sums.csat_satisfied),
        csat_score_sum=int(sums.csat_score_sum),
    )


async def daily_series(
    connection: AsyncConnection, tenant_id: uuid.UUID, period: Period, timezone: str
) -> list[DaySums]:
    """Every day of the period with its sums (zeros for a quiet day)."""
    parameters = {
        "t": tenant_id,
        "tz": timezone,
        "first": period.first,
        "last": period.last,
        "start": local_midnight(period.first, timezone),
        "end": local_midnight(period.last + timedelta(days=1), timezone),
    }
    rows = list(await connection.execute(_SERIES_DAILY, parameters))
    daily = {row.day: row for row in rows}
    before = [row for row in rows if row.day < period.first]
    previous = (int(before[-1].wau), int(before[-1].mau)) if before else (0, 0)
    series = []
    for day in period.each_day():
        row = daily.get(day)
        if row:
            previous = (int(row.wau), int(row.mau))
        series.append(
            DaySums(
                day=day,
                active_customers=int(row.active_customers) if row else 0,
                new_customers=int(row.new_customers) if row else 0,
                new_buyers=int(row.new_buyers) if row else 0,
                wau=previous[0],
                mau=previous[1],
                orders=int(row.orders) if row else 0,
                revenue_minor=int(row.revenue_minor) if row else 0,
                refunds_minor=int(row.refunds_minor) if row else 0,
            )
        )
    return series


class SqlKpiStore:
    """Implements ``services.scoring.domain.kpis.KpiStore`` on the scoring database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def figures(self, tenant_id: uuid.UUID, period: Period, with_series: bool) -> KpiFigures:
        async with self._database.read() as connection:
            await _plan_as_reads(connection)
            timezone, currency = await tenant_money(connection, tenant_id)
            sums = await period_sums(connection, tenant_id, period, timezone)
            series = await daily_series(connection, tenant_id, period, timezone) if with_series else []
        return KpiFigures(period, sums, timezone, currency or "", series)

    async def retention(self, tenant_id: uuid.UUID, kind: str, period: Period) -> RetentionCounts:
        async with self._database.read() as connection:
            await _plan_as_reads(connection)
            rows = (
                await connection.execute(
                    _RETENTION, {"t": tenant_id, "unit": kind, "first": period.first, "last": period.last}
                )
            ).all()
        sizes = {row.cohort_start: int(row.n) for row in rows if row.period_start is None}
        again = {
            (row.cohort_start, row.period_start): int(row.n) for row in rows if row.period_start is not None
        }
        return RetentionCounts(sizes, again)

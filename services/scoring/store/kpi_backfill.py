"""Rebuild a tenant's KPI rollups from scoring's facts: the migration's backfill, and a repair.

The rollups are a function of the facts (docs/kpis.md "How it is kept"): active days from
``activity_daily`` and ``orders``, sums per day from ``orders``, first order days from ``orders``,
survey answers from ``behaviour_events`` (which keeps events with their properties for
``BEHAVIOUR_RETENTION_DAYS`` only: answers older than that, recorded before the rollups existed, are
not recovered). The rebuild takes the tenant's scores lock exclusively, so the consumer's increments
(which take it shared before writing) wait and then add to the rebuilt rows; everything is written in
the caller's transaction, under the stripe 0.

The survey rule is written here in SQL for the backfill and in ``domain.kpis.survey_answer`` in
Python for the consumer; ``tests/test_kpi_rollups.py`` holds the two (and every increment) to each
other.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.store.kpi_facts import tenant_money
from services.scoring.store.kpi_sql import (
    add_day_set_returns,
    add_to_order_returns,
    branch,
    day_set_spans,
    order_day_returns,
    span_branches,
    survey_deltas,
    with_daily,
)
from services.scoring.store.rescoring import lock_key

_CLEAR = [
    sa.text(f"DELETE FROM {table} WHERE tenant_id = :t")  # noqa: S608 (constant names)
    for table in (
        "kpi_customer_days",
        "kpi_daily",
        "kpi_first_orders",
        "kpi_surveys",
        "kpi_returns",
        "kpi_order_returns",
    )
]

_DAYS = sa.text(
    """
    INSERT INTO kpi_customer_days (tenant_id, day, customer_id, orders)
    SELECT :t, day, customer_id, sum(counted) FROM (
        SELECT (paid_at AT TIME ZONE :tz)::date AS day, customer_id,
               (refunded_minor < amount_minor)::int AS counted
        FROM orders WHERE tenant_id = :t
        UNION ALL
        SELECT day, customer_id, 0 FROM activity_daily WHERE tenant_id = :t
    ) AS facts
    GROUP BY day, customer_id
    """
)

_FIRSTS = sa.text(
    """
    INSERT INTO kpi_first_orders (tenant_id, customer_id, first_day)
    SELECT :t, customer_id, (min(paid_at) AT TIME ZONE :tz)::date FROM orders
    WHERE tenant_id = :t AND refunded_minor < amount_minor
    GROUP BY customer_id
    """
)

# A survey answer: a survey_response whose properties name the survey (nps or csat) and give an
# integral score in its range (0-10, 1-5); anything else counts in neither.
_ANSWERS = """
    SELECT customer_id, (occurred_at AT TIME ZONE :tz)::date AS day, properties->>'survey' AS survey,
           (properties->>'score')::numeric AS score
    FROM behaviour_events
    WHERE tenant_id = :t AND event_type = 'survey_response'
      AND properties->>'survey' IN ('nps', 'csat')
      AND jsonb_typeof(properties->'score') = 'number'
"""

_SURVEYS = sa.text(
    f"""
    INSERT INTO kpi_surveys (tenant_id, customer_id, day, survey, score, responses)
    SELECT :t, customer_id, day, survey, score::smallint, count(*) FROM ({_ANSWERS}) AS a
    WHERE score = trunc(score)
      AND ((survey = 'nps' AND score BETWEEN 0 AND 10) OR (survey = 'csat' AND score BETWEEN 1 AND 5))
    GROUP BY customer_id, day, survey, score
    """  # noqa: S608 (a constant)
)

_MONEY = "currency = coalesce(CAST(:currency AS text), currency)"

_DAILY = with_daily(
    [
        "WITH sets AS (SELECT customer_id AS who, day, 1 AS sign"
        " FROM kpi_customer_days WHERE tenant_id = :t)",
        day_set_spans("sets", "CAST(0 AS smallint)", returns=False),
    ],
    branch(
        "orders WHERE tenant_id = :t",
        "(paid_at AT TIME ZONE :tz)::date",
        "CAST(0 AS smallint)",
        orders="(refunded_minor < amount_minor)::int",
        money_orders=f"CASE WHEN {_MONEY} THEN (refunded_minor < amount_minor)::int ELSE 0 END",
        revenue_minor=f"CASE WHEN {_MONEY} THEN amount_minor - refunded_minor ELSE 0 END",
        refunds_minor=f"CASE WHEN {_MONEY} THEN refunded_minor ELSE 0 END",
    ),
    branch("kpi_customer_days WHERE tenant_id = :t", "day", "CAST(0 AS smallint)", active_customers="1"),
    branch(
        "customers WHERE tenant_id = :t AND merged_into IS NULL AND erased_at IS NULL",
        "(created_at AT TIME ZONE :tz)::date",
        "CAST(0 AS smallint)",
        new_customers="1",
    ),
    branch("kpi_first_orders WHERE tenant_id = :t", "first_day", "CAST(0 AS smallint)", new_buyers="1"),
    branch(
        "(SELECT day, survey, score, responses AS n FROM kpi_surveys WHERE tenant_id = :t) AS s GROUP BY day",
        "day",
        "CAST(0 AS smallint)",
        **survey_deltas(),
    ),
    *span_branches("spans"),
)


BACKFILL = (_DAYS, _FIRSTS, _SURVEYS, _DAILY)
"""The statements that fill a tenant's empty rollups, in order; parameters ``t`` (the tenant),
``tz`` (its time zone) and ``currency`` (its currency, None: any). Frozen as migration
``scoring_0011`` ran them: what came later is filled by ``LATER_BACKFILL`` (and by migrations
``scoring_0013`` and ``scoring_0014`` with SQL of their own)."""

# A tenant's empty kpi_returns from its kpi_customer_days.
_RETURNS = sa.text(
    "WITH "  # noqa: S608 (fragments written in this package)
    + add_day_set_returns(
        "(SELECT customer_id AS who, day, 1 AS sign FROM kpi_customer_days WHERE tenant_id = :t) AS sets",
        "CAST(0 AS smallint)",
    )
    + "SELECT count(*) FROM returned"
)

_ORDER_DAYS = sa.text(
    """
    UPDATE kpi_first_orders AS k SET order_days = f.days
    FROM (
        SELECT customer_id, array_agg((paid_at AT TIME ZONE :tz)::date ORDER BY paid_at) AS days
        FROM orders WHERE tenant_id = :t AND refunded_minor < amount_minor GROUP BY customer_id
    ) AS f
    WHERE k.tenant_id = :t AND k.customer_id = f.customer_id
    """
)

_ORDER_RETURNS = sa.text(
    "WITH "  # noqa: S608 (fragments written in this package)
    + add_to_order_returns(
        order_day_returns("kpi_first_orders WHERE tenant_id = :t", "order_days", "CAST(0 AS smallint)", "1")
    )
    + "SELECT count(*) FROM order_returned"
)

LATER_BACKFILL = (_RETURNS, _ORDER_DAYS, _ORDER_RETURNS)
"""What fills the rollups added after ``scoring_0011`` (``kpi_returns``, the buyers' order days and
``kpi_order_returns``), after ``BACKFILL``; parameters ``t`` and ``tz``."""


async def rebuild_tenant(connection: AsyncConnection, tenant_id: uuid.UUID) -> None:
    """Replace the tenant's KPI rollups by what its facts say, in the caller's transaction."""
    await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(tenant_id)})
    timezone, currency = await tenant_money(connection, tenant_id)
    parameters = {"t": tenant_id, "tz": timezone, "currency": currency}
    for statement in [*_CLEAR, *BACKFILL, *LATER_BACKFILL]:
        await connection.execute(statement, parameters)

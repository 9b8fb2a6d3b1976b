"""What a merge and an erasure do to the KPI rollups (docs/kpis.md "Merges and erasures").

- **Merge**: the merged customers' active days and survey answers move to the survivor (a day both
  were active counts once: the day's active customers drop by one), their first-order rows go and
  the survivor's first order day is recomputed. Orders, revenue and answers per day do not change.
- **Erasure**: the KPIs hold nothing the facts no longer hold. Before the customer's orders are
  deleted, their contribution to each day (orders, revenue, refunds), their active days and their
  survey answers are taken back from ``kpi_daily``; their rows go.

Both write ``kpi_daily`` under the stripe of the event's own partition (sums are over stripes).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.store.kpi_facts import lock_customers, lock_shared, refresh_first_orders, tenant_money
from services.scoring.store.kpi_sql import (
    ORDER_DELTAS,
    STRIPE_PARAMETER,
    add_to_order_returns,
    branch,
    day_set_spans,
    order_day_returns,
    span_branches,
    survey_deltas,
    with_daily,
)

# Before the days move: the spans of the survivor's and each merged customer's days go, those of
# their union come (kpi_sql: WAU and MAU as day sums).
_MERGE_SPANS = with_daily(
    [
        """
    WITH kept AS (
        SELECT day FROM kpi_customer_days WHERE tenant_id = :t AND customer_id = :survivor
    ),
    folded AS (
        SELECT customer_id, day FROM kpi_customer_days
        WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
    ),
    sets AS (
        SELECT 'union' AS who, day, 1 AS sign FROM (SELECT day FROM kept UNION SELECT day FROM folded) AS u
        UNION ALL SELECT 'kept', day, -1 FROM kept
        UNION ALL SELECT customer_id::text, day, -1 FROM folded
    )
    """,
        day_set_spans("sets", STRIPE_PARAMETER),
    ],
    *span_branches("spans"),
)

_MOVE_DAYS = with_daily(
    """
    WITH moved AS (
        DELETE FROM kpi_customer_days
        WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
        RETURNING day, orders
    ),
    per_day AS (SELECT day, sum(orders) AS orders, count(*) AS rows FROM moved GROUP BY day),
    landed AS (
        INSERT INTO kpi_customer_days AS d (tenant_id, day, customer_id, orders)
        SELECT :t, day, :survivor, orders FROM per_day ORDER BY day
        ON CONFLICT (tenant_id, day, customer_id) DO UPDATE SET orders = d.orders + EXCLUDED.orders
        RETURNING day, (xmax = 0) AS inserted
    )
    """,
    branch(
        "per_day p JOIN landed x ON x.day = p.day",
        "p.day",
        STRIPE_PARAMETER,
        active_customers="x.inserted::int - p.rows",
    ),
)

_MOVE_SURVEYS = sa.text(
    """
    WITH moved AS (
        DELETE FROM kpi_surveys WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
        RETURNING day, survey, score, responses
    )
    INSERT INTO kpi_surveys AS s (tenant_id, customer_id, day, survey, score, responses)
    SELECT :t, :survivor, day, survey, score, sum(responses) FROM moved
    GROUP BY day, survey, score ORDER BY day, survey, score
    ON CONFLICT (tenant_id, customer_id, day, survey, score)
    DO UPDATE SET responses = s.responses + EXCLUDED.responses
    """
)

_DROP_FIRST_ORDERS = with_daily(
    [
        """
    WITH gone AS (
        DELETE FROM kpi_first_orders WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
        RETURNING first_day, order_days
    )
    """,
        add_to_order_returns(order_day_returns("gone", "order_days", STRIPE_PARAMETER, "-1")),
    ],
    branch("gone", "first_day", STRIPE_PARAMETER, new_buyers="-1"),
)

_ERASE = with_daily(
    [
        """
    WITH o AS (
        SELECT (paid_at AT TIME ZONE :tz)::date AS day,
               -((refunded_minor < amount_minor)::int) AS counted,
               currency = coalesce(CAST(:currency AS text), currency) AS money,
               refunded_minor - amount_minor AS revenue, -refunded_minor AS refunded
        FROM orders WHERE tenant_id = :t AND customer_id = :c
    ),
    days AS (
        DELETE FROM kpi_customer_days WHERE tenant_id = :t AND customer_id = :c RETURNING day
    ),
    answers AS (
        DELETE FROM kpi_surveys WHERE tenant_id = :t AND customer_id = :c
        RETURNING day, survey, score, responses AS n
    ),
    firsts AS (
        DELETE FROM kpi_first_orders WHERE tenant_id = :t AND customer_id = :c RETURNING first_day, order_days
    ),
    sets AS (SELECT 'erased' AS who, day, -1 AS sign FROM days)
    """,
        day_set_spans("sets", STRIPE_PARAMETER),
        add_to_order_returns(order_day_returns("firsts", "order_days", STRIPE_PARAMETER, "-1")),
    ],
    branch("o", "day", STRIPE_PARAMETER, **ORDER_DELTAS),
    branch("days", "day", STRIPE_PARAMETER, active_customers="-1"),
    branch("answers GROUP BY day", "day", STRIPE_PARAMETER, **survey_deltas("-")),
    branch("firsts", "first_day", STRIPE_PARAMETER, new_buyers="-1"),
    *span_branches("spans"),
)


async def merge_customers(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    survivor: uuid.UUID,
    merged_ids: Sequence[uuid.UUID],
    stripe: int,
) -> None:
    """Fold the merged customers' KPI rows into the survivor's (after their orders were re-pointed)."""
    if not merged_ids:
        return
    await lock_shared(connection, tenant_id)
    timezone, _ = await tenant_money(connection, tenant_id)
    await lock_customers(connection, tenant_id, [survivor, *merged_ids])
    moved = {"t": tenant_id, "ids": sorted(merged_ids), "survivor": survivor}
    await connection.execute(_MERGE_SPANS, {**moved, "stripe": stripe})
    await connection.execute(_MOVE_DAYS, {**moved, "stripe": stripe})
    await connection.execute(_MOVE_SURVEYS, moved)
    await connection.execute(_DROP_FIRST_ORDERS, {**moved, "stripe": stripe})
    await refresh_first_orders(connection, tenant_id, timezone, [survivor], stripe)


async def erase_customer(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, stripe: int
) -> None:
    """Take the customer's orders, active days and answers back from the sums, and drop their rows
    (before the orders themselves are deleted)."""
    await lock_shared(connection, tenant_id)
    timezone, currency = await tenant_money(connection, tenant_id)
    await connection.execute(
        _ERASE,
        {"t": tenant_id, "c": customer_id, "tz": timezone, "currency": currency, "stripe": stripe},
    )

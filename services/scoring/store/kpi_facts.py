"""The KPI rollups kept by scoring's consumer as facts arrive (``kpi_tables``; docs/kpis.md).

Each function runs in the consumer's transaction, after the facts it follows were written, and
adds exactly what those facts changed: only orders the insert actually added (a replay adds none),
only the change a refund made to an order's refunded amount, only customer-days not yet recorded.
Increments commute, so consumer replicas writing the same rows never need to agree on an order;
``kpi_daily`` rows are keyed by the stripe of the event's partition besides the day, so two
replicas never write the same sum row at all. Every write takes the tenant's scores lock shared
first (``rescoring.lock_key``), so a tenant's rebuild (``kpi_backfill``), which takes it
exclusively, never interleaves with increments.

Rows are written in key order (day, then customer), so two transactions that touch overlapping
rows acquire them in the same order and cannot deadlock.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.store.kpi_sql import (
    ORDER_DELTAS,
    STRIPE_PARAMETER,
    add_to_order_returns,
    branch,
    new_day_spans,
    order_day_returns,
    span_branches,
    survey_deltas,
    with_daily,
)
from services.scoring.store.rescoring import DEFAULT_TIMEZONE, lock_key
from services.scoring.store.tables import tenants

_LOCK = sa.text("SELECT pg_advisory_xact_lock_shared(:key)")

_ACTIVE = with_daily(
    [
        """
    WITH u AS (
        SELECT (u.at AT TIME ZONE :tz)::date AS day, u.customer_id, min(u.stripe) AS stripe
        FROM unnest(CAST(:customers AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:stripes AS smallint[]))
             AS u(customer_id, at, stripe)
        GROUP BY 1, 2
    ),
    added AS (
        INSERT INTO kpi_customer_days (tenant_id, day, customer_id)
        SELECT :t, day, customer_id FROM u ORDER BY day, customer_id
        ON CONFLICT DO NOTHING
        RETURNING day, customer_id
    ),
    fresh AS (
        SELECT a.day, a.customer_id, u.stripe FROM added a
        JOIN u ON u.day = a.day AND u.customer_id = a.customer_id
    )
    """,
        new_day_spans("fresh"),
    ],
    branch("fresh", "day", "stripe", active_customers="1"),
    *span_branches("spans"),
)

_ORDERS = with_daily(
    [
        """
    WITH u AS (
        SELECT (u.paid_at AT TIME ZONE :tz)::date AS day, u.customer_id, u.stripe,
               (u.refunded < u.amount)::int AS counted,
               u.currency = coalesce(CAST(:currency AS text), u.currency) AS money,
               u.amount - u.refunded AS revenue, u.refunded
        FROM unnest(CAST(:customers AS uuid[]), CAST(:paid_ats AS timestamptz[]), CAST(:currencies AS text[]),
                    CAST(:amounts AS bigint[]), CAST(:refunded AS bigint[]), CAST(:stripes AS smallint[]))
             AS u(customer_id, paid_at, currency, amount, refunded, stripe)
    ),
    per_day AS (
        SELECT day, customer_id, min(stripe) AS stripe, sum(counted) AS orders FROM u GROUP BY 1, 2
    ),
    upserted AS (
        INSERT INTO kpi_customer_days AS d (tenant_id, day, customer_id, orders)
        SELECT :t, day, customer_id, orders FROM per_day ORDER BY day, customer_id
        ON CONFLICT (tenant_id, day, customer_id) DO UPDATE SET orders = d.orders + EXCLUDED.orders
        RETURNING day, customer_id, (xmax = 0) AS inserted
    ),
    fresh AS (
        SELECT p.day, p.customer_id, p.stripe FROM upserted x
        JOIN per_day p ON p.day = x.day AND p.customer_id = x.customer_id
        WHERE x.inserted
    )
    """,
        new_day_spans("fresh"),
    ],
    branch("u", "day", "stripe", **ORDER_DELTAS),
    branch("fresh", "day", "stripe", active_customers="1"),
    *span_branches("spans"),
)

_REFUNDS = with_daily(
    """
    WITH u AS (
        SELECT (u.paid_at AT TIME ZONE :tz)::date AS day, u.customer_id, u.stripe,
               (u.after < u.amount)::int - (u.before < u.amount)::int AS counted,
               u.currency = coalesce(CAST(:currency AS text), u.currency) AS money,
               u.before - u.after AS revenue, u.after - u.before AS refunded
        FROM unnest(CAST(:customers AS uuid[]), CAST(:paid_ats AS timestamptz[]), CAST(:currencies AS text[]),
                    CAST(:amounts AS bigint[]), CAST(:befores AS bigint[]), CAST(:afters AS bigint[]),
                    CAST(:stripes AS smallint[]))
             AS u(customer_id, paid_at, currency, amount, before, after, stripe)
    ),
    days AS (
        UPDATE kpi_customer_days AS d SET orders = d.orders + c.counted
        FROM (SELECT day, customer_id, sum(counted) AS counted FROM u GROUP BY 1, 2
              HAVING sum(counted) <> 0) AS c
        WHERE d.tenant_id = :t AND d.day = c.day AND d.customer_id = c.customer_id
        RETURNING 1
    )
    """,
    branch("u", "day", "stripe", **ORDER_DELTAS),
)

_SURVEYS = with_daily(
    """
    WITH u AS (
        SELECT (u.at AT TIME ZONE :tz)::date AS day, u.customer_id, u.stripe, u.survey, u.score, 1 AS n
        FROM unnest(CAST(:customers AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:stripes AS smallint[]),
                    CAST(:surveys AS text[]), CAST(:scores AS smallint[]))
             AS u(customer_id, at, stripe, survey, score)
    ),
    kept AS (
        INSERT INTO kpi_surveys AS s (tenant_id, customer_id, day, survey, score, responses)
        SELECT :t, customer_id, day, survey, score, count(*) FROM u
        GROUP BY customer_id, day, survey, score ORDER BY customer_id, day, survey, score
        ON CONFLICT (tenant_id, customer_id, day, survey, score)
        DO UPDATE SET responses = s.responses + EXCLUDED.responses
        RETURNING 1
    )
    """,
    branch("u GROUP BY day, stripe", "day", "stripe", **survey_deltas()),
)

# The customers' first counted order days from their orders, and the change to each day's new buyers
# (the old day loses one, the new day gains one): lifetime buyers are the sum of new buyers to a day.
_FIRST_ORDERS = with_daily(
    [
        """
    WITH wanted AS (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS customer_id),
    firsts AS (
        SELECT w.customer_id, f.days[1] AS first_day, f.days
        FROM wanted w
        CROSS JOIN LATERAL (
            SELECT array_agg((o.paid_at AT TIME ZONE :tz)::date ORDER BY o.paid_at) AS days FROM orders o
            WHERE o.tenant_id = :t AND o.customer_id = w.customer_id AND o.refunded_minor < o.amount_minor
        ) AS f
    ),
    old AS (
        SELECT k.customer_id, k.first_day, k.order_days
        FROM kpi_first_orders k JOIN wanted w USING (customer_id)
        WHERE k.tenant_id = :t FOR UPDATE OF k
    ),
    gone AS (
        DELETE FROM kpi_first_orders k USING firsts f
        WHERE k.tenant_id = :t AND k.customer_id = f.customer_id AND f.first_day IS NULL
        RETURNING 1
    ),
    put AS (
        INSERT INTO kpi_first_orders AS k (tenant_id, customer_id, first_day, order_days)
        SELECT :t, customer_id, first_day, days FROM firsts WHERE first_day IS NOT NULL ORDER BY customer_id
        ON CONFLICT (tenant_id, customer_id)
        DO UPDATE SET first_day = EXCLUDED.first_day, order_days = EXCLUDED.order_days
        WHERE (k.first_day, k.order_days) IS DISTINCT FROM (EXCLUDED.first_day, EXCLUDED.order_days)
        RETURNING 1
    ),
    moved AS (
        SELECT o.first_day AS day, -1 AS n FROM old o JOIN firsts f USING (customer_id)
        WHERE o.first_day IS DISTINCT FROM f.first_day
        UNION ALL
        SELECT f.first_day, 1 FROM firsts f LEFT JOIN old o USING (customer_id)
        WHERE f.first_day IS NOT NULL AND f.first_day IS DISTINCT FROM o.first_day
    )
    """,
        add_to_order_returns(
            order_day_returns("firsts", "days", STRIPE_PARAMETER, "1"),
            order_day_returns("old", "order_days", STRIPE_PARAMETER, "-1"),
        ),
    ],
    branch("moved", "day", STRIPE_PARAMETER, new_buyers="n"),
)


@dataclass(frozen=True, slots=True)
class OrderChange:
    """An order as the KPIs see a change of it: who, when, what, and refunded before and after.

    A newly recorded order has ``before`` None; a refund has both (``after`` ≥ ``before``).
    """

    customer_id: uuid.UUID
    paid_at: datetime
    currency: str
    amount_minor: int
    before: int | None
    after: int
    stripe: int


@dataclass(frozen=True, slots=True)
class Activity:
    """A behaviour event of a live customer, and its survey answer when it is one."""

    customer_id: uuid.UUID
    at: datetime
    stripe: int
    answer: tuple[str, int] | None = None


async def lock_shared(connection: AsyncConnection, tenant_id: uuid.UUID) -> None:
    """The tenant's scores lock, shared: increments wait while the tenant's rollups are rebuilt."""
    await connection.execute(_LOCK, {"key": lock_key(tenant_id)})


def _customer_key(tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(b"kpis\x00" + tenant_id.bytes + customer_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_customers(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> None:
    """A transaction lock per customer, in key order: new active days are placed beside the
    customer's stored ones, so two transactions adding days of one customer (only a merged-away
    customer's late events travel on another partition) take turns."""
    keys = sorted({_customer_key(tenant_id, c) for c in customer_ids})
    await connection.execute(
        sa.text("SELECT count(pg_advisory_xact_lock(key)) FROM unnest(CAST(:keys AS bigint[])) AS key"),
        {"keys": keys},
    )


async def tenant_money(connection: AsyncConnection, tenant_id: uuid.UUID) -> tuple[str, str | None]:
    """The tenant's time zone and currency as provisioned to scoring (default zone, any currency
    counting as money, when it was never provisioned)."""
    row = (
        await connection.execute(
            sa.select(tenants.c.timezone, tenants.c.currency).where(tenants.c.tenant_id == tenant_id)
        )
    ).first()
    return (DEFAULT_TIMEZONE, None) if row is None else (row.timezone, row.currency.strip())


async def record_activity(
    connection: AsyncConnection, tenant_id: uuid.UUID, events: Sequence[Activity]
) -> None:
    """Mark each customer active on the tenant-local day of each event, and count survey answers."""
    if not events:
        return
    await lock_shared(connection, tenant_id)
    await lock_customers(connection, tenant_id, [e.customer_id for e in events])
    timezone, _ = await tenant_money(connection, tenant_id)
    await connection.execute(
        _ACTIVE,
        {
            "t": tenant_id,
            "tz": timezone,
            "customers": [e.customer_id for e in events],
            "ats": [e.at for e in events],
            "stripes": [e.stripe for e in events],
        },
    )
    answers = [e for e in events if e.answer is not None]
    if answers:
        await connection.execute(
            _SURVEYS,
            {
                "t": tenant_id,
                "tz": timezone,
                "customers": [e.customer_id for e in answers],
                "ats": [e.at for e in answers],
                "stripes": [e.stripe for e in answers],
                "surveys": [e.answer[0] for e in answers if e.answer],
                "scores": [e.answer[1] for e in answers if e.answer],
            },
        )


def _order_columns(changes: Sequence[OrderChange]) -> dict[str, list[object]]:
    return {
        "customers": [c.customer_id for c in changes],
        "paid_ats": [c.paid_at for c in changes],
        "currencies": [c.currency for c in changes],
        "amounts": [c.amount_minor for c in changes],
        "stripes": [c.stripe for c in changes],
    }


async def record_orders(
    connection: AsyncConnection, tenant_id: uuid.UUID, added: Sequence[OrderChange]
) -> None:
    """Count newly recorded orders (only those the insert added) on their paid day, and mark their
    customers active that day; then the customers' first order days."""
    if not added:
        return
    await lock_shared(connection, tenant_id)
    await lock_customers(connection, tenant_id, [c.customer_id for c in added])
    timezone, currency = await tenant_money(connection, tenant_id)
    await connection.execute(
        _ORDERS,
        {
            "t": tenant_id,
            "tz": timezone,
            "currency": currency,
            **_order_columns(added),
            "refunded": [c.after for c in added],
        },
    )
    await refresh_first_orders(
        connection, tenant_id, timezone, [c.customer_id for c in added], added[0].stripe
    )


async def record_refunds(
    connection: AsyncConnection, tenant_id: uuid.UUID, changed: Sequence[OrderChange]
) -> None:
    """Move each changed order's refunded amount on its paid day: revenue down, refunds up, and the
    order no longer counted once fully refunded."""
    changes = [c for c in changed if c.before is not None and c.after != c.before]
    if not changes:
        return
    await lock_shared(connection, tenant_id)
    # as record_orders: a merge moving these customers' days waits for the refund, or the refund for it
    await lock_customers(connection, tenant_id, [c.customer_id for c in changes])
    timezone, currency = await tenant_money(connection, tenant_id)
    await connection.execute(
        _REFUNDS,
        {
            "t": tenant_id,
            "tz": timezone,
            "currency": currency,
            **_order_columns(changes),
            "befores": [c.before for c in changes],
            "afters": [c.after for c in changes],
        },
    )
    ended = [c.customer_id for c in changes if c.after >= c.amount_minor > (c.before or 0)]
    await refresh_first_orders(connection, tenant_id, timezone, ended, changes[0].stripe)


async def refresh_first_orders(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    timezone: str,
    customer_ids: Sequence[uuid.UUID],
    stripe: int,
) -> None:
    """Set the customers' first counted order day from their orders (none: no row), and move the
    days' new buyers (under ``stripe``) by what changed."""
    if customer_ids:
        await connection.execute(
            _FIRST_ORDERS,
            {"t": tenant_id, "tz": timezone, "ids": sorted(set(customer_ids)), "stripe": stripe},
        )

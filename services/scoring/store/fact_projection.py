"""Handlers that keep scoring's order and behaviour facts from profile's events, then re-score.

Each handler takes a run of events (the consumer's batch handlers; a single event is a run of one),
writes the facts with one multi-row statement per table and re-scores the customers touched (after
behaviour: marks them for the re-scorer's next round, ``rescore_marks``), all in the consumer's
transaction, which also moves the stream position: an event counts exactly once.
An event about a customer that was merged away counts for the survivor; one about an erased
customer is dropped.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.events.outbox import Outbox
from services.scoring.domain.kpis import survey_answer
from services.scoring.store import kpi_facts, rescore_marks
from services.scoring.store.behaviour_events import record_behaviour
from services.scoring.store.rescoring import rescore, tenant_timezone

Envelopes = Sequence[envelope_pb2.EventEnvelope]

# Each wanted id is looked up by the primary key (LATERAL, kept apart by OFFSET 0 so the planner cannot
# flatten it): a plan joining the tenant's customers to themselves first, which the stale statistics
# of a fresh table invite, took seconds per batch and outlived the consumer's lease.
_RESOLVE = sa.text(
    """
    WITH wanted AS (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS customer_id),
    provisional AS (
        INSERT INTO customers (tenant_id, customer_id, created_at)
        SELECT :t, w.customer_id, now() FROM wanted w
        ON CONFLICT (tenant_id, customer_id) DO NOTHING
        RETURNING customer_id
    )
    SELECT w.customer_id,
           CASE WHEN c.erased_at IS NULL AND s.erased_at IS NULL
                THEN coalesce(c.merged_into, w.customer_id) END
    FROM wanted w
    LEFT JOIN LATERAL (
        SELECT erased_at, merged_into FROM customers
        WHERE tenant_id = :t AND customer_id = w.customer_id OFFSET 0
    ) c ON true
    LEFT JOIN LATERAL (
        SELECT erased_at FROM customers WHERE tenant_id = :t AND customer_id = c.merged_into OFFSET 0
    ) s ON true
    """
)

_INSERT_ORDERS = sa.text(
    """
    INSERT INTO orders (tenant_id, order_id, customer_id, paid_at, currency, amount_minor, refunded_minor)
    SELECT DISTINCT ON (u.order_id) :t, u.order_id, u.customer_id, u.paid_at, u.currency, u.amount,
           least(u.amount, coalesce((SELECT sum(r.amount_minor) FROM order_refunds r
                                     WHERE r.tenant_id = :t AND r.order_id = u.order_id), 0))
    FROM unnest(CAST(:order_ids AS text[]), CAST(:customer_ids AS uuid[]), CAST(:paid_ats AS timestamptz[]),
                CAST(:currencies AS text[]), CAST(:amounts AS bigint[]))
         AS u(order_id, customer_id, paid_at, currency, amount)
    ORDER BY u.order_id
    ON CONFLICT (tenant_id, order_id) DO NOTHING
    RETURNING order_id, customer_id, paid_at, currency, amount_minor, refunded_minor
    """
)

_INSERT_ITEMS = sa.text(
    """
    INSERT INTO order_items (tenant_id, order_id, line, category, brand, unit_price_minor, quantity)
    SELECT :t, u.* FROM unnest(CAST(:order_ids AS text[]), CAST(:lines AS smallint[]),
        CAST(:categories AS text[]), CAST(:brands AS text[]), CAST(:prices AS bigint[]),
        CAST(:quantities AS int[])) AS u
    ON CONFLICT DO NOTHING
    """
)

_INSERT_EXTRAS = sa.text(
    """
    INSERT INTO order_extras (tenant_id, order_id, coupon_used, channel)
    SELECT :t, u.* FROM unnest(CAST(:order_ids AS text[]), CAST(:coupons AS boolean[]),
        CAST(:channels AS text[])) AS u
    ON CONFLICT DO NOTHING
    """
)

_INSERT_REFUNDS = sa.text(
    """
    WITH added AS (
        INSERT INTO order_refunds (tenant_id, order_id, refund_id, amount_minor, refunded_at, reason)
        SELECT :t, u.order_id, u.refund_id, u.amount, u.refunded_at, nullif(u.reason, '')
        FROM unnest(CAST(:order_ids AS text[]), CAST(:refund_ids AS text[]), CAST(:amounts AS bigint[]),
            CAST(:refunded_ats AS timestamptz[]), CAST(:reasons AS text[]))
            AS u(order_id, refund_id, amount, refunded_at, reason)
        ON CONFLICT DO NOTHING
        RETURNING order_id
    )
    SELECT DISTINCT order_id FROM added
    """
)

# The refunded amounts before the refunds, read under the rows' locks (the KPIs add the change).
_LOCK_REFUNDED = sa.text(
    """
    SELECT order_id, refunded_minor FROM orders
    WHERE tenant_id = :t AND order_id = ANY(CAST(:order_ids AS text[]))
    ORDER BY order_id FOR UPDATE
    """
)

_APPLY_REFUNDS = sa.text(
    """
    UPDATE orders o SET refunded_minor = least(o.amount_minor, (
        SELECT coalesce(sum(r.amount_minor), 0) FROM order_refunds r
        WHERE r.tenant_id = o.tenant_id AND r.order_id = o.order_id))
    WHERE o.tenant_id = :t AND o.order_id = ANY(CAST(:order_ids AS text[]))
    RETURNING o.order_id, o.customer_id, o.paid_at, o.currency, o.amount_minor, o.refunded_minor
    """
)

_ACTIVITY = sa.text(
    """
    WITH e AS (
        SELECT u.customer_id, u.event_type, u.at, (u.at AT TIME ZONE :tz) AS local
        FROM unnest(CAST(:customer_ids AS uuid[]), CAST(:types AS text[]), CAST(:ats AS timestamptz[]))
             AS u(customer_id, event_type, at)
    ),
    daily AS (
        INSERT INTO activity_daily AS a (tenant_id, customer_id, event_type, day, events, last_at)
        SELECT :t, customer_id, event_type, local::date, count(*), max(at) FROM e
        GROUP BY customer_id, event_type, local::date
        ON CONFLICT (tenant_id, customer_id, event_type, day) DO UPDATE
        SET events = a.events + EXCLUDED.events, last_at = greatest(a.last_at, EXCLUDED.last_at)
        RETURNING 1
    )
    INSERT INTO activity_hours AS h (tenant_id, customer_id, hour, events)
    SELECT :t, customer_id, extract(hour FROM local)::smallint, count(*) FROM e
    GROUP BY customer_id, extract(hour FROM local)::smallint
    ON CONFLICT (tenant_id, customer_id, hour) DO UPDATE SET events = h.events + EXCLUDED.events
    """
)


def by_tenant(envelopes: Envelopes) -> list[tuple[uuid.UUID, list[envelope_pb2.EventEnvelope]]]:
    """The run split by tenant, each tenant's events in stream order."""
    ordered = sorted(envelopes, key=lambda e: e.tenant_id)
    return [
        (uuid.UUID(tenant), list(group))
        for tenant, group in itertools.groupby(ordered, key=lambda e: e.tenant_id)
    ]


async def resolve_live(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Sequence[str]
) -> dict[str, uuid.UUID | None]:
    """Each customer's live survivor (itself unless merged away), None when erased. A customer not
    seen yet gets a provisional row, so that its facts are scored."""
    rows = await connection.execute(_RESOLVE, {"t": tenant_id, "ids": sorted(set(customer_ids))})
    return {str(customer): live for customer, live in rows}


class FactProjection:
    """The order and behaviour handlers, announcing stage changes through scoring's outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def orders_paid(self, connection: AsyncConnection, envelopes: Envelopes) -> None:
        """Record paid orders (items, coupon, channel) for the customers' survivors."""
        for tenant_id, events in by_tenant(envelopes):
            live = await resolve_live(connection, tenant_id, [e.customer_id for e in events])
            kept = [(e.order_paid, live[e.customer_id]) for e in events if live[e.customer_id] is not None]
            if not kept:
                continue
            added = await connection.execute(
                _INSERT_ORDERS,
                {
                    "t": tenant_id,
                    "order_ids": [p.order_id for p, _ in kept],
                    "customer_ids": [c for _, c in kept],
                    "paid_ats": [p.paid_at.ToDatetime(tzinfo=UTC) for p, _ in kept],
                    "currencies": [p.currency for p, _ in kept],
                    "amounts": [p.amount_minor for p, _ in kept],
                },
            )
            stripes = {e.order_paid.order_id: e.partition for e in events}
            await kpi_facts.record_orders(
                connection,
                tenant_id,
                [
                    kpi_facts.OrderChange(
                        row.customer_id,
                        row.paid_at,
                        row.currency.strip(),
                        row.amount_minor,
                        None,
                        row.refunded_minor,
                        stripes[row.order_id],
                    )
                    for row in added
                ],
            )
            lines = [(p.order_id, n, item) for p, _ in kept for n, item in enumerate(p.items)]
            if lines:
                await connection.execute(
                    _INSERT_ITEMS,
                    {
                        "t": tenant_id,
                        "order_ids": [o for o, _, _ in lines],
                        "lines": [n for _, n, _ in lines],
                        "categories": [i.category or None for _, _, i in lines],
                        "brands": [i.brand or None for _, _, i in lines],
                        "prices": [i.unit_price_minor for _, _, i in lines],
                        "quantities": [i.quantity for _, _, i in lines],
                    },
                )
            await connection.execute(
                _INSERT_EXTRAS,
                {
                    "t": tenant_id,
                    "order_ids": [p.order_id for p, _ in kept],
                    "coupons": [bool(p.coupon_code) for p, _ in kept],
                    "channels": [p.channel or None for p, _ in kept],
                },
            )
            await rescore(connection, self.outbox, tenant_id, [c for _, c in kept if c is not None])

    async def orders_refunded(self, connection: AsyncConnection, envelopes: Envelopes) -> None:
        """Record refunds by id, with their reason; an order's refunded amount is the sum of its
        refunds (capped)."""
        for tenant_id, events in by_tenant(envelopes):
            live = await resolve_live(connection, tenant_id, [e.customer_id for e in events])
            kept = [e.order_refunded for e in events if live[e.customer_id] is not None]
            if not kept:
                continue
            added = await connection.execute(
                _INSERT_REFUNDS,
                {
                    "t": tenant_id,
                    "order_ids": [r.order_id for r in kept],
                    "refund_ids": [r.refund_id for r in kept],
                    "amounts": [r.amount_minor for r in kept],
                    "refunded_ats": [r.refunded_at.ToDatetime(tzinfo=UTC) for r in kept],
                    "reasons": [r.reason for r in kept],
                },
            )
            order_ids = list(added.scalars())
            if not order_ids:
                continue
            locked = await connection.execute(_LOCK_REFUNDED, {"t": tenant_id, "order_ids": order_ids})
            before = {row.order_id: row.refunded_minor for row in locked}
            owners = (
                await connection.execute(_APPLY_REFUNDS, {"t": tenant_id, "order_ids": order_ids})
            ).all()
            stripes = {e.order_refunded.order_id: e.partition for e in events}
            await kpi_facts.record_refunds(
                connection,
                tenant_id,
                [
                    kpi_facts.OrderChange(
                        row.customer_id,
                        row.paid_at,
                        row.currency.strip(),
                        row.amount_minor,
                        before[row.order_id],
                        row.refunded_minor,
                        stripes[row.order_id],
                    )
                    for row in owners
                ],
            )
            await rescore(connection, self.outbox, tenant_id, [row.customer_id for row in owners])

    async def events_recorded(self, connection: AsyncConnection, envelopes: Envelopes) -> None:
        """Count behaviour per customer, type and local day (and local hour), keep each event
        with its exact time and properties for segments (``audience_projection``), and mark the
        customers for the re-scorer (``rescore_marks``: once per round, not per batch)."""
        for tenant_id, events in by_tenant(envelopes):
            live = await resolve_live(connection, tenant_id, [e.customer_id for e in events])
            kept = [(e, c) for e in events if (c := live[e.customer_id]) is not None]
            if not kept:
                continue
            ats = [e.occurred_at.ToDatetime(tzinfo=UTC) for e, _ in kept]  # converted once, used thrice
            await connection.execute(
                _ACTIVITY,
                {
                    "t": tenant_id,
                    "tz": await tenant_timezone(connection, tenant_id),
                    "customer_ids": [c for _, c in kept],
                    "types": [e.event_recorded.event_type for e, _ in kept],
                    "ats": ats,
                },
            )
            await kpi_facts.record_activity(
                connection,
                tenant_id,
                [
                    kpi_facts.Activity(
                        live_id,
                        at,
                        e.partition,
                        survey_answer(e.event_recorded.event_type, e.event_recorded.properties_json),
                    )
                    for (e, live_id), at in zip(kept, ats, strict=True)
                ],
            )
            await record_behaviour(connection, tenant_id, kept, ats)
            await rescore_marks.mark(connection, tenant_id, [c for _, c in kept])

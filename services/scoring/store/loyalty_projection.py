"""Handlers that keep ``audience_loyalty`` from loyalty's points.changed and tier.changed.

A customer's own event sets its balance (``balance``) or tier (``to_tier``); within a run the last
one of a customer decides. An event of a customer scoring already knows as merged away was written
by loyalty before it folded that account into the survivor's: its ``delta`` is added to the
survivor's points (loyalty adds the balances up), its tier ignored (loyalty announces the survivor's
tier itself when the merge raises it). An erased customer's event is dropped. Each run is written
with set-based statements in the consumer's transaction: an event counts exactly once.
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.store.fact_projection import Envelopes, by_tenant, resolve_live

# Each statement takes the run as arrays: own (the event is the customer's own, not a merged-away
# one's), customer_ids (the live customer), values (balance or tier), deltas, ats (event times).
_BALANCES = sa.text(
    """
    WITH u AS (
        SELECT * FROM unnest(CAST(:own AS boolean[]), CAST(:customer_ids AS uuid[]),
                             CAST(:values AS bigint[]), CAST(:ats AS timestamptz[]))
             WITH ORDINALITY AS u(own, customer_id, value, at, n)
    )
    INSERT INTO audience_loyalty AS a (tenant_id, customer_id, points, updated_at)
    SELECT DISTINCT ON (customer_id) :t, customer_id, value, at FROM u WHERE own
    ORDER BY customer_id, n DESC
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
    SET points = EXCLUDED.points, updated_at = greatest(a.updated_at, EXCLUDED.updated_at)
    """
)

# Run after _BALANCES: only the deltas after a customer's last own event of the run add up, as if
# the run were applied one event at a time.
_FOLDED = sa.text(
    """
    WITH u AS (
        SELECT * FROM unnest(CAST(:own AS boolean[]), CAST(:customer_ids AS uuid[]),
                             CAST(:deltas AS bigint[]), CAST(:ats AS timestamptz[]))
             WITH ORDINALITY AS u(own, customer_id, delta, at, n)
    ),
    last_own AS (SELECT customer_id, max(n) AS n FROM u WHERE own GROUP BY customer_id)
    INSERT INTO audience_loyalty AS a (tenant_id, customer_id, points, updated_at)
    SELECT :t, u.customer_id, sum(u.delta), max(u.at) FROM u
    LEFT JOIN last_own o ON o.customer_id = u.customer_id
    WHERE NOT u.own AND (o.n IS NULL OR u.n > o.n)
    GROUP BY u.customer_id
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
    SET points = coalesce(a.points, 0) + EXCLUDED.points,
        updated_at = greatest(a.updated_at, EXCLUDED.updated_at)
    """
)

_TIERS = sa.text(
    """
    WITH u AS (
        SELECT * FROM unnest(CAST(:own AS boolean[]), CAST(:customer_ids AS uuid[]),
                             CAST(:values AS text[]), CAST(:ats AS timestamptz[]))
             WITH ORDINALITY AS u(own, customer_id, value, at, n)
    )
    INSERT INTO audience_loyalty AS a (tenant_id, customer_id, tier, updated_at)
    SELECT DISTINCT ON (customer_id) :t, customer_id, value, at FROM u WHERE own
    ORDER BY customer_id, n DESC
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
    SET tier = EXCLUDED.tier, updated_at = greatest(a.updated_at, EXCLUDED.updated_at)
    """
)


async def _apply(
    connection: AsyncConnection, envelopes: Envelopes, statements: list[sa.TextClause], field: str
) -> None:
    for tenant_id, events in by_tenant(envelopes):
        live = await resolve_live(connection, tenant_id, [e.customer_id for e in events])
        kept = [(e, c) for e in events if (c := live[e.customer_id]) is not None]
        if not kept:
            continue
        payloads = [getattr(e, field) for e, _ in kept]
        parameters = {
            "t": tenant_id,
            "own": [str(c) == e.customer_id for e, c in kept],
            "customer_ids": [c for _, c in kept],
            "values": [p.balance if field == "points_changed" else p.to_tier for p in payloads],
            "deltas": [p.delta if field == "points_changed" else 0 for p in payloads],
            "ats": [e.occurred_at.ToDatetime(tzinfo=UTC) for e, _ in kept],
        }
        for statement in statements:
            await connection.execute(statement, parameters)


class LoyaltyProjection:
    """The points.changed and tier.changed handlers."""

    async def points_changed(self, connection: AsyncConnection, envelopes: Envelopes) -> None:
        """The customer's points balance after each ledger entry."""
        await _apply(connection, envelopes, [_BALANCES, _FOLDED], "points_changed")

    async def tiers_changed(self, connection: AsyncConnection, envelopes: Envelopes) -> None:
        """The tier the customer moved to."""
        await _apply(connection, envelopes, [_TIERS], "tier_changed")

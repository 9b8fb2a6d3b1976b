"""Merges and erasure applied to the audience tables (tags, consents, loyalty, behaviour events).

Run by ``projection.CustomerProjection`` in the consumer's transaction of customer.merged and
customer.erased. Each statement takes :t (tenant), and :ids (uuid[], the merged customers) with
:survivor for a merge, or :c (the erased customer).

On a clash the survivor gets what profile and loyalty give it:
- a tag both hold: the survivor keeps its own row (profile keeps the survivor's tag); among merged
  customers only, the one that lasts longest (no expiry first);
- a consent both recorded: the most recent ``changed_at`` wins (as in profile);
- loyalty: points add up (loyalty folds the balances into the survivor's account), the tier is the
  survivor's, else the most recently changed merged one's. Loyalty keeps the highest tier of the
  family and announces a rise on the survivor (tier.changed, reason ``merge``), which then applies.
- behaviour events all move (they are keyed by event id, so they cannot clash).
"""

from __future__ import annotations

import sqlalchemy as sa

MOVE_STATEMENTS: list[sa.TextClause] = [
    sa.text(
        """
        WITH moved AS (
            DELETE FROM audience_tags WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
            RETURNING tag_id, expires_at
        )
        INSERT INTO audience_tags (tenant_id, customer_id, tag_id, expires_at)
        SELECT DISTINCT ON (tag_id) :t, :survivor, tag_id, expires_at
          FROM moved ORDER BY tag_id, expires_at DESC NULLS FIRST
        ON CONFLICT (tenant_id, customer_id, tag_id) DO NOTHING
        """
    ),
    sa.text(
        """
        WITH moved AS (
            DELETE FROM audience_consents WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
            RETURNING channel, purpose, granted, changed_at
        )
        INSERT INTO audience_consents AS a (tenant_id, customer_id, channel, purpose, granted, changed_at)
        SELECT DISTINCT ON (channel, purpose) :t, :survivor, channel, purpose, granted, changed_at
          FROM moved ORDER BY channel, purpose, changed_at DESC
        ON CONFLICT (tenant_id, customer_id, channel, purpose) DO UPDATE
        SET granted = EXCLUDED.granted, changed_at = EXCLUDED.changed_at
        WHERE a.changed_at < EXCLUDED.changed_at
        """
    ),
    sa.text(
        """
        WITH moved AS (
            DELETE FROM audience_loyalty WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))
            RETURNING tier, points, updated_at
        )
        INSERT INTO audience_loyalty AS a (tenant_id, customer_id, tier, points, updated_at)
        SELECT :t, :survivor,
               (array_agg(tier ORDER BY updated_at DESC) FILTER (WHERE tier IS NOT NULL))[1],
               sum(points), max(updated_at)
          FROM moved HAVING count(*) > 0
        ON CONFLICT (tenant_id, customer_id) DO UPDATE
        SET tier = coalesce(a.tier, EXCLUDED.tier),
            points = CASE WHEN a.points IS NULL AND EXCLUDED.points IS NULL THEN NULL
                          ELSE coalesce(a.points, 0) + coalesce(EXCLUDED.points, 0) END,
            updated_at = greatest(a.updated_at, EXCLUDED.updated_at)
        """
    ),
    sa.text(
        "UPDATE behaviour_events SET customer_id = :survivor "
        "WHERE tenant_id = :t AND customer_id = ANY(CAST(:ids AS uuid[]))"
    ),
]

ERASE_STATEMENTS: list[sa.TextClause] = [
    sa.text(f"DELETE FROM {table} WHERE tenant_id = :t AND customer_id = :c")  # noqa: S608
    for table in ("audience_tags", "audience_consents", "audience_loyalty", "behaviour_events")
]

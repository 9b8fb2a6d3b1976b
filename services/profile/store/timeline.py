"""A customer's timeline: one keyset-paginated query over every table that records what happened."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.profile.domain.timeline import TimelineEntry
from services.profile.store.merges import customer_family, resolve_survivor
from services.runtime.database import Database

# Each branch yields (at, kind, ref, detail) for the customer family :customers of tenant :tenant.
TIMELINE_BRANCHES = (
    "SELECT created_at AS at, 'customer.created' AS kind, customer_id::text AS ref, "
    "jsonb_build_object('customer_id', customer_id) AS detail "
    "FROM customers WHERE tenant_id = :tenant AND customer_id = ANY(:customers)",
    "SELECT merged_at, 'customer.merged', merged_id::text, "
    "jsonb_build_object('survivor_id', survivor_id, 'merged_id', merged_id, 'reason', reason) "
    "FROM customer_merges WHERE tenant_id = :tenant AND survivor_id = ANY(:customers)",
    "SELECT occurred_at, 'event.' || type, event_id, "
    "jsonb_build_object('type', type, 'properties', properties) "
    "FROM behaviour_events WHERE tenant_id = :tenant AND customer_id = ANY(:customers)",
    "SELECT paid_at, 'order.paid', order_id, jsonb_build_object('order_id', order_id, 'amount_minor', "
    "amount_minor, 'currency', currency, 'status', status, 'coupon_code', coupon_code, 'channel', channel) "
    "FROM orders WHERE tenant_id = :tenant AND customer_id = ANY(:customers)",
    "SELECT r.refunded_at, 'order.refunded', r.order_id || '/' || r.refund_id, jsonb_build_object("
    "'order_id', r.order_id, 'refund_id', r.refund_id, 'amount_minor', r.amount_minor, "
    "'currency', o.currency, "
    "'reason', r.reason) FROM order_refunds r JOIN orders o ON o.tenant_id = r.tenant_id "
    "AND o.order_id = r.order_id WHERE o.tenant_id = :tenant AND o.customer_id = ANY(:customers)",
    "SELECT changed_at, 'tag.changed', change_id::text, jsonb_build_object('tag_id', tag_id, 'tag_name', "
    "tag_name, 'applied', applied, 'source', source, 'expires_at', expires_at) "
    "FROM customer_tag_history WHERE tenant_id = :tenant AND customer_id = ANY(:customers)",
    "SELECT changed_at, 'consent.changed', change_id::text, jsonb_build_object('channel', channel, "
    "'purpose', purpose, 'granted', granted, 'source', source) "
    "FROM consent_history WHERE tenant_id = :tenant AND customer_id = ANY(:customers)",
)

_TIMELINE = sa.text(
    "SELECT at, kind, ref, detail FROM ("  # noqa: S608 - the branches are constants
    + " UNION ALL ".join(TIMELINE_BRANCHES)
    + ") AS t WHERE CAST(:after_at AS timestamptz) IS NULL "
    "OR (at, kind, ref) < "
    "(CAST(:after_at AS timestamptz), CAST(:after_kind AS text), CAST(:after_ref AS text)) "
    "ORDER BY at DESC, kind DESC, ref DESC LIMIT :limit"
)


class SqlTimelineStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def entries(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, str, str] | None,
        limit: int,
    ) -> list[TimelineEntry] | None:
        """Up to ``limit`` entries older than ``after``; None when the customer is not found."""
        async with self._database.read() as connection:
            survivor = await resolve_survivor(connection, tenant_id, customer_id)
            if survivor is None:
                return None
            return await timeline_entries(connection, tenant_id, survivor, after, limit)


async def timeline_entries(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    survivor: uuid.UUID,
    after: tuple[datetime, str, str] | None,
    limit: int,
) -> list[TimelineEntry]:
    """Up to ``limit`` entries of the live customer ``survivor`` (and of those merged into it)
    older than ``after``, newest first."""
    family = await customer_family(connection, tenant_id, survivor)
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "customers": family,
        "after_at": after[0] if after else None,
        "after_kind": after[1] if after else None,
        "after_ref": after[2] if after else None,
        "limit": limit,
    }
    rows = (await connection.execute(_TIMELINE, params)).all()
    return [TimelineEntry(row.at, row.kind, row.ref, row.detail) for row in rows]

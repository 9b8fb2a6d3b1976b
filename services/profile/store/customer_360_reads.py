"""Profile's customer-360 part: the customer (merges followed), its identities and the head of its
timeline, in one statement on the hot pool.

Read step by step (the customer resolved, then its row, identities, family and timeline) the part
was six round trips through SQLAlchemy, and the round trips, not PostgreSQL's work, were most of
its CPU. One statement is one snapshot and one round trip. The step-by-step reads remain for a hot
pool that is closing (the service is stopping).
"""

from __future__ import annotations

import json
import uuid

from services.profile.domain.customer_360 import ProfilePart
from services.profile.domain.timeline import TimelineEntry
from services.profile.store.customer_rows import masked_identity
from services.profile.store.customers import SqlCustomerStore
from services.profile.store.merges import MAX_MERGE_HOPS, resolve_survivor
from services.profile.store.timeline import TIMELINE_BRANCHES, timeline_entries
from services.runtime.database import Database
from services.runtime.hot_pool import HotConnections, HotPathClosed, RecordView

# $1 tenant, $2 customer, $3 timeline entries. The chain follows merged_into as resolve_survivors
# does: an erased or absent link ends it unresolved, and so do more than MAX_MERGE_HOPS hops.
_TIMELINE_OF_FAMILY = " UNION ALL ".join(
    branch.replace(":tenant", "$1").replace("ANY(:customers)", "ANY(f.ids)") for branch in TIMELINE_BRANCHES
)
_PART_AT_ONCE = f"""
    WITH RECURSIVE chain AS (
        SELECT c.customer_id, c.merged_into, 1 AS hop FROM customers AS c
        WHERE c.tenant_id = $1 AND c.customer_id = $2 AND c.erased_at IS NULL
        UNION ALL
        SELECT c.customer_id, c.merged_into, chain.hop + 1 FROM chain
        JOIN customers AS c
          ON c.tenant_id = $1 AND c.customer_id = chain.merged_into AND c.erased_at IS NULL
        WHERE chain.hop < {MAX_MERGE_HOPS}
    )
    -- the timeline's jsonb detail travels as text: inside a record asyncpg would hand the json
    -- codec jsonb's binary form
    SELECT s.*,
           ARRAY(
               SELECT ROW(i.type, i.value_masked, i.verified_at IS NOT NULL) FROM identities AS i
               WHERE i.tenant_id = $1 AND i.customer_id = s.customer_id ORDER BY i.created_at, i.type
           ) AS identity_rows,
           ARRAY(
               SELECT ROW(t.at, t.kind, t.ref, t.detail::text)
               FROM ({_TIMELINE_OF_FAMILY}) AS t(at, kind, ref, detail)
               ORDER BY t.at DESC, t.kind DESC, t.ref DESC LIMIT $3
           ) AS timeline
    FROM chain
    JOIN customers AS s ON s.tenant_id = $1 AND s.customer_id = chain.customer_id
    CROSS JOIN LATERAL (
        SELECT ARRAY[s.customer_id] || ARRAY(
            SELECT m.customer_id FROM customers AS m WHERE m.tenant_id = $1 AND m.merged_into = s.customer_id
        ) AS ids
    ) AS f
    WHERE chain.merged_into IS NULL
"""  # noqa: S608 - the branches and the hop limit are constants


class SqlCustomer360Store:
    """Implements ``Customer360Store`` on the profile database."""

    def __init__(self, database: Database, customers: SqlCustomerStore, hot: HotConnections) -> None:
        self._database = database
        self._customers = customers
        self._hot = hot

    async def part(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, timeline_limit: int
    ) -> ProfilePart | None:
        try:
            row = await self._hot.fetchrow(_PART_AT_ONCE, tenant_id, customer_id, timeline_limit)
        except HotPathClosed:
            return await self._part_step_by_step(tenant_id, customer_id, timeline_limit)
        if row is None:
            return None
        identities = [
            masked_identity(kind, masked, verified) for kind, masked, verified in row["identity_rows"]
        ]
        customer = self._customers.customer_of_row(tenant_id, RecordView(row), identities, customer_id)
        timeline = [
            TimelineEntry(at, kind, ref, json.loads(detail)) for at, kind, ref, detail in row["timeline"]
        ]
        return ProfilePart(customer, timeline)

    async def _part_step_by_step(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, timeline_limit: int
    ) -> ProfilePart | None:
        async with self._database.read() as connection:
            survivor = await resolve_survivor(connection, tenant_id, customer_id)
            if survivor is None:
                return None
            customer = await self._customers.load(connection, tenant_id, survivor, requested=customer_id)
            timeline = await timeline_entries(connection, tenant_id, survivor, None, timeline_limit)
        return ProfilePart(customer, timeline)

"""TEMPORARY stand-in of the lead's membership engine (branch seg-saved only; the lead's file wins).

Whole-tenant re-evaluation of one segment without events or due rows, enough to run the saved-segment
tests before the real module lands on main.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.events.outbox import Outbox
from services.scoring.domain.segments.tree import Condition
from services.scoring.store.segment_sql import segment_members
from services.scoring.store.segment_tables import segment_due
from services.scoring.store.segment_tables import segment_members as members_table
from services.scoring.store.tables import tenants


@dataclass(frozen=True, slots=True)
class LiveSegment:
    segment_id: uuid.UUID
    version: int
    condition: Condition


async def reevaluate_segment(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    segment: LiveSegment,
    now: datetime,
    cause: str,
) -> None:
    zone = (
        await connection.execute(sa.select(tenants.c.timezone).where(tenants.c.tenant_id == tenant_id))
    ).scalar_one()
    wanted = segment_members(segment.condition, tenant_id, now, zone).cte("wanted")
    mine = sa.and_(members_table.c.tenant_id == tenant_id, members_table.c.segment_id == segment.segment_id)
    await connection.execute(
        sa.delete(members_table).where(
            mine, members_table.c.customer_id.not_in(sa.select(wanted.c.customer_id))
        )
    )
    insert = sa.dialects.postgresql.insert(members_table).from_select(
        ["tenant_id", "segment_id", "customer_id", "entered_at", "version"],
        sa.select(
            sa.literal(tenant_id),
            sa.literal(segment.segment_id),
            wanted.c.customer_id,
            sa.literal(now),
            sa.literal(segment.version),
        ),
    )
    await connection.execute(insert.on_conflict_do_nothing())


async def forget_segment(connection: AsyncConnection, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> None:
    for table in (members_table, segment_due):
        await connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.segment_id == segment_id)
        )

"""Queries of saved segments shared by their store: a segment with its count, a page of segments, a
page of members, a customer's segments, the daily sizes and the size snapshot.

``count`` is always the rows of ``segment_members`` now (an index-only count on the primary key);
the daily snapshot (``segment_sizes``) is history, never the current answer.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.errors import NotFound
from services.runtime.paging import Page, page_from_rows
from services.scoring.domain.segments.saved import SegmentKey
from services.scoring.domain.segments.saved_rules import (
    CustomerSegment,
    DailySize,
    SavedSegment,
    SegmentMember,
)
from services.scoring.store.segment_tables import segment_members, segment_sizes, segments
from services.scoring.store.tables import tenants

LIVE = segments.c.deleted_at.is_(None)


def member_count(tenant_id: Any, segment_id: Any) -> sa.ScalarSelect[int]:
    """The members of one segment now, as a scalar subquery."""
    return (
        sa.select(sa.func.count())
        .select_from(segment_members)
        .where(segment_members.c.tenant_id == tenant_id, segment_members.c.segment_id == segment_id)
        .scalar_subquery()
    )


def _segments_query(tenant_id: uuid.UUID) -> sa.Select[Any]:
    return sa.select(
        segments,
        member_count(segments.c.tenant_id, segments.c.segment_id).label("count"),
    ).where(segments.c.tenant_id == tenant_id, LIVE)


def segment_of(row: Any) -> SavedSegment:
    """A segments row (with its ``count``) as the domain's value."""
    return SavedSegment(
        segment_id=row.segment_id,
        name=row.name,
        description=row.description,
        condition=row.condition,
        version=row.version,
        count=int(row.count),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def select_segment(
    connection: AsyncConnection, tenant_id: uuid.UUID, segment_id: uuid.UUID
) -> SavedSegment | None:
    """The live segment with its member count; None when unknown or deleted."""
    row = (
        await connection.execute(_segments_query(tenant_id).where(segments.c.segment_id == segment_id))
    ).first()
    return None if row is None else segment_of(row)


async def is_live(connection: AsyncConnection, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> bool:
    """Whether the segment exists in the tenant and is not deleted."""
    found = await connection.scalar(
        sa.select(sa.literal(True)).where(
            segments.c.tenant_id == tenant_id, segments.c.segment_id == segment_id, LIVE
        )
    )
    return bool(found)


async def segment_page(
    connection: AsyncConnection, tenant_id: uuid.UUID, limit: int, after: SegmentKey | None
) -> Page[SavedSegment]:
    """Live segments by (name, id) after ``after``; ``limit + 1`` rows say whether more follow."""
    query = _segments_query(tenant_id)
    if after is not None:
        query = query.where(sa.tuple_(segments.c.name, segments.c.segment_id) > sa.tuple_(*after))
    query = query.order_by(segments.c.name, segments.c.segment_id).limit(limit + 1)
    rows = (await connection.execute(query)).all()
    return page_from_rows(rows, limit, segment_of, lambda row: (row.name, row.segment_id))


async def member_page(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    segment_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
) -> Page[SegmentMember]:
    """Members by customer id after ``after`` (a range scan of the primary key)."""
    query = sa.select(
        segment_members.c.customer_id, segment_members.c.entered_at, segment_members.c.version
    ).where(segment_members.c.tenant_id == tenant_id, segment_members.c.segment_id == segment_id)
    if after is not None:
        query = query.where(segment_members.c.customer_id > after)
    rows = (await connection.execute(query.order_by(segment_members.c.customer_id).limit(limit + 1))).all()
    return page_from_rows(
        rows,
        limit,
        lambda row: SegmentMember(row.customer_id, row.entered_at, row.version),
        lambda row: (row.customer_id,),
    )


async def segments_of(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> list[CustomerSegment]:
    """The live segments a live customer is in, by name (the ``segment_members_by_customer`` index)."""
    query = (
        sa.select(segments.c.segment_id, segments.c.name, segment_members.c.entered_at)
        .select_from(
            segment_members.join(
                segments,
                sa.and_(
                    segments.c.tenant_id == segment_members.c.tenant_id,
                    segments.c.segment_id == segment_members.c.segment_id,
                ),
            )
        )
        .where(segment_members.c.tenant_id == tenant_id, segment_members.c.customer_id == customer_id, LIVE)
        .order_by(segments.c.name, segments.c.segment_id)
    )
    rows = (await connection.execute(query)).all()
    return [CustomerSegment(row.segment_id, row.name, row.entered_at) for row in rows]


async def tenant_zone(connection: AsyncConnection, tenant_id: uuid.UUID) -> ZoneInfo:
    """The tenant's time zone (UTC should this Python not know it); NotFound for an unknown tenant."""
    name = (
        await connection.execute(sa.select(tenants.c.timezone).where(tenants.c.tenant_id == tenant_id))
    ).scalar_one_or_none()
    if name is None:
        raise NotFound("tenant not known to scoring")
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


async def daily_sizes(
    connection: AsyncConnection, tenant_id: uuid.UUID, segment_id: uuid.UUID, today: date, days: int
) -> list[DailySize]:
    """Snapshots of the ``days`` days ending ``today``, oldest first."""
    rows = await connection.execute(
        sa.select(segment_sizes.c.day, segment_sizes.c.members)
        .where(
            segment_sizes.c.tenant_id == tenant_id,
            segment_sizes.c.segment_id == segment_id,
            segment_sizes.c.day > today - timedelta(days=days),
            segment_sizes.c.day <= today,
        )
        .order_by(segment_sizes.c.day)
    )
    return [DailySize(row.day, int(row.members)) for row in rows]


async def record_size(
    connection: AsyncConnection, tenant_id: uuid.UUID, segment_id: uuid.UUID, now: datetime
) -> None:
    """Today's size of one segment (the tenant's calendar) from its members now; a later snapshot of
    the same day replaces it."""
    today = now.astimezone(await tenant_zone(connection, tenant_id)).date()
    statement = pg.insert(segment_sizes).from_select(
        ["tenant_id", "segment_id", "day", "members", "taken_at"],
        sa.select(
            sa.literal(tenant_id, pg.UUID(as_uuid=True)),
            sa.literal(segment_id, pg.UUID(as_uuid=True)),
            sa.literal(today, sa.Date),
            member_count(tenant_id, segment_id),
            sa.literal(now, sa.TIMESTAMP(timezone=True)),
        ),
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "segment_id", "day"],
            set_={"members": statement.excluded.members, "taken_at": statement.excluded.taken_at},
            where=segment_sizes.c.taken_at <= statement.excluded.taken_at,
        )
    )


# Every live segment of every tenant, today in the tenant's zone (UTC for a name PostgreSQL does not
# know, so one odd tenant cannot fail the statement), counted with one grouped scan of the members.
_SNAPSHOT = sa.text(
    """
    INSERT INTO segment_sizes (tenant_id, segment_id, day, members, taken_at)
    SELECT s.tenant_id, s.segment_id,
           (CAST(:now AS timestamptz) AT TIME ZONE coalesce(z.name, 'UTC'))::date,
           coalesce(m.members, 0), CAST(:now AS timestamptz)
    FROM segments AS s
    JOIN tenants AS t ON t.tenant_id = s.tenant_id
    LEFT JOIN pg_timezone_names AS z ON z.name = t.timezone
    LEFT JOIN (
        SELECT tenant_id, segment_id, count(*) AS members FROM segment_members GROUP BY tenant_id, segment_id
    ) AS m ON m.tenant_id = s.tenant_id AND m.segment_id = s.segment_id
    WHERE s.deleted_at IS NULL
    ON CONFLICT (tenant_id, segment_id, day)
    DO UPDATE SET members = EXCLUDED.members, taken_at = EXCLUDED.taken_at
    WHERE segment_sizes.taken_at <= EXCLUDED.taken_at
    """
)


async def snapshot_sizes(connection: AsyncConnection, now: datetime) -> int:
    """Upsert every live segment's member count for its tenant's today; the rows written."""
    result = await connection.execute(_SNAPSHOT, {"now": now})
    return int(result.rowcount or 0)

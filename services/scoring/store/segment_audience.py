"""The store side of ``domain/segments/audience.py``: one customer evaluated now, and a segment's
members streamed from one snapshot.

``evaluate`` runs the compiled condition limited to the one customer (the survivor of a merged id),
so it answers from the facts at this moment. ``snapshot`` reads ``segment_members`` in a
REPEATABLE READ, read-only transaction: the version, the total and every id come from the same
instant however long the stream takes, and rows are fetched from a server-side cursor a batch at a
time, so neither scoring nor the caller ever holds the whole audience. Each id comes with the
customer's zone as scoring's projection holds it (a campaign sends at each customer's local time).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import sqlalchemy as sa

from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.scoring.domain.segments.audience import SnapshotBatch
from services.scoring.domain.segments.tree import Condition
from services.scoring.store.segment_membership import live_segments
from services.scoring.store.segment_sql import segment_members
from services.scoring.store.segment_tables import segment_members as members
from services.scoring.store.segment_tables import segments
from services.scoring.store.segment_zones import known_zones, tenant_zone
from services.scoring.store.tables import customers


class SqlAudienceStore:
    """Implements ``AudienceStore`` on scoring's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def evaluate(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, target: uuid.UUID | Condition, now: datetime
    ) -> tuple[uuid.UUID, bool, int]:
        """(the customer evaluated, member now, the segment version or 0 for a condition)."""
        async with self._database.read() as connection:
            row = (
                await connection.execute(
                    sa.select(
                        sa.func.coalesce(customers.c.merged_into, customers.c.customer_id).label("id"),
                        customers.c.erased_at,
                    ).where(customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id)
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"customer {customer_id} not found")
            if isinstance(target, uuid.UUID):
                found = await live_segments(connection, tenant_id, [target])
                if not found:
                    raise NotFound(f"segment {target} not found")
                condition, version = found[0].condition, found[0].version
            else:
                condition, version = target, 0
            if row.erased_at is not None:
                return row.id, False, version
            statement = segment_members(
                condition,
                tenant_id,
                now,
                await tenant_zone(connection, tenant_id),
                await known_zones(connection),
                [row.id],
            )
            member = (await connection.execute(sa.select(sa.exists(statement)))).scalar_one()
            return row.id, bool(member), version

    async def snapshot(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, batch_size: int
    ) -> AsyncIterator[SnapshotBatch]:
        """The segment's members in customer id order, ``batch_size`` at a time, from one snapshot."""
        async with self._database.transaction() as connection:
            await connection.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            as_of = datetime.now(UTC)
            version = (
                await connection.execute(
                    sa.select(segments.c.version).where(
                        segments.c.tenant_id == tenant_id,
                        segments.c.segment_id == segment_id,
                        segments.c.deleted_at.is_(None),
                    )
                )
            ).scalar_one_or_none()
            if version is None:
                raise NotFound(f"segment {segment_id} not found")
            mine = (members.c.tenant_id == tenant_id, members.c.segment_id == segment_id)
            total = (await connection.execute(sa.select(sa.func.count()).where(*mine))).scalar_one()
            if total == 0:
                yield SnapshotBatch((), version, as_of, 0)
                return
            zones = (
                sa.select(customers.c.timezone)
                .where(customers.c.tenant_id == tenant_id, customers.c.customer_id == members.c.customer_id)
                .scalar_subquery()
            )
            rows = await connection.stream(
                sa.select(members.c.customer_id, zones.label("timezone"))
                .where(*mine)
                .order_by(members.c.customer_id),
                execution_options={"yield_per": batch_size},
            )
            async for part in rows.partitions(batch_size):
                yield SnapshotBatch(
                    tuple(row.customer_id for row in part),
                    version,
                    as_of,
                    total,
                    tuple(row.timezone or "" for row in part),
                )

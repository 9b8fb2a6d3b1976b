"""Saved segments on scoring's database: implements ``SavedSegmentStore`` (domain/segments/saved.py).

Transactions, and what each holds:
- create: the tenant's segment creations are serialised by an advisory lock (so the live-segment cap
  holds under concurrency); the row, its version 1, the whole-tenant evaluation of its members
  (``segment_membership.reevaluate_segment``, which emits ``segment.entered`` on scoring's outbox)
  and today's size commit together — a failed evaluation leaves no segment behind;
- replace: optimistic on the version the use case read (``WHERE version = expected``); a new version
  records its condition in ``segment_versions`` and re-evaluates the members in the same transaction;
- delete: ``deleted_at`` is set and ``segment_membership.forget_segment`` removes members and due rows
  (no events). The sizes history stays, unreachable through the API.
A live name taken by another segment (the ``segments_live_name`` unique index) is AlreadyExists.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.runtime.errors import AlreadyExists, Conflict
from services.runtime.events.outbox import Outbox
from services.runtime.paging import Page
from services.scoring.domain.segments.saved import SegmentKey
from services.scoring.domain.segments.saved_rules import (
    CustomerSegment,
    DailySize,
    SavedSegment,
    SegmentDraft,
    SegmentMember,
)
from services.scoring.store.reads import live_customer
from services.scoring.store.saved_segment_reads import (
    LIVE,
    daily_sizes,
    is_live,
    member_page,
    record_size,
    segment_page,
    segments_of,
    select_segment,
    snapshot_sizes,
    tenant_zone,
)
from services.scoring.store.segment_membership import LiveSegment, forget_segment, reevaluate_segment
from services.scoring.store.segment_tables import segment_versions, segments

SAVED_CAUSE = "saved"
"""The ``cause`` of the segment.entered/exited events a create or a new version emits."""

_UNIQUE_VIOLATION = "23505"


@asynccontextmanager
async def _name_must_be_free(name: str) -> AsyncIterator[None]:
    """The live-name unique index's violation as AlreadyExists (a 409 naming the clash)."""
    try:
        yield
    except sa_exc.IntegrityError as error:
        if getattr(error.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
            raise AlreadyExists(f"a segment named {name!r} already exists") from None
        raise


async def _lock_creations(connection: AsyncConnection, tenant_id: uuid.UUID) -> None:
    """Serialise the tenant's segment creations until the transaction ends."""
    digest = hashlib.sha256(b"segments.create" + tenant_id.bytes).digest()
    await connection.execute(
        sa.select(sa.func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True)))
    )


def _mine(tenant_id: uuid.UUID, segment_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(segments.c.tenant_id == tenant_id, segments.c.segment_id == segment_id, LIVE)


class SqlSavedSegmentStore:
    """Saved segments, their versions and (through the membership engine) their members."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def _evaluate(
        self,
        connection: AsyncConnection,
        tenant_id: uuid.UUID,
        segment_id: uuid.UUID,
        version: int,
        draft: SegmentDraft,
        now: datetime,
    ) -> None:
        """Record the version, re-evaluate the members (emitting the differences) and today's size."""
        await connection.execute(
            sa.insert(segment_versions).values(
                tenant_id=tenant_id,
                segment_id=segment_id,
                version=version,
                condition=draft.document,
                created_at=now,
            )
        )
        live = LiveSegment(segment_id=segment_id, version=version, condition=draft.condition)
        await reevaluate_segment(connection, self._outbox, tenant_id, live, now, SAVED_CAUSE)
        await record_size(connection, tenant_id, segment_id, now)

    async def create(
        self, tenant_id: uuid.UUID, draft: SegmentDraft, now: datetime, max_live: int
    ) -> SavedSegment:
        """Insert at version 1 and evaluate the members, in one transaction."""
        segment_id = uuid.uuid4()
        async with self._database.transaction() as connection:
            await tenant_zone(connection, tenant_id)  # NotFound for a tenant scoring does not know
            await _lock_creations(connection, tenant_id)
            live = await connection.scalar(
                sa.select(sa.func.count()).where(segments.c.tenant_id == tenant_id, LIVE)
            )
            if int(live or 0) >= max_live:
                raise Conflict(f"the tenant already has {max_live} segments; delete one first")
            async with _name_must_be_free(draft.name):
                await connection.execute(
                    sa.insert(segments).values(
                        tenant_id=tenant_id,
                        segment_id=segment_id,
                        name=draft.name,
                        description=draft.description,
                        condition=draft.document,
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
            await self._evaluate(connection, tenant_id, segment_id, 1, draft, now)
            created = await select_segment(connection, tenant_id, segment_id)
        assert created is not None  # inserted in this transaction
        return created

    async def get(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> SavedSegment | None:
        """The live segment with its member count."""
        async with self._database.read() as connection:
            return await select_segment(connection, tenant_id, segment_id)

    async def list_segments(
        self, tenant_id: uuid.UUID, limit: int, after: SegmentKey | None
    ) -> Page[SavedSegment]:
        """A page of live segments by name."""
        async with self._database.read() as connection:
            return await segment_page(connection, tenant_id, limit, after)

    async def update(
        self,
        tenant_id: uuid.UUID,
        segment_id: uuid.UUID,
        draft: SegmentDraft,
        expected_version: int,
        new_version: int,
        now: datetime,
    ) -> SavedSegment | None:
        """Replace the segment if still at ``expected_version``; a new version re-evaluates members."""
        changed = sa.or_(
            segments.c.name != draft.name,
            segments.c.description.is_distinct_from(draft.description),
            segments.c.version != new_version,
        )
        statement = (
            sa.update(segments)
            .where(_mine(tenant_id, segment_id), segments.c.version == expected_version)
            .values(
                name=draft.name,
                description=draft.description,
                condition=draft.document,
                version=new_version,
                updated_at=sa.case((changed, now), else_=segments.c.updated_at),
            )
            .returning(segments.c.segment_id)
        )
        async with self._database.transaction() as connection:
            async with _name_must_be_free(draft.name):
                replaced = (await connection.execute(statement)).first()
            if replaced is None:
                return None
            if new_version != expected_version:
                await self._evaluate(connection, tenant_id, segment_id, new_version, draft, now)
            return await select_segment(connection, tenant_id, segment_id)

    async def delete(self, tenant_id: uuid.UUID, segment_id: uuid.UUID, now: datetime) -> bool:
        """Soft-delete and forget the members and due rows (no events)."""
        async with self._database.transaction() as connection:
            deleted = (
                await connection.execute(
                    sa.update(segments)
                    .where(_mine(tenant_id, segment_id))
                    .values(deleted_at=now, updated_at=now)
                    .returning(segments.c.segment_id)
                )
            ).first()
            if deleted is None:
                return False
            await forget_segment(connection, tenant_id, segment_id)
        return True

    async def members(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, limit: int, after: uuid.UUID | None
    ) -> Page[SegmentMember] | None:
        """A page of members of a live segment."""
        async with self._database.read() as connection:
            if not await is_live(connection, tenant_id, segment_id):
                return None
            return await member_page(connection, tenant_id, segment_id, limit, after)

    async def customer_segments(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> list[CustomerSegment]:
        """The live segments of the customer, or of the survivor of a merged-away id."""
        async with self._database.read() as connection:
            live = await live_customer(connection, tenant_id, customer_id)
            return await segments_of(connection, tenant_id, live)

    async def sizes(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, days: int, now: datetime
    ) -> list[DailySize] | None:
        """The last ``days`` daily snapshots up to the tenant's today."""
        async with self._database.read() as connection:
            if not await is_live(connection, tenant_id, segment_id):
                return None
            today = now.astimezone(await tenant_zone(connection, tenant_id)).date()
            return await daily_sizes(connection, tenant_id, segment_id, today, days)


async def take_size_snapshot(database: Database, now: datetime) -> int:
    """Today's member count of every live segment of every tenant (one statement); rows written."""
    async with database.transaction() as connection:
        return await snapshot_sizes(connection, now)

"""Tags on customers (manual and computed) on the profile database, with tag.changed in the same transaction.

One row per customer and tag, carrying the source that last wrote it. Every write first resolves the
customer (following merges), takes the customer's tag lock and locks the tags it assigns FOR SHARE
(see ``services.profile.store.tags``). Upserts compare the stored source and expiry, so a write that
changes nothing updates no row and emits nothing, however often it is repeated or raced.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.profile.domain.tags import MANUAL_SOURCE, ComputedTagsResult, CustomerTag, TagKey
from services.profile.store import merges, privacy
from services.profile.store.customer_locks import (
    advisory_lock,
    hold_customer,
    resolve_customer,
    translated_integrity_errors,
)
from services.profile.store.tag_history import record_tag_changes
from services.profile.store.tag_tables import customer_tags, tag_groups, tags
from services.profile.store.tags import (
    LIVE_ASSIGNMENT,
    TAG_COLUMNS,
    TAGS_WITH_KIND,
    select_tag,
    tag_event,
    tag_key,
    tag_of,
)
from services.runtime.database import Database
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.paging import Page, page_from_rows

_LOCK_SCOPE = "customer-tags"
_ASSIGNMENT_COLUMNS = (customer_tags.c.source, customer_tags.c.expires_at, customer_tags.c.applied_at)


def _customer_tag(row: Any) -> CustomerTag:
    return CustomerTag(tag_of(row), row.source, row.expires_at, row.applied_at)


def _upsert(rows: list[dict[str, Any]]) -> Any:
    """Insert assignments; overwrite one only when its source or expiry differs (else: no row back)."""
    statement = pg.insert(customer_tags).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[customer_tags.c.tenant_id, customer_tags.c.customer_id, customer_tags.c.tag_id],
        set_={
            "source": statement.excluded.source,
            "expires_at": statement.excluded.expires_at,
            "applied_at": sa.func.now(),
        },
        where=sa.or_(
            customer_tags.c.source != statement.excluded.source,
            customer_tags.c.expires_at.is_distinct_from(statement.excluded.expires_at),
        ),
    ).returning(customer_tags.c.tag_id, *_ASSIGNMENT_COLUMNS)


class SqlCustomerTagStore:
    """Implements ``CustomerTagStore``."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    @staticmethod
    async def _begin_write(
        connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> uuid.UUID:
        customer = await hold_customer(connection, tenant_id, customer_id)
        await advisory_lock(connection, _LOCK_SCOPE, tenant_id, customer)
        return customer

    async def tag(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_id: uuid.UUID, expires_at: datetime | None
    ) -> tuple[CustomerTag, bool]:
        """Apply a tag by hand; ``changed`` is False (and nothing emitted) when it was already so."""
        async with (
            translated_integrity_errors("the tag is already applied"),
            self._database.transaction() as connection,
        ):
            customer = await self._begin_write(connection, tenant_id, customer_id)
            tag = await select_tag(connection, tenant_id, tag_id, lock="share")
            if tag is None:
                raise NotFound("tag not found")
            row = {
                "tenant_id": tenant_id,
                "customer_id": customer,
                "tag_id": tag_id,
                "source": MANUAL_SOURCE,
                "expires_at": expires_at,
            }
            written = (await connection.execute(_upsert([row]))).first()
            if written is None:
                current = (
                    await connection.execute(
                        sa.select(*_ASSIGNMENT_COLUMNS).where(
                            customer_tags.c.tenant_id == tenant_id,
                            customer_tags.c.customer_id == customer,
                            customer_tags.c.tag_id == tag_id,
                        )
                    )
                ).one()
                return CustomerTag(tag_of(tag), current.source, current.expires_at, current.applied_at), False
            event = tag_event(
                tenant_id,
                customer,
                tag_id,
                tag.name,
                applied=True,
                source=MANUAL_SOURCE,
                expires_at=expires_at,
            )
            await record_tag_changes(connection, self._outbox, [event])
        return CustomerTag(tag_of(tag), written.source, written.expires_at, written.applied_at), True

    async def untag(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
        """Remove a tag whatever its source; True only when a live assignment went (and was emitted)."""
        async with self._database.transaction() as connection:
            customer = await self._begin_write(connection, tenant_id, customer_id)
            tag = await select_tag(connection, tenant_id, tag_id, lock="share")
            if tag is None:
                raise NotFound("tag not found")
            removed = (
                await connection.execute(
                    sa.delete(customer_tags)
                    .where(
                        customer_tags.c.tenant_id == tenant_id,
                        customer_tags.c.customer_id == customer,
                        customer_tags.c.tag_id == tag_id,
                    )
                    .returning(LIVE_ASSIGNMENT.label("live"))
                )
            ).first()
            if removed is None or not removed.live:
                return False
            event = tag_event(tenant_id, customer, tag_id, tag.name, applied=False, source=MANUAL_SOURCE)
            await record_tag_changes(connection, self._outbox, [event])
        return True

    async def list_tags(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        kind: str | None,
        limit: int,
        after: TagKey | None,
    ) -> Page[CustomerTag]:
        """Live assignments only: an expired one is filtered here (``expires_at > now()``)."""
        async with self._database.read() as connection:
            customer = await resolve_customer(connection, tenant_id, customer_id)
            query = (
                sa.select(*TAG_COLUMNS, *_ASSIGNMENT_COLUMNS)
                .select_from(
                    customer_tags.join(
                        TAGS_WITH_KIND,
                        sa.and_(
                            tags.c.tenant_id == customer_tags.c.tenant_id,
                            tags.c.tag_id == customer_tags.c.tag_id,
                        ),
                    )
                )
                .where(customer_tags.c.tenant_id == tenant_id, customer_tags.c.customer_id == customer)
                .where(LIVE_ASSIGNMENT, tags.c.deleted_at.is_(None))
            )
            if kind is not None:
                query = query.where(tag_groups.c.kind == kind)
            if after is not None:
                query = query.where(sa.tuple_(tags.c.name_key, tags.c.tag_id) > sa.tuple_(*after))
            query = query.order_by(tags.c.name_key, tags.c.tag_id).limit(limit + 1)
            rows = (await connection.execute(query)).all()
        return page_from_rows(rows, limit, _customer_tag, tag_key)

    async def set_computed(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        source: str,
        tag_ids: Sequence[uuid.UUID],
        replace: bool,
        expires_at: datetime | None,
    ) -> ComputedTagsResult:
        """Upsert the source's tags in one statement and, with ``replace``, delete its others in one."""
        async with (
            translated_integrity_errors("the tag is already applied"),
            self._database.transaction() as connection,
        ):
            customer = await self._begin_write(connection, tenant_id, customer_id)
            names = await self._lock_live_tags(connection, tenant_id, tag_ids)
            events: list[NewEvent] = []
            applied: list[uuid.UUID] = []
            if tag_ids:
                rows = [
                    {
                        "tenant_id": tenant_id,
                        "customer_id": customer,
                        "tag_id": tag_id,
                        "source": source,
                        "expires_at": expires_at,
                    }
                    for tag_id in tag_ids
                ]
                for written in (await connection.execute(_upsert(rows))).all():
                    applied.append(written.tag_id)
                    events.append(
                        tag_event(
                            tenant_id,
                            customer,
                            written.tag_id,
                            names[written.tag_id],
                            applied=True,
                            source=source,
                            expires_at=written.expires_at,
                        )
                    )
            removed: list[uuid.UUID] = []
            if replace:
                for gone in await self._remove_others(connection, tenant_id, customer, source, tag_ids):
                    removed.append(gone.tag_id)
                    events.append(
                        tag_event(tenant_id, customer, gone.tag_id, gone.name, applied=False, source=source)
                    )
            await record_tag_changes(connection, self._outbox, events)
        return ComputedTagsResult(applied=applied, removed=removed, unchanged=len(tag_ids) - len(applied))

    @staticmethod
    async def _lock_live_tags(
        connection: AsyncConnection, tenant_id: uuid.UUID, tag_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """The names of the tags to assign, locked FOR SHARE in id order; unknown ones are field errors."""
        if not tag_ids:
            return {}
        rows = await connection.execute(
            sa.select(tags.c.tag_id, tags.c.name)
            .where(tags.c.tenant_id == tenant_id, tags.c.tag_id.in_(tag_ids), tags.c.deleted_at.is_(None))
            .order_by(tags.c.tag_id)
            .with_for_update(read=True)
        )
        names: dict[uuid.UUID, str] = {row.tag_id: row.name for row in rows}
        missing = [
            FieldViolation(f"tag_ids[{index}]", "no such tag")
            for index, tag_id in enumerate(tag_ids)
            if tag_id not in names
        ]
        if missing:
            raise InvalidArgument(missing)
        return names

    @staticmethod
    async def _remove_others(
        connection: AsyncConnection,
        tenant_id: uuid.UUID,
        customer: uuid.UUID,
        source: str,
        keep: Sequence[uuid.UUID],
    ) -> list[Any]:
        """Delete the source's assignments outside ``keep``; the live ones come back (tag id, name)."""
        deleted = (
            await connection.execute(
                sa.delete(customer_tags)
                .where(
                    customer_tags.c.tenant_id == tenant_id,
                    customer_tags.c.customer_id == customer,
                    customer_tags.c.source == source,
                    customer_tags.c.tag_id.not_in(keep),
                    tags.c.tenant_id == customer_tags.c.tenant_id,
                    tags.c.tag_id == customer_tags.c.tag_id,
                )
                .returning(customer_tags.c.tag_id, tags.c.name, LIVE_ASSIGNMENT.label("live"))
            )
        ).all()
        return sorted((row for row in deleted if row.live), key=lambda row: row.tag_id)


# ---- merge, erasure, export (run by services.profile.store.merges / .privacy) ----------------------

# A merged customer's tags follow the survivor; where both carry a tag, the survivor's assignment stays.
# No tag.changed is emitted: consumers fold a customer.merged into their view of the survivor.
merges.REPOINT_STATEMENTS.append(
    sa.text(
        """
        WITH moved AS (
            DELETE FROM customer_tags WHERE tenant_id = :tenant AND customer_id = ANY(:merged)
            RETURNING tag_id, source, expires_at, applied_at
        )
        INSERT INTO customer_tags (tenant_id, customer_id, tag_id, source, expires_at, applied_at)
        SELECT DISTINCT ON (tag_id) CAST(:tenant AS uuid), CAST(:survivor AS uuid), tag_id, source,
               expires_at, applied_at
          FROM moved ORDER BY tag_id, applied_at DESC
        ON CONFLICT (tenant_id, customer_id, tag_id) DO NOTHING
        """
    )
)
privacy.ERASE_STATEMENTS.append(
    sa.text("DELETE FROM customer_tags WHERE tenant_id = :tenant AND customer_id = ANY(:customers)")
)
privacy.EXPORT_QUERIES["tags"] = sa.text(
    """
    SELECT t.tag_id, t.name, g.kind, g.name AS group_name, ct.source, ct.expires_at, ct.applied_at
      FROM customer_tags ct
      JOIN tags t ON t.tenant_id = ct.tenant_id AND t.tag_id = ct.tag_id
      JOIN tag_groups g ON g.tenant_id = t.tenant_id AND g.group_id = t.group_id
     WHERE ct.tenant_id = :tenant AND ct.customer_id = ANY(:customers)
     ORDER BY t.name_key, t.tag_id
    """
)

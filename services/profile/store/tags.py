"""Tag taxonomy on the profile database, and the tag queries customer tags share.

Locks, and why: a tag group row is locked FOR UPDATE by whatever adds tags to it or deletes it (so
the per-group limit and "delete only when empty" hold under concurrency); a tag row is locked FOR
SHARE by whatever assigns it and FOR UPDATE by its deletion (so no assignment survives a deleted
tag); writes to one customer's tags hold the customer and take an advisory lock on it (so a
computed-tag replace cannot interleave with another and events follow the order of the changes).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.domain import tags as rules
from services.profile.domain.tags import GroupKey, NameInput, Tag, TagGroup, TagKey
from services.profile.store.customer_locks import advisory_lock, translated_integrity_errors
from services.profile.store.tag_history import record_tag_changes
from services.profile.store.tag_tables import customer_tags, tag_groups, tags
from services.runtime.database import Database
from services.runtime.errors import Conflict, InvalidArgument, NotFound
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.paging import Page, page_from_rows

LIVE_ASSIGNMENT = sa.or_(customer_tags.c.expires_at.is_(None), customer_tags.c.expires_at > sa.func.now())
TAGS_WITH_KIND = tags.join(
    tag_groups, sa.and_(tag_groups.c.tenant_id == tags.c.tenant_id, tag_groups.c.group_id == tags.c.group_id)
)
TAG_COLUMNS = (
    tags.c.tag_id,
    tags.c.group_id,
    tag_groups.c.kind,
    tags.c.name,
    tags.c.name_key,
    tags.c.description,
    tags.c.created_at,
    tags.c.updated_at,
)


async def select_tag(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    tag_id: uuid.UUID,
    lock: Literal["share", "update"] | None = None,
) -> Any:
    """A live tag's row with its kind, optionally locked ("share" to assign it, "update" to change it)."""
    query = (
        sa.select(*TAG_COLUMNS)
        .select_from(TAGS_WITH_KIND)
        .where(tags.c.tenant_id == tenant_id, tags.c.tag_id == tag_id, tags.c.deleted_at.is_(None))
    )
    if lock is not None:
        query = query.with_for_update(of=tags, read=lock == "share")
    return (await connection.execute(query)).first()


def tag_of(row: Any) -> Tag:
    return Tag(row.tag_id, row.group_id, row.kind, row.name, row.description, row.created_at, row.updated_at)


def group_of(row: Any) -> TagGroup:
    return TagGroup(
        row.group_id, row.kind, row.name, row.description, row.tag_count, row.created_at, row.updated_at
    )


def tag_key(row: Any) -> TagKey:
    return (row.name_key, row.tag_id)


def tag_event(
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    tag_id: uuid.UUID,
    tag_name: str,
    *,
    applied: bool,
    source: str,
    expires_at: datetime | None = None,
) -> NewEvent:
    """tag.changed for one customer; consumers must honour ``expires_at`` themselves."""
    payload = profile_events_pb2.TagChanged(
        tag_id=str(tag_id), tag_name=tag_name, applied=applied, source=source
    )
    if expires_at is not None:
        payload.expires_at.FromDatetime(expires_at)
    return NewEvent(tenant_id, "tag.changed", customer_id, payload)


def _live_tags_count(group_id: Any) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count())
        .where(tags.c.tenant_id == tag_groups.c.tenant_id, tags.c.group_id == group_id)
        .where(tags.c.deleted_at.is_(None))
        .scalar_subquery()
    )


class SqlTaxonomyStore:
    """Implements ``TaxonomyStore``: groups and tags, soft-deleted."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    @staticmethod
    def _groups_query(tenant_id: uuid.UUID) -> sa.Select[Any]:
        return sa.select(
            tag_groups.c.group_id,
            tag_groups.c.kind,
            tag_groups.c.name,
            tag_groups.c.name_key,
            tag_groups.c.description,
            tag_groups.c.created_at,
            tag_groups.c.updated_at,
            _live_tags_count(tag_groups.c.group_id).label("tag_count"),
        ).where(tag_groups.c.tenant_id == tenant_id, tag_groups.c.deleted_at.is_(None))

    async def _select_group(
        self, connection: AsyncConnection, tenant_id: uuid.UUID, group_id: uuid.UUID
    ) -> TagGroup:
        row = (
            await connection.execute(self._groups_query(tenant_id).where(tag_groups.c.group_id == group_id))
        ).first()
        if row is None:
            raise NotFound("tag group not found")
        return group_of(row)

    @staticmethod
    async def _lock_group(
        connection: AsyncConnection, tenant_id: uuid.UUID, group_id: uuid.UUID, *, for_new_tag: bool
    ) -> None:
        """Lock a live group; when a tag is about to join it, check the group's limit too."""
        locked = await connection.scalar(
            sa.select(tag_groups.c.group_id)
            .where(tag_groups.c.tenant_id == tenant_id, tag_groups.c.group_id == group_id)
            .where(tag_groups.c.deleted_at.is_(None))
            .with_for_update()
        )
        if locked is None:
            if for_new_tag:
                raise InvalidArgument.single("group_id", "no such tag group")
            raise NotFound("tag group not found")
        if for_new_tag:
            count = await connection.scalar(
                sa.select(sa.func.count())
                .where(tags.c.tenant_id == tenant_id, tags.c.group_id == group_id)
                .where(tags.c.deleted_at.is_(None))
            )
            if (count or 0) >= rules.MAX_TAGS_PER_GROUP:
                raise Conflict(
                    f"a tag group holds at most {rules.MAX_TAGS_PER_GROUP} tags", reason="TAG_GROUP_FULL"
                )

    async def create_group(
        self, tenant_id: uuid.UUID, kind: str, name: NameInput, description: str
    ) -> TagGroup:
        """Insert a group unless the kind is full or already has one of that name."""
        async with (
            translated_integrity_errors("a tag group of that name exists in this kind"),
            self._database.transaction() as connection,
        ):
            await advisory_lock(connection, f"tag-kind:{kind}", tenant_id)
            count = await connection.scalar(
                sa.select(sa.func.count())
                .where(tag_groups.c.tenant_id == tenant_id, tag_groups.c.kind == kind)
                .where(tag_groups.c.deleted_at.is_(None))
            )
            if (count or 0) >= rules.MAX_GROUPS_PER_KIND:
                raise Conflict(
                    f"a kind holds at most {rules.MAX_GROUPS_PER_KIND} tag groups", reason="TAG_KIND_FULL"
                )
            group_id = uuid.uuid4()
            await connection.execute(
                sa.insert(tag_groups).values(
                    tenant_id=tenant_id,
                    group_id=group_id,
                    kind=kind,
                    name=name.name,
                    name_key=name.key,
                    description=description,
                )
            )
            return await self._select_group(connection, tenant_id, group_id)

    async def get_group(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> TagGroup | None:
        async with self._database.read() as connection:
            row = (
                await connection.execute(
                    self._groups_query(tenant_id).where(tag_groups.c.group_id == group_id)
                )
            ).first()
        return group_of(row) if row is not None else None

    async def list_groups(
        self, tenant_id: uuid.UUID, kind: str | None, limit: int, after: GroupKey | None
    ) -> Page[TagGroup]:
        query = self._groups_query(tenant_id)
        if kind is not None:
            query = query.where(tag_groups.c.kind == kind)
        if after is not None:
            query = query.where(
                sa.tuple_(tag_groups.c.kind, tag_groups.c.name_key, tag_groups.c.group_id) > sa.tuple_(*after)
            )
        query = query.order_by(tag_groups.c.kind, tag_groups.c.name_key, tag_groups.c.group_id).limit(
            limit + 1
        )
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return page_from_rows(rows, limit, group_of, lambda r: (r.kind, r.name_key, r.group_id))

    async def update_group(
        self, tenant_id: uuid.UUID, group_id: uuid.UUID, name: NameInput | None, description: str | None
    ) -> TagGroup:
        values: dict[str, Any] = {}
        if name is not None:
            values.update(name=name.name, name_key=name.key)
        if description is not None:
            values["description"] = description
        async with (
            translated_integrity_errors("a tag group of that name exists in this kind"),
            self._database.transaction() as connection,
        ):
            if values:
                await connection.execute(
                    sa.update(tag_groups)
                    .where(tag_groups.c.tenant_id == tenant_id, tag_groups.c.group_id == group_id)
                    .where(tag_groups.c.deleted_at.is_(None))
                    .values(**values, updated_at=sa.func.now())
                )
            return await self._select_group(connection, tenant_id, group_id)

    async def delete_group(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> None:
        async with self._database.transaction() as connection:
            await self._lock_group(connection, tenant_id, group_id, for_new_tag=False)
            holds_tags = await connection.scalar(
                sa.select(
                    sa.exists().where(
                        tags.c.tenant_id == tenant_id,
                        tags.c.group_id == group_id,
                        tags.c.deleted_at.is_(None),
                    )
                )
            )
            if holds_tags:
                raise Conflict(
                    "the tag group still holds tags; delete or move them first", reason="TAG_GROUP_NOT_EMPTY"
                )
            await connection.execute(
                sa.update(tag_groups)
                .where(tag_groups.c.tenant_id == tenant_id, tag_groups.c.group_id == group_id)
                .values(deleted_at=sa.func.now(), updated_at=sa.func.now())
            )

    async def create_tag(
        self, tenant_id: uuid.UUID, group_id: uuid.UUID, name: NameInput, description: str
    ) -> Tag:
        async with (
            translated_integrity_errors("a tag of that name exists in this group"),
            self._database.transaction() as connection,
        ):
            await self._lock_group(connection, tenant_id, group_id, for_new_tag=True)
            tag_id = uuid.uuid4()
            await connection.execute(
                sa.insert(tags).values(
                    tenant_id=tenant_id,
                    tag_id=tag_id,
                    group_id=group_id,
                    name=name.name,
                    name_key=name.key,
                    description=description,
                )
            )
            return tag_of(await select_tag(connection, tenant_id, tag_id))

    async def get_tag(self, tenant_id: uuid.UUID, tag_id: uuid.UUID) -> Tag | None:
        async with self._database.read() as connection:
            row = await select_tag(connection, tenant_id, tag_id)
        return tag_of(row) if row is not None else None

    async def list_tags(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID | None,
        kind: str | None,
        limit: int,
        after: TagKey | None,
    ) -> Page[Tag]:
        query = (
            sa.select(*TAG_COLUMNS)
            .select_from(TAGS_WITH_KIND)
            .where(tags.c.tenant_id == tenant_id, tags.c.deleted_at.is_(None))
        )
        if group_id is not None:
            query = query.where(tags.c.group_id == group_id)
        if kind is not None:
            query = query.where(tag_groups.c.kind == kind)
        if after is not None:
            query = query.where(sa.tuple_(tags.c.name_key, tags.c.tag_id) > sa.tuple_(*after))
        query = query.order_by(tags.c.name_key, tags.c.tag_id).limit(limit + 1)
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return page_from_rows(rows, limit, tag_of, tag_key)

    async def update_tag(
        self,
        tenant_id: uuid.UUID,
        tag_id: uuid.UUID,
        group_id: uuid.UUID | None,
        name: NameInput | None,
        description: str | None,
    ) -> Tag:
        values: dict[str, Any] = {}
        if name is not None:
            values.update(name=name.name, name_key=name.key)
        if description is not None:
            values["description"] = description
        async with (
            translated_integrity_errors("a tag of that name exists in this group"),
            self._database.transaction() as connection,
        ):
            current = await select_tag(connection, tenant_id, tag_id, lock="update")
            if current is None:
                raise NotFound("tag not found")
            if group_id is not None and group_id != current.group_id:
                await self._lock_group(connection, tenant_id, group_id, for_new_tag=True)
                values["group_id"] = group_id
            if values:
                await connection.execute(
                    sa.update(tags)
                    .where(tags.c.tenant_id == tenant_id, tags.c.tag_id == tag_id)
                    .values(**values, updated_at=sa.func.now())
                )
            return tag_of(await select_tag(connection, tenant_id, tag_id))

    async def delete_tag(self, tenant_id: uuid.UUID, tag_id: uuid.UUID) -> int:
        """Soft-delete the tag and remove it from every customer, one tag.changed per live assignment."""
        async with self._database.transaction() as connection:
            tag = await select_tag(connection, tenant_id, tag_id, lock="update")
            if tag is None:
                raise NotFound("tag not found")
            assigned = await connection.scalar(
                sa.select(sa.func.count()).where(
                    customer_tags.c.tenant_id == tenant_id, customer_tags.c.tag_id == tag_id
                )
            )
            if (assigned or 0) > rules.MAX_UNTAGGED_ON_DELETE:
                raise Conflict(
                    f"the tag is on more than {rules.MAX_UNTAGGED_ON_DELETE} customers; "
                    "remove it from them in smaller steps first",
                    reason="TAG_IN_WIDE_USE",
                )
            removed = (
                await connection.execute(
                    sa.delete(customer_tags)
                    .where(customer_tags.c.tenant_id == tenant_id, customer_tags.c.tag_id == tag_id)
                    .returning(customer_tags.c.customer_id, LIVE_ASSIGNMENT.label("live"))
                )
            ).all()
            await connection.execute(
                sa.update(tags)
                .where(tags.c.tenant_id == tenant_id, tags.c.tag_id == tag_id)
                .values(deleted_at=sa.func.now(), updated_at=sa.func.now())
            )
            events = [
                tag_event(
                    tenant_id, row.customer_id, tag_id, tag.name, applied=False, source=rules.MANUAL_SOURCE
                )
                for row in removed
                if row.live
            ]
            await record_tag_changes(connection, self._outbox, events)
        return len(events)

"""Saved segments: create, read, list, replace and delete; their members, a customer's segments and
the daily sizes.

Rules decided here (docs/segments.md "Saved segments"):
- a segment is created at version 1; a replacement (PUT) whose canonical condition differs makes the
  next version, and only then is the membership re-evaluated (the store does it in the same
  transaction, emitting the differences); a new name or description alone keeps the version;
- deletion is soft: the id stays taken, answers NotFound everywhere from then on, and the segment's
  members and due rows go without events (nobody "exits" a segment that no longer exists);
- every time comes from the injected clock, so a test can move it.

The store is a protocol (``SavedSegmentStore``) so that these rules never see SQL;
``services.scoring.store.saved_segments`` implements it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from services.runtime.errors import Conflict, NotFound
from services.runtime.paging import Page, decode_cursor, page_size
from services.scoring.domain.segments.saved_rules import (
    MAX_LIVE_SEGMENTS,
    CustomerSegment,
    DailySize,
    SavedSegment,
    SegmentDraft,
    SegmentMember,
    draft_of,
    segment_id_of,
    size_days,
)

SegmentKey = tuple[str, uuid.UUID]
"""The order of the segment list: name, then id."""

UPDATE_ATTEMPTS = 3
"""Replacements retried when another one changed the version meanwhile (optimistic, per segment)."""


class SavedSegmentStore(Protocol):
    """Where saved segments live; membership is re-evaluated by the store in the writing transaction."""

    async def create(
        self, tenant_id: uuid.UUID, draft: SegmentDraft, now: datetime, max_live: int
    ) -> SavedSegment:
        """Insert at version 1 and evaluate its members; AlreadyExists for a live segment of the same
        name, Conflict when the tenant has ``max_live`` live segments, NotFound for an unknown tenant."""
        ...

    async def get(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> SavedSegment | None:
        """The live segment with its member count; None when unknown or deleted."""
        ...

    async def list_segments(
        self, tenant_id: uuid.UUID, limit: int, after: SegmentKey | None
    ) -> Page[SavedSegment]:
        """Live segments by name then id, after ``after``."""
        ...

    async def update(
        self,
        tenant_id: uuid.UUID,
        segment_id: uuid.UUID,
        draft: SegmentDraft,
        expected_version: int,
        new_version: int,
        now: datetime,
    ) -> SavedSegment | None:
        """Replace the live segment if it is still at ``expected_version``; with a new version, record
        it and re-evaluate the members. None when the version moved or the segment is gone;
        AlreadyExists when another live segment has the name."""
        ...

    async def delete(self, tenant_id: uuid.UUID, segment_id: uuid.UUID, now: datetime) -> bool:
        """Soft-delete a live segment and forget its members; False when it was not live."""
        ...

    async def members(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, limit: int, after: uuid.UUID | None
    ) -> Page[SegmentMember] | None:
        """Members in customer id order after ``after``; None when the segment is not live."""
        ...

    async def customer_segments(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> list[CustomerSegment]:
        """The live segments the customer (or, for a merged-away id, its survivor) is in, by name;
        NotFound when scoring does not know the customer (or it was erased)."""
        ...

    async def sizes(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, days: int, now: datetime
    ) -> list[DailySize] | None:
        """The snapshots of the last ``days`` days of the tenant's calendar up to ``now``'s day, oldest
        first; None when the segment is not live."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _customer_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("customer not found") from None


class SavedSegments:
    """The saved-segment use cases of one scoring service, for the calling tenant."""

    def __init__(self, store: SavedSegmentStore, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def create(self, tenant_id: uuid.UUID, name: str, description: str, document: Any) -> SavedSegment:
        """Save a segment at version 1 with its members evaluated now; 422 naming every fault of
        name, description and condition, 409 for a taken name or past ``MAX_LIVE_SEGMENTS``."""
        draft = draft_of(name, description, document)
        return await self._store.create(tenant_id, draft, self._clock(), MAX_LIVE_SEGMENTS)

    async def get(self, tenant_id: uuid.UUID, segment_id: str) -> SavedSegment:
        """A live segment with its member count now."""
        found = await self._store.get(tenant_id, segment_id_of(segment_id))
        if found is None:
            raise NotFound("segment not found")
        return found

    async def list_segments(self, tenant_id: uuid.UUID, limit: int, cursor: str) -> Page[SavedSegment]:
        """The tenant's live segments by name, a page at a time."""
        size = page_size(limit)
        after = decode_cursor(cursor, (str, uuid.UUID))
        return await self._store.list_segments(tenant_id, size, after)

    async def update(
        self, tenant_id: uuid.UUID, segment_id: str, name: str, description: str, document: Any
    ) -> SavedSegment:
        """Replace name, description and condition; a different canonical condition is the next
        version (membership re-evaluated, differences emitted), the same one keeps the version."""
        draft = draft_of(name, description, document)  # the body's faults first, whatever the id
        target = segment_id_of(segment_id)
        for _ in range(UPDATE_ATTEMPTS):
            current = await self._store.get(tenant_id, target)
            if current is None:
                raise NotFound("segment not found")
            changed = current.condition != draft.document
            version = current.version + 1 if changed else current.version
            updated = await self._store.update(
                tenant_id, target, draft, current.version, version, self._clock()
            )
            if updated is not None:
                return updated
        raise Conflict("the segment was changed by another request meanwhile; retry")

    async def delete(self, tenant_id: uuid.UUID, segment_id: str) -> None:
        """Delete a live segment: its id answers NotFound from now on; members go without events."""
        if not await self._store.delete(tenant_id, segment_id_of(segment_id), self._clock()):
            raise NotFound("segment not found")

    async def members(
        self, tenant_id: uuid.UUID, segment_id: str, limit: int, cursor: str
    ) -> Page[SegmentMember]:
        """The segment's members in customer id order, with the moment each entered."""
        target = segment_id_of(segment_id)
        size = page_size(limit)
        key = decode_cursor(cursor, (uuid.UUID,))
        page = await self._store.members(tenant_id, target, size, None if key is None else key[0])
        if page is None:
            raise NotFound("segment not found")
        return page

    async def customer_segments(self, tenant_id: uuid.UUID, customer_id: str) -> list[CustomerSegment]:
        """The live segments a customer is in now (a merged-away id answers for its survivor)."""
        return await self._store.customer_segments(tenant_id, _customer_id(customer_id))

    async def sizes(self, tenant_id: uuid.UUID, segment_id: str, days: int) -> list[DailySize]:
        """The segment's daily sizes over the last ``days`` days (default 90, at most 366), oldest
        first; a day without a snapshot is absent."""
        target = segment_id_of(segment_id)
        wanted = size_days(days)
        found = await self._store.sizes(tenant_id, target, wanted, self._clock())
        if found is None:
            raise NotFound("segment not found")
        return found

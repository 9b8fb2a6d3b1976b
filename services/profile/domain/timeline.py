"""A customer's timeline: what happened, newest first, across events, orders, tags and consent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.profile.domain.directory import parse_customer_id
from services.runtime.errors import NotFound
from services.runtime.paging import Page, decode_cursor, encode_cursor, page_size


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str
    ref: str
    detail: dict[str, Any]


class TimelineStore(Protocol):
    async def entries(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, str, str] | None,
        limit: int,
    ) -> list[TimelineEntry] | None: ...


class Timeline:
    def __init__(self, store: TimelineStore) -> None:
        self._store = store

    async def page(
        self, tenant_id: uuid.UUID, customer_id: str, limit: int, cursor: str
    ) -> Page[TimelineEntry]:
        """One page of the timeline; the cursor is the (time, kind, ref) of the last entry shown."""
        size = page_size(limit)
        key = decode_cursor(cursor, (datetime, str, str))
        after = (key[0], key[1], key[2]) if key is not None else None
        entries = await self._store.entries(tenant_id, parse_customer_id(customer_id), after, size + 1)
        if entries is None:
            raise NotFound("customer not found")
        more = len(entries) > size
        last = entries[size - 1] if more else None
        return Page(entries[:size], encode_cursor([last.at, last.kind, last.ref]) if last else None)

"""Profile's part of the customer 360: the customer and the head of its timeline, read together.

The 360 asks every service for its part at once, so each part should cost one connection and as few
round trips as it can: both reads share one snapshot and resolve the customer once, where the
separate endpoints' use cases (``directory.get``, ``timeline.page``) each open their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from services.profile.domain.customers import Customer
from services.profile.domain.directory import parse_customer_id
from services.profile.domain.timeline import TimelineEntry
from services.runtime.errors import NotFound
from services.runtime.paging import page_size


@dataclass(frozen=True)
class ProfilePart:
    customer: Customer
    timeline: list[TimelineEntry]


class Customer360Store(Protocol):
    async def part(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, timeline_limit: int
    ) -> ProfilePart | None:
        """The customer (following merges) and its newest ``timeline_limit`` timeline entries; None
        when absent, erased or another tenant's."""
        ...


class Customer360Reads:
    """Profile's 360 part for the calling tenant."""

    def __init__(self, store: Customer360Store) -> None:
        self._store = store

    async def part(self, tenant_id: uuid.UUID, customer_id: str, timeline_limit: int) -> ProfilePart:
        """The part; an id that is malformed, unknown or another tenant's is not found."""
        part = await self._store.part(tenant_id, parse_customer_id(customer_id), page_size(timeline_limit))
        if part is None:
            raise NotFound("customer not found")
        return part

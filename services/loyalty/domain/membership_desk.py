"""The membership use cases: a customer's tier, benefits and progress, and their tier history.

The store is a protocol so that these rules never see SQL; ``services.loyalty.store.membership_reads``
implements it. A customer id names the customer it resolves to: a merged-away id answers for the
survivor; an id that is no UUID, unknown, erased or another tenant's is NOT_FOUND.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from services.loyalty.domain.customers import parse_customer_id
from services.loyalty.domain.tiers import MembershipView, TierChange
from services.runtime.paging import Page, page_size


class MembershipStore(Protocol):
    async def membership(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
    ) -> tuple[uuid.UUID, MembershipView]: ...

    async def tier_history(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, cursor: str
    ) -> Page[tuple[TierChange, int]]: ...


class MembershipDesk:
    """What a tenant's customers hold in the tier programme."""

    def __init__(self, store: MembershipStore) -> None:
        self._store = store

    async def membership(self, tenant_id: uuid.UUID, customer_id: str) -> tuple[uuid.UUID, MembershipView]:
        """The live customer and their tier, benefits, progress and review dates as of now."""
        return await self._store.membership(tenant_id, parse_customer_id(customer_id), datetime.now(UTC))

    async def tier_history(
        self, tenant_id: uuid.UUID, customer_id: str, limit: int, cursor: str
    ) -> Page[tuple[TierChange, int]]:
        """The customer's tier changes, newest first, each with the programme version it was
        decided under."""
        size = page_size(limit)
        return await self._store.tier_history(tenant_id, parse_customer_id(customer_id), size, cursor)

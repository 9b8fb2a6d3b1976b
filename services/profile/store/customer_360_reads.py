"""Profile's customer-360 part in one read: the customer resolved once, then its row, identities
and the head of its timeline in the same snapshot, on one connection."""

from __future__ import annotations

import uuid

from services.profile.domain.customer_360 import ProfilePart
from services.profile.store.customers import SqlCustomerStore
from services.profile.store.merges import resolve_survivor
from services.profile.store.timeline import timeline_entries
from services.runtime.database import Database


class SqlCustomer360Store:
    """Implements ``Customer360Store`` on the profile database."""

    def __init__(self, database: Database, customers: SqlCustomerStore) -> None:
        self._database = database
        self._customers = customers

    async def part(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, timeline_limit: int
    ) -> ProfilePart | None:
        async with self._database.read() as connection:
            survivor = await resolve_survivor(connection, tenant_id, customer_id)
            if survivor is None:
                return None
            customer = await self._customers.load(connection, tenant_id, survivor, requested=customer_id)
            timeline = await timeline_entries(connection, tenant_id, survivor, None, timeline_limit)
        return ProfilePart(customer, timeline)

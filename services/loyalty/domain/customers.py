"""Which customer an id names, as loyalty sees it: the id's rules and the port to profile.

Loyalty keeps a projection of profile's customers; what the projection has not seen yet is asked
of profile through ``CustomerSource`` (``services.loyalty.clients`` implements it).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from services.runtime.errors import NotFound


class CustomerSource(Protocol):
    """Profile's answers about one customer of a tenant."""

    async def survivor_of(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> uuid.UUID:
        """The live customer the id means now; NotFound when unknown, erased or another tenant's."""
        ...

    async def birthday_of(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> str | None:
        """The customer's birthday as ``MM-DD``, or None when unknown."""
        ...


def parse_customer_id(value: str) -> uuid.UUID:
    """A path's customer id; anything that is not a UUID cannot name a customer, so it is a 404."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("customer not found") from None

"""Which customer an id names, as loyalty sees it: the id's rules and the port to profile.

Loyalty keeps a projection of profile's customers; what the projection has not seen yet is asked
of profile through ``CustomerSource`` (``services.loyalty.clients`` implements it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from services.runtime.errors import NotFound


class Birthdays(Protocol):
    """Where a customer's birthday is asked (events carry no personal data)."""

    async def birthday_of(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> str | None:
        """The customer's birthday as ``MM-DD``, or None when unknown."""
        ...


class CustomerSource(Birthdays, Protocol):
    """Profile's answers about one customer of a tenant."""

    async def survivor_of(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> uuid.UUID:
        """The live customer the id means now; NotFound when unknown, erased or another tenant's."""
        ...


def parse_customer_id(value: str) -> uuid.UUID:
    """A path's customer id; anything that is not a UUID cannot name a customer, so it is a 404."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("customer not found") from None


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """Where an event's customer lives now and that survivor's birthday (``MM-DD``)."""

    survivor_id: uuid.UUID
    birthday: str | None

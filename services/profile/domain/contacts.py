"""Masked contacts of many customers at once, for services that show operators whom they hold.

A segment export in scoring lists its members with a recognisable phone and e-mail; contacts live
only here, sealed at rest, so profile answers with the masked forms its own listings show
(``identities.mask``: "+86 138****8000", "a***@example.com") — never the clear value, which stays
sealed. Rules:

- at most ``MAX_CONTACT_BATCH`` ids a call (one statement answers them; a caller pages larger sets);
- every id must be a UUID (``customer_ids[i]`` names a malformed one); duplicates count once;
- only live customers answer: an unknown id, another tenant's, an erased customer or one merged into
  another has no entry (its contacts now belong to the survivor, who is a customer of its own);
- a customer holding several phones (or e-mails) shows the one recorded last.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.runtime.errors import ViolationCollector

MAX_CONTACT_BATCH = 1_000
"""The most customers one call asks about: one export batch of scoring, one indexed statement."""


@dataclass(frozen=True, slots=True)
class MaskedContact:
    """A live customer's masked phone and e-mail (None: the customer holds none of that type)."""

    customer_id: uuid.UUID
    phone: str | None
    email: str | None


class ContactStore(Protocol):
    """Reads the masked contacts of the tenant's live customers among ``customer_ids``."""

    async def masked_contacts(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> list[MaskedContact]: ...


def parse_customer_ids(values: Sequence[str]) -> list[uuid.UUID]:
    """The distinct ids of a request, in their first order; InvalidArgument names every fault."""
    errors = ViolationCollector()
    if not values:
        errors.add("customer_ids", "at least one customer id is required")
    if len(values) > MAX_CONTACT_BATCH:
        errors.add("customer_ids", f"at most {MAX_CONTACT_BATCH} customer ids per call")
    errors.raise_if_any()
    ids: dict[uuid.UUID, None] = {}
    for index, value in enumerate(values):
        try:
            ids.setdefault(uuid.UUID(value), None)
        except ValueError:
            errors.add(f"customer_ids[{index}]", "must be a UUID")
    errors.raise_if_any()
    return list(ids)


class ContactDirectory:
    """The masked-contacts use case: validate the batch, read it, answer in the request's order."""

    def __init__(self, store: ContactStore) -> None:
        self._store = store

    async def masked(self, tenant_id: uuid.UUID, customer_ids: Sequence[str]) -> list[MaskedContact]:
        """The masked contacts of the live customers among ``customer_ids`` (at most 1,000)."""
        ids = parse_customer_ids(customer_ids)
        contacts = await self._store.masked_contacts(tenant_id, ids)
        found = {contact.customer_id: contact for contact in contacts}
        return [found[customer_id] for customer_id in ids if customer_id in found]

"""Masked contacts of a batch of customers, in one statement (``domain/contacts.py``).

Reads only ``identities.value_masked`` — the masked form computed when the identity was recorded —
so the sealed clear value (``value_enc``) is never read, let alone decrypted, on this path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from services.profile.domain.contacts import MaskedContact
from services.runtime.database import Database

# One row per live customer asked about; each contact type is the identity of that type recorded last
# (ix_identities_customer finds a customer's few identities).
_MASKED_CONTACTS = sa.text(
    """
    SELECT c.customer_id, phone.value_masked AS phone, email.value_masked AS email
    FROM customers AS c
    LEFT JOIN LATERAL (
        SELECT i.value_masked FROM identities AS i
        WHERE i.tenant_id = c.tenant_id AND i.customer_id = c.customer_id AND i.type = 'phone'
        ORDER BY i.created_at DESC, i.value_hash
        LIMIT 1
    ) AS phone ON true
    LEFT JOIN LATERAL (
        SELECT i.value_masked FROM identities AS i
        WHERE i.tenant_id = c.tenant_id AND i.customer_id = c.customer_id AND i.type = 'email'
        ORDER BY i.created_at DESC, i.value_hash
        LIMIT 1
    ) AS email ON true
    WHERE c.tenant_id = :tenant
      AND c.customer_id = ANY(CAST(:customers AS uuid[]))
      AND c.erased_at IS NULL
      AND c.merged_into IS NULL
    """
)


class SqlContactStore:
    """Implements ``ContactStore`` on profile's customers and identities."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def masked_contacts(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> list[MaskedContact]:
        """The masked phone and e-mail of the tenant's live customers among ``customer_ids``."""
        async with self._database.transaction() as connection:
            await connection.execute(sa.text("SET TRANSACTION READ ONLY"))
            rows = await connection.execute(
                _MASKED_CONTACTS, {"tenant": tenant_id, "customers": list(customer_ids)}
            )
            return [MaskedContact(row.customer_id, row.phone, row.email) for row in rows]

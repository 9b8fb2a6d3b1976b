"""Recipients of a batch of customers on one channel, in one statement (``domain/recipients.py``).

Unlike the masked contacts (``store/contacts.py``) this path may decrypt a contact — but only when
the caller asks to reveal it: otherwise the statement does not even return the sealed value
(``identities.value_enc``), so an enqueue-time check cannot decrypt one by mistake.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from services.profile.domain.recipients import ResolvedCustomer
from services.profile.store.merges import MAX_MERGE_HOPS
from services.profile.store.pii import PiiCipher
from services.runtime.database import Database
from services.runtime.tenant_sql import OPAQUE_TENANT_SQL

# Each asked id that a customer of the tenant has → the end of its merge chain (the customer itself
# unless merged; the walk stops at an erased customer) with that customer's zone and sealed
# nickname, and its identity of the channel's type recorded last (the ordering of MaskedContacts).
# A chain that ends nowhere (too long, or pointing at a missing row) gives no row: the id is unknown.
# The tenant is a subquery, opaque to the planner (see ``services.runtime.tenant_sql``): for a new
# tenant, a custom plan walked all its customers for each recipient (100 recipients in a tenant of
# 20,000 customers: 167 ms, now 0.4 ms).
_RECIPIENTS = sa.text(
    f"""
    WITH RECURSIVE chain AS (
        SELECT c.customer_id AS asked_id, c.customer_id, c.merged_into,
               c.erased_at IS NOT NULL AS erased, c.timezone, c.nickname_enc, 0 AS hops
        FROM customers AS c
        WHERE c.tenant_id = {OPAQUE_TENANT_SQL} AND c.customer_id = ANY(CAST(:customers AS uuid[]))
      UNION ALL
        SELECT chain.asked_id, c.customer_id, c.merged_into,
               c.erased_at IS NOT NULL, c.timezone, c.nickname_enc, chain.hops + 1
        FROM chain
        JOIN customers AS c
          ON c.tenant_id = {OPAQUE_TENANT_SQL} AND c.customer_id = chain.merged_into
        WHERE NOT chain.erased AND chain.hops < :max_hops
    ),
    ends AS (
        SELECT DISTINCT ON (asked_id) * FROM chain ORDER BY asked_id, hops DESC
    )
    SELECT e.asked_id, e.customer_id AS end_id, e.erased, e.timezone, e.nickname_enc,
           contact.value_masked AS contact_masked, contact.value_enc AS contact_enc
    FROM ends AS e
    LEFT JOIN LATERAL (
        SELECT i.value_masked, CASE WHEN CAST(:reveal AS boolean) THEN i.value_enc END AS value_enc
        FROM identities AS i
        WHERE i.tenant_id = {OPAQUE_TENANT_SQL} AND i.customer_id = e.customer_id
          AND i.type = :type
          AND NOT e.erased
        ORDER BY i.created_at DESC, i.value_hash
        LIMIT 1
    ) AS contact ON true
    WHERE e.erased OR e.merged_into IS NULL
    """  # noqa: S608 - only the constant tenant subquery is formatted in
)


class SqlRecipientStore:
    """Implements ``RecipientStore`` on profile's customers and identities."""

    def __init__(self, database: Database, cipher: PiiCipher) -> None:
        self._database = database
        self._cipher = cipher

    async def resolve_recipients(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID], identity_type: str, *, reveal: bool
    ) -> list[ResolvedCustomer]:
        """The tenant's customers among ``customer_ids`` at the ends of their merge chains, with the
        channel's contact (decrypted only when ``reveal``), zone and nickname — or erased."""
        parameters = {
            "tenant": tenant_id,
            "customers": list(customer_ids),
            "type": identity_type,
            "reveal": reveal,
            "max_hops": MAX_MERGE_HOPS,
        }
        async with self._database.transaction() as connection:
            await connection.execute(sa.text("SET TRANSACTION READ ONLY"))
            rows = (await connection.execute(_RECIPIENTS, parameters)).all()
        return [self._resolved(tenant_id, identity_type, row) for row in rows]

    def _resolved(
        self, tenant_id: uuid.UUID, identity_type: str, row: sa.Row[tuple[object, ...]]
    ) -> ResolvedCustomer:
        if row.erased:
            return ResolvedCustomer(row.asked_id, row.end_id, True, None, None, None, None)
        contact = self._cipher.decrypt(tenant_id, identity_type, row.contact_enc) if row.contact_enc else None
        nickname = self._cipher.decrypt(tenant_id, "nickname", row.nickname_enc) if row.nickname_enc else None
        return ResolvedCustomer(
            customer_id=row.asked_id,
            end_id=row.end_id,
            erased=False,
            contact=contact,
            contact_masked=row.contact_masked,
            timezone=row.timezone,
            nickname=nickname,
        )

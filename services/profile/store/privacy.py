"""Erasure and export of one customer's data (PIPL, GDPR).

Erasure keeps a keyed hash of each identity in ``suppressed_identities``, deletes the identities,
blanks every attribute, runs each capability's erasure statement, blanks the free text of the
customer's events still in the outbox (``runtime.events.erasure``) and announces customer.erased
(naming the customers merged into the erased one), all in one transaction. Export gathers
everything profile holds, with identities in clear (it is the data subject's copy), each section
bounded (``runtime.privacy.MAX_EXPORT_ROWS``: beyond it the export is refused, never cut).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from patron.events.v1 import profile_events_pb2
from services.profile.store.merges import customer_family, resolve_survivor
from services.profile.store.pii import PiiCipher
from services.profile.store.tables import (
    ATTRIBUTE_COLUMNS,
    customer_merges,
    customers,
    identities,
    suppressed_identities,
)
from services.runtime.database import Database
from services.runtime.events.erasure import OutboxScrubber
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.privacy import MAX_EXPORT_ROWS, bounded

_MAX_MERGE_HOPS = 32

# Statements that erase or anonymise a customer's rows of other capabilities; each takes :tenant and
# :customers (uuid[]: the customer and everyone merged into it).
ERASE_STATEMENTS: list[sa.TextClause] = []

# Sections of the export contributed by other capabilities: name → query taking :tenant, :customers.
EXPORT_QUERIES: dict[str, sa.TextClause] = {}


class SqlPrivacyStore:
    def __init__(self, database: Database, cipher: PiiCipher, outbox: Outbox) -> None:
        self._database = database
        self._cipher = cipher
        self._outbox = outbox
        self._scrubber = OutboxScrubber("profile", outbox.table)

    async def erase(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> tuple[uuid.UUID, datetime] | None:
        """Erase the person behind ``customer_id``; returns (id, erased_at), repeated calls alike."""
        async with self._database.transaction() as connection:
            row = (
                await connection.execute(
                    sa.select(customers.c.merged_into, customers.c.erased_at)
                    .where(customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            if row.erased_at is not None:
                return customer_id, row.erased_at
            survivor = await resolve_survivor(connection, tenant_id, customer_id, lock="update")
            if survivor is None:
                return None
            family = await customer_family(connection, tenant_id, survivor)
            await connection.execute(
                pg.insert(suppressed_identities)
                .from_select(
                    ["tenant_id", "type", "value_hash"],
                    sa.select(identities.c.tenant_id, identities.c.type, identities.c.value_hash).where(
                        identities.c.tenant_id == tenant_id, identities.c.customer_id == survivor
                    ),
                )
                .on_conflict_do_nothing()
            )
            await connection.execute(
                sa.delete(identities).where(
                    identities.c.tenant_id == tenant_id, identities.c.customer_id == survivor
                )
            )
            erased_at = (
                (
                    await connection.execute(
                        sa.update(customers)
                        .where(customers.c.tenant_id == tenant_id, customers.c.customer_id.in_(family))
                        .values(
                            **{name: None for name in ATTRIBUTE_COLUMNS}, custom={}, erased_at=sa.func.now()
                        )
                        .returning(customers.c.erased_at)
                    )
                )
                .scalars()
                .first()
            )
            for statement in ERASE_STATEMENTS:
                await connection.execute(statement, {"tenant": tenant_id, "customers": family})
            await self._scrubber.scrub(connection, tenant_id, family)
            payload = profile_events_pb2.CustomerErased(merged_ids=[str(c) for c in family[1:]])
            payload.erased_at.FromDatetime(erased_at)
            await self._outbox.append(connection, [NewEvent(tenant_id, "customer.erased", survivor, payload)])
            return survivor, erased_at

    async def export(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any] | None:
        """Everything profile holds about the person behind ``customer_id``, or None."""
        async with self._database.read() as connection:
            survivor = await resolve_survivor(connection, tenant_id, customer_id)
            if survivor is None:
                return None
            family = await customer_family(connection, tenant_id, survivor)
            row = (
                await connection.execute(
                    sa.select(customers).where(
                        customers.c.tenant_id == tenant_id, customers.c.customer_id == survivor
                    )
                )
            ).one()
            identity_rows = await connection.execute(
                sa.select(
                    identities.c.type,
                    identities.c.value_enc,
                    identities.c.created_at,
                    identities.c.verified_at,
                ).where(identities.c.tenant_id == tenant_id, identities.c.customer_id == survivor)
            )
            merges = await connection.execute(
                sa.select(customer_merges).where(
                    customer_merges.c.tenant_id == tenant_id,
                    sa.or_(
                        customer_merges.c.survivor_id == survivor, customer_merges.c.merged_id.in_(family)
                    ),
                )
            )
            sections: dict[str, list[dict[str, Any]]] = {}
            for name, query in EXPORT_QUERIES.items():
                result = await connection.stream(query, {"tenant": tenant_id, "customers": family})
                try:
                    rows = await result.fetchmany(MAX_EXPORT_ROWS + 1)
                finally:
                    await result.close()
                sections[name] = bounded("profile", name, [dict(r._mapping) for r in rows])

        def decrypt(kind: str, value: bytes) -> str:
            return self._cipher.decrypt(tenant_id, kind, value)

        return {
            "customer_id": str(survivor),
            "merged_customer_ids": [str(c) for c in family[1:]],
            "attributes": {
                "nickname": decrypt("nickname", row.nickname_enc) if row.nickname_enc else None,
                **{name: getattr(row, name) for name in ATTRIBUTE_COLUMNS if name != "nickname_enc"},
                "custom": row.custom,
            },
            "identities": [
                {
                    "type": r.type,
                    "value": decrypt(r.type, r.value_enc),
                    "created_at": r.created_at,
                    "verified": r.verified_at is not None,
                    "verified_at": r.verified_at,
                }
                for r in identity_rows
            ],
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "merges": [dict(r._mapping) for r in merges],
            **sections,
        }

    async def erasure(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[uuid.UUID, datetime] | None:
        """(the erased customer, when) for any id of an erased person (the survivor of its merges is
        the one its erasure announced), or None: unknown in this tenant, or never erased."""
        async with self._database.read() as connection:
            current = customer_id
            for _ in range(_MAX_MERGE_HOPS):
                row = (
                    await connection.execute(
                        sa.select(customers.c.merged_into, customers.c.erased_at).where(
                            customers.c.tenant_id == tenant_id, customers.c.customer_id == current
                        )
                    )
                ).first()
                if row is None or row.erased_at is None:
                    return None
                if row.merged_into is None:
                    return current, row.erased_at
                current = row.merged_into
        return None

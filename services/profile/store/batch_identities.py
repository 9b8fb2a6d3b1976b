"""Set-based identity queries for a batch: who owns these identities, and creating many customers at once.

``create_customers`` takes the same per-identity advisory locks as ``SqlCustomerStore.identify`` (both lock
through ``lock_identities``), so the two paths exclude each other identity by identity: a set
is created here only if, holding its locks, none of its identities is known.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.domain.batch_identities import Held, IdentitySet
from services.profile.domain.identities import NormalizedIdentity
from services.profile.store.customers import lock_identities
from services.profile.store.pii import PiiCipher
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox

_OWNERS = sa.text(
    """
    SELECT i.type, i.value_hash, i.customer_id, i.verified_at IS NOT NULL AS verified
      FROM identities i
      JOIN unnest(CAST(:types AS text[]), CAST(:hashes AS bytea[])) AS k(type, value_hash)
        ON i.type = k.type AND i.value_hash = k.value_hash
     WHERE i.tenant_id = :tenant
    """
)
_INSERT_CUSTOMERS = sa.text(
    "INSERT INTO customers (tenant_id, customer_id) "
    "SELECT CAST(:tenant AS uuid), id FROM unnest(CAST(:ids AS uuid[])) AS id"
)
_INSERT_IDENTITIES = sa.text(
    """
    INSERT INTO identities (tenant_id, type, value_hash, value_enc, value_masked, customer_id, verified_at)
    SELECT CAST(:tenant AS uuid), row.type, row.value_hash, row.value_enc, row.value_masked,
           row.customer_id, CASE WHEN row.verified THEN now() END
      FROM unnest(CAST(:types AS text[]), CAST(:hashes AS bytea[]), CAST(:encs AS bytea[]),
                  CAST(:masked AS text[]), CAST(:customers AS uuid[]), CAST(:verified AS boolean[]))
           AS row(type, value_hash, value_enc, value_masked, customer_id, verified)
    """
)


class SqlBatchIdentityStore:
    """Implements ``BatchIdentityStore`` on the profile database."""

    def __init__(self, database: Database, cipher: PiiCipher, outbox: Outbox) -> None:
        self._database = database
        self._cipher = cipher
        self._outbox = outbox

    def _hashes(
        self, tenant_id: uuid.UUID, identities: Collection[NormalizedIdentity]
    ) -> dict[NormalizedIdentity, tuple[str, bytes]]:
        """Each identity's (type, blind index); a verified and an unverified claim share one."""
        return {i: (i.type, self._cipher.blind_index(tenant_id, i.type, i.value)) for i in identities}

    @staticmethod
    async def _owners(
        connection: AsyncConnection,
        tenant_id: uuid.UUID,
        hashed: dict[NormalizedIdentity, tuple[str, bytes]],
    ) -> dict[NormalizedIdentity, Held]:
        keys = sorted(set(hashed.values()))
        rows = await connection.execute(
            _OWNERS, {"tenant": tenant_id, "types": [t for t, _ in keys], "hashes": [h for _, h in keys]}
        )
        found = {(row.type, row.value_hash): Held(row.customer_id, row.verified) for row in rows}
        return {identity: found[key] for identity, key in hashed.items() if key in found}

    async def owners(
        self, tenant_id: uuid.UUID, identities: Collection[NormalizedIdentity]
    ) -> dict[NormalizedIdentity, Held]:
        """Who holds each known identity, and whether verified, in one query (a merge re-points them)."""
        if not identities:
            return {}
        async with self._database.read() as connection:
            return await self._owners(connection, tenant_id, self._hashes(tenant_id, identities))

    async def create_customers(
        self, tenant_id: uuid.UUID, sets: Sequence[IdentitySet]
    ) -> tuple[dict[IdentitySet, uuid.UUID], dict[NormalizedIdentity, Held]]:
        """One customer per set whose identities are all still unknown, with customer.created each;
        and the holders of the identities that are known by now (their sets are not created).

        Four statements and one outbox append for the whole batch, whatever its size.
        """
        if not sets:
            return {}, {}
        hashed = self._hashes(tenant_id, {i for s in sets for i in s})
        async with self._database.transaction() as connection:
            await lock_identities(connection, (h for _, h in hashed.values()))
            taken = await self._owners(connection, tenant_id, hashed)
            new = [s for s in sets if not any(i in taken for i in s)]
            if not new:
                return {}, taken
            created = {s: uuid.uuid4() for s in new}
            await connection.execute(_INSERT_CUSTOMERS, {"tenant": tenant_id, "ids": list(created.values())})
            rows = [(i, customer_id) for s, customer_id in created.items() for i in _sorted(s)]
            await connection.execute(
                _INSERT_IDENTITIES,
                {
                    "tenant": tenant_id,
                    "types": [i.type for i, _ in rows],
                    "hashes": [hashed[i][1] for i, _ in rows],
                    "encs": [self._cipher.encrypt(tenant_id, i.type, i.value) for i, _ in rows],
                    "masked": [i.masked for i, _ in rows],
                    "customers": [customer_id for _, customer_id in rows],
                    "verified": [i.verified for i, _ in rows],
                },
            )
            await self._outbox.append(
                connection, [_created_event(tenant_id, c, s) for s, c in created.items()]
            )
        return created, taken


def _sorted(identity_set: IdentitySet) -> list[NormalizedIdentity]:
    return sorted(identity_set, key=lambda i: (i.type, i.value))


def _created_event(tenant_id: uuid.UUID, customer_id: uuid.UUID, identity_set: IdentitySet) -> NewEvent:
    """customer.created as ``identify`` emits it for a new customer given no attributes: with its
    segment attributes, all unset, so that no consumer has to ask profile for them (loyalty asked
    for each one's birthday while they were left out)."""
    payload = profile_events_pb2.CustomerCreated(
        identity_types=sorted({i.type for i in identity_set}),
        attributes=profile_events_pb2.SegmentAttributes(),
    )
    payload.created_at.GetCurrentTime()
    return NewEvent(tenant_id, "customer.created", customer_id, payload)

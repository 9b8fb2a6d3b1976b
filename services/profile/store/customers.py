"""Customer and identity queries, with personal data sealed by the PII cipher on the way in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.domain.customers import Customer, CustomerAttributes, IdentifyResult
from services.profile.domain.identities import NormalizedIdentity
from services.profile.store.pii import PiiCipher
from services.profile.store.tables import customers, identities
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox

_MAX_MERGE_HOPS = 16


def _lock_key(value_hash: bytes) -> int:
    """A signed 64-bit advisory-lock key from an identity's blind index."""
    return int.from_bytes(value_hash[:8], "big", signed=True)


class SqlCustomerStore:
    """Implements ``CustomerStore`` on the profile database."""

    def __init__(self, database: Database, cipher: PiiCipher, outbox: Outbox) -> None:
        self._database = database
        self._cipher = cipher
        self._outbox = outbox

    def _attribute_columns(self, tenant_id: uuid.UUID, attributes: CustomerAttributes) -> dict[str, Any]:
        values = attributes.given()
        nickname = values.pop("nickname", None)
        if nickname is not None:
            values["nickname_enc"] = self._cipher.encrypt(tenant_id, "nickname", nickname)
        return values

    async def identify(
        self,
        tenant_id: uuid.UUID,
        identity_list: Sequence[NormalizedIdentity],
        attributes: CustomerAttributes,
    ) -> IdentifyResult:
        """Resolve identities to one customer in one transaction.

        Each identity's advisory lock is taken first (in key order, so two calls cannot deadlock),
        which makes two racing calls with the same new phone create one customer, not two.
        """
        hashed = [(i, self._cipher.blind_index(tenant_id, i.type, i.value)) for i in identity_list]
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.text(
                    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
                ),
                {"keys": sorted({_lock_key(h) for _, h in hashed})},
            )
            rows = (
                await connection.execute(
                    sa.select(identities.c.type, identities.c.value_hash, customers.c.customer_id)
                    .join(
                        customers,
                        sa.and_(
                            customers.c.tenant_id == identities.c.tenant_id,
                            customers.c.customer_id == identities.c.customer_id,
                        ),
                    )
                    .where(
                        identities.c.tenant_id == tenant_id,
                        sa.tuple_(identities.c.type, identities.c.value_hash).in_(
                            [(i.type, h) for i, h in hashed]
                        ),
                    )
                    .order_by(customers.c.created_at, customers.c.customer_id)
                )
            ).all()
            columns = self._attribute_columns(tenant_id, attributes)
            if rows:
                customer_id: uuid.UUID = rows[0].customer_id
                created = False
                if columns:
                    await connection.execute(
                        sa.update(customers)
                        .where(customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id)
                        .values(**columns, updated_at=sa.func.now())
                    )
            else:
                customer_id = uuid.uuid4()
                created = True
                await connection.execute(
                    sa.insert(customers).values(tenant_id=tenant_id, customer_id=customer_id, **columns)
                )
            known = {(row.type, row.value_hash) for row in rows}
            new = [
                {
                    "tenant_id": tenant_id,
                    "type": i.type,
                    "value_hash": h,
                    "value_enc": self._cipher.encrypt(tenant_id, i.type, i.value),
                    "value_masked": i.masked,
                    "customer_id": customer_id,
                }
                for i, h in hashed
                if (i.type, h) not in known
            ]
            if new:
                await connection.execute(pg.insert(identities).on_conflict_do_nothing(), new)
            event = self._identify_event(tenant_id, customer_id, created, attributes, new)
            if event is not None:
                await self._outbox.append(connection, [event])
        return IdentifyResult(customer_id=customer_id, created=created)

    @staticmethod
    def _identify_event(
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        created: bool,
        attributes: CustomerAttributes,
        new_identities: list[dict[str, Any]],
    ) -> NewEvent | None:
        """customer.created for a new customer; customer.updated when anything about one changed."""
        identity_types = sorted({row["type"] for row in new_identities})
        if created:
            payload = profile_events_pb2.CustomerCreated(identity_types=identity_types)
            payload.created_at.GetCurrentTime()
            if attributes.registration_channel is not None:
                payload.registration_channel = attributes.registration_channel
            if attributes.device is not None:
                payload.device = attributes.device
            return NewEvent(tenant_id, "customer.created", customer_id, payload)
        changed = sorted(attributes.given())
        if not changed and not identity_types:
            return None
        return NewEvent(
            tenant_id,
            "customer.updated",
            customer_id,
            profile_events_pb2.CustomerUpdated(
                changed_attributes=changed, added_identity_types=identity_types
            ),
        )

    async def get(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Customer | None:
        """The customer, following merges to the survivor; None when absent in this tenant."""
        async with self._database.read() as connection:
            requested = customer_id
            for _ in range(_MAX_MERGE_HOPS):
                row = (
                    await connection.execute(
                        sa.select(customers).where(
                            customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id
                        )
                    )
                ).first()
                if row is None:
                    return None
                if row.merged_into is None:
                    break
                customer_id = row.merged_into
            else:
                return None
            identity_rows = await self._identities(connection, tenant_id, customer_id)
        nickname = self._cipher.decrypt(tenant_id, "nickname", row.nickname_enc) if row.nickname_enc else None
        return Customer(
            customer_id=row.customer_id,
            attributes=CustomerAttributes(
                nickname=nickname,
                gender=row.gender,
                birthday=row.birthday,
                province=row.province,
                city=row.city,
                registered_at=row.registered_at,
                registration_channel=row.registration_channel,
                device=row.device,
                custom=row.custom or None,
            ),
            identities=identity_rows,
            created_at=row.created_at,
            updated_at=row.updated_at,
            merged_into=customer_id if customer_id != requested else None,
        )

    @staticmethod
    async def _identities(
        connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> list[NormalizedIdentity]:
        rows = await connection.execute(
            sa.select(identities.c.type, identities.c.value_masked)
            .where(identities.c.tenant_id == tenant_id, identities.c.customer_id == customer_id)
            .order_by(identities.c.created_at, identities.c.type)
        )
        # Listings carry only the masked form; the clear value stays sealed in value_enc.
        return [NormalizedIdentity(type=r.type, value=r.value_masked, masked=r.value_masked) for r in rows]

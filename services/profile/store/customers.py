"""Customer and identity queries, with personal data sealed by the PII cipher on the way in."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.domain.customers import Customer, CustomerAttributes, IdentifyResult
from services.profile.domain.identities import NormalizedIdentity
from services.profile.domain.identity_resolution import Candidate, Link, ResolutionPlan, plan_resolution
from services.profile.domain.listing import Cursor, CustomerQuery
from services.profile.store.customer_listing import list_customers
from services.profile.store.customer_rows import customer_from_row, masked_identity
from services.profile.store.identify_statements import (
    add_identities,
    create_bare_customer,
    known_identities,
    lock_keys,
    read_attributes,
)
from services.profile.store.merge_suggestions import mark_verified, read_settings, record_apart
from services.profile.store.merges import lock_customers, merge_into, merge_pair, resolve_survivor
from services.profile.store.pii import PiiCipher
from services.profile.store.segment_attributes import segment_attributes
from services.profile.store.tables import customers, identities
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.tenant_sql import opaque_tenant


async def lock_identities(connection: AsyncConnection, value_hashes: Iterable[bytes]) -> None:
    """Take each identity's transaction-scoped advisory lock, in key order so two callers cannot deadlock.

    The key is a signed 64-bit number from the identity's blind index; single and batch identify both
    lock through here, so they exclude each other identity by identity.
    """
    keys = sorted({int.from_bytes(value_hash[:8], "big", signed=True) for value_hash in value_hashes})
    await lock_keys(connection, keys)


async def _plan(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    hashed: Sequence[tuple[NormalizedIdentity, bytes]],
    rows: Sequence[Any],
) -> ResolutionPlan | None:
    """Which customer the call's identities resolve to (None: none is known, create one). The
    tenant's settings are read only when the identities point at several customers."""
    if not rows:
        return None
    asked = {(i.type, h): i for i, h in hashed}
    links: dict[uuid.UUID, list[Link]] = {}  # oldest customer first, as the rows come
    for row in rows:
        identity = asked[(row["type"], row["value_hash"])]
        links.setdefault(row["customer_id"], []).append(Link(identity, row["verified_at"] is not None))
    candidates = [Candidate(customer_id, tuple(held)) for customer_id, held in links.items()]
    if len(candidates) == 1:
        return ResolutionPlan(candidates[0].customer_id)
    settings = await read_settings(connection, tenant_id)
    return plan_resolution(candidates, settings.auto_merge_types)


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
            await lock_identities(connection, (h for _, h in hashed))
            rows = await known_identities(connection, tenant_id, [(i.type, h) for i, h in hashed])
            columns = self._attribute_columns(tenant_id, attributes)
            plan = await _plan(connection, tenant_id, hashed, rows)
            current: profile_events_pb2.SegmentAttributes | None = None
            if plan is not None:
                customer_id: uuid.UUID = plan.customer_id
                created = False
                if plan.merged:
                    # Trusted links show these customers are one person (domain.identity_resolution).
                    await lock_customers(connection, tenant_id, [customer_id, *plan.merged])
                    await merge_into(
                        connection, self._outbox, tenant_id, customer_id, plan.merged, "identify"
                    )
                if columns:
                    await connection.execute(
                        sa.update(customers)
                        .where(customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id)
                        .values(**columns, updated_at=sa.func.now())
                    )
            else:
                customer_id = uuid.uuid4()
                created = True
                if columns:
                    await connection.execute(
                        sa.insert(customers).values(tenant_id=tenant_id, customer_id=customer_id, **columns)
                    )
                else:
                    current = await create_bare_customer(connection, tenant_id, customer_id)
            known = {(row["type"], row["value_hash"]) for row in rows}
            new: list[dict[str, Any]] = [
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
            await add_identities(
                connection,
                tenant_id,
                customer_id,
                [(r["type"], r["value_hash"], r["value_enc"], r["value_masked"]) for r in new],
            )
            await mark_verified(
                connection, tenant_id, customer_id, [(i.type, h) for i, h in hashed if i.verified]
            )
            if created or new or attributes.given():  # an event tells of it (_identify_event)
                if current is None:
                    current = await read_attributes(connection, tenant_id, customer_id)
                event = self._identify_event(tenant_id, customer_id, created, attributes, new, current)
                if event is not None:
                    await self._outbox.append(connection, [event])
            # Last: the customers' rows are locked before a suggestion's, as accepting one locks them.
            apart = plan.apart if plan is not None else []
            await record_apart(connection, tenant_id, customer_id, apart)
        return IdentifyResult(
            customer_id=customer_id,
            created=created,
            merged_customer_ids=plan.merged if plan is not None else [],
            unmerged_customer_ids=[a.customer_id for a in apart],
        )

    @staticmethod
    def _identify_event(
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        created: bool,
        attributes: CustomerAttributes,
        new_identities: list[dict[str, Any]],
        current: profile_events_pb2.SegmentAttributes,
    ) -> NewEvent | None:
        """customer.created for a new customer; customer.updated when anything about one changed.
        Both carry ``current``: the segment attributes read back from the row."""
        identity_types = sorted({row["type"] for row in new_identities})
        if created:
            payload = profile_events_pb2.CustomerCreated(identity_types=identity_types, attributes=current)
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
                changed_attributes=changed, added_identity_types=identity_types, attributes=current
            ),
        )

    async def page(self, tenant_id: uuid.UUID, query: CustomerQuery) -> tuple[list[Customer], Cursor | None]:
        return await list_customers(self._database, self._cipher, tenant_id, query)

    async def get(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> Customer | None:
        """The customer, following merges to the survivor; None when absent, erased or another tenant's."""
        async with self._database.read() as connection:
            survivor = await resolve_survivor(connection, tenant_id, customer_id)
            if survivor is None:
                return None
            return await self.load(connection, tenant_id, survivor, requested=customer_id)

    async def load(
        self, connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, requested: uuid.UUID
    ) -> Customer:
        """The live customer ``customer_id`` with its identities, read on ``connection``, as the
        answer to ``requested`` (the id asked for, perhaps merged into it)."""
        row = (
            await connection.execute(
                sa.select(customers).where(
                    customers.c.tenant_id == opaque_tenant(tenant_id), customers.c.customer_id == customer_id
                )
            )
        ).one()
        identity_rows = await self._identities(connection, tenant_id, customer_id)
        return self.customer_of_row(tenant_id, row, identity_rows, requested)

    def customer_of_row(
        self,
        tenant_id: uuid.UUID,
        row: Any,
        identity_rows: list[NormalizedIdentity],
        requested: uuid.UUID,
    ) -> Customer:
        """The Customer a ``customers`` row (any object with its columns as attributes) holds,
        its nickname decrypted, as the answer to ``requested``."""
        nickname = self._cipher.decrypt(tenant_id, "nickname", row.nickname_enc) if row.nickname_enc else None
        return customer_from_row(row, nickname, identity_rows, requested)

    async def update(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        attributes: CustomerAttributes,
        clear: Sequence[str],
    ) -> Customer | None:
        """Set and clear attributes of the customer (or its survivor); emits customer.updated."""
        async with self._database.transaction() as connection:
            survivor = await resolve_survivor(connection, tenant_id, customer_id, lock="update")
            if survivor is None:
                return None
            columns = self._attribute_columns(tenant_id, attributes)
            for name in clear:
                columns["nickname_enc" if name == "nickname" else name] = {} if name == "custom" else None
            changed = sorted({*attributes.given(), *clear})
            if columns:
                await connection.execute(
                    sa.update(customers)
                    .where(customers.c.tenant_id == tenant_id, customers.c.customer_id == survivor)
                    .values(**columns, updated_at=sa.func.now())
                )
                payload = profile_events_pb2.CustomerUpdated(
                    changed_attributes=changed,
                    attributes=await segment_attributes(connection, tenant_id, survivor),
                )
                await self._outbox.append(
                    connection, [NewEvent(tenant_id, "customer.updated", survivor, payload)]
                )
            return await self.load(connection, tenant_id, survivor, requested=customer_id)

    async def merge(
        self, tenant_id: uuid.UUID, survivor_id: uuid.UUID, other_id: uuid.UUID
    ) -> list[uuid.UUID]:
        """Fold ``other_id`` into ``survivor_id`` (an operator's decision); [] when already one customer.

        Raises LookupError naming the id that is not a live customer of the tenant.
        """
        async with self._database.transaction() as connection:
            return await merge_pair(connection, self._outbox, tenant_id, survivor_id, other_id, "manual")

    @staticmethod
    async def _identities(
        connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> list[NormalizedIdentity]:
        rows = await connection.execute(
            sa.select(identities.c.type, identities.c.value_masked, identities.c.verified_at)
            .where(identities.c.tenant_id == tenant_id, identities.c.customer_id == customer_id)
            .order_by(identities.c.created_at, identities.c.type)
        )
        # Listings carry only the masked form; the clear value stays sealed in value_enc.
        return [masked_identity(r.type, r.value_masked, r.verified_at is not None) for r in rows]

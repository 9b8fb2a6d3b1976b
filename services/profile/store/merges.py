"""Folding customers into a survivor: identities, attributes and history follow it, and the merge
is recorded and announced (customer.merged) in the same transaction.

Other capabilities' rows (behaviour events, orders, tags, consents) are re-pointed by the
statements in ``REPOINT_STATEMENTS``, so each keeps exactly one owner after a merge.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.store.segment_attributes import segment_attributes
from services.profile.store.tables import ATTRIBUTE_COLUMNS, customer_merges, customers, identities
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.tenant_sql import opaque_tenant

# Statements that move a merged customer's rows of other capabilities to the survivor. Each takes
# :tenant, :survivor and :merged (uuid[]). Tables with one row per customer and key resolve the
# clash by keeping the survivor's row.
REPOINT_STATEMENTS: list[sa.TextClause] = []


MAX_MERGE_HOPS = 16
"""How far a merge chain is followed; merges re-point earlier merged rows, so chains stay short."""
_UUIDS = pg.ARRAY(pg.UUID(as_uuid=True))


LockMode = Literal["update", "key_share"]


async def resolve_survivors(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    requested: Collection[uuid.UUID],
    *,
    lock: LockMode | None = None,
) -> dict[uuid.UUID, uuid.UUID]:
    """Each requested id that names a customer of the tenant → its live customer (itself unless
    merged). Ids absent from the answer are unknown in this tenant, or their person was erased.

    ``lock`` holds the rows read until commit, in id order: ``"update"`` for changing the customer,
    ``"key_share"`` for writing rows that reference it — a merge or an erasure (FOR UPDATE) then
    waits for that write and carries its rows along, and a write that waited re-reads the outcome.
    """
    at: dict[uuid.UUID, uuid.UUID] = {customer_id: customer_id for customer_id in requested}
    live: dict[uuid.UUID, uuid.UUID] = {}
    for _ in range(MAX_MERGE_HOPS):
        if not at:
            break
        query = (
            sa.select(customers.c.customer_id, customers.c.merged_into, customers.c.erased_at)
            .where(
                customers.c.tenant_id == opaque_tenant(tenant_id),
                customers.c.customer_id
                == sa.any_(sa.cast(sa.bindparam("ids", list(set(at.values()))), _UUIDS)),
            )
            .order_by(customers.c.customer_id)
        )
        if lock == "key_share":
            # FOR KEY SHARE: SQLAlchemy spells it read + key_share (key_share alone is FOR NO KEY
            # UPDATE, which made concurrent writes for the same customers, e.g. two event batches,
            # wait for each other's commit)
            query = query.with_for_update(read=True, key_share=True)
        elif lock == "update":
            query = query.with_for_update()
        merged_into = {
            row.customer_id: row.merged_into
            for row in await connection.execute(query)
            if row.erased_at is None
        }
        for requested_id, current in list(at.items()):
            if current not in merged_into:
                del at[requested_id]
            elif merged_into[current] is None:
                live[requested_id] = current
                del at[requested_id]
            else:
                at[requested_id] = merged_into[current]
    return live


async def resolve_survivor(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, *, lock: LockMode | None = None
) -> uuid.UUID | None:
    """The live customer one id stands for, or None (see :func:`resolve_survivors`)."""
    return (await resolve_survivors(connection, tenant_id, [customer_id], lock=lock)).get(customer_id)


async def customer_family(
    connection: AsyncConnection, tenant_id: uuid.UUID, survivor: uuid.UUID
) -> list[uuid.UUID]:
    """The survivor and every customer merged into it: their history is the person's history."""
    merged = await connection.execute(
        sa.select(customers.c.customer_id).where(
            customers.c.tenant_id == tenant_id, customers.c.merged_into == survivor
        )
    )
    return [survivor, *merged.scalars()]


async def lock_customers(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> list[sa.Row[tuple[uuid.UUID, object, uuid.UUID | None, object]]]:
    """Lock the customers' rows in id order (so concurrent merges cannot deadlock)."""
    rows = await connection.execute(
        sa.select(
            customers.c.customer_id, customers.c.created_at, customers.c.merged_into, customers.c.erased_at
        )
        .where(customers.c.tenant_id == tenant_id, customers.c.customer_id.in_(list(customer_ids)))
        .order_by(customers.c.customer_id)
        .with_for_update()
    )
    return list(rows)  # type: ignore[arg-type]


async def merge_into(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    survivor: uuid.UUID,
    merged: Sequence[uuid.UUID],
    reason: str,
) -> None:
    """Fold ``merged`` into ``survivor`` (the caller has locked all their rows and checked them)."""
    merged = [m for m in merged if m != survivor]
    if not merged:
        return
    params = {"tenant": tenant_id, "survivor": survivor, "merged": merged}
    await connection.execute(
        sa.update(identities)
        .where(identities.c.tenant_id == tenant_id, identities.c.customer_id.in_(merged))
        .values(customer_id=survivor)
    )
    sources = (
        sa.select(customers)
        .where(customers.c.tenant_id == tenant_id, customers.c.customer_id.in_(merged))
        .order_by(customers.c.created_at, customers.c.customer_id)
    )
    for source in (await connection.execute(sources)).all():
        await connection.execute(
            sa.update(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.customer_id == survivor)
            .values(
                **{
                    name: sa.func.coalesce(customers.c[name], getattr(source, name))
                    for name in ATTRIBUTE_COLUMNS
                },
                custom=sa.literal(source.custom, customers.c.custom.type).op("||")(customers.c.custom),
                updated_at=sa.func.now(),
            )
        )
    # The merged rows keep no personal data: it lives on in the survivor.
    await connection.execute(
        sa.update(customers)
        .where(
            customers.c.tenant_id == tenant_id,
            sa.or_(customers.c.customer_id.in_(merged), customers.c.merged_into.in_(merged)),
        )
        .values(
            merged_into=survivor,
            **{name: None for name in ATTRIBUTE_COLUMNS},
            custom={},
            updated_at=sa.func.now(),
        )
    )
    for statement in REPOINT_STATEMENTS:
        await connection.execute(statement, params)
    await connection.execute(
        sa.insert(customer_merges),
        [{"tenant_id": tenant_id, "merged_id": m, "survivor_id": survivor, "reason": reason} for m in merged],
    )
    payload = profile_events_pb2.CustomerMerged(
        survivor_id=str(survivor),
        merged_ids=[str(m) for m in merged],
        survivor_attributes=await segment_attributes(connection, tenant_id, survivor),
    )
    await outbox.append(connection, [NewEvent(tenant_id, "customer.merged", survivor, payload)])


async def merge_pair(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    survivor_id: uuid.UUID,
    other_id: uuid.UUID,
    reason: str,
) -> list[uuid.UUID]:
    """Fold ``other_id``'s person into ``survivor_id``'s (ids may be merged away: their survivors are
    used); [] when already one customer. The one merge of two chosen customers: by hand ("manual")
    and by an accepted merge suggestion ("suggestion").

    Raises LookupError naming the id ("customer_id", "other_customer_id") that is not a live customer.
    """
    survivor = await resolve_survivor(connection, tenant_id, survivor_id)
    other = await resolve_survivor(connection, tenant_id, other_id)
    if survivor is None:
        raise LookupError("customer_id")
    if other is None:
        raise LookupError("other_customer_id")
    if survivor == other:
        return []
    rows = await lock_customers(connection, tenant_id, [survivor, other])
    if len(rows) != 2 or any(r.merged_into is not None or r.erased_at is not None for r in rows):
        raise LookupError("other_customer_id")  # changed under us: let the caller retry
    await merge_into(connection, outbox, tenant_id, survivor, [other], reason)
    return [other]

"""Folding customers into a survivor: identities, attributes and history follow it, and the merge
is recorded and announced (customer.merged) in the same transaction.

Other capabilities' rows (behaviour events, orders, tags, consents) are re-pointed by the
statements in ``REPOINT_STATEMENTS``, so each keeps exactly one owner after a merge.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.store.tables import ATTRIBUTE_COLUMNS, customer_merges, customers, identities
from services.runtime.events.outbox import NewEvent, Outbox

# Statements that move a merged customer's rows of other capabilities to the survivor. Each takes
# :tenant, :survivor and :merged (uuid[]). Tables with one row per customer and key resolve the
# clash by keeping the survivor's row.
REPOINT_STATEMENTS: list[sa.TextClause] = []


_MAX_MERGE_HOPS = 16


async def resolve_survivor(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, *, lock: bool = False
) -> uuid.UUID | None:
    """The live customer an id stands for (itself, or whom it was merged into); None when the id is
    unknown in this tenant or the customer was erased."""
    for _ in range(_MAX_MERGE_HOPS):
        query = sa.select(customers.c.merged_into, customers.c.erased_at).where(
            customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id
        )
        row = (await connection.execute(query.with_for_update() if lock else query)).first()
        if row is None or row.erased_at is not None:
            return None
        if row.merged_into is None:
            return customer_id
        customer_id = row.merged_into
    return None


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
        survivor_id=str(survivor), merged_ids=[str(m) for m in merged]
    )
    await outbox.append(connection, [NewEvent(tenant_id, "customer.merged", survivor, payload)])

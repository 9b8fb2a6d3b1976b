"""Which customer a path's id means: loyalty's projection of profile's customers, with a fallback.

The projection (``loyalty_customers``) is kept by the consumer from customer.created / merged /
erased. A customer the projection has not seen yet (identified a moment ago, its event still on
the way) is asked of profile (``services.loyalty.clients.profile_customers``) and remembered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.customers import CustomerFacts, CustomerSource
from services.loyalty.store.ledger_tables import customers
from services.runtime.errors import NotFound

_PROFILE_CONCURRENCY = 16

_RESOLVE_MANY = sa.text(
    """
    SELECT customer_id, merged_into, erased_at FROM loyalty_customers
    WHERE tenant_id = :tenant_id AND customer_id = ANY(CAST(:customer_ids AS uuid[]))
    """
)


class CustomerDirectory:
    """Resolves a customer id to the live (survivor) customer of the tenant, in the caller's
    transaction: the projection first, then profile (``source``) for an id it has not seen yet."""

    def __init__(self, source: CustomerSource) -> None:
        self._source = source

    async def resolve(
        self, connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> uuid.UUID:
        """The survivor of ``customer_id`` (itself when never merged); NotFound when the id is
        unknown, erased, or another tenant's."""
        row = (
            await connection.execute(
                sa.select(customers.c.merged_into, customers.c.erased_at).where(
                    customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id
                )
            )
        ).first()
        if row is not None:
            if row.erased_at is not None:
                raise NotFound("customer not found")
            return row.merged_into or customer_id
        survivor = await self._source.survivor_of(tenant_id, customer_id)
        await remember(connection, tenant_id, customer_id, survivor if survivor != customer_id else None)
        return survivor

    async def resolve_many(
        self, connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        """:meth:`resolve` of many ids in one statement (profile asked concurrently for the ids the
        projection has not seen, which are not remembered): each id's survivor; an id that resolves
        to none is absent."""
        rows = (
            await connection.execute(
                _RESOLVE_MANY, {"tenant_id": tenant_id, "customer_ids": list(set(customer_ids))}
            )
        ).all()
        found = {r.customer_id: r.merged_into or r.customer_id for r in rows if r.erased_at is None}
        unseen = sorted(set(customer_ids) - {r.customer_id for r in rows})
        if not unseen:
            return found
        gate = asyncio.Semaphore(_PROFILE_CONCURRENCY)

        async def ask(customer_id: uuid.UUID) -> uuid.UUID | None:
            async with gate:
                try:
                    return await self._source.survivor_of(tenant_id, customer_id)
                except NotFound:
                    return None

        answers = await asyncio.gather(*(ask(c) for c in unseen))
        # Not remembered here, unlike :meth:`resolve`: the consumer records these customers moments
        # later, and a many-row insert racing its own (in event order) could deadlock with it.
        learned = {c: s for c, s in zip(unseen, answers, strict=True) if s is not None}
        return found | learned

    async def birthday_of(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> str | None:
        """The customer's birthday as ``MM-DD``, asked of profile (the projection keeps none of
        a customer it was not told about)."""
        return await self._source.birthday_of(tenant_id, customer_id)


async def remember(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, merged_into: uuid.UUID | None
) -> None:
    """Record a customer the projection did not know (a no-op when it already does)."""
    await connection.execute(
        pg.insert(customers)
        .values(tenant_id=tenant_id, customer_id=customer_id, merged_into=merged_into)
        .on_conflict_do_nothing(index_elements=[customers.c.tenant_id, customers.c.customer_id])
    )


_FACTS = sa.text(
    """
    SELECT coalesce(c.merged_into, c.customer_id) AS survivor_id,
           CASE WHEN c.merged_into IS NULL THEN c.birthday ELSE s.birthday END AS birthday
    FROM loyalty_customers AS c
    LEFT JOIN loyalty_customers AS s ON s.tenant_id = c.tenant_id AND s.customer_id = c.merged_into
    WHERE c.tenant_id = :tenant_id AND c.customer_id = :customer_id
    """
)


async def customer_facts(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> CustomerFacts:
    """The consumer's view of an event's customer, by the projection alone: events of a merged
    customer that arrive after the merge belong to the survivor."""
    row = (await connection.execute(_FACTS, {"tenant_id": tenant_id, "customer_id": customer_id})).first()
    if row is None:
        return CustomerFacts(customer_id, None)
    return CustomerFacts(row.survivor_id, row.birthday)


async def record_merge(
    connection: AsyncConnection, tenant_id: uuid.UUID, survivor_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
) -> None:
    """Point the merged customers (and whoever had been merged into them) at the survivor."""
    merged = [m for m in merged_ids if m != survivor_id]
    if not merged:
        return
    await remember(connection, tenant_id, survivor_id, None)
    statement = pg.insert(customers)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.tenant_id, customers.c.customer_id],
            set_={"merged_into": statement.excluded.merged_into, "updated_at": sa.func.now()},
        ),
        [{"tenant_id": tenant_id, "customer_id": m, "merged_into": survivor_id} for m in merged],
    )
    await connection.execute(
        sa.update(customers)
        .where(customers.c.tenant_id == tenant_id, customers.c.merged_into.in_(merged))
        .values(merged_into=survivor_id, updated_at=sa.func.now())
    )


async def record_erasure(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, erased_at: datetime
) -> None:
    """Mark the customer erased: its id no longer resolves."""
    statement = pg.insert(customers).values(tenant_id=tenant_id, customer_id=customer_id, erased_at=erased_at)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.tenant_id, customers.c.customer_id],
            set_={"erased_at": statement.excluded.erased_at, "birthday": None, "updated_at": sa.func.now()},
        )
    )


_FACTS_MANY = sa.text(
    """
    SELECT c.customer_id, coalesce(c.merged_into, c.customer_id) AS survivor_id,
           CASE WHEN c.merged_into IS NULL THEN c.birthday ELSE s.birthday END AS birthday
    FROM loyalty_customers AS c
    LEFT JOIN loyalty_customers AS s ON s.tenant_id = c.tenant_id AND s.customer_id = c.merged_into
    WHERE c.tenant_id = :tenant_id AND c.customer_id = ANY(CAST(:customer_ids AS uuid[]))
    """
)


async def customer_facts_many(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CustomerFacts]:
    """:func:`customer_facts` of many customers in one statement (a run of events)."""
    rows = (
        await connection.execute(
            _FACTS_MANY, {"tenant_id": tenant_id, "customer_ids": list(set(customer_ids))}
        )
    ).all()
    known = {row.customer_id: CustomerFacts(row.survivor_id, row.birthday) for row in rows}
    return {c: known.get(c, CustomerFacts(c, None)) for c in customer_ids}


async def record_birthdays(
    connection: AsyncConnection, tenant_id: uuid.UUID, birthdays: dict[uuid.UUID, str | None]
) -> None:
    """:func:`record_birthday` of many customers in one statement."""
    if not birthdays:
        return
    statement = pg.insert(customers)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.tenant_id, customers.c.customer_id],
            set_={"birthday": statement.excluded.birthday, "updated_at": sa.func.now()},
        ),
        [{"tenant_id": tenant_id, "customer_id": c, "birthday": b} for c, b in birthdays.items()],
    )

"""Erasure's reach into the event backbone: the free text of a customer in outbox and parked rows.

Events carry no contact (profile_events.proto), but some carry text a client or a provider wrote: a
behaviour event's properties (a search, a review), a refund's reason, a consent's source, the
segment attributes of a customer event (city, birthday), a points movement's reason, a provider's
error on a failed message (which may quote the address). An outbox keeps its rows for
``event_retention_days`` and a consumer keeps the events it parked until an operator acts, so an
erasure that stopped at the service's own tables would leave that text in both.

So each service, in the transaction that erases the customer (profile's erasure, the others'
customer.erased handler), rewrites its outbox rows of the customer that carry free text — the
payload fields of ``FREE_TEXT`` become blank, everything else (ids, amounts, times) stays, so a
consumer that has not read the event yet still applies it — and deletes its parked rows of the
customer (an erased customer's event has nothing left to apply to), and records that it is done
(``customer_erasures``), which ``GET /v1/customers/{id}/erasure`` reports.

Envelopes are protobuf, which PostgreSQL cannot edit: the rows are found by one indexed statement
per batch, their payloads blanked here, and written back by one statement per batch.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.database import after_commit
from services.runtime.events.consumer import PARKED_NOW
from services.runtime.events.outbox import payload_field
from services.runtime.events.tables import outbox_text_predicate

# producer → event type → payload field → what it becomes: a text, or None for a message field that
# is emptied (present, every value unset: "the customer has no value").
FREE_TEXT: Mapping[str, Mapping[str, Mapping[str, str | None]]] = {
    "profile": {
        "event.recorded": {"properties_json": "{}"},
        "order.refunded": {"reason": ""},
        "consent.changed": {"source": ""},
        "customer.created": {"attributes": None},
        "customer.updated": {"attributes": None},
        "customer.merged": {"survivor_attributes": None},
    },
    "loyalty": {"points.changed": {"reason": "erased"}},
    "notify": {"message.failed": {"reason": ""}},
    "scoring": {},  # stage and segment events: ids, codes and times only
}

SCRUB_BATCH = 1_000


def free_text_types(producer: str) -> tuple[str, ...]:
    """The event types of ``producer`` that carry free text (the outbox index's predicate)."""
    return tuple(sorted(FREE_TEXT[producer]))


def scrub_envelope(envelope: envelope_pb2.EventEnvelope) -> bool:
    """Blank the envelope's free text in place; True when anything changed (False: nothing to do)."""
    fields = next((by_type[envelope.type] for by_type in FREE_TEXT.values() if envelope.type in by_type), {})
    if not fields:
        return False
    payload = getattr(envelope, payload_field(envelope.type))
    changed = False
    for name, blank in fields.items():
        if blank is None:
            if payload.HasField(name) and getattr(payload, name).ByteSize():
                payload.ClearField(name)
                getattr(payload, name).SetInParent()
                changed = True
        elif getattr(payload, name) != blank:
            setattr(payload, name, blank)
            changed = True
    return changed


class OutboxScrubber:
    """Blanks a customer's free text in one producer's outbox, in the caller's transaction."""

    def __init__(self, producer: str, outbox: sa.Table) -> None:
        self._types = free_text_types(producer)
        # The partial index's own predicate (tables.outbox_text_index), as text rather than bound
        # values, so the planner proves the index usable under a generic plan too.
        self._select = (
            sa.select(outbox.c.id, outbox.c.envelope)
            .where(
                outbox.c.tenant_id == sa.bindparam("tenant"),
                outbox.c.customer_id == sa.any_(sa.bindparam("customers", type_=pg.ARRAY(pg.UUID()))),
                outbox_text_predicate(self._types),
                outbox.c.id > sa.bindparam("after"),
            )
            .order_by(outbox.c.id)
            .limit(SCRUB_BATCH)
        )
        rows = (
            sa.func.unnest(
                sa.bindparam("ids", type_=pg.ARRAY(sa.BigInteger)),
                sa.bindparam("envelopes", type_=pg.ARRAY(sa.LargeBinary)),
            )
            .table_valued("id", "envelope")
            .render_derived(name="v")
        )
        self._update = sa.update(outbox).where(outbox.c.id == rows.c.id).values(envelope=rows.c.envelope)

    async def scrub(
        self, connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> int:
        """Rewrite the customers' outbox rows that carry free text; returns how many changed."""
        if not self._types or not customer_ids:
            return 0
        changed = 0
        after = 0
        while True:
            rows = (
                await connection.execute(
                    self._select,
                    {"tenant": tenant_id, "customers": list(customer_ids), "after": after},
                )
            ).all()
            ids: list[int] = []
            envelopes: list[bytes] = []
            for row in rows:
                envelope = envelope_pb2.EventEnvelope.FromString(row.envelope)
                if scrub_envelope(envelope):
                    ids.append(row.id)
                    envelopes.append(envelope.SerializeToString())
            if ids:
                await connection.execute(self._update, {"ids": ids, "envelopes": envelopes})
                changed += len(ids)
            if len(rows) < SCRUB_BATCH:
                return changed
            after = rows[-1].id


async def prune_parked(
    connection: AsyncConnection, parked: sa.Table, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> int:
    """Delete the customers' parked events (of every consumer of this service); returns how many."""
    if not customer_ids:
        return 0
    consumers = (
        (
            await connection.execute(
                sa.delete(parked)
                .where(parked.c.tenant_id == tenant_id, parked.c.customer_id.in_(list(customer_ids)))
                .returning(parked.c.consumer)
            )
        )
        .scalars()
        .all()
    )
    if consumers:
        counts = Counter(consumers)

        def forget() -> None:
            for consumer, count in counts.items():
                PARKED_NOW.labels(consumer).dec(count)

        after_commit(connection, f"parked-erasure-{uuid.uuid4()}", forget)
    return len(consumers)


async def record_erasure_done(
    connection: AsyncConnection, erasures: sa.Table, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> None:
    """Record that this service finished erasing the customer (the first time counts; a replay of
    the event changes nothing)."""
    await connection.execute(
        pg.insert(erasures).values(tenant_id=tenant_id, customer_id=customer_id).on_conflict_do_nothing()
    )


async def erasure_done_at(
    connection: AsyncConnection, erasures: sa.Table, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> datetime | None:
    """When this service finished erasing the customer, or None (not yet, or never asked)."""
    found: datetime | None = (
        await connection.execute(
            sa.select(erasures.c.erased_at).where(
                erasures.c.tenant_id == tenant_id, erasures.c.customer_id == customer_id
            )
        )
    ).scalar_one_or_none()
    return found


class ErasureTraces:
    """What a consuming service does in its customer.erased transaction besides its own tables:
    scrub its outbox, prune its parked events of the customer, record that it is done."""

    def __init__(self, producer: str, outbox: sa.Table, parked: sa.Table, erasures: sa.Table) -> None:
        self._scrubber = OutboxScrubber(producer, outbox)
        self._parked = parked
        self._erasures = erasures

    async def erase(
        self,
        connection: AsyncConnection,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        merged_ids: Sequence[uuid.UUID] = (),
    ) -> None:
        """In the handler's transaction: ``customer_id`` is the erased survivor, ``merged_ids`` the
        customers merged into it earlier (their rows carry their old ids)."""
        family = [customer_id, *merged_ids]
        await self._scrubber.scrub(connection, tenant_id, family)
        await prune_parked(connection, self._parked, tenant_id, family)
        await record_erasure_done(connection, self._erasures, tenant_id, customer_id)

"""Handlers that keep scoring's customer projection from profile's customer.* events.

Each runs inside the consumer's transaction, which also moves the stream position, so every event
counts exactly once (``events_applied`` makes that visible).
"""

from __future__ import annotations

import uuid
from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2
from services.runtime.events.consumer import ConsumerSpec, Handler
from services.scoring.store.tables import customers

CONSUMER_NAME = "scoring.customers"


def _key(envelope: envelope_pb2.EventEnvelope) -> dict[str, uuid.UUID]:
    return {"tenant_id": uuid.UUID(envelope.tenant_id), "customer_id": uuid.UUID(envelope.customer_id)}


async def customer_created(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
    payload = envelope.customer_created
    values = {
        **_key(envelope),
        "created_at": payload.created_at.ToDatetime(tzinfo=UTC),
        "registration_channel": payload.registration_channel
        if payload.HasField("registration_channel")
        else None,
        "device": payload.device if payload.HasField("device") else None,
        "events_applied": 1,
    }
    statement = pg.insert(customers).values(values)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.tenant_id, customers.c.customer_id],
            # A merge announced on the survivor's partition may have arrived first: keep its merged_into.
            set_={
                "created_at": statement.excluded.created_at,
                "registration_channel": statement.excluded.registration_channel,
                "device": statement.excluded.device,
                "updated_at": sa.func.now(),
                "events_applied": customers.c.events_applied + 1,
            },
        )
    )


async def customer_updated(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
    key = _key(envelope)
    await connection.execute(
        sa.update(customers)
        .where(customers.c.tenant_id == key["tenant_id"], customers.c.customer_id == key["customer_id"])
        .values(updated_at=sa.func.now(), events_applied=customers.c.events_applied + 1)
    )


async def customer_merged(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
    """Mark the merged customers. Their own events travel on their own partitions and may arrive
    later, so a merged customer not seen yet gets its row now (created_at provisional)."""
    tenant_id = uuid.UUID(envelope.tenant_id)
    survivor = uuid.UUID(envelope.customer_merged.survivor_id)
    occurred_at = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    rows = [
        {
            "tenant_id": tenant_id,
            "customer_id": uuid.UUID(merged),
            "created_at": occurred_at,
            "merged_into": survivor,
            "events_applied": 1,
        }
        for merged in envelope.customer_merged.merged_ids
    ]
    statement = pg.insert(customers)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.tenant_id, customers.c.customer_id],
            set_={
                "merged_into": statement.excluded.merged_into,
                "updated_at": sa.func.now(),
                "events_applied": customers.c.events_applied + 1,
            },
        ),
        rows,
    )


async def customer_erased(connection: AsyncConnection, envelope: envelope_pb2.EventEnvelope) -> None:
    key = _key(envelope)
    await connection.execute(
        sa.update(customers)
        .where(customers.c.tenant_id == key["tenant_id"], customers.c.customer_id == key["customer_id"])
        .values(
            erased_at=envelope.customer_erased.erased_at.ToDatetime(tzinfo=UTC),
            registration_channel=None,
            device=None,
            updated_at=sa.func.now(),
            events_applied=customers.c.events_applied + 1,
        )
    )


HANDLERS: dict[str, Handler] = {
    "customer.created": customer_created,
    "customer.updated": customer_updated,
    "customer.merged": customer_merged,
    "customer.erased": customer_erased,
}


def customers_consumer(lease_seconds: float) -> ConsumerSpec:
    return ConsumerSpec(
        name=CONSUMER_NAME, producer="profile", handlers=HANDLERS, lease_seconds=lease_seconds
    )

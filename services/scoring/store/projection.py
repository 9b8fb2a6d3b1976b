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
            set_={
                "created_at": statement.excluded.created_at,
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
    tenant_id = uuid.UUID(envelope.tenant_id)
    survivor = uuid.UUID(envelope.customer_merged.survivor_id)
    merged = [uuid.UUID(m) for m in envelope.customer_merged.merged_ids]
    await connection.execute(
        sa.update(customers)
        .where(customers.c.tenant_id == tenant_id, customers.c.customer_id.in_(merged))
        .values(merged_into=survivor, updated_at=sa.func.now(), events_applied=customers.c.events_applied + 1)
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

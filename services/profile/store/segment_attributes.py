"""The ``SegmentAttributes`` that customer.created, customer.updated and customer.merged carry.

Read from the customer's row in the transaction that changed it, so the event holds the values as
committed (after a merge filled gaps from the merged customers, after a PATCH cleared one). Only the
attributes a segment may test travel: never the nickname, a contact or the custom attributes.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.store.tables import customers
from services.runtime.proto_convert import set_optional, set_time

# The attribute columns that travel, each as the payload field of the same name.
SEGMENT_TEXT_ATTRIBUTES = ("gender", "province", "city", "timezone", "registration_channel", "device")
SEGMENT_ATTRIBUTES = (*SEGMENT_TEXT_ATTRIBUTES, "birthday", "registered_at")


async def segment_attributes(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> profile_events_pb2.SegmentAttributes:
    """The customer's segment attributes as they stand in this transaction (empty when no row)."""
    row = (
        await connection.execute(
            sa.select(*(customers.c[name] for name in SEGMENT_ATTRIBUTES)).where(
                customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id
            )
        )
    ).first()
    message = profile_events_pb2.SegmentAttributes()
    if row is None:
        return message
    for name in SEGMENT_TEXT_ATTRIBUTES:
        set_optional(message, name, getattr(row, name))
    if row.birthday is not None:
        message.birthday = row.birthday.isoformat()
    set_time(message, "registered_at", row.registered_at)
    return message

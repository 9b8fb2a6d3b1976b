"""The events of a message's life, appended to notify's outbox in the transaction that changes it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import notify_events_pb2
from services.runtime.events.outbox import NewEvent, Outbox


@dataclass(frozen=True)
class MessageChange:
    """One step of a message's life, as its event says it."""

    tenant_id: uuid.UUID
    customer_id: uuid.UUID
    message_id: uuid.UUID
    channel: str
    purpose: str
    template_id: uuid.UUID
    sender: str
    sender_ref: str | None
    status: str
    reason: str | None = None
    at: datetime | None = None
    order_id: str | None = None
    amount_minor: int = 0
    currency: str = ""
    event_type: str = ""


def _event(change: MessageChange) -> NewEvent:
    at = change.at or datetime.now(UTC)
    payload = notify_events_pb2.MessageEvent(
        message_id=str(change.message_id),
        channel=change.channel,
        purpose=change.purpose,
        template_id=str(change.template_id),
        sender=change.sender,
        sender_ref=change.sender_ref or "",
        status=change.status,
        reason=change.reason or "",
        order_id=change.order_id or "",
        amount_minor=change.amount_minor,
        currency=change.currency,
    )
    payload.at.FromDatetime(at)
    kind = change.event_type or f"message.{change.status}"
    return NewEvent(change.tenant_id, kind, change.customer_id, payload, occurred_at=at)


async def publish(connection: AsyncConnection, outbox: Outbox, changes: Sequence[MessageChange]) -> None:
    """Append one event per change (``message.<status>`` unless the change names its type)."""
    await outbox.append(connection, [_event(change) for change in changes])

"""The events of a message's life, appended to notify's outbox in the transaction that changes it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import notify_events_pb2
from services.notify.domain.webhooks import WebhookEvent
from services.notify.store.webhooks import enqueue_webhook_deliveries
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


def _webhook_event(change: MessageChange, event: NewEvent) -> WebhookEvent:
    payload: dict[str, Any] = {
        "message_id": str(change.message_id),
        "customer_id": str(change.customer_id),
        "channel": change.channel,
        "purpose": change.purpose,
        "template_id": str(change.template_id),
        "sender": change.sender,
        "status": change.status,
    }
    if change.reason:
        payload["reason"] = change.reason
    if change.order_id:
        payload.update(order_id=change.order_id, amount_minor=change.amount_minor, currency=change.currency)
    return WebhookEvent(str(event.event_id), event.type, event.occurred_at, payload)


async def publish(connection: AsyncConnection, outbox: Outbox, changes: Sequence[MessageChange]) -> None:
    """Append one event per change (``message.<status>`` unless the change names its type) and queue
    its deliveries to the tenant's webhooks, in the caller's transaction."""
    if not changes:
        return
    events = [_event(change) for change in changes]
    await outbox.append(connection, events)
    by_tenant: dict[uuid.UUID, list[WebhookEvent]] = defaultdict(list)
    for change, event in zip(changes, events, strict=True):
        by_tenant[change.tenant_id].append(_webhook_event(change, event))
    for tenant_id, webhook_events in by_tenant.items():
        await enqueue_webhook_deliveries(connection, tenant_id, webhook_events)

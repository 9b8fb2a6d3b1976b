"""A message row as the API shows it, and the event of a message moving to a status: shared by the
stores that commit, deliver, track and convert messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notify.domain.messages import MessageView
from services.notify.store.message_events import MessageChange


def view_from_row(row: Any, *, deduplicated: bool = False) -> MessageView:
    """A message row as the API shows it."""
    return MessageView(
        message_id=row.message_id,
        customer_id=row.customer_id,
        template_id=row.template_id,
        channel=row.channel,
        purpose=row.purpose,
        status=row.status,
        reason=row.reason,
        to_masked=row.contact_masked,
        sender=row.sender,
        created_at=row.created_at,
        due_at=row.due_at,
        attempts=row.attempts,
        error=row.error,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        opened_at=row.opened_at,
        clicked_at=row.clicked_at,
        failed_at=row.failed_at,
        converted_at=row.converted_at,
        conversion_order_id=row.conversion_order_id,
        deduplicated=deduplicated,
    )


def change_of(row: Any, status: str, reason: str | None, at: datetime, **extra: Any) -> MessageChange:
    """The event of a message row moving to ``status`` (``extra``: a conversion's order fields and
    event type)."""
    return MessageChange(
        tenant_id=row.tenant_id,
        customer_id=row.customer_id,
        message_id=row.message_id,
        channel=row.channel,
        purpose=row.purpose,
        template_id=row.template_id,
        sender=row.sender,
        sender_ref=row.sender_ref,
        status=status,
        reason=reason,
        at=at,
        **extra,
    )

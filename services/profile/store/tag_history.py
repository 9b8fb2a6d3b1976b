"""The history of tags put on and taken off customers, written with the tag.changed events.

Every tag change goes through :func:`record_tag_changes`, so the history (for the timeline) and the
events (for the other services) cannot disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import profile_events_pb2
from services.profile.store import merges, privacy
from services.profile.store.tables import customer_tag_history
from services.runtime.events.outbox import NewEvent, Outbox


async def record_tag_changes(connection: AsyncConnection, outbox: Outbox, events: Sequence[NewEvent]) -> None:
    """Append tag.changed events and their history rows in the caller's transaction."""
    if not events:
        return
    rows = []
    for event in events:
        payload = event.payload
        assert isinstance(payload, profile_events_pb2.TagChanged)
        expires_at = payload.expires_at.ToDatetime(tzinfo=UTC) if payload.HasField("expires_at") else None
        rows.append(
            {
                "tenant_id": event.tenant_id,
                "customer_id": event.customer_id,
                "tag_id": uuid.UUID(payload.tag_id),
                "tag_name": payload.tag_name,
                "applied": payload.applied,
                "source": payload.source,
                "expires_at": expires_at,
            }
        )
    await connection.execute(sa.insert(customer_tag_history), rows)
    await outbox.append(connection, events)


merges.REPOINT_STATEMENTS.append(
    sa.text(
        "UPDATE customer_tag_history SET customer_id = CAST(:survivor AS uuid) "
        "WHERE tenant_id = :tenant AND customer_id = ANY(:merged)"
    )
)
privacy.ERASE_STATEMENTS.append(
    sa.text("DELETE FROM customer_tag_history WHERE tenant_id = :tenant AND customer_id = ANY(:customers)")
)
privacy.EXPORT_QUERIES["tag_history"] = sa.text(
    "SELECT tag_id, tag_name, applied, source, expires_at, changed_at FROM customer_tag_history "
    "WHERE tenant_id = :tenant AND customer_id = ANY(:customers) ORDER BY changed_at, change_id"
)

"""Notify's part of a customer's export (``GET /v1/customers/{id}/export``): the messages notify
holds of the customer (channel, template, status and times — contacts only masked, as stored), the
consents it keeps and the suppressions it recorded. After erasure only the bare records remain."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from services.runtime.database import Database

MAX_EXPORTED_MESSAGES = 10_000

_MESSAGES = sa.text(
    """
    SELECT message_id, template_id, channel, purpose, sender, status, reason, contact_masked,
           subject, body, created_at, sent_at, delivered_at, opened_at, clicked_at, failed_at,
           converted_at, conversion_order_id
    FROM messages WHERE tenant_id = :tenant AND customer_id = :customer
    ORDER BY created_at DESC LIMIT :limit
    """
)
_CONSENTS = sa.text(
    "SELECT channel, purpose, granted, changed_at FROM consents "
    "WHERE tenant_id = :tenant AND customer_id = :customer ORDER BY channel, purpose"
)
_SUPPRESSIONS = sa.text(
    "SELECT channel, scope, reason, created_at FROM suppressions "
    "WHERE tenant_id = :tenant AND customer_id = :customer ORDER BY channel, scope"
)


class SqlCustomerExport:
    """Reads what notify holds of one customer."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def export(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any]:
        """Messages (newest 10,000), consents and suppressions, as plain JSON values."""
        keys = {"tenant": tenant_id, "customer": customer_id, "limit": MAX_EXPORTED_MESSAGES}
        async with self._database.read() as connection:
            messages = [dict(row._mapping) for row in await connection.execute(_MESSAGES, keys)]
            consents = [dict(row._mapping) for row in await connection.execute(_CONSENTS, keys)]
            suppressions = [dict(row._mapping) for row in await connection.execute(_SUPPRESSIONS, keys)]
        return {"messages": messages, "consents": consents, "suppressions": suppressions}

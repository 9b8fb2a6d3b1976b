"""Receipts applied to messages in one statement (events and bounce suppressions in the same
transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from services.notify.domain.receipts import Receipt
from services.notify.store.channels import SqlChannelStore
from services.notify.store.message_events import publish
from services.notify.store.messages import change_of
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_APPLY = sa.text(
    """
    UPDATE messages AS m
    SET status = CASE WHEN r.status = 'delivered' THEN
                   CASE WHEN m.status = 'sent' THEN 'delivered' ELSE m.status END
                 ELSE 'failed' END,
        delivered_at = CASE WHEN r.status = 'delivered' THEN COALESCE(m.delivered_at, now())
                       ELSE m.delivered_at END,
        failed_at = CASE WHEN r.status <> 'delivered' THEN now() ELSE m.failed_at END,
        reason = CASE WHEN r.status = 'bounced' THEN 'bounced' ELSE m.reason END,
        error = CASE WHEN r.status <> 'delivered' THEN NULLIF(r.error, '') ELSE m.error END
    FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:errors AS text[]))
         AS r(message_id, status, error)
    WHERE m.tenant_id = :tenant AND m.channel = :channel AND m.message_id = r.message_id
      AND m.provider = 'http'
      AND ((r.status = 'delivered' AND m.delivered_at IS NULL AND m.status IN ('sent', 'opened', 'clicked'))
           OR (r.status <> 'delivered' AND m.status = 'sent'))
    RETURNING m.*, r.status AS receipt
    """
)
_BOUNCED = sa.text(
    """
    INSERT INTO suppressions (tenant_id, customer_id, channel, scope, reason)
    SELECT :tenant, customer, :channel, '', 'bounced' FROM unnest(CAST(:customers AS uuid[])) AS customer
    ON CONFLICT DO NOTHING
    """
)


class SqlReceiptStore:
    """Implements ``ReceiptStore``."""

    def __init__(self, database: Database, outbox: Outbox, channels: SqlChannelStore) -> None:
        self._database = database
        self._outbox = outbox
        self._channels = channels

    async def receipt_secret(self, tenant_id: uuid.UUID, channel: str) -> str | None:
        stored = await self._channels.get(tenant_id, channel)
        if stored is None or stored.provider != "http":
            return None
        return stored.secrets.get("secret")

    async def apply_receipts(self, tenant_id: uuid.UUID, channel: str, receipts: Sequence[Receipt]) -> int:
        if not receipts:
            return 0
        now = datetime.now(UTC)
        async with self._database.transaction() as connection:
            rows = list(
                await connection.execute(
                    _APPLY,
                    {
                        "tenant": tenant_id,
                        "channel": channel,
                        "ids": [r.message_id for r in receipts],
                        "statuses": [r.status for r in receipts],
                        "errors": [r.error for r in receipts],
                    },
                )
            )
            bounced = [row.customer_id for row in rows if row.receipt == "bounced"]
            if bounced:
                await connection.execute(
                    _BOUNCED, {"tenant": tenant_id, "channel": channel, "customers": bounced}
                )
            changes = [
                change_of(
                    row, "delivered" if row.receipt == "delivered" else "failed", row.reason or row.error, now
                )
                for row in rows
            ]
            await publish(connection, self._outbox, changes)
        return len(rows)

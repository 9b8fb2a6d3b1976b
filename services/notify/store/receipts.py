"""Receipts applied to messages in one statement (events and bounce suppressions in the same
transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.notify.domain.receipts import ProviderReceipt, Receipt
from services.notify.store.channels import SqlChannelStore
from services.notify.store.message_events import publish
from services.notify.store.message_rows import change_of
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_MOVE = """
    UPDATE messages AS m
    SET status = CASE WHEN r.status = 'delivered' THEN
                   CASE WHEN m.status = 'sent' THEN 'delivered' ELSE m.status END
                 ELSE 'failed' END,
        delivered_at = CASE WHEN r.status = 'delivered' THEN COALESCE(m.delivered_at, now())
                       ELSE m.delivered_at END,
        failed_at = CASE WHEN r.status <> 'delivered' THEN now() ELSE m.failed_at END,
        reason = CASE WHEN r.status = 'bounced' THEN 'bounced' ELSE m.reason END,
        error = CASE WHEN r.status <> 'delivered' THEN NULLIF(r.error, '') ELSE m.error END
    FROM unnest(CAST(:ids AS {id_type}[]), CAST(:statuses AS text[]), CAST(:errors AS text[]))
         AS r(id, status, error)
    WHERE m.tenant_id = :tenant AND m.channel = :channel AND m.{id_column} = r.id
      AND m.provider = :provider
      AND ((r.status = 'delivered' AND m.delivered_at IS NULL AND m.status IN ('sent', 'opened', 'clicked'))
           OR (r.status <> 'delivered' AND m.status = 'sent'))
    RETURNING m.*, r.status AS receipt
    """
# Our receipts name our message id; a provider's callbacks name the id its API answered at send time.
_APPLY = sa.text(_MOVE.format(id_type="uuid", id_column="message_id"))
_APPLY_BY_PROVIDER_ID = sa.text(_MOVE.format(id_type="text", id_column="provider_message_id"))
_BOUNCED = sa.text(
    """
    INSERT INTO suppressions (tenant_id, customer_id, channel, scope, reason)
    SELECT :tenant, customer, :channel, '', 'bounced' FROM unnest(CAST(:customers AS uuid[])) AS customer
    ON CONFLICT DO NOTHING
    """
)


class SqlReceiptStore:
    """Implements ``ReceiptStore`` and ``WeChatReceiptStore``."""

    def __init__(self, database: Database, outbox: Outbox, channels: SqlChannelStore) -> None:
        self._database = database
        self._outbox = outbox
        self._channels = channels

    async def receipt_secret(self, tenant_id: uuid.UUID, channel: str) -> str | None:
        stored = await self._channels.get(tenant_id, channel)
        if stored is None or stored.provider != "http":
            return None
        return stored.secrets.get("secret")

    async def callback_token(self, tenant_id: uuid.UUID, channel: str) -> str | None:
        stored = await self._channels.get(tenant_id, channel)
        if stored is None or stored.provider != "wechat":
            return None
        return stored.secrets.get("callback_token")

    async def apply_receipts(self, tenant_id: uuid.UUID, channel: str, receipts: Sequence[Receipt]) -> int:
        return await self._apply(
            _APPLY, tenant_id, channel, "http", [(r.message_id, r.status, r.error) for r in receipts]
        )

    async def apply_provider_receipts(
        self, tenant_id: uuid.UUID, channel: str, provider: str, receipts: Sequence[ProviderReceipt]
    ) -> int:
        """Receipts matched by the provider's message id (with the tenant, channel and provider)."""
        return await self._apply(
            _APPLY_BY_PROVIDER_ID,
            tenant_id,
            channel,
            provider,
            [(r.provider_message_id, r.status, r.error) for r in receipts],
        )

    async def _apply(
        self,
        statement: sa.TextClause,
        tenant_id: uuid.UUID,
        channel: str,
        provider: str,
        receipts: Sequence[tuple[Any, str, str]],
    ) -> int:
        """Moves the messages the receipts name, suppresses bounced customers and publishes the
        changes, all in one transaction."""
        if not receipts:
            return 0
        now = datetime.now(UTC)
        async with self._database.transaction() as connection:
            rows = list(
                await connection.execute(
                    statement,
                    {
                        "tenant": tenant_id,
                        "channel": channel,
                        "provider": provider,
                        "ids": [r[0] for r in receipts],
                        "statuses": [r[1] for r in receipts],
                        "errors": [r[2] for r in receipts],
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

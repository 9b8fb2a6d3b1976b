"""Opens, clicks and unsubscribes recorded on a message (the first of each publishes its event)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from services.notify.store.message_events import publish
from services.notify.store.message_rows import change_of
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_OPEN = sa.text(
    """
    UPDATE messages
    SET opened_at = now(), status = CASE WHEN status IN ('sent', 'delivered') THEN 'opened' ELSE status END
    WHERE tenant_id = :tenant AND message_id = :message AND opened_at IS NULL
      AND status IN ('sent', 'delivered', 'opened', 'clicked')
    RETURNING *
    """
)
_CLICK = sa.text(
    """
    UPDATE messages
    SET clicked_at = now(), opened_at = COALESCE(opened_at, now()),
        status = CASE WHEN status IN ('sent', 'delivered', 'opened') THEN 'clicked' ELSE status END
    WHERE tenant_id = :tenant AND message_id = :message AND clicked_at IS NULL
      AND status IN ('sent', 'delivered', 'opened', 'clicked')
    RETURNING *
    """
)
_MESSAGE = sa.text(
    "SELECT customer_id, channel FROM messages WHERE tenant_id = :tenant AND message_id = :message"
)
_SUPPRESS = sa.text(
    """
    INSERT INTO suppressions (tenant_id, customer_id, channel, scope, reason)
    VALUES (:tenant, :customer, :channel, '', 'unsubscribed')
    ON CONFLICT DO NOTHING
    """
)


class SqlLinkStore:
    """Implements ``LinkStore``."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def _first(
        self, statement: sa.TextClause, status: str, tenant_id: uuid.UUID, message_id: uuid.UUID
    ) -> bool:
        async with self._database.transaction() as connection:
            row = (await connection.execute(statement, {"tenant": tenant_id, "message": message_id})).first()
            if row is None:
                return False
            await publish(connection, self._outbox, [change_of(row, status, None, datetime.now(UTC))])
            return True

    async def record_open(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> bool:
        """The first open of a sent message; False when already opened or never sent."""
        return await self._first(_OPEN, "opened", tenant_id, message_id)

    async def record_click(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> bool:
        """The first click of a sent message."""
        return await self._first(_CLICK, "clicked", tenant_id, message_id)

    async def channel_of(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> str | None:
        async with self._database.read() as connection:
            row = (await connection.execute(_MESSAGE, {"tenant": tenant_id, "message": message_id})).first()
        return None if row is None else str(row.channel)

    async def unsubscribe(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
        async with self._database.transaction() as connection:
            row = (await connection.execute(_MESSAGE, {"tenant": tenant_id, "message": message_id})).first()
            if row is None:
                return None
            await connection.execute(
                _SUPPRESS, {"tenant": tenant_id, "customer": row.customer_id, "channel": row.channel}
            )
        return row.customer_id, row.channel

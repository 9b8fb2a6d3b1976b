"""Committing a message under its customer's lock, and reading messages back.

The cap must hold under concurrency: 20 marketing messages to one customer at once, over three
channels, with a cap of 2, commit exactly 2. Every send of a customer therefore takes one
transaction-scoped advisory lock keyed by tenant and customer, reads the facts the policy needs
(consent, suppressions, erasure, the marketing messages already counted, the policy, the zone) and
inserts its message before releasing it — ``message_batches.commit_drafts``, which a single send
uses as a batch of one. Sends to different customers never wait for each other.

``dedupe_key`` is unique per tenant (a partial unique index): the check under the lock answers an
earlier message, and the index makes a second row impossible even if the lock were bypassed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from services.notify.domain.messages import MessageDraft, MessageView, StoredTemplate
from services.notify.store.message_batches import commit_drafts
from services.notify.store.message_rows import view_from_row
from services.notify.store.templates import template_from_row
from services.runtime.database import Database, driver_connection
from services.runtime.events.outbox import Outbox
from services.runtime.hot_pool import HotConnections, HotPathClosed, RecordView

_BY_DEDUPE = sa.text("SELECT * FROM messages WHERE tenant_id = :tenant AND dedupe_key = :key")


_GET = sa.text("SELECT * FROM messages WHERE tenant_id = :tenant AND message_id = :message_id")

# A customer's messages (a merged-away id: its survivor's), newest first: $1 tenant, $2 customer,
# $3 and $4 the cursor, $5 the limit. Run on asyncpg directly (the hot pool, or the service's pool
# while the hot one closes).
_FOR_CUSTOMER = """
    SELECT * FROM messages
    WHERE tenant_id = $1
      AND customer_id = COALESCE(
        (SELECT merged_into FROM customer_states
         WHERE tenant_id = $1 AND customer_id = $2 AND merged_into IS NOT NULL), $2)
      AND ($3::timestamptz IS NULL OR (created_at, message_id) < ($3::timestamptz, $4::uuid))
    ORDER BY created_at DESC, message_id DESC
    LIMIT $5
"""

_TEMPLATE = sa.text("SELECT * FROM templates WHERE tenant_id = :tenant AND template_id = :template")
_CHANNEL_ENABLED = sa.text("SELECT enabled FROM channels WHERE tenant_id = :tenant AND channel = :channel")


class SqlMessageStore:
    """Implements ``MessageStore`` on notify's database."""

    def __init__(self, database: Database, outbox: Outbox, hot: HotConnections) -> None:
        self._database = database
        self._outbox = outbox
        self._hot = hot

    async def template(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> StoredTemplate | None:
        async with self._database.read() as connection:
            row = (
                await connection.execute(_TEMPLATE, {"tenant": tenant_id, "template": template_id})
            ).first()
        return None if row is None else template_from_row(row)

    async def channel_enabled(self, tenant_id: uuid.UUID, channel: str) -> bool:
        async with self._database.read() as connection:
            enabled = await connection.scalar(_CHANNEL_ENABLED, {"tenant": tenant_id, "channel": channel})
        return bool(enabled)

    async def by_dedupe_key(self, tenant_id: uuid.UUID, key: str) -> MessageView | None:
        async with self._database.read() as connection:
            row = (await connection.execute(_BY_DEDUPE, {"tenant": tenant_id, "key": key})).first()
        return None if row is None else view_from_row(row, deduplicated=True)

    async def commit(self, tenant_id: uuid.UUID, draft: MessageDraft) -> MessageView:
        """Decide under the customer's lock, insert, and publish ``message.suppressed`` if so — the
        batch commit with one draft, so a single send and a journey's batch judge alike."""
        async with self._database.transaction() as connection:
            (view,) = await commit_drafts(connection, self._outbox, [(tenant_id, draft)])
        return view

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> MessageView | None:
        """One message of the tenant."""
        async with self._database.read() as connection:
            row = (await connection.execute(_GET, {"tenant": tenant_id, "message_id": message_id})).first()
        return None if row is None else view_from_row(row)

    async def for_customer(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[MessageView]:
        """The customer's messages, newest first, after a cursor: one statement on the hot pool (the
        customer 360 reads the first page on every call), the service's pool once it is closing."""
        after_at, after_id = after if after else (None, None)
        arguments = (tenant_id, customer_id, after_at, after_id, limit)
        try:
            records = await self._hot.fetch(_FOR_CUSTOMER, *arguments)
        except HotPathClosed:  # stopping: the service's own pool stays open until it has drained
            async with self._database.read() as connection:
                records = await (await driver_connection(connection)).fetch(_FOR_CUSTOMER, *arguments)
        return [view_from_row(RecordView(record)) for record in records]

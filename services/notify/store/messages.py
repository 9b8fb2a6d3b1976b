"""Committing a message under its customer's lock, and reading messages back.

The cap must hold under concurrency: 20 marketing messages to one customer at once, over three
channels, with a cap of 2, commit exactly 2. Every send of a customer therefore takes one
transaction-scoped advisory lock keyed by tenant and customer, reads the facts the policy needs
(consent, suppressions, erasure, the marketing messages already counted, the policy, the zone) and
inserts its message before releasing it. Sends to different customers never wait for each other.

``dedupe_key`` is unique per tenant (a partial unique index): the check under the lock answers an
earlier message, and the index makes a second row impossible even if the lock were bypassed.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.messages import MessageDraft, MessageView, StoredTemplate
from services.notify.domain.policy import Decision, Policy, Recipient, decide, parse_policy, recipient_zone
from services.notify.store.message_events import MessageChange, publish
from services.notify.store.templates import template_from_row
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended(CAST(:tenant AS text) || CAST(:customer AS text), 12))"
)

_DEDUPE_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(13, hashtext(CAST(:tenant AS text) || CAST(:key AS text)))"
)
"""Sends naming one ``dedupe_key`` but different customers do not share a customer's lock: the key's
own lock (a separate two-key space, always taken before the customer's) makes the check under it
exact, so the losers answer the first message instead of tripping the unique index."""

_BY_DEDUPE = sa.text("SELECT * FROM messages WHERE tenant_id = :tenant AND dedupe_key = :key")

_FACTS = sa.text(
    """
    SELECT
      (SELECT document FROM policies WHERE tenant_id = :tenant) AS policy,
      (SELECT timezone FROM tenants WHERE tenant_id = :tenant) AS tenant_zone,
      (SELECT granted FROM consents
        WHERE tenant_id = :tenant AND customer_id = :customer AND channel = :channel
          AND purpose = :purpose) AS consent,
      EXISTS (SELECT 1 FROM suppressions
        WHERE tenant_id = :tenant AND customer_id = :customer AND channel = :channel
          AND scope IN ('', :scope)) AS unsubscribed,
      EXISTS (SELECT 1 FROM customer_states
        WHERE tenant_id = :tenant AND customer_id = :customer AND erased_at IS NOT NULL) AS erased,
      ARRAY(SELECT created_at FROM messages
        WHERE tenant_id = :tenant AND customer_id = :customer AND purpose = 'marketing'
          AND status NOT IN ('suppressed', 'failed') AND created_at > :since) AS counted
    """
)

_INSERT = sa.text(
    """
    INSERT INTO messages (
      message_id, tenant_id, customer_id, template_id, channel, purpose, sender, sender_ref,
      dedupe_key, status, reason, contact_masked, subject, body, html, provider_template,
      provider_params, data, created_at, due_at)
    VALUES (
      :message_id, :tenant, :customer, :template, :channel, :purpose, :sender, :sender_ref,
      :dedupe_key, :status, :reason, :contact, :subject, :body, :html, :provider_template,
      CAST(:provider_params AS jsonb), CAST(:data AS jsonb), :now, :due_at)
    RETURNING *
    """
)

_GET = sa.text("SELECT * FROM messages WHERE tenant_id = :tenant AND message_id = :message_id")

_FOR_CUSTOMER = sa.text(
    """
    SELECT * FROM messages
    WHERE tenant_id = :tenant
      AND customer_id = COALESCE(
        (SELECT merged_into FROM customer_states
         WHERE tenant_id = :tenant AND customer_id = :customer AND merged_into IS NOT NULL), :customer)
      AND (CAST(:after_at AS timestamptz) IS NULL
           OR (created_at, message_id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
    ORDER BY created_at DESC, message_id DESC
    LIMIT :limit
    """
)

_TEMPLATE = sa.text("SELECT * FROM templates WHERE tenant_id = :tenant AND template_id = :template")
_CHANNEL_ENABLED = sa.text("SELECT enabled FROM channels WHERE tenant_id = :tenant AND channel = :channel")


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


class SqlMessageStore:
    """Implements ``MessageStore`` on notify's database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

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
        """Decide under the customer's lock, insert, and publish ``message.suppressed`` if so."""
        async with self._database.transaction() as connection:
            return await commit_draft(connection, self._outbox, tenant_id, draft)

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
        """The customer's messages, newest first, after a cursor."""
        async with self._database.read() as connection:
            result = await connection.execute(
                _FOR_CUSTOMER,
                {
                    "tenant": tenant_id,
                    "customer": customer_id,
                    "after_at": after[0] if after else None,
                    "after_id": after[1] if after else None,
                    "limit": limit,
                },
            )
            return [view_from_row(row) for row in result]


async def commit_draft(
    connection: AsyncConnection, outbox: Outbox, tenant_id: uuid.UUID, draft: MessageDraft
) -> MessageView:
    """Decide under the customer's lock, insert, and publish ``message.suppressed`` if so — in the
    caller's transaction (a journey commits its step's advance in the same one)."""
    if draft.command.dedupe_key is not None:
        await connection.execute(_DEDUPE_LOCK, {"tenant": str(tenant_id), "key": draft.command.dedupe_key})
    await connection.execute(_LOCK, {"tenant": str(tenant_id), "customer": str(draft.customer_id)})
    if draft.command.dedupe_key is not None:
        row = (
            await connection.execute(_BY_DEDUPE, {"tenant": tenant_id, "key": draft.command.dedupe_key})
        ).first()
        if row is not None:
            return view_from_row(row, deduplicated=True)
    now = datetime.now(UTC)
    decision = await _decide(connection, tenant_id, draft, now)
    row = await _insert(connection, tenant_id, draft, decision, now)
    if row.status == "suppressed":
        await publish(connection, outbox, [change_of(row, "suppressed", row.reason, now)])
    return view_from_row(row)


async def _decide(
    connection: AsyncConnection, tenant_id: uuid.UUID, draft: MessageDraft, now: datetime
) -> Decision:
    template = draft.template
    facts = (
        await connection.execute(
            _FACTS,
            {
                "tenant": tenant_id,
                "customer": draft.customer_id,
                "channel": template.channel,
                "purpose": template.purpose,
                "scope": str(template.template_id),
                "since": now - timedelta(days=91),
            },
        )
    ).one()
    policy = parse_policy(facts.policy) if facts.policy is not None else Policy()
    recipient = Recipient(
        erased=facts.erased or draft.recipient.state == "erased",
        has_contact=draft.recipient.contact_masked is not None,
        unsubscribed=facts.unsubscribed,
        consent=facts.consent,
        zone=recipient_zone(draft.recipient.timezone, facts.tenant_zone),
    )
    decision = decide(template.purpose, recipient, policy, list(facts.counted), now)
    if decision.action != "suppress" and draft.rendered is None:
        return Decision("suppress", "missing_data")
    return decision


async def _insert(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    draft: MessageDraft,
    decision: Decision,
    now: datetime,
) -> Any:
    status = {"send": "queued", "defer": "deferred", "suppress": "suppressed"}[decision.action]
    rendered = draft.rendered if status != "suppressed" else None
    reason = decision.reason
    if reason == "missing_data" and draft.missing:
        reason = "missing_data"
    params = {
        "message_id": uuid.uuid4(),
        "tenant": tenant_id,
        "customer": draft.customer_id,
        "template": draft.template.template_id,
        "channel": draft.template.channel,
        "purpose": draft.template.purpose,
        "sender": draft.command.sender,
        "sender_ref": draft.command.sender_ref,
        "dedupe_key": draft.command.dedupe_key,
        "status": status,
        "reason": reason,
        "contact": draft.recipient.contact_masked,
        "subject": rendered.subject if rendered else None,
        "body": rendered.body if rendered else None,
        "html": rendered.html if rendered else None,
        "provider_template": draft.template.parts.provider_template if rendered else None,
        "provider_params": json.dumps(dict(rendered.provider_params)) if rendered else None,
        "data": json.dumps(dict(draft.command.data)) if rendered else None,
        "now": now,
        "due_at": now if status == "queued" else decision.until,
    }
    return (await connection.execute(_INSERT, params)).one()


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

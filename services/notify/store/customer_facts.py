"""What notify keeps from profile's events, applied in the consumer's transaction (exactly once).

- ``consent.changed`` → the latest consent per channel and purpose (an older event never overwrites
  a newer one: events of a customer arrive in order, but a replay must change nothing);
- ``customer.erased`` → the customer is never reached again: queued and deferred messages are
  suppressed with ``erased`` (one in a provider's hands is left to its worker's record: sent if it
  went, else the claim's re-check suppresses it), every message loses its contact traces and text,
  consents go;
- ``customer.merged`` → the merged ids' messages, consents and suppressions move to the survivor
  (the survivor's own record wins), so the cap counts one customer across both histories; ids merged
  into a merged id earlier now point at the survivor too, so a lookup by any old id takes one step;
- ``order.paid`` → attribution: each marketing message delivered (or, where the provider gives no
  receipts, sent) within the tenant's attribution window before the payment is marked converted.
  Every qualifying message converts (one per sender), so a journey's and a campaign's reports each
  count the order they earned; docs/notify.md says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.policy import Policy, parse_policy
from services.notify.store.message_events import publish
from services.notify.store.message_rows import change_of
from services.notify.store.tables import consumer_parked, customer_erasures, outbox
from services.runtime.events.erasure import ErasureTraces
from services.runtime.events.outbox import Outbox

_TRACES = ErasureTraces("notify", outbox, consumer_parked, customer_erasures)

_CONSENT = sa.text(
    """
    INSERT INTO consents (tenant_id, customer_id, channel, purpose, granted, changed_at)
    VALUES (:tenant, :customer, :channel, :purpose, :granted, :at)
    ON CONFLICT (tenant_id, customer_id, channel, purpose) DO UPDATE
      SET granted = EXCLUDED.granted, changed_at = EXCLUDED.changed_at
      WHERE consents.changed_at <= EXCLUDED.changed_at
    """
)

_ERASED_STATE = sa.text(
    """
    INSERT INTO customer_states (tenant_id, customer_id, erased_at) VALUES (:tenant, :customer, :at)
    ON CONFLICT (tenant_id, customer_id) DO UPDATE SET erased_at = EXCLUDED.erased_at
    """
)
_ERASE_PENDING = sa.text(
    """
    UPDATE messages SET status = 'suppressed', reason = 'erased', due_at = NULL, render_at = NULL,
                        claimed_until = NULL
    WHERE tenant_id = :tenant AND customer_id = :customer AND status IN ('queued', 'deferred')
      AND NOT in_flight
    RETURNING *
    """
)
_ERASE_TRACES = sa.text(
    """
    UPDATE messages SET contact_masked = NULL, subject = NULL, body = NULL, html = NULL, data = NULL,
                        provider_params = NULL, dedupe_key = NULL, error = NULL
    WHERE tenant_id = :tenant AND customer_id = :customer
    """
)
_ERASE_CONSENTS = sa.text("DELETE FROM consents WHERE tenant_id = :tenant AND customer_id = :customer")

_MERGE_STATES = sa.text(
    """
    INSERT INTO customer_states (tenant_id, customer_id, merged_into)
    SELECT :tenant, merged, :survivor FROM unnest(CAST(:merged AS uuid[])) AS merged
    ON CONFLICT (tenant_id, customer_id) DO UPDATE SET merged_into = EXCLUDED.merged_into
    """
)
_MERGE_CHAINS = sa.text(
    """
    UPDATE customer_states SET merged_into = :survivor
    WHERE tenant_id = :tenant AND merged_into = ANY(CAST(:merged AS uuid[]))
    """
)
_MERGE_MESSAGES = sa.text(
    """
    UPDATE messages SET customer_id = :survivor
    WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:merged AS uuid[]))
    """
)
_MERGE_CONSENTS = sa.text(
    """
    WITH moved AS (
      DELETE FROM consents WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:merged AS uuid[]))
      RETURNING channel, purpose, granted, changed_at
    )
    INSERT INTO consents (tenant_id, customer_id, channel, purpose, granted, changed_at)
    SELECT DISTINCT ON (channel, purpose) :tenant, :survivor, channel, purpose, granted, changed_at
    FROM moved ORDER BY channel, purpose, changed_at DESC
    ON CONFLICT (tenant_id, customer_id, channel, purpose) DO NOTHING
    """
)
_MERGE_SUPPRESSIONS = sa.text(
    """
    WITH moved AS (
      DELETE FROM suppressions WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:merged AS uuid[]))
      RETURNING channel, scope, reason, created_at
    )
    INSERT INTO suppressions (tenant_id, customer_id, channel, scope, reason, created_at)
    SELECT DISTINCT ON (channel, scope) :tenant, :survivor, channel, scope, reason, created_at FROM moved
    ORDER BY channel, scope, created_at
    ON CONFLICT (tenant_id, customer_id, channel, scope) DO NOTHING
    """
)

_POLICY = sa.text("SELECT document FROM policies WHERE tenant_id = :tenant")
_CONVERT = sa.text(
    """
    UPDATE messages
    SET converted_at = :paid_at, conversion_order_id = :order_id,
        conversion_amount_minor = :amount, conversion_currency = :currency
    WHERE tenant_id = :tenant AND customer_id = :customer AND purpose = 'marketing'
      AND converted_at IS NULL AND status IN ('sent', 'delivered', 'opened', 'clicked')
      AND COALESCE(delivered_at, sent_at) <= :paid_at
      AND COALESCE(delivered_at, sent_at) > CAST(:paid_at AS timestamptz) - CAST(:window AS interval)
    RETURNING *
    """
)


async def record_consent(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    channel: str,
    purpose: str,
    granted: bool,
    at: datetime,
) -> None:
    """Keep the customer's latest consent for a channel and purpose."""
    await connection.execute(
        _CONSENT,
        {
            "tenant": tenant_id,
            "customer": customer_id,
            "channel": channel,
            "purpose": purpose,
            "granted": granted,
            "at": at,
        },
    )


async def erase_customer(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    at: datetime,
    merged_ids: Sequence[uuid.UUID] = (),
) -> None:
    """Never reach the customer again and forget what notify held of them; the providers' errors on
    their failed messages' events go too, their parked events go, and notify's erasure is recorded
    as done (``runtime.events.erasure``; ``merged_ids``: the customers merged into them earlier)."""
    keys = {"tenant": tenant_id, "customer": customer_id}
    await connection.execute(_ERASED_STATE, {**keys, "at": at})
    pending = list(await connection.execute(_ERASE_PENDING, keys))
    await connection.execute(_ERASE_TRACES, keys)
    await connection.execute(_ERASE_CONSENTS, keys)
    await publish(connection, outbox, [change_of(row, "suppressed", "erased", at) for row in pending])
    await _TRACES.erase(connection, tenant_id, customer_id, merged_ids)


async def merge_customers(
    connection: AsyncConnection, tenant_id: uuid.UUID, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID]
) -> None:
    """Fold the merged customers' messages, consents and suppressions into the survivor."""
    keys: dict[str, Any] = {"tenant": tenant_id, "survivor": survivor_id, "merged": merged_ids}
    statements = (_MERGE_STATES, _MERGE_CHAINS, _MERGE_MESSAGES, _MERGE_CONSENTS, _MERGE_SUPPRESSIONS)
    for statement in statements:
        await connection.execute(statement, keys)


async def attribute_order(
    connection: AsyncConnection,
    outbox: Outbox,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    amount_minor: int,
    currency: str,
    paid_at: datetime,
) -> int:
    """Mark the messages this payment converts; answers how many."""
    document = await connection.scalar(_POLICY, {"tenant": tenant_id})
    window: timedelta = (parse_policy(document) if document is not None else Policy()).attribution_window
    rows = list(
        await connection.execute(
            _CONVERT,
            {
                "tenant": tenant_id,
                "customer": customer_id,
                "order_id": order_id,
                "amount": amount_minor,
                "currency": currency,
                "paid_at": paid_at,
                "window": window,
            },
        )
    )
    conversion = {"order_id": order_id, "amount_minor": amount_minor, "currency": currency}
    changes = [
        change_of(row, row.status, None, paid_at, event_type="message.converted", **conversion)
        for row in rows
    ]
    await publish(connection, outbox, changes)
    return len(rows)

"""The delivery queue: claiming due messages for one worker and recording what the providers said.

Claims: one statement takes up to a batch of due messages (queued, or deferred whose quiet hours
ended) with ``FOR UPDATE SKIP LOCKED``, so several notify replicas share the queue without taking a
message twice; each claim carries a lease and bumps ``attempts``, which fences the result — a worker
whose lease lapsed and whose message another worker took cannot record over it.

Before a provider is called the same statement re-checks what may have changed since the message was
committed (erased, unsubscribed, consent withdrawn): such a message is suppressed, never sent.

``in_flight`` marks a claim whose provider call may have happened. A claim found in flight after its
lease lapsed means a worker died between the call and its commit: a provider that honours the
idempotency key is simply asked again with the same key (it answers without sending twice); for the
others the message is failed with ``outcome_unknown`` rather than risk a second copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.store.message_events import MessageChange, publish
from services.notify.store.message_rows import change_of
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

IDEMPOTENT_PROVIDERS = ("http",)

_CLAIM = sa.text(
    """
    WITH due AS (
      SELECT m.message_id, m.in_flight AS was_in_flight, c.provider AS channel_provider,
        CASE
          WHEN EXISTS (SELECT 1 FROM customer_states s WHERE s.tenant_id = m.tenant_id
                       AND s.customer_id = m.customer_id AND s.erased_at IS NOT NULL) THEN 'erased'
          WHEN EXISTS (SELECT 1 FROM suppressions x WHERE x.tenant_id = m.tenant_id
                       AND x.customer_id = m.customer_id AND x.channel = m.channel
                       AND x.scope IN ('', CAST(m.template_id AS text))) THEN 'unsubscribed'
          WHEN m.purpose = 'marketing' AND NOT COALESCE(k.granted, false) THEN 'no_consent'
          WHEN m.purpose = 'service' AND k.granted IS FALSE THEN 'no_consent'
        END AS recheck
      FROM messages AS m
      JOIN channels AS c ON c.tenant_id = m.tenant_id AND c.channel = m.channel AND c.enabled
      LEFT JOIN consents AS k ON k.tenant_id = m.tenant_id AND k.customer_id = m.customer_id
        AND k.channel = m.channel AND k.purpose = m.purpose
      WHERE m.status IN ('queued', 'deferred') AND m.due_at <= now()
        AND (m.claimed_until IS NULL OR m.claimed_until < now())
      ORDER BY m.due_at
      LIMIT :limit
      FOR UPDATE OF m SKIP LOCKED
    )
    UPDATE messages AS m
    SET claimed_until = now() + :lease, attempts = m.attempts + 1, in_flight = true,
        provider = due.channel_provider
    FROM due
    WHERE m.message_id = due.message_id
    RETURNING m.*, due.was_in_flight, due.recheck
    """
)

_SENT = sa.text(
    """
    UPDATE messages AS m
    SET status = 'sent', sent_at = now(), provider_message_id = NULLIF(r.provider_id, ''),
        in_flight = false, claimed_until = NULL, due_at = NULL, error = NULL
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:provider_ids AS text[]))
         AS r(message_id, attempt, provider_id)
    WHERE m.message_id = r.message_id AND m.attempts = r.attempt AND m.in_flight
    RETURNING m.*
    """
)
# A provider's error may quote the address: a message of a customer erased while it was in the
# provider's hands keeps none (its events then carry none either; docs/security.md "Privacy").
_RETRY = sa.text(
    """
    UPDATE messages AS m
    SET in_flight = false, claimed_until = NULL,
        error = CASE WHEN EXISTS (SELECT 1 FROM customer_states AS s WHERE s.tenant_id = m.tenant_id
                                  AND s.customer_id = m.customer_id AND s.erased_at IS NOT NULL)
                THEN NULL ELSE r.error END,
        due_at = now() + make_interval(secs => r.delay)
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:errors AS text[]),
                CAST(:delays AS float8[])) AS r(message_id, attempt, error, delay)
    WHERE m.message_id = r.message_id AND m.attempts = r.attempt AND m.in_flight
    RETURNING m.*
    """
)
_FINAL = sa.text(
    """
    UPDATE messages AS m
    SET status = r.status, reason = NULLIF(r.reason, ''),
        error = CASE WHEN EXISTS (SELECT 1 FROM customer_states AS s WHERE s.tenant_id = m.tenant_id
                                  AND s.customer_id = m.customer_id AND s.erased_at IS NOT NULL)
                THEN NULL ELSE NULLIF(r.error, '') END,
        failed_at = CASE WHEN r.status = 'failed' THEN now() END,
        in_flight = false, claimed_until = NULL, due_at = NULL
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:statuses AS text[]),
                CAST(:reasons AS text[]), CAST(:errors AS text[]))
         AS r(message_id, attempt, status, reason, error)
    WHERE m.message_id = r.message_id AND m.attempts = r.attempt AND m.in_flight
    RETURNING m.*
    """
)
_SUPPRESS_CONTACT = sa.text(
    """
    INSERT INTO suppressions (tenant_id, customer_id, channel, scope, reason)
    SELECT * FROM unnest(CAST(:tenants AS uuid[]), CAST(:customers AS uuid[]), CAST(:channels AS text[]),
                         CAST(:scopes AS text[]), CAST(:reasons AS text[]))
    ON CONFLICT DO NOTHING
    """
)


@dataclass(frozen=True)
class Final:
    """A claimed message's last state: ``failed`` or ``suppressed`` with a reason and error."""

    message_id: uuid.UUID
    attempt: int
    status: str
    reason: str = ""
    error: str = ""


@dataclass(frozen=True)
class Suppression:
    """A customer notify stops reaching on a channel (``scope``: '' or a template id)."""

    tenant_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    scope: str
    reason: str


@dataclass
class Results:
    """What one round of sends came to, recorded in one transaction."""

    sent: list[tuple[uuid.UUID, int, str]]
    retries: list[tuple[uuid.UUID, int, str, float]]
    finals: list[Final]
    suppressions: list[Suppression]


class DeliveryQueue:
    """Claims and results of the delivery worker."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def claim(self, limit: int, lease: timedelta) -> list[Any]:
        """Up to ``limit`` due messages, leased to this worker (with ``was_in_flight``, ``recheck``)."""
        async with self._database.transaction() as connection:
            return list(await connection.execute(_CLAIM, {"limit": limit, "lease": lease}))

    async def record(self, results: Results, now: datetime) -> None:
        """Record every outcome, its events and new suppressions, in one transaction."""
        async with self._database.transaction() as connection:
            changes: list[MessageChange] = []
            if results.sent:
                ids, attempts, provider_ids = zip(*results.sent, strict=True)
                rows = await connection.execute(
                    _SENT, {"ids": list(ids), "attempts": list(attempts), "provider_ids": list(provider_ids)}
                )
                changes += [change_of(row, "sent", None, now) for row in rows]
            if results.retries:
                await self._retry(connection, results.retries)
            if results.finals:
                changes += await self._finals(connection, results.finals, now)
            if results.suppressions:
                await _suppress(connection, results.suppressions)
            await publish(connection, self._outbox, changes)

    @staticmethod
    async def _retry(
        connection: AsyncConnection, retries: Sequence[tuple[uuid.UUID, int, str, float]]
    ) -> None:
        ids, attempts, errors, delays = zip(*retries, strict=True)
        await connection.execute(
            _RETRY,
            {"ids": list(ids), "attempts": list(attempts), "errors": list(errors), "delays": list(delays)},
        )

    @staticmethod
    async def _finals(
        connection: AsyncConnection, finals: Sequence[Final], now: datetime
    ) -> list[MessageChange]:
        rows = await connection.execute(
            _FINAL,
            {
                "ids": [f.message_id for f in finals],
                "attempts": [f.attempt for f in finals],
                "statuses": [f.status for f in finals],
                "reasons": [f.reason for f in finals],
                "errors": [f.error for f in finals],
            },
        )
        return [change_of(row, row.status, row.reason or row.error, now) for row in rows]


async def _suppress(connection: AsyncConnection, suppressions: Sequence[Suppression]) -> None:
    await connection.execute(
        _SUPPRESS_CONTACT,
        {
            "tenants": [s.tenant_id for s in suppressions],
            "customers": [s.customer_id for s in suppressions],
            "channels": [s.channel for s in suppressions],
            "scopes": [s.scope for s in suppressions],
            "reasons": [s.reason for s in suppressions],
        },
    )

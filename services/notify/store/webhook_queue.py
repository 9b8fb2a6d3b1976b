"""The worker's side of the delivery tables: claims and the record of a batch's attempts.

Implements ``DeliveryQueue`` (``domain/webhook_worker.py``). A claim leases due deliveries with
``FOR UPDATE SKIP LOCKED`` by moving ``next_attempt_at`` to the lease's end and counting the attempt,
then commits. The record is guarded by that attempt number and ``status = 'pending'``: a worker that
lost its lease (another claimed the delivery since) or whose webhook was disabled meanwhile writes
nothing. Webhook rows are locked in key order before their counters change, so two workers recording
batches of the same webhooks cannot deadlock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from services.notify.domain.webhook_worker import AttemptOutcome, DueDelivery
from services.notify.domain.webhooks import DISABLED_BY_FAILURES
from services.notify.store.sealing import Sealer
from services.notify.store.webhooks import seal_owner
from services.runtime.database import Database

logger = logging.getLogger(__name__)

_CLAIM = sa.text(
    """
    WITH due AS (
        SELECT d.tenant_id, d.delivery_id FROM webhook_deliveries AS d
        JOIN webhooks AS w ON w.tenant_id = d.tenant_id AND w.webhook_id = d.webhook_id AND w.enabled
        WHERE d.status = 'pending' AND d.next_attempt_at <= :now
        ORDER BY d.next_attempt_at
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries AS d
    SET attempts = d.attempts + 1, next_attempt_at = :lease_until
    FROM due, webhooks AS w
    WHERE d.tenant_id = due.tenant_id AND d.delivery_id = due.delivery_id
      AND w.tenant_id = d.tenant_id AND w.webhook_id = d.webhook_id
    RETURNING d.tenant_id, d.delivery_id, d.webhook_id, d.attempts, d.body, w.url, w.secret_sealed
    """
)

# Move each delivery on and log its attempt, only where the claim's attempt number still holds.
_RECORD = sa.text(
    """
    WITH o AS (
        SELECT * FROM unnest(
            CAST(:tenants AS uuid[]), CAST(:deliveries AS uuid[]), CAST(:attempts AS int[]),
            CAST(:attempted AS timestamptz[]), CAST(:codes AS int[]), CAST(:errors AS text[]),
            CAST(:durations AS int[]), CAST(:statuses AS text[]), CAST(:next_at AS timestamptz[])
        ) AS o(tenant_id, delivery_id, attempt, attempted_at, status_code, error, duration_ms,
               status, next_at)
    ), moved AS (
        UPDATE webhook_deliveries AS d
        SET status = o.status, next_attempt_at = o.next_at,
            finished_at = CASE WHEN o.status = 'pending' THEN NULL ELSE CAST(:now AS timestamptz) END
        FROM o
        WHERE d.tenant_id = o.tenant_id AND d.delivery_id = o.delivery_id
          AND d.attempts = o.attempt AND d.status = 'pending'
        RETURNING o.*
    )
    INSERT INTO webhook_attempts
        (tenant_id, delivery_id, attempt, attempted_at, status_code, error, duration_ms)
    SELECT tenant_id, delivery_id, attempt, attempted_at, status_code, error, duration_ms FROM moved
    ON CONFLICT DO NOTHING
    """
)

_LOCK_WEBHOOKS = sa.text(
    """
    SELECT w.webhook_id FROM webhooks AS w
    JOIN unnest(CAST(:tenants AS uuid[]), CAST(:webhooks AS uuid[]), CAST(:exhausted AS int[]))
         AS s(tenant_id, webhook_id, exhausted)
      ON w.tenant_id = s.tenant_id AND w.webhook_id = s.webhook_id
    WHERE s.exhausted > 0 OR w.exhausted_in_a_row > 0
    ORDER BY w.tenant_id, w.webhook_id
    FOR UPDATE OF w
    """
)

# A success clears the count, an exhausted delivery adds to it; at ``disable_after`` the webhook is
# disabled and its pending deliveries are cancelled (docs/notify-webhooks.md).
_COUNT = sa.text(
    """
    WITH s AS (
        SELECT * FROM unnest(CAST(:tenants AS uuid[]), CAST(:webhooks AS uuid[]),
                             CAST(:succeeded AS boolean[]), CAST(:exhausted AS int[]))
            AS s(tenant_id, webhook_id, succeeded, exhausted)
    ), counted AS (
        UPDATE webhooks AS w
        SET exhausted_in_a_row = CASE WHEN s.succeeded THEN 0 ELSE w.exhausted_in_a_row + s.exhausted END,
            enabled = w.enabled AND (s.succeeded OR w.exhausted_in_a_row + s.exhausted < :disable_after),
            disabled_reason = CASE
                WHEN w.enabled AND NOT s.succeeded AND w.exhausted_in_a_row + s.exhausted >= :disable_after
                THEN :reason ELSE w.disabled_reason END,
            disabled_at = CASE
                WHEN w.enabled AND NOT s.succeeded AND w.exhausted_in_a_row + s.exhausted >= :disable_after
                THEN CAST(:now AS timestamptz) ELSE w.disabled_at END
        FROM s
        WHERE w.tenant_id = s.tenant_id AND w.webhook_id = s.webhook_id
          AND (s.exhausted > 0 OR (s.succeeded AND w.exhausted_in_a_row > 0))
        RETURNING w.tenant_id, w.webhook_id, w.enabled
    )
    UPDATE webhook_deliveries AS d
    SET status = 'cancelled', next_attempt_at = NULL, finished_at = :now
    FROM counted AS c
    WHERE NOT c.enabled AND d.tenant_id = c.tenant_id AND d.webhook_id = c.webhook_id AND d.status = 'pending'
    """
)


# Finished deliveries past the log's retention, a chunk at a time (their attempts go by cascade).
_PRUNE = sa.text(
    """
    DELETE FROM webhook_deliveries AS d
    USING (
        SELECT tenant_id, delivery_id FROM webhook_deliveries
        WHERE finished_at IS NOT NULL AND finished_at < :before
        LIMIT :chunk
    ) AS old
    WHERE d.tenant_id = old.tenant_id AND d.delivery_id = old.delivery_id
    """
)


def _status(outcome: AttemptOutcome) -> str:
    if outcome.result.delivered:
        return "delivered"
    return "failed" if outcome.exhausted else "pending"


class SqlDeliveryQueue:
    """Claims and records over ``webhook_deliveries``, ``webhook_attempts`` and ``webhooks``."""

    def __init__(self, database: Database, box: Sealer) -> None:
        self._database = database
        self._box = box

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[DueDelivery]:
        """Lease up to ``limit`` due deliveries of enabled webhooks (secrets opened for signing)."""
        params = {"now": now, "lease_until": lease_until, "limit": limit}
        async with self._database.transaction() as connection:
            rows = (await connection.execute(_CLAIM, params)).all()
        return [
            DueDelivery(
                tenant_id=row.tenant_id,
                delivery_id=row.delivery_id,
                webhook_id=row.webhook_id,
                url=row.url,
                secret=self._secret(row.tenant_id, row.webhook_id, row.secret_sealed),
                body=row.body,
                attempt=row.attempts,
            )
            for row in rows
        ]

    def _secret(self, tenant_id: uuid.UUID, webhook_id: uuid.UUID, sealed: bytes) -> str | None:
        """The clear secret, or None when it does not open: that delivery's attempt fails into the
        log (and in the end disables the webhook) instead of failing the whole batch's claim."""
        try:
            return self._box.open(tenant_id, seal_owner(webhook_id), sealed)["secret"]
        except Exception:
            logger.exception("webhook %s: its secret does not open", webhook_id)
            return None

    async def record(self, outcomes: Sequence[AttemptOutcome], now: datetime, disable_after: int) -> None:
        """Log the attempts, move the deliveries on, count and disable — one transaction."""
        per_webhook: dict[tuple[uuid.UUID, uuid.UUID], tuple[bool, int]] = {}
        for o in outcomes:
            key = (o.delivery.tenant_id, o.delivery.webhook_id)
            succeeded, exhausted = per_webhook.get(key, (False, 0))
            per_webhook[key] = (succeeded or o.result.delivered, exhausted + int(o.exhausted))
        keys = sorted(per_webhook)
        async with self._database.transaction() as connection:
            await connection.execute(
                _RECORD,
                {
                    "tenants": [o.delivery.tenant_id for o in outcomes],
                    "deliveries": [o.delivery.delivery_id for o in outcomes],
                    "attempts": [o.delivery.attempt for o in outcomes],
                    "attempted": [o.attempted_at for o in outcomes],
                    "codes": [o.result.status_code for o in outcomes],
                    "errors": [o.result.error for o in outcomes],
                    "durations": [o.result.duration_ms for o in outcomes],
                    "statuses": [_status(o) for o in outcomes],
                    "next_at": [o.next_attempt_at for o in outcomes],
                    "now": now,
                },
            )
            if not any(exhausted for _, exhausted in per_webhook.values()) and not any(
                succeeded for succeeded, _ in per_webhook.values()
            ):
                return
            columns = {
                "tenants": [k[0] for k in keys],
                "webhooks": [k[1] for k in keys],
                "exhausted": [per_webhook[k][1] for k in keys],
            }
            # Only webhooks whose count changes are locked: a healthy webhook's rows stay free.
            if not (await connection.execute(_LOCK_WEBHOOKS, columns)).all():
                return
            await connection.execute(
                _COUNT,
                {
                    **columns,
                    "succeeded": [per_webhook[k][0] for k in keys],
                    "disable_after": disable_after,
                    "reason": DISABLED_BY_FAILURES,
                    "now": now,
                },
            )

    async def prune(self, before: datetime, chunk: int) -> int:
        """Delete finished deliveries older than ``before``, ``chunk`` per transaction; the count."""
        deleted = 0
        while True:
            async with self._database.transaction() as connection:
                count = (await connection.execute(_PRUNE, {"before": before, "chunk": chunk})).rowcount
            deleted += count
            if count < chunk:
                return deleted

"""Claiming due journey instances and committing their steps (implements the runner's InstanceStore).

Claims lease instances with ``FOR UPDATE SKIP LOCKED``, so replicas never take the same instance; the
lease (a token and a time) lets a crashed runner's instances be claimed again once it lapses. Every
commit first locks the instance row and checks it is still active and still under our token — a goal
reached, an erasure, an archive or another runner's claim in the meantime makes the commit write
nothing — then records the steps in ``journey_steps`` (keyed by instance and path: a step can never be
recorded twice), commits the step's message when there is one, and advances the instance.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.journey_definitions import parse_journey
from services.notify.domain.journey_plan import Plan, plan
from services.notify.domain.journey_runner import Advance, ClaimedInstance, StepRecord, with_status
from services.notify.domain.messages import MessageDraft
from services.notify.store.messages import commit_draft
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_CLAIM = sa.text(
    """
    UPDATE journey_instances AS i
    SET lease_token = :token, lease_until = :lease_until, attempts = i.attempts + 1
    FROM (
      SELECT d.tenant_id, d.instance_id
      FROM journey_instances AS d
      JOIN journeys AS j ON j.tenant_id = d.tenant_id AND j.journey_id = d.journey_id
      WHERE d.status = 'active' AND d.due_at <= :now
        AND (d.lease_until IS NULL OR d.lease_until < :now)
        AND j.status = 'active'
      ORDER BY d.due_at
      LIMIT :limit
      FOR UPDATE OF d SKIP LOCKED
    ) AS due
    WHERE i.tenant_id = due.tenant_id AND i.instance_id = due.instance_id
    RETURNING i.tenant_id, i.instance_id, i.journey_id, i.version, i.customer_id, i.cursor,
      i.trigger_at, i.context, i.attempts,
      (SELECT v.trigger_kind FROM journey_versions AS v
        WHERE v.tenant_id = i.tenant_id AND v.journey_id = i.journey_id AND v.version = i.version)
        AS trigger_kind,
      (SELECT f.last_order_at FROM journey_customer_facts AS f
        WHERE f.tenant_id = i.tenant_id AND f.customer_id = i.customer_id) AS last_order_at
    """
)

_LOCK = sa.text(
    """
    SELECT status, lease_token FROM journey_instances
    WHERE tenant_id = :tenant AND instance_id = :instance
    FOR UPDATE
    """
)

_RECORD = sa.text(
    """
    INSERT INTO journey_steps (tenant_id, instance_id, path, journey_id, version, kind, outcome, reason,
      message_id, coupon_code, at)
    SELECT :tenant, :instance, r.path, :journey, :version, r.kind, r.outcome, r.reason, r.message_id,
      r.coupon_code, :now
    FROM unnest(CAST(:paths AS text[]), CAST(:kinds AS text[]), CAST(:outcomes AS text[]),
      CAST(:reasons AS text[]), CAST(:message_ids AS uuid[]), CAST(:codes AS text[]))
      AS r(path, kind, outcome, reason, message_id, coupon_code)
    """
)

_ADVANCE = sa.text(
    """
    UPDATE journey_instances
    SET cursor = :cursor, due_at = :due_at, status = :status, context = CAST(:context AS jsonb),
      attempts = CASE WHEN CAST(:keep_lease AS boolean) THEN attempts ELSE 0 END,
      lease_token = CASE WHEN CAST(:keep_lease AS boolean) THEN lease_token END,
      lease_until = CASE WHEN CAST(:keep_lease AS boolean) THEN lease_until END,
      last_error = NULL,
      ended_at = CASE WHEN CAST(:status AS text) = 'active' THEN NULL ELSE CAST(:now AS timestamptz) END,
      end_reason = :end_reason
    WHERE tenant_id = :tenant AND instance_id = :instance
    """
)

_FREE_ENTRY = sa.text(
    """
    UPDATE journey_entries SET live_instance_id = NULL
    WHERE tenant_id = :tenant AND journey_id = :journey AND live_instance_id = :instance
    """
)

_RELEASE = sa.text(
    """
    UPDATE journey_instances
    SET lease_token = NULL, lease_until = NULL, last_error = :error,
      due_at = CAST(:retry_at AS timestamptz),
      status = CASE WHEN CAST(:retry_at AS timestamptz) IS NULL THEN 'failed' ELSE status END,
      cursor = CASE WHEN CAST(:retry_at AS timestamptz) IS NULL THEN NULL ELSE cursor END,
      ended_at = CASE WHEN CAST(:retry_at AS timestamptz) IS NULL THEN CAST(:now AS timestamptz) END,
      end_reason = CASE WHEN CAST(:retry_at AS timestamptz) IS NULL THEN 'error' END
    WHERE tenant_id = :tenant AND instance_id = :instance AND lease_token = :token AND status = 'active'
    RETURNING status
    """
)

_VERSION = sa.text(
    "SELECT document FROM journey_versions WHERE tenant_id = :tenant AND journey_id = :journey "
    "AND version = :version"
)

PLAN_CACHE = 1_024
"""Plans kept in memory: versions never change, so a plan is read and parsed once per process."""


class SqlInstanceStore:
    """Implements the runner's ``InstanceStore`` on notify's database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox
        self._plans: dict[tuple[uuid.UUID, uuid.UUID, int], Plan] = {}

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedInstance]:
        """Lease up to ``limit`` due instances of active journeys (skipping rows others hold)."""
        token = uuid.uuid4()
        async with self._database.transaction() as connection:
            rows = list(
                await connection.execute(
                    _CLAIM, {"token": token, "lease_until": now + lease, "now": now, "limit": limit}
                )
            )
        return [
            ClaimedInstance(
                tenant_id=row.tenant_id,
                instance_id=row.instance_id,
                journey_id=row.journey_id,
                version=row.version,
                customer_id=row.customer_id,
                cursor=row.cursor,
                trigger_kind=row.trigger_kind,
                trigger_at=row.trigger_at,
                context=dict(row.context),
                lease_token=token,
                attempts=row.attempts,
                last_order_at=row.last_order_at,
            )
            for row in rows
        ]

    async def plan_of(self, tenant_id: uuid.UUID, journey_id: uuid.UUID, version: int) -> Plan:
        """The version's plan, parsed once per process."""
        key = (tenant_id, journey_id, version)
        found = self._plans.get(key)
        if found is None:
            async with self._database.read() as connection:
                document = await connection.scalar(
                    _VERSION, {"tenant": tenant_id, "journey": journey_id, "version": version}
                )
            found = plan(parse_journey(document))
            if len(self._plans) >= PLAN_CACHE:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = found
        return found

    async def commit(
        self,
        instance: ClaimedInstance,
        records: Sequence[StepRecord],
        advance: Advance,
        now: datetime,
        draft: MessageDraft | None = None,
    ) -> bool:
        """Record, commit the message, advance — or write nothing when the instance is not ours."""
        keys = {"tenant": instance.tenant_id, "instance": instance.instance_id}
        async with self._database.transaction() as connection:
            row = (await connection.execute(_LOCK, keys)).first()
            if row is None or row.status != "active" or row.lease_token != instance.lease_token:
                return False
            if draft is not None:
                message = await commit_draft(connection, self._outbox, instance.tenant_id, draft)
                records = [*records[:-1], with_status(records[-1], message)]
            await _record(connection, instance, records, now)
            await connection.execute(
                _ADVANCE,
                {
                    **keys,
                    "cursor": advance.cursor,
                    "due_at": advance.due_at,
                    "status": advance.status,
                    "context": json.dumps(advance.context),
                    "keep_lease": advance.keep_lease,
                    "now": now,
                    "end_reason": advance.end_reason,
                },
            )
            if advance.status != "active":
                await connection.execute(_FREE_ENTRY, {**keys, "journey": instance.journey_id})
        return True

    async def release(
        self, instance: ClaimedInstance, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """Give the instance back (due at ``retry_at``) or fail it for good (``None``)."""
        async with self._database.transaction() as connection:
            status = await connection.scalar(
                _RELEASE,
                {
                    "tenant": instance.tenant_id,
                    "instance": instance.instance_id,
                    "token": instance.lease_token,
                    "error": error,
                    "retry_at": retry_at,
                    "now": now,
                },
            )
            if status == "failed":
                await connection.execute(
                    _FREE_ENTRY,
                    {
                        "tenant": instance.tenant_id,
                        "instance": instance.instance_id,
                        "journey": instance.journey_id,
                    },
                )


async def _record(
    connection: AsyncConnection, instance: ClaimedInstance, records: Sequence[StepRecord], now: datetime
) -> None:
    if not records:
        return
    values: dict[str, Any] = {
        "tenant": instance.tenant_id,
        "instance": instance.instance_id,
        "journey": instance.journey_id,
        "version": instance.version,
        "now": now,
        "paths": [r.path for r in records],
        "kinds": [r.kind for r in records],
        "outcomes": [r.outcome for r in records],
        "reasons": [r.reason for r in records],
        "message_ids": [r.message_id for r in records],
        "codes": [r.coupon_code for r in records],
    }
    await connection.execute(_RECORD, values)

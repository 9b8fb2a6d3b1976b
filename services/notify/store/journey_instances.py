"""Claiming due journey instances and committing their steps (implements the runner's InstanceStore).

Claims lease instances with ``FOR UPDATE SKIP LOCKED``, so replicas never take the same instance; the
lease (a token and a time) lets a crashed runner's instances be claimed again once it lapses. A
round's commit is one transaction for the whole batch: it locks the instance rows still active and
still under our token — a goal reached, an erasure, an archive or another runner's claim in the
meantime leaves that instance out, written nothing — then commits the round's messages
(``message_batches.commit_drafts``), records the steps in ``journey_steps`` (keyed by instance and
path: a step can never be recorded twice) and advances the instances, each statement set-based.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.journey_definitions import parse_journey
from services.notify.domain.journey_plan import Plan, plan
from services.notify.domain.journey_ports import ClaimedInstance, StepCommit, StepRecord, with_status
from services.notify.store.journey_entry import end_live
from services.notify.store.message_batches import commit_drafts
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
      i.trigger_at, i.context, i.attempts, i.due_at,
      (SELECT v.trigger_kind FROM journey_versions AS v
        WHERE v.tenant_id = i.tenant_id AND v.journey_id = i.journey_id AND v.version = i.version)
        AS trigger_kind,
      (SELECT f.last_order_at FROM journey_customer_facts AS f
        WHERE f.tenant_id = i.tenant_id AND f.customer_id = i.customer_id) AS last_order_at
    """
)

# The instances of a batch still leased to this worker, locked in key order (the caller sorts the
# keys). Each is looked up by its key: written as a join, the planner took ``status = 'active'`` for
# one row whenever the statistics were taken between wake-ups (the partial index
# ``journey_instances_due`` then looks like the cheapest way in) and compared every active
# instance with every key of the batch, 250 ms a batch and most of PostgreSQL's CPU while 10,000
# instances woke (docs/journeys.md). ``coalesce`` keeps that index out of reach, and the locking
# subquery is looked up once per key.
_OURS = sa.text(
    """
    SELECT o.instance_id
    FROM unnest(CAST(:tenants AS uuid[]), CAST(:instances AS uuid[]), CAST(:tokens AS uuid[]))
      WITH ORDINALITY AS c(tenant_id, instance_id, token, n)
    CROSS JOIN LATERAL (
      SELECT i.instance_id FROM journey_instances AS i
      WHERE i.tenant_id = c.tenant_id AND i.instance_id = c.instance_id
        AND coalesce(i.status, '') = 'active' AND i.lease_token = c.token
      FOR UPDATE
    ) AS o
    ORDER BY c.n
    """
)

_RECORD = sa.text(
    """
    INSERT INTO journey_steps (tenant_id, instance_id, path, journey_id, version, kind, outcome, reason,
      message_id, coupon_code, at)
    SELECT r.tenant_id, r.instance_id, r.path, r.journey_id, r.version, r.kind, r.outcome, r.reason,
      r.message_id, r.coupon_code, :now
    FROM unnest(CAST(:tenants AS uuid[]), CAST(:instances AS uuid[]), CAST(:paths AS text[]),
      CAST(:journeys AS uuid[]), CAST(:versions AS int[]), CAST(:kinds AS text[]),
      CAST(:outcomes AS text[]), CAST(:reasons AS text[]), CAST(:message_ids AS uuid[]),
      CAST(:codes AS text[]))
      AS r(tenant_id, instance_id, path, journey_id, version, kind, outcome, reason, message_id,
           coupon_code)
    """
)

_ADVANCE = sa.text(
    """
    UPDATE journey_instances AS i
    SET cursor = a.cursor, due_at = a.due_at, status = a.status, context = a.context,
      attempts = CASE WHEN a.keep_lease THEN i.attempts ELSE 0 END,
      lease_token = CASE WHEN a.keep_lease THEN i.lease_token END,
      lease_until = CASE WHEN a.keep_lease THEN i.lease_until END,
      last_error = NULL,
      ended_at = CASE WHEN a.status = 'active' THEN NULL ELSE CAST(:now AS timestamptz) END,
      end_reason = a.end_reason
    FROM unnest(CAST(:tenants AS uuid[]), CAST(:instances AS uuid[]), CAST(:cursors AS text[]),
      CAST(:due_ats AS timestamptz[]), CAST(:statuses AS text[]), CAST(:contexts AS jsonb[]),
      CAST(:keep_leases AS boolean[]), CAST(:end_reasons AS text[]))
      AS a(tenant_id, instance_id, cursor, due_at, status, context, keep_lease, end_reason)
    WHERE i.tenant_id = a.tenant_id AND i.instance_id = a.instance_id
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
                due_at=row.due_at,
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

    async def commit_many(self, commits: Sequence[StepCommit], now: datetime) -> set[uuid.UUID]:
        """One transaction for the round: lock the instances still ours and active, commit their
        messages, record their steps, advance them; answers the instances committed."""
        async with self._database.transaction() as connection:
            keyed = sorted(commits, key=lambda c: (c.instance.tenant_id, c.instance.instance_id))
            rows = await connection.execute(
                _OURS,
                {
                    "tenants": [c.instance.tenant_id for c in keyed],
                    "instances": [c.instance.instance_id for c in keyed],
                    "tokens": [c.instance.lease_token for c in keyed],
                },
            )
            ours = {row.instance_id for row in rows}
            mine = [c for c in commits if c.instance.instance_id in ours]
            sending = [c for c in mine if c.draft is not None]
            views = await commit_drafts(
                connection, self._outbox, [(c.instance.tenant_id, c.draft) for c in sending if c.draft]
            )
            sent = {c.instance.instance_id: view for c, view in zip(sending, views, strict=True)}
            records = [
                (c, with_status(r, sent[c.instance.instance_id]) if r.outcome == "pending" else r)
                for c in mine
                for r in c.records
            ]
            await _record(connection, records, now)
            await _advance(connection, mine, now)
            await end_live(
                connection,
                [
                    (c.instance.tenant_id, c.instance.instance_id)
                    for c in mine
                    if c.advance.status != "active"
                ],
            )
        return ours

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
                await end_live(connection, [(instance.tenant_id, instance.instance_id)])


async def _record(
    connection: AsyncConnection, records: Sequence[tuple[StepCommit, StepRecord]], now: datetime
) -> None:
    if not records:
        return
    await connection.execute(
        _RECORD,
        {
            "now": now,
            "tenants": [c.instance.tenant_id for c, _ in records],
            "instances": [c.instance.instance_id for c, _ in records],
            "paths": [r.path for _, r in records],
            "journeys": [c.instance.journey_id for c, _ in records],
            "versions": [c.instance.version for c, _ in records],
            "kinds": [r.kind for _, r in records],
            "outcomes": [r.outcome for _, r in records],
            "reasons": [r.reason for _, r in records],
            "message_ids": [r.message_id for _, r in records],
            "codes": [r.coupon_code for _, r in records],
        },
    )


async def _advance(connection: AsyncConnection, commits: Sequence[StepCommit], now: datetime) -> None:
    if not commits:
        return
    await connection.execute(
        _ADVANCE,
        {
            "now": now,
            "tenants": [c.instance.tenant_id for c in commits],
            "instances": [c.instance.instance_id for c in commits],
            "cursors": [c.advance.cursor for c in commits],
            "due_ats": [c.advance.due_at for c in commits],
            "statuses": [c.advance.status for c in commits],
            "contexts": [json.dumps(c.advance.context) for c in commits],
            "keep_leases": [c.advance.keep_lease for c in commits],
            "end_reasons": [c.advance.end_reason for c in commits],
        },
    )

"""A campaign's work in notify's database: its lease, its audience snapshot, its planning batches.

Every step is one transaction that first re-reads the campaign row ``FOR UPDATE`` under the worker's
lease token, so a worker whose lease lapsed (it was SIGKILLed, or stalled) can never commit over the
one that took the campaign after it.

- ``take_snapshot``: the audience, recorded whole (``campaign_snapshot.py``).
- ``plan_batch``: the next recipients by position whose time has come, judged and committed by ONE
  INSERT … SELECT that applies the policy set-based — erasure, unsubscribes, consent, every frequency
  cap counted over the customer's marketing messages, quiet hours in the customer's zone (else the
  tenant's) — under the same per-customer advisory locks as every other send, in the same
  transaction as the cursor's advance. The cursor moves only with the committed plan (listmonk #3022
  moved it on fetch and skipped subscribers); a crash before the commit leaves both untouched, a
  crash after leaves both done, and the message ids fixed in the snapshot make a replay a no-op.
  Messages are committed unrendered (``render_at``): ``campaign_render.py`` renders each when due.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.campaign_worker import AudienceBatch, Claim, PlanOutcome
from services.notify.domain.policy import Policy, parse_policy
from services.notify.store.campaign_snapshot import record_snapshot
from services.notify.store.message_events import publish
from services.notify.store.message_rows import change_of
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_CLAIM = sa.text(
    """
    UPDATE campaigns AS c SET lease_token = :token, lease_until = now() + :lease
    FROM (
      SELECT tenant_id, campaign_id FROM campaigns
      WHERE phase IS NOT NULL AND status IN ('scheduled', 'running') AND wake_at <= now()
        AND (lease_until IS NULL OR lease_until < now())
      ORDER BY wake_at LIMIT 1
      FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE c.tenant_id = due.tenant_id AND c.campaign_id = due.campaign_id
    RETURNING c.tenant_id, c.campaign_id, c.segment_id, c.phase, c.attempts
    """
)

_HOLD = sa.text(
    """
    SELECT c.*, COALESCE(t.timezone, 'UTC') AS tenant_zone, p.document AS policy
    FROM campaigns AS c
    JOIN tenants AS t ON t.tenant_id = c.tenant_id
    LEFT JOIN policies AS p ON p.tenant_id = c.tenant_id
    WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign AND c.lease_token = :token
      AND c.status IN ('scheduled', 'running') AND c.phase = :phase
    FOR UPDATE OF c
    """
)

_THROUGH = sa.text(
    """
    SELECT max(position) AS through FROM campaign_recipients
    WHERE tenant_id = :tenant AND campaign_id = :campaign
      AND position > :after AND position <= :after + :limit AND due_at <= now()
    """
)
_NEXT_DUE = sa.text(
    """
    SELECT due_at FROM campaign_recipients
    WHERE tenant_id = :tenant AND campaign_id = :campaign AND position = :after + 1
    """
)

_LOCK_CUSTOMERS = sa.text(
    """
    SELECT count(*) FROM (
      SELECT pg_advisory_xact_lock(k) FROM (
        SELECT DISTINCT hashtextextended(CAST(tenant_id AS text) || CAST(customer_id AS text), 12) AS k
        FROM campaign_recipients
        WHERE tenant_id = :tenant AND campaign_id = :campaign AND position > :after AND position <= :through
          AND message_id IS NOT NULL
        ORDER BY k
      ) AS keys
    ) AS locked
    """
)
"""The customer locks of every single send (``message_batches._LOCKS``), taken in key order."""

_PLAN = sa.text(
    """
    WITH batch AS (
      SELECT r.customer_id, r.message_id, r.timezone, g.template_id, t.channel, t.purpose,
             CAST(:now AS timestamptz) AT TIME ZONE COALESCE(r.timezone, :tenant_zone) AS local_now
      FROM campaign_recipients AS r
      JOIN unnest(CAST(:groups AS text[]), CAST(:templates AS uuid[])) AS g(group_name, template_id)
        ON g.group_name = r.group_name
      JOIN templates AS t ON t.tenant_id = r.tenant_id AND t.template_id = g.template_id
      WHERE r.tenant_id = :tenant AND r.campaign_id = :campaign
        AND r.position > :after AND r.position <= :through
    ),
    judged AS MATERIALIZED (  -- once per recipient: the outer SELECT reads reason three times
      SELECT b.*,
        CASE
          WHEN EXISTS (SELECT 1 FROM customer_states AS s WHERE s.tenant_id = :tenant
                       AND s.customer_id = b.customer_id AND s.erased_at IS NOT NULL) THEN 'erased'
          WHEN EXISTS (SELECT 1 FROM suppressions AS x WHERE x.tenant_id = :tenant
                       AND x.customer_id = b.customer_id AND x.channel = b.channel
                       AND x.scope IN ('', CAST(b.template_id AS text))) THEN 'unsubscribed'
          WHEN COALESCE((SELECT k.granted FROM consents AS k WHERE k.tenant_id = :tenant
                         AND k.customer_id = b.customer_id AND k.channel = b.channel
                         AND k.purpose = b.purpose), b.purpose <> 'marketing') IS NOT TRUE THEN 'no_consent'
          WHEN b.purpose = 'marketing' AND EXISTS (
            SELECT 1 FROM unnest(CAST(:cap_max AS int[]), CAST(:cap_seconds AS float8[])) AS cap(most, secs)
            WHERE cap.most <= (
              SELECT count(*) FROM messages AS m
              WHERE m.tenant_id = :tenant AND m.customer_id = b.customer_id AND m.purpose = 'marketing'
                AND m.status NOT IN ('suppressed', 'failed')
                AND m.created_at > CAST(:now AS timestamptz) - make_interval(secs => cap.secs)
            )
          ) THEN 'capped'
        END AS reason,
        CASE
          WHEN CAST(:quiet_start AS time) IS NULL OR b.purpose <> 'marketing' THEN NULL
          WHEN CASE
                 WHEN CAST(:quiet_start AS time) > CAST(:quiet_end AS time)
                   THEN CAST(b.local_now AS time) >= CAST(:quiet_start AS time)
                        OR CAST(b.local_now AS time) < CAST(:quiet_end AS time)
                 ELSE CAST(b.local_now AS time) >= CAST(:quiet_start AS time)
                      AND CAST(b.local_now AS time) < CAST(:quiet_end AS time)
               END
            THEN (CASE WHEN CAST(b.local_now AS time) < CAST(:quiet_end AS time)
                       THEN CAST(b.local_now AS date) ELSE CAST(b.local_now AS date) + 1 END
                  + CAST(:quiet_end AS time)) AT TIME ZONE COALESCE(b.timezone, :tenant_zone)
        END AS quiet_until
      FROM batch AS b
    )
    INSERT INTO messages (message_id, tenant_id, customer_id, template_id, channel, purpose, sender,
                          sender_ref, dedupe_key, status, reason, created_at, due_at, render_at)
    SELECT j.message_id, :tenant, j.customer_id, j.template_id, j.channel, j.purpose, 'campaign',
           :ref, 'campaign:' || :ref || ':' || CAST(j.customer_id AS text),
           CASE WHEN j.reason IS NOT NULL THEN 'suppressed'
                WHEN j.quiet_until IS NOT NULL THEN 'deferred' ELSE 'queued' END,
           j.reason, CAST(:now AS timestamptz), NULL,
           CASE WHEN j.reason IS NULL THEN COALESCE(j.quiet_until, CAST(:now AS timestamptz)) END
    FROM judged AS j
    ON CONFLICT (tenant_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
    RETURNING message_id, tenant_id, customer_id, template_id, channel, purpose, sender, sender_ref, status,
      reason
    """
)

_ADVANCE = sa.text(
    """
    UPDATE campaigns
    SET planned_through = :through, lease_until = now() + :lease, attempts = 0, last_error = NULL,
        phase = CASE WHEN :through >= recipients THEN 'sending' ELSE phase END, updated_at = now()
    WHERE tenant_id = :tenant AND campaign_id = :campaign
    """
)

_COMPLETE = sa.text(
    """
    UPDATE campaigns AS c
    SET status = 'completed', phase = NULL, completed_at = now(), wake_at = NULL, lease_token = NULL,
        lease_until = NULL, updated_at = now()
    WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign AND c.lease_token = :token
      AND c.status = 'running' AND c.phase = 'sending'
      AND NOT EXISTS (
        SELECT 1 FROM messages AS m
        WHERE m.tenant_id = :tenant AND m.sender = 'campaign' AND m.sender_ref = :ref
          AND m.status IN ('queued', 'deferred')
      )
    RETURNING c.campaign_id
    """
)

_RELEASE = sa.text(
    """
    UPDATE campaigns SET lease_token = NULL, lease_until = NULL,
      wake_at = CASE WHEN phase IS NOT NULL THEN CAST(:wake_at AS timestamptz) END,
      attempts = attempts + :failed, last_error = COALESCE(:error, last_error)
    WHERE tenant_id = :tenant AND campaign_id = :campaign AND lease_token = :token
    """
)

_ABANDON = sa.text(
    """
    UPDATE campaigns SET status = 'cancelled', phase = NULL, wake_at = NULL, cancelled_at = now(),
      lease_token = NULL, lease_until = NULL, last_error = :error, updated_at = now()
    WHERE tenant_id = :tenant AND campaign_id = :campaign AND lease_token = :token
    """
)


@dataclass(frozen=True)
class _Held:
    row: Any
    policy: Policy


class SqlCampaignPlanning:
    """Implements the worker's ``PlanningStore`` on notify's database."""

    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        assignment_key: str,
        *,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``before_commit`` (development and tests only: ``fault_injection``) is awaited inside each
        planning transaction after its statements, before its commit."""
        self._database = database
        self._outbox = outbox
        self._key = assignment_key
        self._before_commit = before_commit

    async def claim(self, lease: timedelta) -> Claim | None:
        """The campaign most overdue for work, leased to this worker (None: nothing due)."""
        token = uuid.uuid4()
        async with self._database.transaction() as connection:
            row = (await connection.execute(_CLAIM, {"token": token, "lease": lease})).first()
        if row is None:
            return None
        return Claim(row.tenant_id, row.campaign_id, row.segment_id, row.phase, token, row.attempts)

    async def _hold(self, connection: AsyncConnection, claim: Claim) -> _Held | None:
        row = (
            await connection.execute(
                _HOLD,
                {
                    "tenant": claim.tenant_id,
                    "campaign": claim.campaign_id,
                    "token": claim.token,
                    "phase": claim.phase,
                },
            )
        ).first()
        if row is None:
            return None
        policy = parse_policy(row.policy) if row.policy is not None else Policy()
        return _Held(row, policy)

    async def take_snapshot(self, claim: Claim, members: AsyncIterator[AudienceBatch]) -> int | None:
        """Record the audience whole (one transaction); how many recipients, or None when the lease
        was lost (another worker owns the campaign, or it was paused or cancelled meanwhile)."""
        async with self._database.transaction() as connection:
            held = await self._hold(connection, claim)
            if held is None:
                return None
            return await record_snapshot(connection, held.row, members, self._key)

    async def plan_batch(self, claim: Claim, limit: int, lease: timedelta, now: datetime) -> PlanOutcome:
        """Plan the next ``limit`` positions whose time has come, in one transaction with the cursor."""
        async with self._database.transaction() as connection:
            held = await self._hold(connection, claim)
            if held is None:
                return PlanOutcome(lost=True)
            row, policy = held.row, held.policy
            keys = {"tenant": claim.tenant_id, "campaign": claim.campaign_id, "after": row.planned_through}
            through = await connection.scalar(_THROUGH, {**keys, "limit": limit})
            if through is None:
                next_due = await connection.scalar(_NEXT_DUE, keys)
                return PlanOutcome(next_due=next_due)
            await connection.execute(_LOCK_CUSTOMERS, {**keys, "through": through})
            quiet = policy.quiet_hours
            rows = list(
                await connection.execute(
                    _PLAN,
                    {
                        **keys,
                        "through": through,
                        "ref": str(claim.campaign_id),
                        "groups": list(row.groups),
                        "templates": list(row.templates),
                        "tenant_zone": row.tenant_zone,
                        "now": now,
                        "cap_max": [cap.max for cap in policy.caps],
                        "cap_seconds": [cap.per.total_seconds() for cap in policy.caps],
                        "quiet_start": quiet.start if quiet else None,
                        "quiet_end": quiet.end if quiet else None,
                    },
                )
            )
            await connection.execute(_ADVANCE, {**keys, "through": through, "lease": lease})
            suppressed = [change_of(r, "suppressed", r.reason, now) for r in rows if r.status == "suppressed"]
            if suppressed:
                await publish(connection, self._outbox, suppressed)
            if self._before_commit is not None:
                await self._before_commit()
        finished = through >= row.recipients
        return PlanOutcome(planned=len(rows), positions=through - row.planned_through, finished=finished)

    async def complete(self, claim: Claim) -> bool:
        """Mark the campaign completed when every message is final (sent, failed or suppressed)."""
        async with self._database.transaction() as connection:
            done = await connection.execute(
                _COMPLETE,
                {
                    "tenant": claim.tenant_id,
                    "campaign": claim.campaign_id,
                    "token": claim.token,
                    "ref": str(claim.campaign_id),
                },
            )
            return done.first() is not None

    async def release(
        self, claim: Claim, wake_at: datetime, *, failed: bool = False, error: str | None = None
    ) -> None:
        """Give the campaign up until ``wake_at`` (a failure counts and keeps its error)."""
        async with self._database.transaction() as connection:
            await connection.execute(
                _RELEASE,
                {
                    "tenant": claim.tenant_id,
                    "campaign": claim.campaign_id,
                    "token": claim.token,
                    "wake_at": wake_at,
                    "failed": 1 if failed else 0,
                    "error": error,
                },
            )

    async def abandon(self, claim: Claim, error: str) -> None:
        """Cancel a campaign that cannot go on (its segment was deleted before the snapshot)."""
        async with self._database.transaction() as connection:
            await connection.execute(
                _ABANDON,
                {
                    "tenant": claim.tenant_id,
                    "campaign": claim.campaign_id,
                    "token": claim.token,
                    "error": error,
                },
            )

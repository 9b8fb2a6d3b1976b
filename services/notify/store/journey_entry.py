"""Entering customers into journeys: which active journeys a trigger starts, and the entry itself.

``enter`` is one statement for a whole batch of candidates, run in the caller's transaction (the event
consumer's, so an event's entries commit with its position and are never made twice; the birthday
sweep's). A candidate enters only when:

- the customer is not erased nor merged away (a merged-away id's events arrive under the survivor);
- no instance of that journey already has the same ``entry_key`` (the triggering event, the birthday's
  year): a replayed trigger enters no one;
- the customer has no live instance of the journey (one run at a time), and the re-entry policy
  allows it: never again (``reentry`` NULL) or not before the duration since the last entry. Date
  triggers enter once per occurrence (their ``entry_key``) whatever the re-entry policy.

The decision is made on the ``journey_entries`` row, inserted or updated by the same statement under
its row lock, so two entries racing for one customer cannot both pass. The journey's own row is held
``FOR SHARE`` until the entry commits and must still be active on the version the trigger matched: a
pause, an edit or an archive waits for the entry, and an archive then stops what it entered — no
instance is ever left active in an archived journey.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class EntryCandidate:
    """A customer a trigger would start on a journey's current version."""

    tenant_id: uuid.UUID
    journey_id: uuid.UUID
    version: int
    customer_id: uuid.UUID
    entry_key: str
    trigger_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggeredJourney:
    """An active journey whose trigger matches, with its trigger document (for property filters)."""

    journey_id: uuid.UUID
    version: int
    trigger: dict[str, Any]
    key: str = ""  # the trigger key it matched by (journey_versions.trigger_key)


_TRIGGERED = sa.text(
    """
    SELECT j.journey_id, j.version, v.document -> 'trigger' AS trigger, v.trigger_key
    FROM journey_versions AS v
    JOIN journeys AS j
      ON j.tenant_id = v.tenant_id AND j.journey_id = v.journey_id AND j.version = v.version
    WHERE v.tenant_id = :tenant AND v.trigger_kind = :kind AND v.trigger_key = ANY(:keys)
      AND j.status = 'active'
    """
)

_ENTER = sa.text(
    """
    WITH live AS (
      SELECT tenant_id, journey_id, version FROM journeys
      WHERE tenant_id = ANY(CAST(:tenants AS uuid[])) AND journey_id = ANY(CAST(:journeys AS uuid[]))
        AND status = 'active'
      FOR SHARE
    ),
    candidate AS (
      SELECT c.*, v.reentry, v.trigger_kind
      FROM unnest(CAST(:tenants AS uuid[]), CAST(:journeys AS uuid[]), CAST(:versions AS int[]),
                  CAST(:customers AS uuid[]), CAST(:keys AS text[]), CAST(:trigger_ats AS timestamptz[]),
                  CAST(:contexts AS jsonb[]), CAST(:instances AS uuid[]))
        AS c(tenant_id, journey_id, version, customer_id, entry_key, trigger_at, context, instance_id)
      JOIN live
        ON live.tenant_id = c.tenant_id AND live.journey_id = c.journey_id AND live.version = c.version
      JOIN journey_versions AS v
        ON v.tenant_id = c.tenant_id AND v.journey_id = c.journey_id AND v.version = c.version
      LEFT JOIN journey_entries AS e
        ON e.tenant_id = c.tenant_id AND e.journey_id = c.journey_id AND e.customer_id = c.customer_id
      WHERE NOT EXISTS (
          SELECT 1 FROM customer_states AS s
          WHERE s.tenant_id = c.tenant_id AND s.customer_id = c.customer_id
            AND (s.erased_at IS NOT NULL OR s.merged_into IS NOT NULL))
        AND NOT EXISTS (
          SELECT 1 FROM journey_instances AS i
          WHERE i.tenant_id = c.tenant_id AND i.journey_id = c.journey_id
            AND i.customer_id = c.customer_id AND i.entry_key = c.entry_key)
        AND (e.customer_id IS NULL
             OR (e.live_instance_id IS NULL
                 AND (v.trigger_kind = 'date'
                      OR (v.reentry IS NOT NULL
                          AND e.last_entered_at <= CAST(:now AS timestamptz) - v.reentry))))
    ),
    entered AS (
      INSERT INTO journey_entries AS e (tenant_id, journey_id, customer_id, last_entered_at, live_instance_id)
      SELECT tenant_id, journey_id, customer_id, :now, instance_id FROM candidate
      ON CONFLICT (tenant_id, journey_id, customer_id) DO UPDATE
        SET last_entered_at = EXCLUDED.last_entered_at, live_instance_id = EXCLUDED.live_instance_id
        WHERE e.live_instance_id IS NULL
      RETURNING live_instance_id
    )
    INSERT INTO journey_instances (tenant_id, instance_id, journey_id, version, customer_id, status, cursor,
      due_at, entry_key, entered_at, trigger_at, context, attempts)
    SELECT c.tenant_id, c.instance_id, c.journey_id, c.version, c.customer_id, 'active', 'steps[0]',
      :now, c.entry_key, :now, c.trigger_at, c.context, 0
    FROM candidate AS c JOIN entered AS e ON e.live_instance_id = c.instance_id
    """
)


_END_LIVE = sa.text(
    """
    UPDATE journey_entries AS e SET live_instance_id = NULL
    FROM unnest(CAST(:tenants AS uuid[]), CAST(:instances AS uuid[])) AS ended(tenant_id, instance_id)
    WHERE e.tenant_id = ended.tenant_id AND e.live_instance_id = ended.instance_id
    """
)


async def end_live(connection: AsyncConnection, ended: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """The ``(tenant, instance)`` runs ended: their customers' entry rows no longer hold a live run,
    so the re-entry policy may let them in again."""
    if ended:
        await connection.execute(
            _END_LIVE, {"tenants": [t for t, _ in ended], "instances": [i for _, i in ended]}
        )


async def triggered(
    connection: AsyncConnection, tenant_id: uuid.UUID, kind: str, keys: Sequence[str]
) -> list[TriggeredJourney]:
    """The tenant's active journeys started by a trigger of ``kind`` with one of ``keys``."""
    rows = await connection.execute(_TRIGGERED, {"tenant": tenant_id, "kind": kind, "keys": list(keys)})
    return [TriggeredJourney(row.journey_id, row.version, dict(row.trigger), row.trigger_key) for row in rows]


async def enter(connection: AsyncConnection, candidates: Sequence[EntryCandidate], now: datetime) -> int:
    """Enter the candidates the rules admit (see the module); answers how many entered. Within one
    batch only the first candidate per journey and customer is considered."""
    seen: set[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = set()
    chosen: list[EntryCandidate] = []
    for candidate in candidates:
        key = (candidate.tenant_id, candidate.journey_id, candidate.customer_id)
        if key not in seen:
            seen.add(key)
            chosen.append(candidate)
    if not chosen:
        return 0
    result = await connection.execute(
        _ENTER,
        {
            "tenants": [c.tenant_id for c in chosen],
            "journeys": [c.journey_id for c in chosen],
            "versions": [c.version for c in chosen],
            "customers": [c.customer_id for c in chosen],
            "keys": [c.entry_key for c in chosen],
            "trigger_ats": [c.trigger_at for c in chosen],
            "contexts": [json.dumps({"data": c.data}) for c in chosen],
            "instances": [uuid.uuid4() for _ in chosen],
            "now": now,
        },
    )
    return int(result.rowcount or 0)

"""Journeys and their versions (store/journey_tables.py): saved, versioned, moved through their
lifecycle, counted for the stats and listed per customer.

A version row is written once and never changed; ``journeys.version`` points at the one new entries
take. A status change is one conditional UPDATE (the domain says from which statuses), so two
operators racing cannot both win; archiving stops the active instances in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.journey_stats import CursorGroup, CustomerJourney, InstanceTotals, StepGroup
from services.notify.domain.journeys import JourneyView, VersionRecord
from services.runtime.database import Database

_SELECT = """
    SELECT j.journey_id, j.name, j.status, j.version, j.from_template, j.created_at, j.updated_at,
           v.document
    FROM journeys j
    JOIN journey_versions v
      ON v.tenant_id = j.tenant_id AND v.journey_id = j.journey_id AND v.version = j.version
"""
_GET = sa.text(_SELECT + " WHERE j.tenant_id = :tenant AND j.journey_id = :journey")
_PAGE = sa.text(
    _SELECT
    + """
    WHERE j.tenant_id = :tenant
      AND (CAST(:after_at AS timestamptz) IS NULL
           OR (j.created_at, j.journey_id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
    ORDER BY j.created_at DESC, j.journey_id DESC
    LIMIT :limit
    """
)
_INSERT_JOURNEY = sa.text(
    """
    INSERT INTO journeys (tenant_id, journey_id, name, status, version, from_template, created_at, updated_at)
    VALUES (:tenant, :journey, :name, 'draft', 1, :from_template, now(), now())
    """
)
_INSERT_VERSION = sa.text(
    """
    INSERT INTO journey_versions (tenant_id, journey_id, version, document, trigger_kind, trigger_key,
                                  has_goal, reentry, created_at)
    VALUES (:tenant, :journey, :version, CAST(:document AS jsonb), :trigger_kind, :trigger_key,
            :has_goal, :reentry, now())
    """
)
_LOCK = sa.text(
    "SELECT status, version FROM journeys WHERE tenant_id = :tenant AND journey_id = :journey FOR UPDATE"
)
_NEXT_VERSION = sa.text(
    """
    UPDATE journeys SET version = :version, name = :name, updated_at = now()
    WHERE tenant_id = :tenant AND journey_id = :journey
    """
)
_TRANSITION = sa.text(
    """
    UPDATE journeys SET status = :to, updated_at = now()
    WHERE tenant_id = :tenant AND journey_id = :journey AND status = ANY(:allowed)
    RETURNING journey_id
    """
)
_STATUS = sa.text("SELECT status FROM journeys WHERE tenant_id = :tenant AND journey_id = :journey")
_STOP_INSTANCES = sa.text(
    """
    WITH stopped AS (
        UPDATE journey_instances
        SET status = 'stopped', end_reason = 'archived', cursor = NULL, due_at = NULL, ended_at = now(),
            lease_token = NULL, lease_until = NULL
        WHERE tenant_id = :tenant AND journey_id = :journey AND status = 'active'
        RETURNING instance_id
    )
    UPDATE journey_entries SET live_instance_id = NULL
    WHERE tenant_id = :tenant AND journey_id = :journey
      AND live_instance_id IN (SELECT instance_id FROM stopped)
    """
)
_KNOWN_TEMPLATES = sa.text(
    "SELECT template_id FROM templates WHERE tenant_id = :tenant AND template_id = ANY(:ids)"
)
_TOTALS = sa.text(
    """
    SELECT cursor, count(*) AS entered,
           count(*) FILTER (WHERE status = 'active') AS active,
           count(*) FILTER (WHERE status = 'active' AND due_at > :now) AS waiting,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'exited') AS exited,
           count(*) FILTER (WHERE status = 'converted') AS converted,
           count(*) FILTER (WHERE status = 'stopped') AS stopped,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           COALESCE(sum(revenue_minor) FILTER (WHERE status = 'converted'), 0) AS revenue_minor
    FROM journey_instances
    WHERE tenant_id = :tenant AND journey_id = :journey
    GROUP BY cursor
    """
)
_STEP_GROUPS = sa.text(
    """
    SELECT s.path, s.kind, s.outcome, s.reason, count(*) AS n,
           count(*) FILTER (WHERE m.status IN ('sent', 'delivered', 'opened', 'clicked')) AS sent,
           count(*) FILTER (WHERE i.status = 'converted') AS converted
    FROM journey_steps s
    LEFT JOIN messages m ON m.message_id = s.message_id AND m.tenant_id = s.tenant_id
    LEFT JOIN journey_instances i ON i.tenant_id = s.tenant_id AND i.instance_id = s.instance_id
    WHERE s.tenant_id = :tenant AND s.journey_id = :journey
    GROUP BY s.path, s.kind, s.outcome, s.reason
    ORDER BY s.path, s.outcome, s.reason
    """
)
_FOR_CUSTOMER = sa.text(
    """
    SELECT i.instance_id, i.journey_id, j.name, i.version, i.status, i.cursor, i.due_at, i.entered_at,
           i.ended_at, i.end_reason, i.converted_order_id
    FROM journey_instances i
    JOIN journeys j ON j.tenant_id = i.tenant_id AND j.journey_id = i.journey_id
    WHERE i.tenant_id = :tenant
      AND i.customer_id = COALESCE(
        (SELECT merged_into FROM customer_states
         WHERE tenant_id = :tenant AND customer_id = :customer AND merged_into IS NOT NULL), :customer)
      AND (CAST(:after_at AS timestamptz) IS NULL
           OR (i.entered_at, i.instance_id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
    ORDER BY i.entered_at DESC, i.instance_id DESC
    LIMIT :limit
    """
)


def _view(row: Any) -> JourneyView:
    return JourneyView(
        journey_id=row.journey_id,
        name=row.name,
        status=row.status,
        version=row.version,
        from_template=row.from_template,
        document=dict(row.document),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _after(after: tuple[datetime, uuid.UUID] | None) -> dict[str, Any]:
    return {"after_at": after[0] if after else None, "after_id": after[1] if after else None}


async def _insert_version(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    journey_id: uuid.UUID,
    version: int,
    record: VersionRecord,
) -> None:
    await connection.execute(
        _INSERT_VERSION,
        {
            "tenant": tenant_id,
            "journey": journey_id,
            "version": version,
            "document": json.dumps(record.document, ensure_ascii=False),
            "trigger_kind": record.trigger_kind,
            "trigger_key": record.trigger_key,
            "has_goal": record.has_goal,
            "reentry": record.reentry,
        },
    )


async def _read(
    connection: AsyncConnection, tenant_id: uuid.UUID, journey_id: uuid.UUID
) -> JourneyView | None:
    row = (await connection.execute(_GET, {"tenant": tenant_id, "journey": journey_id})).first()
    return None if row is None else _view(row)


class SqlJourneyStore:
    """Implements the journeys desk's ``JourneyStore`` on notify's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def known_templates(
        self, tenant_id: uuid.UUID, template_ids: Collection[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Which of the ids are the tenant's notify templates."""
        async with self._database.read() as connection:
            result = await connection.execute(
                _KNOWN_TEMPLATES, {"tenant": tenant_id, "ids": list(template_ids)}
            )
            return {row.template_id for row in result}

    async def create(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, from_template: str | None, record: VersionRecord
    ) -> JourneyView:
        """A draft journey with its first version, in one transaction."""
        async with self._database.transaction() as connection:
            await connection.execute(
                _INSERT_JOURNEY,
                {
                    "tenant": tenant_id,
                    "journey": journey_id,
                    "name": str(record.document["name"]).strip(),
                    "from_template": from_template,
                },
            )
            await _insert_version(connection, tenant_id, journey_id, 1, record)
            view = await _read(connection, tenant_id, journey_id)
        assert view is not None
        return view

    async def add_version(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, record: VersionRecord, editable: frozenset[str]
    ) -> tuple[JourneyView | None, str | None]:
        """The next version, under the journey's row lock (two updates number theirs in turn)."""
        async with self._database.transaction() as connection:
            row = (await connection.execute(_LOCK, {"tenant": tenant_id, "journey": journey_id})).first()
            if row is None:
                return None, None
            if row.status not in editable:
                return None, str(row.status)
            version = int(row.version) + 1
            await _insert_version(connection, tenant_id, journey_id, version, record)
            await connection.execute(
                _NEXT_VERSION,
                {
                    "tenant": tenant_id,
                    "journey": journey_id,
                    "version": version,
                    "name": str(record.document["name"]).strip(),
                },
            )
            return await _read(connection, tenant_id, journey_id), None

    async def transition(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, allowed: frozenset[str], to: str
    ) -> tuple[JourneyView | None, str | None]:
        """Move to ``to`` from one of ``allowed``; archiving stops the active instances with it."""
        params = {"tenant": tenant_id, "journey": journey_id}
        async with self._database.transaction() as connection:
            moved = (
                await connection.execute(_TRANSITION, {**params, "to": to, "allowed": sorted(allowed)})
            ).first()
            if moved is None:
                status = (await connection.execute(_STATUS, params)).scalar_one_or_none()
                return None, status
            if to == "archived":
                await connection.execute(_STOP_INSTANCES, params)
            return await _read(connection, tenant_id, journey_id), None

    async def get(self, tenant_id: uuid.UUID, journey_id: uuid.UUID) -> JourneyView | None:
        """The journey at its current version, or None."""
        async with self._database.read() as connection:
            return await _read(connection, tenant_id, journey_id)

    async def page(
        self, tenant_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[JourneyView]:
        """The tenant's journeys, newest first, after a cursor."""
        async with self._database.read() as connection:
            result = await connection.execute(_PAGE, {"tenant": tenant_id, "limit": limit, **_after(after)})
            return [_view(row) for row in result]

    async def stats(
        self, tenant_id: uuid.UUID, journey_id: uuid.UUID, now: datetime
    ) -> tuple[list[CursorGroup], list[StepGroup]]:
        """The instances' totals per next step and the step ledger grouped by path and outcome: two
        statements."""
        params = {"tenant": tenant_id, "journey": journey_id}
        async with self._database.read() as connection:
            cursors = await connection.execute(_TOTALS, {**params, "now": now})
            cursor_groups = [
                CursorGroup(
                    row.cursor,
                    InstanceTotals(**{k: int(v) for k, v in row._mapping.items() if k != "cursor"}),
                )
                for row in cursors
            ]
            groups = await connection.execute(_STEP_GROUPS, params)
            return (
                cursor_groups,
                [
                    StepGroup(g.path, g.kind, g.outcome, g.reason, int(g.n), int(g.sent), int(g.converted))
                    for g in groups
                ],
            )

    async def customer_journeys(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[CustomerJourney]:
        """The customer's instances (a merged-away id answers for its survivor), newest entry first."""
        async with self._database.read() as connection:
            result = await connection.execute(
                _FOR_CUSTOMER, {"tenant": tenant_id, "customer": customer_id, "limit": limit, **_after(after)}
            )
            return [
                CustomerJourney(
                    instance_id=row.instance_id,
                    journey_id=row.journey_id,
                    name=row.name,
                    version=row.version,
                    status=row.status,
                    cursor=row.cursor,
                    due_at=row.due_at,
                    entered_at=row.entered_at,
                    ended_at=row.ended_at,
                    end_reason=row.end_reason,
                    converted_order_id=row.converted_order_id,
                )
                for row in result
            ]

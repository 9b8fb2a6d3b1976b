"""Campaigns as the operator's desk keeps them (store/campaign_tables.py): saved, read with their
progress, moved through their statuses, their audience listed.

A move is one transaction holding the campaign's row (``FOR UPDATE``): the status it starts from is
read and changed under the lock, so two operators racing (or the worker finishing the campaign) cannot
both win. Starting fixes when the audience is taken: the first send instant, computed in SQL from the
definition and the tenant's zone. Cancelling suppresses the campaign's unsent messages in the same
transaction, each with its ``message.suppressed`` event (reason ``cancelled``); a message already in
a provider's hands finishes.

Progress is counted live from the campaign's messages (``sender = 'campaign'``, ``sender_ref`` the
campaign id; the partial index ``ix_messages_campaign`` serves it) and the group sizes the snapshot
recorded.
"""

from __future__ import annotations

import importlib
import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.campaigns import (
    ACTIONS,
    GLOBAL_CONTROL,
    CampaignView,
    GroupTotals,
    NewCampaign,
    Progress,
    RecipientView,
)
from services.notify.store.message_events import publish
from services.notify.store.message_rows import change_of
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

DEFAULT_TENANT_ZONE = "Asia/Shanghai"
EARLIEST_ZONE = "Etc/GMT-14"
"""UTC+14 (POSIX names invert the sign): where a wall-clock time comes first on earth, so a campaign
sent at each customer's own local time takes its audience before anyone's time has come."""

_SELECT = """
    SELECT c.campaign_id, c.name, c.status, c.document, c.created_at, c.started_at,
           COALESCE(c.first_send_at, c.send_at) AS first_send_at, c.snapshot_at, c.segment_version,
           c.completed_at, c.cancelled_at, c.global_control_percent, c.recipients, c.group_sizes,
           p.planned, p.sent, p.suppressed, p.deferred, p.failed
    FROM campaigns c
    CROSS JOIN LATERAL (
        SELECT count(*) AS planned,
               count(*) FILTER (WHERE m.status IN ('sent', 'delivered', 'opened', 'clicked')) AS sent,
               count(*) FILTER (WHERE m.status = 'suppressed') AS suppressed,
               count(*) FILTER (WHERE m.status = 'deferred') AS deferred,
               count(*) FILTER (WHERE m.status = 'failed') AS failed
        FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.sender = 'campaign'
          AND m.sender_ref = CAST(c.campaign_id AS text)
    ) p
"""
_GET = sa.text(_SELECT + " WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign")
_PAGE = sa.text(
    _SELECT
    + """
    WHERE c.tenant_id = :tenant
      AND (CAST(:after_at AS timestamptz) IS NULL
           OR (c.created_at, c.campaign_id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
    ORDER BY c.created_at DESC, c.campaign_id DESC
    LIMIT :limit
    """
)
_INSERT = sa.text(
    """
    INSERT INTO campaigns (tenant_id, campaign_id, name, segment_id, document, status, phase, groups,
                           templates, ends, conversion_window, send_at, send_local, send_zone,
                           created_at, updated_at)
    VALUES (:tenant, :campaign, :name, :segment, CAST(:document AS jsonb), 'draft', NULL, :groups,
            :templates, :ends, :window, :send_at, :send_local, :send_zone, :now, :now)
    """
)
_EXISTS = sa.text("SELECT 1 FROM campaigns WHERE tenant_id = :tenant AND campaign_id = :campaign")
_LOCK = sa.text(
    "SELECT status FROM campaigns WHERE tenant_id = :tenant AND campaign_id = :campaign FOR UPDATE"
)
_START = sa.text(
    """
    UPDATE campaigns c
    SET status = CASE WHEN f.at <= CAST(:now AS timestamptz) THEN 'running' ELSE 'scheduled' END,
        phase = 'snapshot', started_at = :now, global_control_percent = :control,
        first_send_at = f.at, wake_at = f.at, updated_at = :now
    FROM (
        SELECT COALESCE(
            s.send_at,
            CASE WHEN s.send_local IS NULL THEN NULL
                 WHEN s.send_zone = 'customer' THEN s.send_local AT TIME ZONE CAST(:earliest AS text)
                 ELSE s.send_local AT TIME ZONE COALESCE(
                     (SELECT t.timezone FROM tenants t
                      WHERE t.tenant_id = :tenant
                        AND EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = t.timezone)),
                     CAST(:default_zone AS text))
            END,
            CAST(:now AS timestamptz)) AS at
        FROM campaigns s
        WHERE s.tenant_id = :tenant AND s.campaign_id = :campaign
    ) f
    WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign
    """
)
_PAUSE = sa.text(
    "UPDATE campaigns c SET status = 'paused', updated_at = :now"
    " WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign"
)
_RESUME = sa.text(
    """
    UPDATE campaigns c
    SET status = CASE WHEN c.snapshot_at IS NOT NULL OR c.first_send_at <= CAST(:now AS timestamptz)
                      THEN 'running' ELSE 'scheduled' END,
        wake_at = CASE WHEN c.snapshot_at IS NOT NULL OR c.first_send_at <= CAST(:now AS timestamptz)
                       THEN LEAST(c.wake_at, CAST(:now AS timestamptz)) ELSE c.first_send_at END,
        updated_at = :now
    WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign
    """
)
_CANCEL = sa.text(
    """
    UPDATE campaigns c
    SET status = 'cancelled', phase = NULL, wake_at = NULL, cancelled_at = :now, updated_at = :now
    WHERE c.tenant_id = :tenant AND c.campaign_id = :campaign
    """
)
_SUPPRESS_UNSENT = sa.text(
    """
    UPDATE messages
    SET status = 'suppressed', reason = 'cancelled', due_at = NULL, render_at = NULL, claimed_until = NULL
    WHERE tenant_id = :tenant AND sender = 'campaign' AND sender_ref = :ref
      AND status IN ('queued', 'deferred') AND NOT in_flight
    RETURNING *
    """
)
_MOVES = {"start": _START, "pause": _PAUSE, "resume": _RESUME, "cancel": _CANCEL}
_RECIPIENTS = sa.text(
    """
    SELECT r.position, r.customer_id, r.group_name, m.message_id, m.status, m.reason
    FROM campaign_recipients r
    LEFT JOIN messages m ON m.message_id = r.message_id AND m.tenant_id = r.tenant_id
    WHERE r.tenant_id = :tenant AND r.campaign_id = :campaign AND r.position > :after
      AND (CAST(:group AS text) = '' OR r.group_name = CAST(:group AS text))
    ORDER BY r.position
    LIMIT :limit
    """
)


def _view(row: Any) -> CampaignView:
    sizes = dict(row.group_sizes or {})
    return CampaignView(
        campaign_id=row.campaign_id,
        name=row.name,
        status=row.status,
        document=dict(row.document),
        created_at=row.created_at,
        progress=Progress(
            recipients=int(row.recipients),
            planned=int(row.planned),
            sent=int(row.sent),
            suppressed=int(row.suppressed),
            deferred=int(row.deferred),
            failed=int(row.failed),
            holdout=int(sizes.get("holdout", 0)),
            global_control=int(sizes.get(GLOBAL_CONTROL, 0)),
        ),
        started_at=row.started_at,
        first_send_at=row.first_send_at,
        snapshot_at=row.snapshot_at,
        segment_version=row.segment_version,
        completed_at=row.completed_at,
        cancelled_at=row.cancelled_at,
        global_control_percent=float(row.global_control_percent),
    )


async def _read(
    connection: AsyncConnection, tenant_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignView | None:
    row = (await connection.execute(_GET, {"tenant": tenant_id, "campaign": campaign_id})).first()
    return None if row is None else _view(row)


async def _exists(connection: AsyncConnection, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> bool:
    keys = {"tenant": tenant_id, "campaign": campaign_id}
    return (await connection.execute(_EXISTS, keys)).first() is not None


class SqlCampaignStore:
    """Implements the campaign desk's ``CampaignStore`` on notify's database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def create(self, tenant_id: uuid.UUID, campaign: NewCampaign) -> CampaignView:
        """The draft row: the definition, and what planning needs of it in columns."""
        definition = campaign.definition
        send = definition.send_at
        async with self._database.transaction() as connection:
            await connection.execute(
                _INSERT,
                {
                    "tenant": tenant_id,
                    "campaign": campaign.campaign_id,
                    "name": definition.name,
                    "segment": definition.segment_id,
                    "document": json.dumps(campaign.document, ensure_ascii=False),
                    "groups": [v.name for v in definition.variants],
                    "templates": [v.template_id for v in definition.variants],
                    "ends": list(campaign.ends),
                    "window": definition.conversion_window,
                    "send_at": send.at if send else None,
                    "send_local": send.local if send else None,
                    "send_zone": send.zone if send else "tenant",
                    "now": campaign.created_at,
                },
            )
            view = await _read(connection, tenant_id, campaign.campaign_id)
        assert view is not None
        return view

    async def get(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> CampaignView | None:
        """The campaign with its progress, or None (another tenant's too)."""
        async with self._database.read() as connection:
            return await _read(connection, tenant_id, campaign_id)

    async def page(
        self, tenant_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[CampaignView]:
        """The tenant's campaigns, newest first, after a (created_at, campaign_id) key."""
        params = {
            "tenant": tenant_id,
            "limit": limit,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
        }
        async with self._database.read() as connection:
            return [_view(row) for row in await connection.execute(_PAGE, params)]

    async def move(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, action: str, now: datetime, global_control: float
    ) -> tuple[CampaignView | None, bool]:
        """Apply ``action`` under the campaign's row lock if its status allows it (``ACTIONS``)."""
        keys: dict[str, Any] = {"tenant": tenant_id, "campaign": campaign_id}
        async with self._database.transaction() as connection:
            status = (await connection.execute(_LOCK, keys)).scalar_one_or_none()
            if status is None:
                return None, False
            if status not in ACTIONS[action]:
                return await _read(connection, tenant_id, campaign_id), False
            params: dict[str, Any] = {**keys, "now": now}
            if action == "start":
                params.update(
                    control=global_control, earliest=EARLIEST_ZONE, default_zone=DEFAULT_TENANT_ZONE
                )
            await connection.execute(_MOVES[action], params)
            if action == "cancel":
                await self._suppress_unsent(connection, tenant_id, campaign_id, now)
            return await _read(connection, tenant_id, campaign_id), True

    async def _suppress_unsent(
        self, connection: AsyncConnection, tenant_id: uuid.UUID, campaign_id: uuid.UUID, now: datetime
    ) -> None:
        """A cancelled campaign's messages not yet with a provider are suppressed, each with its event."""
        rows = list(
            await connection.execute(_SUPPRESS_UNSENT, {"tenant": tenant_id, "ref": str(campaign_id)})
        )
        await publish(
            connection, self._outbox, [change_of(row, "suppressed", "cancelled", now) for row in rows]
        )

    async def recipients(
        self, tenant_id: uuid.UUID, campaign_id: uuid.UUID, limit: int, after: int, group: str
    ) -> list[RecipientView] | None:
        """The audience in snapshot order after ``after`` (one group, or every group when "")."""
        keys = {"tenant": tenant_id, "campaign": campaign_id}
        async with self._database.read() as connection:
            if not await _exists(connection, tenant_id, campaign_id):
                return None
            rows = await connection.execute(
                _RECIPIENTS, {**keys, "after": after, "group": group, "limit": limit}
            )
            return [
                RecipientView(
                    position=int(row.position),
                    customer_id=row.customer_id,
                    group=row.group_name,
                    message_id=row.message_id,
                    status=row.status,
                    reason=row.reason,
                )
                for row in rows
            ]

    async def totals(self, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> list[GroupTotals] | None:
        """Each group's totals for the report (``store/campaign_report.campaign_totals``); None when the
        campaign is not the tenant's."""
        async with self._database.read() as connection:
            if not await _exists(connection, tenant_id, campaign_id):
                return None
            # Imported when first asked: the report's queries live in their own module.
            report = importlib.import_module("services.notify.store.campaign_report")
            totals: list[GroupTotals] = await report.campaign_totals(connection, tenant_id, campaign_id)
            return totals

"""The render queue: campaign messages committed unrendered, claimed when due, recorded rendered.

A claim takes up to a batch of due messages of running campaigns (a paused campaign's messages wait
unrendered, so pausing holds them) with ``FOR UPDATE SKIP LOCKED`` and a short lease
(``claimed_until``), so replicas share the queue. Recording is fenced on ``render_at`` still being
set and the status still pending: a message erased, cancelled or rendered by another worker
meanwhile is left as it is. Only a rendered message gets a ``due_at``: the delivery worker never
sees one unrendered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from services.notify.domain.campaign_rendering import Pending, RenderedText
from services.notify.store.message_events import publish
from services.notify.store.message_rows import change_of
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_CLAIM = sa.text(
    """
    WITH due AS (
      SELECT x.message_id
      FROM (SELECT tenant_id, CAST(campaign_id AS text) AS ref FROM campaigns
            WHERE status = 'running' AND snapshot_at IS NOT NULL) AS c
      CROSS JOIN LATERAL (
        SELECT m.message_id FROM messages AS m
        WHERE m.tenant_id = c.tenant_id AND m.sender_ref = c.ref AND m.render_at <= now()
          AND m.sender = 'campaign' AND m.status IN ('queued', 'deferred')
          AND (m.claimed_until IS NULL OR m.claimed_until < now())
        ORDER BY m.render_at LIMIT :limit
        FOR UPDATE OF m SKIP LOCKED
      ) AS x
      LIMIT :limit
    )
    UPDATE messages AS m SET claimed_until = now() + :lease
    FROM due WHERE m.message_id = due.message_id
    RETURNING m.tenant_id, m.message_id, m.customer_id, m.template_id, m.sender_ref
    """
)

_RENDERED = sa.text(
    """
    UPDATE messages AS m
    SET subject = r.subject, body = r.body, html = r.html, provider_template = r.provider_template,
        provider_params = r.provider_params, data = r.data, contact_masked = r.contact_masked,
        due_at = now(), render_at = NULL, claimed_until = NULL
    FROM unnest(CAST(:ids AS uuid[]), CAST(:subjects AS text[]), CAST(:bodies AS text[]),
                CAST(:htmls AS text[]), CAST(:provider_templates AS text[]), CAST(:params AS jsonb[]),
                CAST(:datas AS jsonb[]), CAST(:contacts AS text[]))
      AS r(message_id, subject, body, html, provider_template, provider_params, data, contact_masked)
    WHERE m.message_id = r.message_id AND m.render_at IS NOT NULL AND m.status IN ('queued', 'deferred')
    """
)

_SUPPRESSED = sa.text(
    """
    UPDATE messages AS m
    SET status = 'suppressed', reason = r.reason, due_at = NULL, render_at = NULL, claimed_until = NULL
    FROM unnest(CAST(:ids AS uuid[]), CAST(:reasons AS text[])) AS r(message_id, reason)
    WHERE m.message_id = r.message_id AND m.render_at IS NOT NULL AND m.status IN ('queued', 'deferred')
    RETURNING m.*
    """
)

_LATER = sa.text(
    """
    UPDATE messages SET claimed_until = now() + :delay
    WHERE message_id = ANY(CAST(:ids AS uuid[])) AND render_at IS NOT NULL
    """
)


class SqlRenderQueue:
    """Implements the renderer's ``RenderQueue`` on notify's database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def claim(self, limit: int, lease: timedelta) -> list[Pending]:
        """Up to ``limit`` due unrendered messages of running campaigns, leased to this worker."""
        async with self._database.transaction() as connection:
            rows = await connection.execute(_CLAIM, {"limit": limit, "lease": lease})
            return [
                Pending(r.tenant_id, r.message_id, r.customer_id, r.template_id, r.sender_ref or "")
                for r in rows
            ]

    async def record(
        self,
        rendered: Sequence[RenderedText],
        suppressed: Sequence[tuple[uuid.UUID, str]],
        later: Sequence[uuid.UUID],
        delay: timedelta,
    ) -> None:
        """Record a round in one transaction: texts for the rendered (now due), reasons for the
        suppressed (with their events), a later look for those that could not be rendered yet."""
        async with self._database.transaction() as connection:
            if rendered:
                await connection.execute(
                    _RENDERED,
                    {
                        "ids": [r.message_id for r in rendered],
                        "subjects": [r.subject for r in rendered],
                        "bodies": [r.body for r in rendered],
                        "htmls": [r.html for r in rendered],
                        "provider_templates": [r.provider_template for r in rendered],
                        "params": [json.dumps(dict(r.provider_params)) for r in rendered],
                        "datas": [json.dumps(dict(r.data)) for r in rendered],
                        "contacts": [r.contact_masked for r in rendered],
                    },
                )
            if suppressed:
                rows = await connection.execute(
                    _SUPPRESSED, {"ids": [i for i, _ in suppressed], "reasons": [r for _, r in suppressed]}
                )
                now = datetime.now(UTC)
                await publish(
                    connection, self._outbox, [change_of(r, "suppressed", r.reason, now) for r in rows]
                )
            if later:
                await connection.execute(_LATER, {"ids": list(later), "delay": delay})

"""The store side of webhooks for the API, and ``enqueue_webhook_deliveries`` for the message pipeline.

Implements ``WebhookStore`` (``domain/webhooks.py``). Secrets are sealed here (``Sealer``, bound to
``webhook:<id>``) and never read back on these paths. A tenant's creates take an advisory lock, so two
concurrent creates cannot both pass ``MAX_WEBHOOKS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.webhooks import Attempt, Delivery, Webhook, WebhookEvent, delivery_body
from services.notify.store.sealing import Sealer
from services.notify.store.webhook_tables import webhook_attempts, webhook_deliveries, webhooks
from services.runtime.database import Database
from services.runtime.paging import Page, decode_cursor, page_from_rows, page_size


def seal_owner(webhook_id: uuid.UUID) -> str:
    """What a webhook's sealed secret is bound to: it opens for that webhook's row only."""
    return f"webhook:{webhook_id}"


_LOCK_TENANT = sa.text("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || :tenant, 0))")

# One statement for any number of events: each event joins the tenant's enabled webhooks subscribed
# to its type; an event handed over twice (a retried transaction) is one delivery still.
_ENQUEUE = sa.text(
    """
    INSERT INTO webhook_deliveries (tenant_id, delivery_id, webhook_id, event_id, event_type, body,
                                    status, attempts, next_attempt_at, created_at)
    SELECT w.tenant_id, gen_random_uuid(), w.webhook_id, e.event_id, e.event_type, e.body,
           'pending', 0, now(), now()
    FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[]), CAST(:bodies AS text[]))
         AS e(event_id, event_type, body)
    JOIN webhooks AS w ON w.tenant_id = :tenant AND w.enabled AND e.event_type = ANY(w.events)
    ON CONFLICT (tenant_id, webhook_id, event_id) DO NOTHING
    """
)


async def enqueue_webhook_deliveries(
    conn: AsyncConnection, tenant_id: uuid.UUID, events: Sequence[WebhookEvent]
) -> None:
    """Queue the deliveries of ``events`` to the tenant's webhooks, on the caller's connection — in the
    transaction that records the events, so a delivery exists exactly when its event does."""
    if not events:
        return
    await conn.execute(
        _ENQUEUE,
        {
            "tenant": tenant_id,
            "ids": [e.event_id for e in events],
            "types": [e.type for e in events],
            "bodies": [delivery_body(e) for e in events],
        },
    )


def webhook_of(row: Any) -> Webhook:
    """A ``webhooks`` row as the domain's value (without the secret)."""
    return Webhook(
        webhook_id=row.webhook_id,
        url=row.url,
        events=tuple(row.events),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        created_at=row.created_at,
    )


_PUBLIC = [c for c in webhooks.c if c.name != "secret_sealed"]


def _one(tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> Any:
    return sa.and_(webhooks.c.tenant_id == tenant_id, webhooks.c.webhook_id == webhook_id)


class SqlWebhookStore:
    """Webhooks and their delivery log in notify's database."""

    def __init__(self, database: Database, box: Sealer) -> None:
        self._database = database
        self._box = box

    async def create(
        self,
        tenant_id: uuid.UUID,
        webhook_id: uuid.UUID,
        url: str,
        events: Sequence[str],
        secret: str,
        now: datetime,
        max_webhooks: int,
    ) -> Webhook | None:
        """Store the webhook, its secret sealed; None when the tenant has ``max_webhooks`` already."""
        async with self._database.transaction() as connection:
            await connection.execute(_LOCK_TENANT, {"tenant": str(tenant_id)})
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(webhooks).where(webhooks.c.tenant_id == tenant_id)
            )
            if int(count or 0) >= max_webhooks:
                return None
            row = (
                await connection.execute(
                    sa.insert(webhooks)
                    .values(
                        tenant_id=tenant_id,
                        webhook_id=webhook_id,
                        url=url,
                        events=list(events),
                        secret_sealed=self._box.seal(tenant_id, seal_owner(webhook_id), {"secret": secret}),
                        enabled=True,
                        exhausted_in_a_row=0,
                        created_at=now,
                    )
                    .returning(*_PUBLIC)
                )
            ).one()
        return webhook_of(row)

    async def page(self, tenant_id: uuid.UUID, cursor: str, limit: int) -> Page[Webhook]:
        """The tenant's webhooks, oldest first (keyset on created_at, webhook_id)."""
        size = page_size(limit)
        after = decode_cursor(cursor, (datetime, uuid.UUID))
        query = sa.select(*_PUBLIC).where(webhooks.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(sa.tuple_(webhooks.c.created_at, webhooks.c.webhook_id) > sa.tuple_(*after))
        query = query.order_by(webhooks.c.created_at, webhooks.c.webhook_id).limit(size + 1)
        async with self._database.read() as connection:
            rows = (await connection.execute(query)).all()
        return page_from_rows(rows, size, webhook_of, lambda r: (r.created_at, r.webhook_id))

    async def get(self, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook | None:
        """The webhook, or None."""
        async with self._database.read() as connection:
            row = (await connection.execute(sa.select(*_PUBLIC).where(_one(tenant_id, webhook_id)))).first()
        return None if row is None else webhook_of(row)

    async def delete(self, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
        """Delete it; its deliveries and their attempts go with it (ON DELETE CASCADE)."""
        async with self._database.transaction() as connection:
            result = await connection.execute(sa.delete(webhooks).where(_one(tenant_id, webhook_id)))
        return bool(result.rowcount)

    async def enable(self, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook | None:
        """Enable it with a clean failure count; None when there is none."""
        statement = (
            sa.update(webhooks)
            .where(_one(tenant_id, webhook_id))
            .values(enabled=True, disabled_reason=None, disabled_at=None, exhausted_in_a_row=0)
            .returning(*_PUBLIC)
        )
        async with self._database.transaction() as connection:
            row = (await connection.execute(statement)).first()
        return None if row is None else webhook_of(row)

    async def deliveries(
        self, tenant_id: uuid.UUID, webhook_id: uuid.UUID, cursor: str, limit: int
    ) -> Page[Delivery] | None:
        """The webhook's deliveries newest first, each with its attempts; None without the webhook.
        The page and its attempts are read in one transaction, so they agree."""
        size = page_size(limit)
        before = decode_cursor(cursor, (datetime, uuid.UUID))
        d = webhook_deliveries.c
        query = sa.select(webhook_deliveries).where(d.tenant_id == tenant_id, d.webhook_id == webhook_id)
        if before is not None:
            query = query.where(sa.tuple_(d.created_at, d.delivery_id) < sa.tuple_(*before))
        query = query.order_by(d.created_at.desc(), d.delivery_id.desc()).limit(size + 1)
        async with self._database.transaction() as connection:
            exists = await connection.scalar(
                sa.select(webhooks.c.webhook_id).where(_one(tenant_id, webhook_id))
            )
            if exists is None:
                return None
            rows = (await connection.execute(query)).all()
            a = webhook_attempts.c
            attempt_rows = (
                await connection.execute(
                    sa.select(webhook_attempts)
                    .where(a.tenant_id == tenant_id, a.delivery_id.in_([r.delivery_id for r in rows[:size]]))
                    .order_by(a.delivery_id, a.attempt)
                )
            ).all()
        attempts: dict[uuid.UUID, list[Attempt]] = {}
        for r in attempt_rows:
            attempts.setdefault(r.delivery_id, []).append(
                Attempt(r.attempt, r.attempted_at, r.status_code, r.error, r.duration_ms)
            )

        def delivery(row: Any) -> Delivery:
            return Delivery(
                delivery_id=row.delivery_id,
                event_id=row.event_id,
                event_type=row.event_type,
                status=row.status,
                next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                created_at=row.created_at,
                finished_at=row.finished_at,
                attempts=tuple(attempts.get(row.delivery_id, ())),
            )

        return page_from_rows(rows, size, delivery, lambda r: (r.created_at, r.delivery_id))

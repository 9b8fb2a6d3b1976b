"""Notify's part of a customer's export (``GET /v1/customers/{id}/export`` → ``notify``) and its
erasure status: the messages notify holds of the customer (channel, template, status and times —
contacts only masked, as stored; after erasure only the bare records remain), the consents it keeps,
the suppressions it recorded, the journeys the customer went through (with each step) and the
campaigns they were in (their group, and the orders attributed). Every row, each section bounded
by ``runtime.privacy.MAX_EXPORT_ROWS`` (refused beyond, never cut). Read by ``runtime.privacy_store``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from services.notify.store.tables import customer_erasures
from services.runtime.database import Database
from services.runtime.privacy_store import SectionExport

_MESSAGES = sa.text(
    """
    SELECT message_id, customer_id, template_id, channel, purpose, sender, sender_ref, status, reason,
           contact_masked, subject, body, created_at, sent_at, delivered_at, opened_at, clicked_at,
           failed_at, converted_at, conversion_order_id, conversion_amount_minor, conversion_currency
    FROM messages WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY created_at DESC, message_id
    """
)
_CONSENTS = sa.text(
    """
    SELECT customer_id, channel, purpose, granted, changed_at
    FROM consents WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY channel, purpose
    """
)
_SUPPRESSIONS = sa.text(
    """
    SELECT customer_id, channel, scope, reason, created_at
    FROM suppressions WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY channel, scope
    """
)
_JOURNEYS = sa.text(
    """
    SELECT i.instance_id, i.customer_id, i.journey_id, j.name AS journey_name, i.version, i.status,
           i.entered_at, i.trigger_at, i.due_at, i.ended_at, i.end_reason, i.converted_order_id,
           i.revenue_minor
    FROM journey_instances AS i
    JOIN journeys AS j ON j.tenant_id = i.tenant_id AND j.journey_id = i.journey_id
    WHERE i.tenant_id = :tenant AND i.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY i.entered_at, i.instance_id
    """
)
_JOURNEY_STEPS = sa.text(
    """
    SELECT s.instance_id, s.journey_id, s.path, s.kind, s.outcome, s.reason, s.message_id,
           s.coupon_code, s.at
    FROM journey_steps AS s
    JOIN journey_instances AS i ON i.tenant_id = s.tenant_id AND i.instance_id = s.instance_id
    WHERE i.tenant_id = :tenant AND i.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY s.at, s.instance_id, s.path
    """
)
_CAMPAIGNS = sa.text(
    """
    SELECT r.campaign_id, c.name AS campaign_name, r.customer_id, r.group_name, r.due_at, r.message_id
    FROM campaign_recipients AS r
    JOIN campaigns AS c ON c.tenant_id = r.tenant_id AND c.campaign_id = r.campaign_id
    WHERE r.tenant_id = :tenant AND r.customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY r.due_at, r.campaign_id
    """
)
_CAMPAIGN_ORDERS = sa.text(
    """
    SELECT campaign_id, order_id, customer_id, amount_minor, currency, paid_at
    FROM campaign_orders WHERE tenant_id = :tenant AND customer_id = ANY(CAST(:customers AS uuid[]))
    ORDER BY paid_at, order_id
    """
)


def notify_privacy(database: Database) -> SectionExport:
    """Notify's :class:`services.runtime.privacy.PrivacyPort`."""
    return SectionExport(
        "notify",
        database,
        customer_erasures,
        lists={
            "messages": _MESSAGES,
            "consents": _CONSENTS,
            "suppressions": _SUPPRESSIONS,
            "journeys": _JOURNEYS,
            "journey_steps": _JOURNEY_STEPS,
            "campaigns": _CAMPAIGNS,
            "campaign_orders": _CAMPAIGN_ORDERS,
        },
    )


class SqlCustomerExport:
    """The same sections for ``NotifyService.ExportCustomer`` (kept for callers of that RPC; the
    gateway asks ``patron.common.v1.CustomerPrivacy``)."""

    def __init__(self, database: Database) -> None:
        self._sections = notify_privacy(database)

    async def export(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any]:
        return await self._sections.export_customer(tenant_id, customer_id, [])

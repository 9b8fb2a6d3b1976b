"""The campaign totals of a period's KPIs (implements ``domain.kpis.CampaignKpiStore``).

One statement, shaped as the campaign report's (``campaign_report``) but over every campaign whose
audience was taken in the period, grouped per campaign into its variants and its holdout: the
recipients are joined with their campaigns' messages once (``ix_messages_campaign``), and that result
is read for the delivery counts and joined with the campaigns' orders for the counted ones. Revenue
sums orders in the tenant's currency only (docs/currencies.md); conversions count any order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from services.notify.domain.kpis import CampaignTotals
from services.runtime.database import Database
from services.runtime.periods import Period

DEFAULT_TIMEZONE = "Asia/Shanghai"

_TOTALS = sa.text(
    """
    WITH campaign AS MATERIALIZED (
      SELECT campaign_id, campaign_id::text AS ref, conversion_window FROM campaigns
      WHERE tenant_id = :t AND snapshot_at >= :start AND snapshot_at < :end
    ),
    sent_messages AS (
      SELECT message_id, status, sent_at FROM messages
      WHERE tenant_id = :t AND sender = 'campaign' AND sender_ref IN (SELECT ref FROM campaign)
    ),
    recipients AS MATERIALIZED (
      SELECT r.campaign_id, r.customer_id, r.group_name = 'holdout' AS holdout, c.conversion_window,
             m.status IN ('sent', 'delivered', 'opened', 'clicked') OR m.sent_at IS NOT NULL AS sent,
             COALESCE(m.sent_at, r.due_at) AS anchor
      FROM campaign AS c
      JOIN campaign_recipients AS r ON r.tenant_id = :t AND r.campaign_id = c.campaign_id
      LEFT JOIN sent_messages AS m ON m.message_id = r.message_id
      WHERE r.group_name <> 'global_control'
    ),
    delivery AS (
      SELECT campaign_id, holdout, count(*) AS recipients, count(*) FILTER (WHERE sent) AS sent
      FROM recipients GROUP BY 1, 2
    ),
    counted AS MATERIALIZED (
      SELECT k.campaign_id, k.holdout, k.customer_id, o.order_id,
             CASE WHEN o.currency = coalesce(CAST(:currency AS text), o.currency) THEN o.amount_minor
                  ELSE 0 END AS amount
      FROM recipients AS k
      JOIN campaign_orders AS o
        ON o.tenant_id = :t AND o.campaign_id = k.campaign_id AND o.customer_id = k.customer_id
      WHERE o.paid_at > k.anchor AND o.paid_at <= k.anchor + k.conversion_window
    ),
    costs AS (
      SELECT k.campaign_id, k.order_id, sum(d.discount_minor) AS cost
      FROM counted AS k
      JOIN campaign_order_discounts AS d ON d.tenant_id = :t AND d.order_id = k.order_id
      GROUP BY 1, 2
    ),
    conversions AS (
      SELECT k.campaign_id, k.holdout, count(DISTINCT k.customer_id) AS converted, count(*) AS orders,
             sum(k.amount) AS revenue, coalesce(sum(s.cost), 0) AS cost
      FROM counted AS k
      LEFT JOIN costs AS s ON s.campaign_id = k.campaign_id AND s.order_id = k.order_id
      GROUP BY 1, 2
    )
    SELECT d.campaign_id, d.holdout, d.recipients, d.sent,
           coalesce(v.converted, 0) AS converted, coalesce(v.orders, 0) AS orders,
           coalesce(v.revenue, 0) AS revenue, coalesce(v.cost, 0) AS cost
    FROM delivery AS d LEFT JOIN conversions AS v ON v.campaign_id = d.campaign_id AND v.holdout = d.holdout
    """
)

_TENANT = sa.text("SELECT timezone, currency FROM tenants WHERE tenant_id = :t")


def _midnight(day: date, zone: str) -> datetime:
    """The instant a tenant-local day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


class SqlCampaignKpiStore:
    """Implements ``services.notify.domain.kpis.CampaignKpiStore`` on the notify database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def totals(self, tenant_id: uuid.UUID, period: Period) -> list[CampaignTotals]:
        async with self._database.read() as connection:
            tenant = (await connection.execute(_TENANT, {"t": tenant_id})).first()
            zone = tenant.timezone if tenant else DEFAULT_TIMEZONE
            parameters = {
                "t": tenant_id,
                "currency": tenant.currency.strip() if tenant else None,
                "start": _midnight(period.first, zone),
                "end": _midnight(period.last + timedelta(days=1), zone),
            }
            rows = (await connection.execute(_TOTALS, parameters)).all()
        return [
            CampaignTotals(
                campaign_id=row.campaign_id,
                holdout=bool(row.holdout),
                recipients=int(row.recipients),
                sent=int(row.sent),
                converted=int(row.converted),
                orders=int(row.orders),
                revenue_minor=int(row.revenue),
                coupon_cost_minor=int(row.cost),
            )
            for row in rows
        ]

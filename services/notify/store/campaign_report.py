"""A campaign's report totals: one set-based statement over its recipients, messages and orders.

Per group (a variant, ``holdout`` or ``global_control``) it counts what the domain's report needs
(``GroupTotals``), so a report over a million recipients ships a handful of numbers per group:

- delivery: ``sent`` (the message reached a provider: status sent, delivered, opened or clicked, or
  a ``sent_at``), ``delivered``, ``opened``, ``clicked`` (their instants set), ``suppressed``;
- conversion: each recipient's **anchor** is its message's ``sent_at`` when it was sent, else the
  instant its message was due (``due_at``: a holdout, the global control, or a message never sent);
  an order of the campaign's (``campaign_orders``) counts for the recipient when
  ``anchor < paid_at <= anchor + conversion_window``. ``converted`` counts recipients with a counted
  order, ``orders`` the counted orders, ``revenue_minor`` their amounts, ``revenue_sq_minor`` the sum
  over recipients of the square of each one's revenue (what Welch's variance needs, exact in
  ``numeric``), ``coupon_cost_minor`` the coupon discounts loyalty reported on counted orders.

The plan is hash joins throughout, nothing evaluated per recipient row: the recipients are joined
with the campaign's messages (found by ``ix_messages_campaign``) once, and that result is read twice:
for the delivery counts per group, and joined with the campaign's orders (by their key prefix) for
the counted orders, which alone are grouped per recipient; the two halves meet at the group level,
a few rows. Measured figures for a million recipients are in docs/campaigns.md "Report".
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notify.domain.campaigns import GroupTotals

_TOTALS = sa.text(
    """
    WITH campaign AS (
      SELECT conversion_window FROM campaigns WHERE tenant_id = :tenant AND campaign_id = :campaign
    ),
    sent_messages AS (
      SELECT message_id, status, sent_at, delivered_at, opened_at, clicked_at
      FROM messages
      WHERE tenant_id = :tenant AND sender = 'campaign' AND sender_ref = :campaign_ref
    ),
    recipients AS MATERIALIZED (
      SELECT r.group_name, r.customer_id,
             m.status IN ('sent', 'delivered', 'opened', 'clicked') OR m.sent_at IS NOT NULL AS sent,
             m.delivered_at IS NOT NULL AS delivered,
             m.opened_at IS NOT NULL AS opened,
             m.clicked_at IS NOT NULL AS clicked,
             m.status = 'suppressed' AS suppressed,
             COALESCE(m.sent_at, r.due_at) AS anchor
      FROM campaign_recipients AS r
      LEFT JOIN sent_messages AS m ON m.message_id = r.message_id
      WHERE r.tenant_id = :tenant AND r.campaign_id = :campaign
    ),
    delivery AS (
      SELECT group_name, COUNT(*) AS recipients,
             COUNT(*) FILTER (WHERE sent) AS sent,
             COUNT(*) FILTER (WHERE delivered) AS delivered,
             COUNT(*) FILTER (WHERE opened) AS opened,
             COUNT(*) FILTER (WHERE clicked) AS clicked,
             COUNT(*) FILTER (WHERE suppressed) AS suppressed
      FROM recipients GROUP BY group_name
    ),
    counted AS MATERIALIZED (
      SELECT r.group_name, r.customer_id, o.order_id, o.amount_minor
      FROM recipients AS r
      JOIN campaign_orders AS o
        ON o.tenant_id = :tenant AND o.campaign_id = :campaign AND o.customer_id = r.customer_id
      CROSS JOIN campaign AS c
      WHERE o.paid_at > r.anchor AND o.paid_at <= r.anchor + c.conversion_window
    ),
    costs AS (
      SELECT k.order_id, SUM(d.discount_minor) AS cost
      FROM counted AS k
      JOIN campaign_order_discounts AS d ON d.tenant_id = :tenant AND d.order_id = k.order_id
      GROUP BY k.order_id
    ),
    per_recipient AS (
      SELECT k.group_name, k.customer_id, COUNT(*) AS orders, SUM(k.amount_minor) AS revenue,
             COALESCE(SUM(s.cost), 0) AS cost
      FROM counted AS k
      LEFT JOIN costs AS s ON s.order_id = k.order_id
      GROUP BY k.group_name, k.customer_id
    ),
    conversions AS (
      SELECT group_name, COUNT(*) AS converted, SUM(orders) AS orders, SUM(revenue) AS revenue,
             SUM(revenue * revenue) AS revenue_sq, SUM(cost) AS cost
      FROM per_recipient GROUP BY group_name
    )
    SELECT d.group_name, d.recipients, d.sent, d.delivered, d.opened, d.clicked, d.suppressed,
           COALESCE(v.converted, 0) AS converted,
           COALESCE(v.orders, 0) AS orders,
           COALESCE(v.revenue, 0) AS revenue_minor,
           COALESCE(v.revenue_sq, 0) AS revenue_sq_minor,
           COALESCE(v.cost, 0) AS coupon_cost_minor
    FROM delivery AS d
    LEFT JOIN conversions AS v ON v.group_name = d.group_name
    ORDER BY d.group_name
    """
)


async def campaign_totals(
    connection: AsyncConnection, tenant_id: uuid.UUID, campaign_id: uuid.UUID
) -> list[GroupTotals]:
    """Each group's totals in one statement, so the report costs one pass however large the audience;
    a group without recipients has no row (the domain's report fills in zeros)."""
    rows = await connection.execute(
        _TOTALS, {"tenant": tenant_id, "campaign": campaign_id, "campaign_ref": str(campaign_id)}
    )
    return [
        GroupTotals(
            group=row.group_name,
            recipients=int(row.recipients),
            sent=int(row.sent),
            delivered=int(row.delivered),
            opened=int(row.opened),
            clicked=int(row.clicked),
            suppressed=int(row.suppressed),
            converted=int(row.converted),
            orders=int(row.orders),
            revenue_minor=int(row.revenue_minor),
            revenue_sq_minor=int(row.revenue_sq_minor),
            coupon_cost_minor=int(row.coupon_cost_minor),
        )
        for row in rows
    ]

"""What campaigns keep of paid orders and coupon redemptions, in the consumers' transactions.

- ``order.paid`` (profile) → ``campaign_orders``: one row per campaign the customer is a recipient
  of, when the order was paid after the recipient's message was due and at most the conversion
  window plus 30 days later. The 30 days are slack for a message sent later than it was due (a
  paused campaign, quiet hours): the report measures the window from the actual send and filters
  exactly, so a slightly wider net here loses nothing and keeps this insert free of the messages.
- ``coupon.redeemed`` (loyalty) → ``campaign_order_discounts``: the discount on the order, kept only
  for customers some campaign reached, so the report can charge a variant its coupons' cost; it is
  keyed by order, since loyalty's event and profile's payment arrive in either order.

Both are one statement with ``ON CONFLICT DO NOTHING``: a replayed event changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

_RECORD_ORDER = sa.text(
    """
    INSERT INTO campaign_orders
      (tenant_id, campaign_id, order_id, customer_id, amount_minor, currency, paid_at)
    SELECT r.tenant_id, r.campaign_id, CAST(:order_id AS text), r.customer_id, CAST(:amount AS bigint),
           CAST(:currency AS text), CAST(:paid_at AS timestamptz)
    FROM campaign_recipients AS r
    JOIN campaigns AS c ON c.tenant_id = r.tenant_id AND c.campaign_id = r.campaign_id
    WHERE r.tenant_id = :tenant AND r.customer_id = :customer
      AND r.due_at < CAST(:paid_at AS timestamptz)
      AND CAST(:paid_at AS timestamptz) <= r.due_at + c.conversion_window + INTERVAL '30 days'
    ON CONFLICT (tenant_id, campaign_id, order_id) DO NOTHING
    """
)

_RECORD_DISCOUNT = sa.text(
    """
    INSERT INTO campaign_order_discounts (tenant_id, order_id, coupon_code, discount_minor, redeemed_at)
    SELECT CAST(:tenant AS uuid), CAST(:order_id AS text), CAST(:coupon_code AS text),
           CAST(:discount AS bigint), CAST(:redeemed_at AS timestamptz)
    WHERE EXISTS (
      SELECT 1 FROM campaign_recipients WHERE tenant_id = :tenant AND customer_id = :customer
    )
    ON CONFLICT (tenant_id, order_id, coupon_code) DO NOTHING
    """
)


async def record_campaign_order(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    amount_minor: int,
    currency: str,
    paid_at: datetime,
) -> int:
    """Keep a paid order for every campaign whose window (with slack) it may fall in; how many rows
    were added (0 on a replay, or for a customer no campaign reached)."""
    result = await connection.execute(
        _RECORD_ORDER,
        {
            "tenant": tenant_id,
            "customer": customer_id,
            "order_id": order_id,
            "amount": amount_minor,
            "currency": currency,
            "paid_at": paid_at,
        },
    )
    return int(result.rowcount)


async def record_coupon_discount(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    order_id: str,
    coupon_code: str,
    discount_minor: int,
    redeemed_at: datetime,
) -> int:
    """Keep a coupon's discount on an order of a customer some campaign reached (the report charges
    it to the recipient's group when the order counts); how many rows were added."""
    result = await connection.execute(
        _RECORD_DISCOUNT,
        {
            "tenant": tenant_id,
            "customer": customer_id,
            "order_id": order_id,
            "coupon_code": coupon_code,
            "discount": discount_minor,
            "redeemed_at": redeemed_at,
        },
    )
    return int(result.rowcount)

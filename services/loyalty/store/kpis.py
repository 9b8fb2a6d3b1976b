"""Loyalty's KPIs from its tables (implements ``domain.kpis.LoyaltyKpiStore``; docs/kpis.md).

- coupons issued in the period and, of them, redeemed by now (``coupons_by_issued``, index-only);
- redemptions in the period and their discounts (``coupons_by_redeemed``, index-only);
- the points liability at the period's end: what the accounts hold now, less every ledger entry
  booked since (``ix_point_entries_created``): the balances are the sums of the entries, so this is
  the sum of the entries booked up to the end, read from the few entries after it, not the many
  before. A period that ends in the future is "now".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from services.loyalty.domain.expiry import local_midnight
from services.loyalty.domain.kpis import LoyaltyFigures
from services.loyalty.store.programs import tenant_program
from services.runtime.database import Database
from services.runtime.periods import Period

_ISSUED = sa.text(
    """
    SELECT count(*) AS issued, count(*) FILTER (WHERE status = 'redeemed') AS redeemed
    FROM coupons WHERE tenant_id = :t AND issued_at >= :start AND issued_at < :end
    """
)

_REDEMPTIONS = sa.text(
    """
    SELECT count(*) AS redemptions, coalesce(sum(discount_minor), 0) AS discount
    FROM coupons
    WHERE tenant_id = :t AND redeemed_at IS NOT NULL AND redeemed_at >= :start AND redeemed_at < :end
    """
)

_LIABILITY = sa.text(
    """
    SELECT (SELECT coalesce(sum(balance), 0) FROM point_accounts WHERE tenant_id = :t)
         - (SELECT coalesce(sum(delta), 0) FROM point_entries WHERE tenant_id = :t AND created_at >= :end)
           AS points,
           now() AS read_at
    """
)


class SqlLoyaltyKpiStore:
    """Implements ``services.loyalty.domain.kpis.LoyaltyKpiStore`` on the loyalty database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def figures(self, tenant_id: uuid.UUID, period: Period) -> LoyaltyFigures:
        async with self._database.read() as connection:
            context = await tenant_program(connection, tenant_id)
            zone = context.tenant.timezone
            start = local_midnight(period.first, zone)
            end = local_midnight(period.last + timedelta(days=1), zone)
            parameters = {"t": tenant_id, "start": start, "end": end}
            issued = (await connection.execute(_ISSUED, parameters)).one()
            redemptions = (await connection.execute(_REDEMPTIONS, parameters)).one()
            liability = (await connection.execute(_LIABILITY, parameters)).one()
        read_at: datetime = liability.read_at
        return LoyaltyFigures(
            period=period,
            coupons_issued=int(issued.issued),
            coupons_redeemed=int(issued.redeemed),
            coupon_redemptions=int(redemptions.redemptions),
            coupon_discount_minor=int(redemptions.discount),
            points_liability=int(liability.points),
            point_value_minor=context.program.point_value_minor,
            currency=context.tenant.currency,
            liability_as_of=min(end, read_at).astimezone(UTC),
        )

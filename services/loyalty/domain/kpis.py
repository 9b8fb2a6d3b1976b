"""Loyalty's KPIs for a period: coupon redemption and the points liability (docs/kpis.md).

The store is a protocol so that these rules never see SQL; ``services.loyalty.store.kpis``
implements it. Rates are plain divisions of counts (None when nothing was issued).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.runtime.periods import Period, parse_period


@dataclass(frozen=True, slots=True)
class LoyaltyFigures:
    """A period's coupon figures and the points outstanding at its end (or now, if it ends later)."""

    period: Period
    coupons_issued: int
    coupons_redeemed: int
    coupon_redemptions: int
    coupon_discount_minor: int
    points_liability: int
    point_value_minor: int
    currency: str
    liability_as_of: datetime

    @property
    def coupon_redemption_rate(self) -> float | None:
        """Of the coupons issued in the period, the share redeemed by now."""
        return self.coupons_redeemed / self.coupons_issued if self.coupons_issued else None

    @property
    def points_liability_value_minor(self) -> int:
        """The outstanding points at the current programme's point value."""
        return self.points_liability * self.point_value_minor


class LoyaltyKpiStore(Protocol):
    async def figures(self, tenant_id: uuid.UUID, period: Period) -> LoyaltyFigures: ...


class LoyaltyKpis:
    """A tenant's loyalty KPIs."""

    def __init__(self, store: LoyaltyKpiStore) -> None:
        self._store = store

    async def figures(self, tenant_id: uuid.UUID, first: str, last: str) -> LoyaltyFigures:
        """The figures of the tenant-local days ``first`` to ``last`` (``YYYY-MM-DD``, at most a year)."""
        return await self._store.figures(tenant_id, parse_period(first, last))

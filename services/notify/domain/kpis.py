"""Notify's KPIs for a period: what the campaigns that began sending in it earned (docs/kpis.md).

A campaign belongs to the period in which its audience was taken (sending began). For each such
campaign the store counts its variant recipients and its holdout as the campaign report does
(docs/campaigns.md "Report": an order counts for a recipient when paid after its message was sent,
else due, and within the conversion window); the global control group is left out. From those
totals:

- conversions, conversion rate, attributed orders, revenue and coupon cost: the variants' sums;
- incremental revenue: per campaign with a holdout, the variants' revenue less what the holdout's
  revenue per recipient predicts for as many recipients, summed over those campaigns;
- ROI: (incremental revenue - coupon cost of those campaigns' variants) / that coupon cost. The
  only campaign cost Patron knows is the coupons it gave away (a campaign carries no sending cost),
  so this is the return on the coupon spend; None without a holdout or without coupon cost.

The store is a protocol so that these rules never see SQL; ``store.kpis`` implements it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from services.runtime.periods import Period, parse_period


@dataclass(frozen=True, slots=True)
class CampaignTotals:
    """One campaign's variant recipients together (``holdout`` False) or its holdout (True)."""

    campaign_id: uuid.UUID
    holdout: bool
    recipients: int
    sent: int
    converted: int
    orders: int
    revenue_minor: int
    coupon_cost_minor: int


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """A period's campaign KPIs."""

    period: Period
    campaigns: int
    recipients: int
    sent: int
    conversions: int
    orders: int
    revenue_minor: int
    coupon_cost_minor: int
    incremental_revenue_minor: int | None
    roi: float | None

    @property
    def conversion_rate(self) -> float | None:
        """Of the variant recipients, the share who converted."""
        return self.conversions / self.recipients if self.recipients else None


class CampaignKpiStore(Protocol):
    async def totals(self, tenant_id: uuid.UUID, period: Period) -> list[CampaignTotals]: ...


def campaign_figures(period: Period, totals: list[CampaignTotals]) -> CampaignFigures:
    """The period's figures from each campaign's variant and holdout totals (module docstring)."""
    variants = {t.campaign_id: t for t in totals if not t.holdout}
    holdouts = {t.campaign_id: t for t in totals if t.holdout and t.recipients > 0}
    incremental = Fraction(0)
    costs = 0
    compared = [c for c in variants if c in holdouts and variants[c].recipients > 0]
    for campaign in compared:
        variant, holdout = variants[campaign], holdouts[campaign]
        incremental += variant.revenue_minor - Fraction(
            holdout.revenue_minor * variant.recipients, holdout.recipients
        )
        costs += variant.coupon_cost_minor
    return CampaignFigures(
        period=period,
        campaigns=len({t.campaign_id for t in totals}),
        recipients=sum(v.recipients for v in variants.values()),
        sent=sum(v.sent for v in variants.values()),
        conversions=sum(v.converted for v in variants.values()),
        orders=sum(v.orders for v in variants.values()),
        revenue_minor=sum(v.revenue_minor for v in variants.values()),
        coupon_cost_minor=sum(v.coupon_cost_minor for v in variants.values()),
        incremental_revenue_minor=round(incremental) if compared else None,
        roi=float((incremental - costs) / costs) if compared and costs > 0 else None,
    )


class CampaignKpis:
    """A tenant's campaign KPIs."""

    def __init__(self, store: CampaignKpiStore) -> None:
        self._store = store

    async def figures(self, tenant_id: uuid.UUID, first: str, last: str) -> CampaignFigures:
        """The figures of the campaigns that began sending on the tenant-local days ``first`` to
        ``last`` (``YYYY-MM-DD``, at most a year)."""
        period = parse_period(first, last)
        return campaign_figures(period, await self._store.totals(tenant_id, period))

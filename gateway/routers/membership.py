"""Membership (loyalty service): a customer's tier, benefits, progress and tier history.

- **Tier** is the rung of the tenant's ladder the customer holds (`GET /v1/loyalty/program` shows
  the ladder); a customer who never ordered holds the base tier. Benefits are the tier's.
- **Progress** is the ladder's metric (`spend` in minor units net of refunds, `orders` or `growth`
  value) summed over the rolling window (`window_months`) that ends now; `remaining` is what is
  still missing to `next_tier` (both null at the top tier).
- **Upgrades** happen at once, on the order (or review) that reaches a threshold. **Downgrades**
  happen only at a review, every `review_period_months` after the last tier change
  (`next_review_at`), and only after `grace_days` below the threshold (`grace_until` is shown
  while the grace runs). Each change is in the history and is announced as `tier.changed`.
- A merged-away customer id answers for the survivor (`customer_id` says which); an unknown or
  another tenant's id answers 404. History takes `?limit=` (1-500, default 100) and `cursor`.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from google.protobuf.message import Message
from pydantic import BaseModel, Field

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.schemas import Cursor, Limit, to_datetime
from patron.loyalty.v1 import membership_pb2

router = APIRouter(prefix="/v1", tags=["membership"])


def _time(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    return to_datetime(getattr(message, field))


class TierOut(BaseModel):
    code: str
    name: str
    threshold: int = Field(description="in the ladder's metric (minor units for spend)")

    @classmethod
    def of(cls, message: membership_pb2.TierSummary) -> TierOut:
        return cls(code=message.code, name=message.name, threshold=message.threshold)


class BenefitsOut(BaseModel):
    discount_percent: int
    free_shipping: bool
    priority_service: bool
    birthday_coupon_template_id: str | None
    points_multiplier_percent: int = Field(description="100 = x1")


class ProgressOut(BaseModel):
    metric: str = Field(description="spend (minor units), orders or growth")
    window_months: int
    value: int = Field(description="progress in the rolling window that ends now")
    next_tier: TierOut | None
    next_threshold: int | None
    remaining: int | None = Field(description="still missing to reach next_tier")


class MembershipOut(BaseModel):
    customer_id: str
    tier: TierOut
    benefits: BenefitsOut
    progress: ProgressOut
    tier_since: datetime | None = Field(description="when the tier held began; null without any progress")
    next_review_at: datetime | None = Field(
        description="when a downgrade may next be decided; null at the base"
    )
    grace_until: datetime | None = Field(description="set while the member is below their tier's threshold")
    program_version: int


class TierChangeOut(BaseModel):
    from_tier: str
    to_tier: str
    direction: str = Field(description="upgrade or downgrade")
    reason: str = Field(description="threshold_met, review or merge")
    value: int = Field(description="progress when it was decided")
    program_version: int
    changed_at: datetime


class TierHistoryPage(BaseModel):
    items: list[TierChangeOut]
    next_cursor: str | None


@router.get("/customers/{customer_id}/membership", response_model=MembershipOut, responses=ERRORS)
async def get_membership(customer_id: str, tenant: Tenant, clients: Clients) -> MembershipOut:
    """The customer's tier, its benefits, progress to the next tier and the next review."""
    request = membership_pb2.GetMembershipRequest(customer_id=customer_id)
    answer = await clients.call(
        "loyalty", clients.membership.GetMembership, request, tenant_id=tenant.tenant_id
    )
    benefits = answer.benefits
    progress = answer.progress
    next_tier = TierOut.of(progress.next_tier) if progress.HasField("next_tier") else None
    return MembershipOut(
        customer_id=answer.customer_id,
        tier=TierOut.of(answer.tier),
        benefits=BenefitsOut(
            discount_percent=benefits.discount_percent,
            free_shipping=benefits.free_shipping,
            priority_service=benefits.priority_service,
            birthday_coupon_template_id=benefits.birthday_coupon_template_id
            if benefits.HasField("birthday_coupon_template_id")
            else None,
            points_multiplier_percent=benefits.points_multiplier_percent,
        ),
        progress=ProgressOut(
            metric=progress.metric,
            window_months=progress.window_months,
            value=progress.value,
            next_tier=next_tier,
            next_threshold=next_tier.threshold if next_tier is not None else None,
            remaining=progress.remaining if progress.HasField("remaining") else None,
        ),
        tier_since=_time(answer, "tier_since"),
        next_review_at=_time(answer, "next_review_at"),
        grace_until=_time(answer, "grace_until"),
        program_version=answer.program_version,
    )


@router.get("/customers/{customer_id}/membership/history", response_model=TierHistoryPage, responses=ERRORS)
async def get_membership_history(
    customer_id: str, tenant: Tenant, clients: Clients, limit: Limit = 100, cursor: Cursor = None
) -> TierHistoryPage:
    """Every tier change of the customer, newest first (a merge brings the merged customers' along)."""
    request = membership_pb2.ListTierHistoryRequest(customer_id=customer_id, limit=limit, cursor=cursor or "")
    page = await clients.call(
        "loyalty", clients.membership.ListTierHistory, request, tenant_id=tenant.tenant_id
    )
    return TierHistoryPage(
        items=[
            TierChangeOut(
                from_tier=c.from_tier,
                to_tier=c.to_tier,
                direction=c.direction,
                reason=c.reason,
                value=c.value,
                program_version=c.program_version,
                changed_at=to_datetime(c.changed_at),
            )
            for c in page.changes
        ],
        next_cursor=page.next_cursor or None,
    )

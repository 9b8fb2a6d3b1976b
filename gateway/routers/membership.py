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
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Loyalty
from gateway.schemas import Cursor, Limit, Page
from patron.loyalty.v1 import membership_pb2
from services.runtime.proto_convert import from_timestamp, optional_int, optional_text, optional_time

router = APIRouter(prefix="/v1", tags=["membership"])


class TierOut(BaseModel):
    code: str
    name: str
    threshold: int = Field(description="in the ladder's metric (minor units for spend)")

    @classmethod
    def from_proto(cls, message: membership_pb2.TierSummary) -> TierOut:
        return cls(code=message.code, name=message.name, threshold=message.threshold)


class BenefitsOut(BaseModel):
    discount_percent: int
    free_shipping: bool
    priority_service: bool
    birthday_coupon_template_id: str | None
    points_multiplier_percent: int = Field(description="100 = x1")

    @classmethod
    def from_proto(cls, message: membership_pb2.MemberBenefits) -> BenefitsOut:
        return cls(
            discount_percent=message.discount_percent,
            free_shipping=message.free_shipping,
            priority_service=message.priority_service,
            birthday_coupon_template_id=optional_text(message, "birthday_coupon_template_id"),
            points_multiplier_percent=message.points_multiplier_percent,
        )


class ProgressOut(BaseModel):
    metric: str = Field(description="spend (minor units), orders or growth")
    window_months: int
    value: int = Field(description="progress in the rolling window that ends now")
    next_tier: TierOut | None
    next_threshold: int | None
    remaining: int | None = Field(description="still missing to reach next_tier")

    @classmethod
    def from_proto(cls, message: membership_pb2.TierProgress) -> ProgressOut:
        next_tier = TierOut.from_proto(message.next_tier) if message.HasField("next_tier") else None
        return cls(
            metric=message.metric,
            window_months=message.window_months,
            value=message.value,
            next_tier=next_tier,
            next_threshold=next_tier.threshold if next_tier is not None else None,
            remaining=optional_int(message, "remaining"),
        )


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

    @classmethod
    def from_proto(cls, message: membership_pb2.Membership) -> MembershipOut:
        return cls(
            customer_id=message.customer_id,
            tier=TierOut.from_proto(message.tier),
            benefits=BenefitsOut.from_proto(message.benefits),
            progress=ProgressOut.from_proto(message.progress),
            tier_since=optional_time(message, "tier_since"),
            next_review_at=optional_time(message, "next_review_at"),
            grace_until=optional_time(message, "grace_until"),
            program_version=message.program_version,
        )


class TierChangeOut(BaseModel):
    from_tier: str
    to_tier: str
    direction: str = Field(description="upgrade or downgrade")
    reason: str = Field(description="threshold_met, review or merge")
    value: int = Field(description="progress when it was decided")
    program_version: int
    changed_at: datetime

    @classmethod
    def from_proto(cls, message: membership_pb2.TierChange) -> TierChangeOut:
        return cls(
            from_tier=message.from_tier,
            to_tier=message.to_tier,
            direction=message.direction,
            reason=message.reason,
            value=message.value,
            program_version=message.program_version,
            changed_at=from_timestamp(message.changed_at),
        )


@router.get(
    "/customers/{customer_id}/membership", response_model=MembershipOut, responses=ERRORS, **scoped("read")
)
async def get_membership(customer_id: str, loyalty: Loyalty) -> MembershipOut:
    """The customer's tier, its benefits, progress to the next tier and the next review."""
    request = membership_pb2.GetMembershipRequest(customer_id=customer_id)
    return MembershipOut.from_proto(await loyalty.membership.GetMembership(request))


@router.get(
    "/customers/{customer_id}/membership/history",
    response_model=Page[TierChangeOut],
    responses=ERRORS,
    **scoped("read"),
)
async def get_membership_history(
    customer_id: str, loyalty: Loyalty, limit: Limit = 100, cursor: Cursor = None
) -> Page[TierChangeOut]:
    """Every tier change of the customer, newest first (a merge brings the merged customers' along)."""
    request = membership_pb2.ListTierHistoryRequest(customer_id=customer_id, limit=limit, cursor=cursor or "")
    page = await loyalty.membership.ListTierHistory(request)
    return Page[TierChangeOut].of([TierChangeOut.from_proto(c) for c in page.changes], page.next_cursor)

"""MembershipService: a customer's tier, benefits, progress and tier history. Converts and delegates
to ``services.loyalty.domain.membership_desk``."""

from __future__ import annotations

from grpc import aio

from patron.loyalty.v1 import membership_pb2, membership_pb2_grpc
from services.loyalty.domain.membership_desk import MembershipDesk
from services.loyalty.domain.program import Tier
from services.loyalty.domain.tiers import MembershipView, TierChange
from services.runtime.proto_convert import set_optional, set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

MEMBERSHIP_SERVICE = "patron.loyalty.v1.MembershipService"


def tier_summary(tier: Tier) -> membership_pb2.TierSummary:
    return membership_pb2.TierSummary(code=tier.code, name=tier.name, threshold=tier.threshold)


def membership_to_proto(customer_id: str, view: MembershipView) -> membership_pb2.Membership:
    benefits = view.tier.benefits
    message = membership_pb2.Membership(
        customer_id=customer_id,
        tier=tier_summary(view.tier),
        benefits=membership_pb2.MemberBenefits(
            discount_percent=benefits.discount_percent,
            free_shipping=benefits.free_shipping,
            priority_service=benefits.priority_service,
            birthday_coupon_template_id=benefits.birthday_coupon_template_id,
            points_multiplier_percent=view.tier.points_multiplier_percent,
        ),
        progress=membership_pb2.TierProgress(
            metric=view.metric, window_months=view.window_months, value=view.value
        ),
        program_version=view.program_version,
    )
    if view.next_tier is not None:
        message.progress.next_tier.CopyFrom(tier_summary(view.next_tier))
    set_optional(message.progress, "remaining", view.remaining)
    set_time(message, "tier_since", view.tier_since)
    set_time(message, "next_review_at", view.next_review_at)
    set_time(message, "grace_until", view.grace_until)
    return message


def change_to_proto(change: TierChange, program_version: int) -> membership_pb2.TierChange:
    return membership_pb2.TierChange(
        from_tier=change.from_tier,
        to_tier=change.to_tier,
        direction=change.direction,
        reason=change.reason,
        value=change.value,
        program_version=program_version,
        changed_at=to_timestamp(change.changed_at),
    )


class MembershipServicer(membership_pb2_grpc.MembershipServiceServicer):
    def __init__(self, desk: MembershipDesk) -> None:
        self._desk = desk

    async def GetMembership(
        self, request: membership_pb2.GetMembershipRequest, context: aio.ServicerContext
    ) -> membership_pb2.Membership:
        customer, view = await self._desk.membership(current_tenant(), request.customer_id)
        return membership_to_proto(str(customer), view)

    async def ListTierHistory(
        self, request: membership_pb2.ListTierHistoryRequest, context: aio.ServicerContext
    ) -> membership_pb2.ListTierHistoryResponse:
        page = await self._desk.tier_history(
            current_tenant(), request.customer_id, request.limit, request.cursor
        )
        return membership_pb2.ListTierHistoryResponse(
            changes=[change_to_proto(change, version) for change, version in page.items],
            next_cursor=page.next_cursor or "",
        )


def membership_registration(desk: MembershipDesk) -> Registration:
    """The registration the loyalty service adds to serve MembershipService."""
    return Registration(
        membership_pb2_grpc.add_MembershipServiceServicer_to_server,
        MembershipServicer(desk),
        MEMBERSHIP_SERVICE,
    )

"""MembershipService: a customer's tier, benefits, progress and tier history. Converts and delegates.

The path's customer is resolved through the customer directory first (a merged-away id answers for
the survivor; unknown, erased or another tenant's is NOT_FOUND).
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from patron.loyalty.v1 import membership_pb2, membership_pb2_grpc
from services.loyalty.domain.customers import parse_customer_id
from services.loyalty.domain.program import Tier
from services.loyalty.domain.tiers import MembershipView, TierChange
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.membership import history_page, membership_view
from services.loyalty.store.programs import current_program
from services.runtime.database import Database
from services.runtime.paging import page_size
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

MEMBERSHIP_SERVICE = "patron.loyalty.v1.MembershipService"


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


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
    if view.remaining is not None:
        message.progress.remaining = view.remaining
    for field, moment in (
        ("tier_since", view.tier_since),
        ("next_review_at", view.next_review_at),
        ("grace_until", view.grace_until),
    ):
        if moment is not None:
            getattr(message, field).CopyFrom(timestamp(moment))
    return message


def change_to_proto(change: TierChange, program_version: int) -> membership_pb2.TierChange:
    return membership_pb2.TierChange(
        from_tier=change.from_tier,
        to_tier=change.to_tier,
        direction=change.direction,
        reason=change.reason,
        value=change.value,
        program_version=program_version,
        changed_at=timestamp(change.changed_at),
    )


class MembershipServicer(membership_pb2_grpc.MembershipServiceServicer):
    def __init__(self, database: Database, directory: CustomerDirectory) -> None:
        self._database = database
        self._directory = directory

    async def GetMembership(
        self, request: membership_pb2.GetMembershipRequest, context: aio.ServicerContext
    ) -> membership_pb2.Membership:
        tenant = current_tenant()
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(
                connection, tenant, parse_customer_id(request.customer_id)
            )
            program = await current_program(connection, tenant)
            view = await membership_view(
                connection, program, tenant_id=tenant, customer_id=customer, now=datetime.now(UTC)
            )
        return membership_to_proto(str(customer), view)

    async def ListTierHistory(
        self, request: membership_pb2.ListTierHistoryRequest, context: aio.ServicerContext
    ) -> membership_pb2.ListTierHistoryResponse:
        tenant = current_tenant()
        limit = page_size(request.limit)
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(
                connection, tenant, parse_customer_id(request.customer_id)
            )
            page = await history_page(
                connection, tenant_id=tenant, customer_id=customer, limit=limit, cursor=request.cursor
            )
        return membership_pb2.ListTierHistoryResponse(
            changes=[change_to_proto(change, version) for change, version in page.items],
            next_cursor=page.next_cursor or "",
        )


def membership_registration(database: Database, directory: CustomerDirectory) -> Registration:
    """The registration the loyalty service adds to serve MembershipService."""
    return Registration(
        membership_pb2_grpc.add_MembershipServiceServicer_to_server,
        MembershipServicer(database, directory),
        MEMBERSHIP_SERVICE,
    )

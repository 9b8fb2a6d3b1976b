"""What a journey's steps ask of the other services: a coupon from loyalty (with the step's
idempotency key), the tier's benefits, a tag in profile, a condition evaluated by scoring.

Implements the runner's ``StepEffects`` port. A refusal that retrying cannot change (a budget spent,
an unknown tag, a deleted template) becomes an outcome with a reason; anything else (the service down,
a deadline) becomes ``Unavailable``, and the runner retries the instance later with the same key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import grpc

from patron.loyalty.v1 import coupons_pb2, coupons_pb2_grpc, membership_pb2, membership_pb2_grpc
from patron.profile.v1 import tags_pb2, tags_pb2_grpc
from patron.scoring.v1 import segments_pb2, segments_pb2_grpc
from services.notify.domain.journey_ports import CouponOutcome, CouponRequest
from services.runtime.errors import Unavailable
from services.runtime.grpc_errors import parse_status_details
from services.runtime.tenancy import TENANT_METADATA_KEY

DEADLINE_SECONDS = 5.0
BATCH_ITEMS = 1_000  # loyalty's IssueCoupons takes at most this many items a call
BATCH_DEADLINE_SECONDS = 20.0  # a full batch takes a few hundred ms; a retry after a timeout replays
_FINAL = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)


def _metadata(tenant_id: uuid.UUID) -> tuple[tuple[str, str]]:
    return ((TENANT_METADATA_KEY, str(tenant_id)),)


def _refusal(error: grpc.aio.AioRpcError) -> str:
    """The machine-readable reason of a final refusal, lower-cased (``budget_exhausted``)."""
    reason, _, _ = parse_status_details(error.trailing_metadata())
    return (reason or error.code().name).lower()


class JourneyEffectsClient:
    """Loyalty, profile and scoring as a journey's steps need them."""

    def __init__(
        self, profile: grpc.aio.Channel, loyalty: grpc.aio.Channel, scoring: grpc.aio.Channel
    ) -> None:
        self._coupons = coupons_pb2_grpc.CouponServiceStub(loyalty)
        self._membership = membership_pb2_grpc.MembershipServiceStub(loyalty)
        self._tags = tags_pb2_grpc.TagServiceStub(profile)
        self._segments = segments_pb2_grpc.SegmentServiceStub(scoring)

    async def issue_coupon(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, template_id: uuid.UUID, key: str
    ) -> CouponOutcome:
        """Issue under ``key``: a retry after a crash answers the coupon issued the first time."""
        try:
            answer = await self._coupons.IssueCoupon(
                coupons_pb2.IssueCouponRequest(
                    customer_id=str(customer_id), template_id=str(template_id), idempotency_key=key
                ),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _FINAL:
                return CouponOutcome(None, _refusal(error))
            raise Unavailable(f"loyalty answered {error.code().name} to the coupon") from error
        return CouponOutcome(answer.coupon.code, None)

    async def issue_coupons(
        self, tenant_id: uuid.UUID, items: Sequence[CouponRequest]
    ) -> list[CouponOutcome]:
        """Issue many coupons, each under its step's key, in loyalty's batches of
        at most 1,000 (one transaction each): one outcome per item, in order. Each key answers the
        coupon issued the first time under it (by this call or ``issue_coupon``), so retrying after
        ``Unavailable`` (some chunks may have been issued) issues nothing twice."""
        outcomes: list[CouponOutcome] = []
        for start in range(0, len(items), BATCH_ITEMS):
            chunk = items[start : start + BATCH_ITEMS]
            request = coupons_pb2.IssueCouponsRequest(
                items=[
                    coupons_pb2.IssueCouponsItem(
                        customer_id=str(customer_id), template_id=str(template_id), idempotency_key=key
                    )
                    for customer_id, template_id, key in (
                        (item.customer_id, item.template_id, item.key) for item in chunk
                    )
                ]
            )
            try:
                answer = await self._coupons.IssueCoupons(
                    request, timeout=BATCH_DEADLINE_SECONDS, metadata=_metadata(tenant_id)
                )
            except grpc.aio.AioRpcError as error:
                if error.code() in _FINAL:
                    outcomes.extend(CouponOutcome(None, _refusal(error)) for _ in chunk)
                    continue
                raise Unavailable(f"loyalty answered {error.code().name} to the coupons") from error
            outcomes.extend(
                CouponOutcome(None, r.refused_reason.lower())
                if r.refused_reason
                else CouponOutcome(r.coupon.code, None)
                for r in answer.results
            )
        return outcomes

    async def membership(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any] | None:
        """The member's tier and benefits (None: loyalty knows no such member)."""
        try:
            found = await self._membership.GetMembership(
                membership_pb2.GetMembershipRequest(customer_id=str(customer_id)),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _FINAL:
                return None
            raise Unavailable(f"loyalty answered {error.code().name} about the member") from error
        benefits = found.benefits
        return {
            "tier": found.tier.code,
            "tier_name": found.tier.name,
            "discount_percent": benefits.discount_percent,
            "free_shipping": benefits.free_shipping,
            "priority_service": benefits.priority_service,
            "points_multiplier_percent": benefits.points_multiplier_percent,
            "birthday_coupon_template_id": (
                benefits.birthday_coupon_template_id
                if benefits.HasField("birthday_coupon_template_id")
                else None
            ),
        }

    async def tag(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_id: uuid.UUID) -> str | None:
        """Apply the tag (applying it again changes nothing); a reason when profile refuses."""
        try:
            await self._tags.TagCustomer(
                tags_pb2.TagCustomerRequest(customer_id=str(customer_id), tag_id=str(tag_id)),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _FINAL:
                return _refusal(error)
            raise Unavailable(f"profile answered {error.code().name} to the tag") from error
        return None

    async def evaluate(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, condition: dict[str, Any]) -> bool:
        """Whether the customer meets the condition now (scoring evaluates it; an unknown customer
        does not)."""
        try:
            answer = await self._segments.Evaluate(
                segments_pb2.EvaluateSegmentRequest(
                    customer_id=str(customer_id), condition_json=json.dumps(condition)
                ),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _FINAL:
                return False
            raise Unavailable(f"scoring answered {error.code().name} to the condition") from error
        return bool(answer.member)

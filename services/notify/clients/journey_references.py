"""What the journeys desk asks other services about a definition's ids and conditions.

Implements the domain's ``ReferenceDirectory``: coupon templates in loyalty (``GetTemplate``), tags in
profile (``GetTag``), segments in scoring (``GetSegment``) — NOT_FOUND (or a malformed id) means the
id is not the tenant's — and each ``if`` condition through scoring's ``Evaluate`` with the condition
and the nil customer id: scoring parses the condition before it looks for the customer, so a bad one
answers INVALID_ARGUMENT with every fault by its path, and a good one NOT_FOUND after one primary-key
read (cheaper than ``Preview``, which counts the tenant's whole audience). Any other failure is
``Unavailable`` (503): a definition is never saved half-checked.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc

from patron.loyalty.v1 import coupons_pb2, coupons_pb2_grpc
from patron.profile.v1 import tags_pb2, tags_pb2_grpc
from patron.scoring.v1 import segments_pb2, segments_pb2_grpc
from services.notify.domain.journey_classics import CouponContent
from services.runtime.errors import FieldViolation, InvalidArgument, Unavailable
from services.runtime.grpc_errors import parse_status_details
from services.runtime.tenancy import TENANT_METADATA_KEY

DEADLINE_SECONDS = 5.0
NIL_CUSTOMER = str(uuid.UUID(int=0))
_ABSENT = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def _metadata(tenant_id: uuid.UUID) -> tuple[tuple[str, str]]:
    return ((TENANT_METADATA_KEY, str(tenant_id)),)


def _unavailable(service: str, error: grpc.aio.AioRpcError, about: str) -> Unavailable:
    return Unavailable(f"{service} answered {error.code().name} about {about}")


class GrpcReferenceDirectory:
    """Profile's tags, scoring's segments and conditions, loyalty's coupon templates."""

    def __init__(
        self, profile: grpc.aio.Channel, scoring: grpc.aio.Channel, loyalty: grpc.aio.Channel
    ) -> None:
        self._tags = tags_pb2_grpc.TagServiceStub(profile)
        self._segments = segments_pb2_grpc.SegmentServiceStub(scoring)
        self._coupons = coupons_pb2_grpc.CouponServiceStub(loyalty)

    async def coupon_template_exists(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> bool:
        """Whether loyalty has this coupon template for the tenant."""
        try:
            await self._coupons.GetTemplate(
                coupons_pb2.GetCouponTemplateRequest(template_id=str(template_id)),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _ABSENT:
                return False
            raise _unavailable("loyalty", error, "a coupon template") from error
        return True

    async def tag_exists(self, tenant_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
        """Whether profile has this tag for the tenant."""
        try:
            await self._tags.GetTag(
                tags_pb2.GetTagRequest(tag_id=str(tag_id)),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _ABSENT:
                return False
            raise _unavailable("profile", error, "a tag") from error
        return True

    async def segment_exists(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> bool:
        """Whether scoring has this live segment for the tenant."""
        try:
            await self._segments.GetSegment(
                segments_pb2.GetSegmentRequest(segment_id=str(segment_id)),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _ABSENT:
                return False
            raise _unavailable("scoring", error, "a segment") from error
        return True

    async def condition_faults(self, tenant_id: uuid.UUID, condition: dict[str, Any]) -> list[FieldViolation]:
        """Scoring's faults of the condition (paths from ``condition``); [] when it is valid."""
        try:
            await self._segments.Evaluate(
                segments_pb2.EvaluateSegmentRequest(
                    customer_id=NIL_CUSTOMER, condition_json=json.dumps(condition)
                ),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return []  # parsed; only the nil customer was not found
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                _, _, violations = parse_status_details(error.trailing_metadata())
                return violations or [FieldViolation("condition", error.details() or "is not valid")]
            raise _unavailable("scoring", error, "a condition") from error
        return []

    async def create_coupon_template(self, tenant_id: uuid.UUID, content: CouponContent) -> uuid.UUID:
        """A coupon template in loyalty for a classic's slot; loyalty's faults come back by field."""
        spec = coupons_pb2.CouponTemplateSpec(
            name=content.name,
            kind=content.kind,
            valid_days=content.valid_days,
            per_customer_limit=content.per_customer_limit,
        )
        for name in ("discount_minor", "threshold_minor", "percent_off"):
            value = getattr(content, name)
            if value is not None:
                setattr(spec, name, value)
        try:
            created = await self._coupons.CreateTemplate(
                coupons_pb2.CreateCouponTemplateRequest(spec=spec),
                timeout=DEADLINE_SECONDS,
                metadata=_metadata(tenant_id),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                _, _, violations = parse_status_details(error.trailing_metadata())
                raise InvalidArgument(
                    violations or [FieldViolation("spec", error.details() or "")]
                ) from error
            raise _unavailable("loyalty", error, "a new coupon template") from error
        return uuid.UUID(created.template_id)

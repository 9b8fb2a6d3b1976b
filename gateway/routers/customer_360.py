"""The customer 360: one answer from all four services (API.md "KPIs and the customer 360").

Every section is fetched at once, each under its own short deadline
(``PATRON_GATEWAY_CUSTOMER_360_DEADLINE_SECONDS``). A section whose service is slow, down or failing
is answered as ``null`` and listed in ``degraded`` with the service and why; the rest of the answer
stands. Only profile's "no such customer" fails the whole answer (404): it is the one fact that says
the customer does not exist. An id merged away is answered for its survivor; the sections fetched
under the old id are then fetched again for the survivor (the rare path).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Loyalty, Notify, Profile, Scoring
from gateway.problems import ServiceCallError
from gateway.routers.coupons import CouponOut
from gateway.routers.loyalty import PointsOut
from gateway.routers.membership import MembershipOut
from gateway.routers.messages import MessageOut
from gateway.routers.scoring import ScoresOut
from gateway.routers.segments import CustomerSegmentOut
from gateway.schemas import CustomerOut, TimelineItem
from patron.loyalty.v1 import coupons_pb2, loyalty_pb2, membership_pb2
from patron.notify.v1 import notify_pb2
from patron.profile.v1 import profile_pb2
from patron.scoring.v1 import scoring_pb2, segments_pb2
from services.runtime.proto_convert import from_timestamp

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/customers", tags=["customers"])

HEAD_SIZE = 10
"""How many of the newest timeline items, messages and available coupons the 360 carries (the full
lists are paged at their own endpoints)."""

Section = Literal["profile", "timeline", "scores", "segments", "points", "membership", "coupons", "messages"]
SERVICE_OF: dict[Section, str] = {
    "profile": "profile",
    "timeline": "profile",
    "scores": "scoring",
    "segments": "scoring",
    "points": "loyalty",
    "membership": "loyalty",
    "coupons": "loyalty",
    "messages": "notify",
}


class Degraded(BaseModel):
    """A section the answer lacks, which service owed it and why."""

    section: Section
    service: str
    reason: Literal["deadline_exceeded", "unavailable", "failed"]


class Customer360(BaseModel):
    """Everything an operator looks at first, in one answer; a degraded section is null."""

    customer_id: str = Field(description="the customer answered for (the survivor of a merged-away id)")
    merged_into: str | None = Field(default=None, description="set when the requested id was merged away")
    complete: bool = Field(description="false when any section is degraded")
    profile: CustomerOut | None
    scores: ScoresOut | None
    points: PointsOut | None
    membership: MembershipOut | None
    coupons: list[CouponOut] | None = Field(description=f"the {HEAD_SIZE} newest available coupons")
    segments: list[CustomerSegmentOut] | None
    messages: list[MessageOut] | None = Field(description=f"the {HEAD_SIZE} newest messages")
    timeline: list[TimelineItem] | None = Field(description=f"the {HEAD_SIZE} newest timeline items")
    degraded: list[Degraded]


class _Fetch:
    """The section fetchers of one 360 request, every call under the 360's deadline."""

    def __init__(
        self, profile: Profile, scoring: Scoring, loyalty: Loyalty, notify: Notify, deadline: float
    ) -> None:
        self.profile, self.scoring, self.loyalty, self.notify = profile, scoring, loyalty, notify
        self.deadline = deadline

    async def customer(self, customer_id: str) -> Any:
        request = profile_pb2.GetCustomerRequest(customer_id=customer_id)
        return await self.profile.customers.GetCustomer(request, deadline_seconds=self.deadline)

    async def timeline(self, customer_id: str) -> list[TimelineItem]:
        request = profile_pb2.GetTimelineRequest(customer_id=customer_id, limit=HEAD_SIZE)
        page = await self.profile.customers.GetTimeline(request, deadline_seconds=self.deadline)
        return [TimelineItem.from_proto(item) for item in page.items]

    async def scores(self, customer_id: str) -> ScoresOut:
        request = scoring_pb2.GetCustomerScoresRequest(customer_id=customer_id)
        try:
            scores = await self.scoring.scoring.GetCustomerScores(request, deadline_seconds=self.deadline)
        except ServiceCallError as error:
            if error.error.code().name != "NOT_FOUND":
                raise
            return ScoresOut.unscored(customer_id, None)  # not scored yet
        return ScoresOut.from_proto(scores, None)

    async def segments(self, customer_id: str) -> list[CustomerSegmentOut]:
        request = segments_pb2.CustomerSegmentsRequest(customer_id=customer_id)
        try:
            answer = await self.scoring.segments.CustomerSegments(request, deadline_seconds=self.deadline)
        except ServiceCallError as error:
            if error.error.code().name != "NOT_FOUND":
                raise
            return []  # scoring's projection has not seen the customer yet
        return [
            CustomerSegmentOut(segment_id=s.segment_id, name=s.name, entered_at=from_timestamp(s.entered_at))
            for s in answer.segments
        ]

    async def points(self, customer_id: str) -> PointsOut:
        request = loyalty_pb2.GetBalanceRequest(customer_id=customer_id, expiring_days=30)
        return PointsOut.from_proto(
            await self.loyalty.points.GetBalance(request, deadline_seconds=self.deadline)
        )

    async def membership(self, customer_id: str) -> MembershipOut:
        request = membership_pb2.GetMembershipRequest(customer_id=customer_id)
        answer = await self.loyalty.membership.GetMembership(request, deadline_seconds=self.deadline)
        return MembershipOut.from_proto(answer)

    async def coupons(self, customer_id: str) -> list[CouponOut]:
        request = coupons_pb2.ListCouponsRequest(customer_id=customer_id, status="available", limit=HEAD_SIZE)
        page = await self.loyalty.coupons.ListCoupons(request, deadline_seconds=self.deadline)
        return [CouponOut.from_proto(coupon) for coupon in page.coupons]

    async def messages(self, customer_id: str) -> list[MessageOut]:
        request = notify_pb2.ListCustomerMessagesRequest(customer_id=customer_id, page_size=HEAD_SIZE)
        page = await self.notify.setup.ListCustomerMessages(request, deadline_seconds=self.deadline)
        return [MessageOut.from_proto(message) for message in page.messages]

    def of(self, section: Section) -> Callable[[str], Awaitable[Any]]:
        fetchers: dict[Section, Callable[[str], Awaitable[Any]]] = {
            "timeline": self.timeline,
            "scores": self.scores,
            "segments": self.segments,
            "points": self.points,
            "membership": self.membership,
            "coupons": self.coupons,
            "messages": self.messages,
        }
        return fetchers[section]


_DEPENDENT: tuple[Section, ...] = (
    "timeline",
    "scores",
    "segments",
    "points",
    "membership",
    "coupons",
    "messages",
)


def _reason(error: BaseException) -> Literal["deadline_exceeded", "unavailable", "failed"]:
    if isinstance(error, ServiceCallError):
        code = error.error.code().name
        if code == "DEADLINE_EXCEEDED":
            return "deadline_exceeded"
        if code == "UNAVAILABLE":
            return "unavailable"
    return "failed"


async def _sections(fetch: _Fetch, customer_id: str) -> dict[Section, Any]:
    """Every section but the profile, fetched at once; a failure is kept as its exception."""
    results = await asyncio.gather(*(fetch.of(s)(customer_id) for s in _DEPENDENT), return_exceptions=True)
    return dict(zip(_DEPENDENT, results, strict=True))


@router.get("/{customer_id}/360", response_model=Customer360, responses=ERRORS, **scoped("read"))
async def customer_360(
    customer_id: str, request: Request, profile: Profile, scoring: Scoring, loyalty: Loyalty, notify: Notify
) -> Customer360:
    """Profile (masked), scores, points, membership, available coupons, segments, recent messages and
    the timeline's head in one answer; a slow or down service degrades its sections, never the whole."""
    fetch = _Fetch(profile, scoring, loyalty, notify, request.app.state.customer_360_deadline)
    customer_task = asyncio.ensure_future(fetch.customer(customer_id))
    sections = await _sections(fetch, customer_id)
    found: Any | BaseException
    try:
        found = await customer_task
    except ServiceCallError as error:
        if error.error.code().name in ("NOT_FOUND", "INVALID_ARGUMENT"):
            raise  # no such customer (or a malformed id): the answer is the service's 404 / 422
        found = error
    answered_for = customer_id
    merged_into: str | None = None
    if not isinstance(found, BaseException) and found.customer_id != customer_id:
        answered_for, merged_into = found.customer_id, found.customer_id
        sections = await _sections(fetch, answered_for)
    results: dict[Section, Any] = {"profile": found, **sections}
    degraded: list[Degraded] = []
    for section, result in results.items():
        if isinstance(result, BaseException):
            reason = _reason(result)
            if reason == "failed":
                logger.warning("customer 360: section %s failed", section, exc_info=result)
            degraded.append(Degraded(section=section, service=SERVICE_OF[section], reason=reason))
            results[section] = None
    profile_out = results["profile"]
    return Customer360(
        customer_id=answered_for,
        merged_into=merged_into,
        complete=not degraded,
        profile=CustomerOut.from_proto(profile_out) if profile_out is not None else None,
        scores=results["scores"],
        points=results["points"],
        membership=results["membership"],
        coupons=results["coupons"],
        segments=results["segments"],
        messages=results["messages"],
        timeline=results["timeline"],
        degraded=degraded,
    )

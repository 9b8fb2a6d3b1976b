"""The customer 360: one answer from all four services (API.md "KPIs and the customer 360").

One call per service (each service's ``Customer360Service``; notify's message listing) is sent at
once, each under the same short deadline (``PATRON_GATEWAY_CUSTOMER_360_DEADLINE_SECONDS``). The
sections of a service that is slow, down or failing are answered as ``null`` and listed in
``degraded`` with the service and why; the rest of the answer stands. Only profile's "no such
customer" fails the whole answer (404): it is the one fact that says the customer does not exist.
An id merged away is answered for its survivor; the other services' parts fetched under the old id
are then fetched again for the survivor (the rare path).
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
from patron.loyalty.v1 import customer_360_pb2 as loyalty_360_pb2
from patron.notify.v1 import notify_pb2
from patron.profile.v1 import customer_360_pb2 as profile_360_pb2
from patron.scoring.v1 import customer_360_pb2 as scoring_360_pb2
from services.runtime.proto_convert import from_timestamp

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/customers", tags=["customers"])

HEAD_SIZE = 10
"""How many of the newest timeline items, messages and available coupons the 360 carries (the full
lists are paged at their own endpoints)."""

Section = Literal["profile", "timeline", "scores", "segments", "points", "membership", "coupons", "messages"]


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


SECTIONS_OF: dict[str, tuple[Section, ...]] = {
    "profile": ("profile", "timeline"),
    "scoring": ("scores", "segments"),
    "loyalty": ("points", "membership", "coupons"),
    "notify": ("messages",),
}
"""One call per service answers all its sections (docs/customer-360.md)."""


class _Fetch:
    """The four calls of one 360 request, each under the 360's deadline; each answers its sections."""

    def __init__(
        self, profile: Profile, scoring: Scoring, loyalty: Loyalty, notify: Notify, deadline: float
    ) -> None:
        self.profile, self.scoring, self.loyalty, self.notify = profile, scoring, loyalty, notify
        self.deadline = deadline

    async def from_profile(self, customer_id: str) -> dict[Section, Any]:
        request = profile_360_pb2.GetCustomer360Request(customer_id=customer_id, timeline_limit=HEAD_SIZE)
        part = await self.profile.customer_360.GetCustomer360(request, deadline_seconds=self.deadline)
        return {
            "profile": part.customer,
            "timeline": [TimelineItem.from_proto(item) for item in part.timeline],
        }

    async def from_scoring(self, customer_id: str) -> dict[Section, Any]:
        request = scoring_360_pb2.GetCustomer360Request(customer_id=customer_id)
        part = await self.scoring.customer_360.GetCustomer360(request, deadline_seconds=self.deadline)
        return {
            # not scored yet, or not yet in scoring's audience: as the single endpoints answer
            "scores": ScoresOut.from_proto(part.scores, None)
            if part.scored
            else ScoresOut.unscored(customer_id, None),
            "segments": [
                CustomerSegmentOut(
                    segment_id=s.segment_id, name=s.name, entered_at=from_timestamp(s.entered_at)
                )
                for s in part.segments
            ],
        }

    async def from_loyalty(self, customer_id: str) -> dict[Section, Any]:
        request = loyalty_360_pb2.GetCustomer360Request(
            customer_id=customer_id, expiring_days=30, coupon_limit=HEAD_SIZE
        )
        part = await self.loyalty.customer_360.GetCustomer360(request, deadline_seconds=self.deadline)
        return {
            "points": PointsOut.from_proto(part.balance),
            "membership": MembershipOut.from_proto(part.membership),
            "coupons": [CouponOut.from_proto(coupon) for coupon in part.coupons],
        }

    async def from_notify(self, customer_id: str) -> dict[Section, Any]:
        request = notify_pb2.ListCustomerMessagesRequest(customer_id=customer_id, page_size=HEAD_SIZE)
        page = await self.notify.setup.ListCustomerMessages(request, deadline_seconds=self.deadline)
        return {"messages": [MessageOut.from_proto(message) for message in page.messages]}

    def of(self, service: str) -> Callable[[str], Awaitable[dict[Section, Any]]]:
        fetchers: dict[str, Callable[[str], Awaitable[dict[Section, Any]]]] = {
            "scoring": self.from_scoring,
            "loyalty": self.from_loyalty,
            "notify": self.from_notify,
        }
        return fetchers[service]


_DEPENDENT = ("scoring", "loyalty", "notify")
"""The services whose parts are fetched again for the survivor of a merged-away id."""


def _reason(error: BaseException) -> Literal["deadline_exceeded", "unavailable", "failed"]:
    if isinstance(error, ServiceCallError):
        code = error.error.code().name
        if code == "DEADLINE_EXCEEDED":
            return "deadline_exceeded"
        if code == "UNAVAILABLE":
            return "unavailable"
    return "failed"


async def _parts(fetch: _Fetch, customer_id: str) -> dict[str, dict[Section, Any] | BaseException]:
    """Every part but profile's, fetched at once; a failure is kept as its exception."""
    results = await asyncio.gather(*(fetch.of(s)(customer_id) for s in _DEPENDENT), return_exceptions=True)
    return dict(zip(_DEPENDENT, results, strict=True))


@router.get("/{customer_id}/360", response_model=Customer360, responses=ERRORS, **scoped("read"))
async def customer_360(
    customer_id: str, request: Request, profile: Profile, scoring: Scoring, loyalty: Loyalty, notify: Notify
) -> Customer360:
    """Profile (masked), scores, points, membership, available coupons, segments, recent messages and
    the timeline's head in one answer; a slow or down service degrades its sections, never the whole."""
    fetch = _Fetch(profile, scoring, loyalty, notify, request.app.state.customer_360_deadline)
    profile_task = asyncio.ensure_future(fetch.from_profile(customer_id))
    try:
        parts = await _parts(fetch, customer_id)
    except BaseException:  # the request was cancelled (the client went away): so is profile's call
        profile_task.cancel()
        raise
    found: dict[Section, Any] | BaseException
    try:
        found = await profile_task
    except ServiceCallError as error:
        if error.error.code().name in ("NOT_FOUND", "INVALID_ARGUMENT"):
            raise  # no such customer (or a malformed id): the answer is the service's 404 / 422
        found = error
    answered_for = customer_id
    merged_into: str | None = None
    if not isinstance(found, BaseException) and found["profile"].customer_id != customer_id:
        answered_for = merged_into = found["profile"].customer_id
        parts = await _parts(fetch, answered_for)
    results: dict[Section, Any] = {}
    degraded: list[Degraded] = []
    for service, part in {"profile": found, **parts}.items():
        if isinstance(part, BaseException):
            reason = _reason(part)
            if reason == "failed":
                logger.warning("customer 360: the %s part failed", service, exc_info=part)
            degraded.extend(Degraded(section=s, service=service, reason=reason) for s in SECTIONS_OF[service])
            results.update(dict.fromkeys(SECTIONS_OF[service]))
        else:
            results.update(part)
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

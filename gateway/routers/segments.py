"""Segments (scoring service): audiences selected by a condition over the facts scoring holds.

- `POST /v1/segments/preview` `{"condition", "sample_size"?}` → `{"count", "sample"}`: the exact
  number of the tenant's live customers meeting the condition now, and the first ``sample_size``
  (0-20, default 10) of their ids in id order — a spot check, never a member list.
- `POST /v1/segments` `{"name", "condition", "description"?}` → 201 a saved segment at version 1
  with its members evaluated (`count`); `GET /v1/segments` pages the live segments by name;
  `GET|PUT|DELETE /v1/segments/{segment_id}`: `PUT` replaces name, condition and description (left
  out: none); a different condition (compared in canonical form) is the next `version` and
  re-evaluates the members, emitting `segment.entered`/`segment.exited`; name or description alone
  keep the version. A deleted segment's id answers 404 everywhere; its members go without events.
- Names: 1-100 characters, not blank, no control characters, unique among the tenant's live
  segments (409); descriptions at most 1,000 characters; at most 500 live segments (409 beyond).
- `GET /v1/segments/{segment_id}/members` pages the members by customer id, with `entered_at`;
  `GET /v1/customers/{customer_id}/segments` the live segments a customer is in (a merged-away id
  answers for its survivor; an unknown id is 404, as for scores); `GET
  /v1/segments/{segment_id}/sizes?days=N` the daily size snapshots of the last N days (1-366,
  default 90), oldest first.
- The condition is JSON data in the language of docs/segments.md (API.md "Segments"), never code:
  any string in it is only a value. The scoring service validates it; a faulty condition answers
  422 naming the path of every fault (``condition.all[2].op``), the limits (depth, leaves, list
  sizes) included, together with the faults of name and description.
- A preview heavier than the scoring service's time limit answers 503: narrow the condition.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Profile, Scoring
from gateway.limits import ORDER_TEXT_PATTERN, documented
from gateway.problems import ServiceCallError
from gateway.schemas import Cursor, JsonObject, Limit, Page, StrictBody
from patron.profile.v1 import profile_pb2
from patron.scoring.v1 import segments_pb2
from services.runtime.proto_convert import from_timestamp
from services.scoring.domain.segments.preview import MAX_SAMPLE
from services.scoring.domain.segments.saved_rules import (
    DEFAULT_SIZE_DAYS,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SIZE_DAYS,
)

router = APIRouter(tags=["segments"])

SAVE_DEADLINE_SECONDS = 15.0
"""A create, or a replacement with a new condition, evaluates every customer of the tenant (as long as
a preview of the condition): it gets more time than an ordinary call."""

CONDITION_EXAMPLE = {
    "all": [
        {"field": "attributes.gender", "op": "eq", "value": "female"},
        {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"},
    ]
}
# The scoring service checks a name (and reports its faults with the condition's); stated here.
Name = Annotated[str, documented(minLength=1, maxLength=MAX_NAME_LENGTH, pattern=ORDER_TEXT_PATTERN)]
Description = Annotated[str, documented(maxLength=MAX_DESCRIPTION_LENGTH)]
CONDITION_DESCRIPTION = "a condition of the segment language (docs/segments.md): all/any/not of leaves"


class PreviewIn(StrictBody):
    condition: JsonObject = Field(description=CONDITION_DESCRIPTION, examples=[CONDITION_EXAMPLE])
    sample_size: int = Field(
        default=10, ge=0, le=MAX_SAMPLE, description=f"how many customer ids to return (0-{MAX_SAMPLE})"
    )


class PreviewOut(BaseModel):
    count: int = Field(description="the tenant's live customers meeting the condition now, exactly")
    sample: list[uuid.UUID] = Field(description="the first sample_size of them, in id order")


class SegmentIn(StrictBody):
    """A saved segment as written (POST) or its full replacement (PUT)."""

    # The scoring service checks name and description with the condition and reports every fault of
    # the three in one 422 (NUL included); the schema states its limits.
    text_checked_elsewhere = frozenset({"name", "description"})

    name: Name = Field(
        description="not blank, no control characters, unique among the tenant's live segments (409)"
    )
    condition: JsonObject = Field(description=CONDITION_DESCRIPTION, examples=[CONDITION_EXAMPLE])
    description: Description | None = Field(
        default=None, description="free text for operators; absent or null: none"
    )

    def request_fields(self) -> dict[str, str]:
        """The request fields every write of a segment carries."""
        return {
            "name": self.name,
            "description": self.description or "",
            "condition_json": json.dumps(self.condition),
        }


class SegmentOut(BaseModel):
    segment_id: uuid.UUID
    name: str
    description: str | None
    condition: dict[str, Any] = Field(description="the condition in canonical form")
    version: int = Field(description="1 when created, +1 on each change of the condition")
    count: int = Field(description="members now")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, message: segments_pb2.Segment) -> SegmentOut:
        return cls(
            segment_id=uuid.UUID(message.segment_id),
            name=message.name,
            description=message.description or None,
            condition=json.loads(message.condition_json),
            version=message.version,
            count=message.count,
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
        )


class MemberOut(BaseModel):
    customer_id: uuid.UUID
    entered_at: datetime = Field(description="when the customer last entered the segment")


class CustomerSegmentOut(BaseModel):
    segment_id: uuid.UUID
    name: str
    entered_at: datetime


class CustomerSegmentsOut(BaseModel):
    items: list[CustomerSegmentOut] = Field(description="the live segments the customer is in, by name")


class DailySizeOut(BaseModel):
    day: date = Field(description="a day of the tenant's calendar")
    members: int = Field(description="the member count at the day's last snapshot")


class SizesOut(BaseModel):
    items: list[DailySizeOut] = Field(description="oldest first; a day without a snapshot is absent")


SizeDays = Annotated[
    int, Query(ge=1, le=MAX_SIZE_DAYS, description=f"days back from today, the tenant's (1-{MAX_SIZE_DAYS})")
]


@router.post("/v1/segments/preview", response_model=PreviewOut, responses=ERRORS, **scoped("operate"))
async def preview_segment(body: PreviewIn, scoring: Scoring) -> PreviewOut:
    """Count a condition's audience and show a few of its members; 422 names every fault's path."""
    request = segments_pb2.PreviewSegmentRequest(
        condition_json=json.dumps(body.condition), sample_size=body.sample_size
    )
    answer = await scoring.segments.Preview(request)
    return PreviewOut(count=answer.count, sample=[uuid.UUID(item) for item in answer.sample])


@router.post(
    "/v1/segments", status_code=201, response_model=SegmentOut, responses=ERRORS, **scoped("operate")
)
async def create_segment(body: SegmentIn, scoring: Scoring) -> SegmentOut:
    """Save a segment at version 1 with its members evaluated now (409 for a taken name)."""
    request = segments_pb2.CreateSegmentRequest(**body.request_fields())
    segment = await scoring.segments.CreateSegment(request, deadline_seconds=SAVE_DEADLINE_SECONDS)
    return SegmentOut.from_proto(segment)


@router.get("/v1/segments", response_model=Page[SegmentOut], responses=ERRORS, **scoped("operate"))
async def list_segments(scoring: Scoring, limit: Limit = 100, cursor: Cursor = None) -> Page[SegmentOut]:
    """The tenant's live segments by name, each with its member count."""
    request = segments_pb2.ListSegmentsRequest(page_size=limit, page_token=cursor or "")
    page = await scoring.segments.ListSegments(request)
    return Page[SegmentOut].of([SegmentOut.from_proto(s) for s in page.segments], page.next_page_token)


@router.get("/v1/segments/{segment_id}", response_model=SegmentOut, responses=ERRORS, **scoped("operate"))
async def get_segment(segment_id: str, scoring: Scoring) -> SegmentOut:
    """A live segment with its member count now."""
    segment = await scoring.segments.GetSegment(segments_pb2.GetSegmentRequest(segment_id=segment_id))
    return SegmentOut.from_proto(segment)


@router.put("/v1/segments/{segment_id}", response_model=SegmentOut, responses=ERRORS, **scoped("operate"))
async def replace_segment(segment_id: str, body: SegmentIn, scoring: Scoring) -> SegmentOut:
    """Replace name, condition and description; a changed condition is the next version."""
    request = segments_pb2.UpdateSegmentRequest(segment_id=segment_id, **body.request_fields())
    segment = await scoring.segments.UpdateSegment(request, deadline_seconds=SAVE_DEADLINE_SECONDS)
    return SegmentOut.from_proto(segment)


@router.delete(
    "/v1/segments/{segment_id}",
    status_code=204,
    response_class=Response,
    responses=ERRORS,
    **scoped("operate"),
)
async def delete_segment(segment_id: str, scoring: Scoring) -> Response:
    """Delete a segment: its id answers 404 from now on; its members go without events."""
    await scoring.segments.DeleteSegment(segments_pb2.DeleteSegmentRequest(segment_id=segment_id))
    return Response(status_code=204)


@router.get(
    "/v1/segments/{segment_id}/members", response_model=Page[MemberOut], responses=ERRORS, **scoped("operate")
)
async def list_members(
    segment_id: str, scoring: Scoring, limit: Limit = 100, cursor: Cursor = None
) -> Page[MemberOut]:
    """The segment's members by customer id, with when each entered."""
    request = segments_pb2.ListMembersRequest(segment_id=segment_id, page_size=limit, page_token=cursor or "")
    page = await scoring.segments.ListMembers(request)
    items = [
        MemberOut(customer_id=uuid.UUID(m.customer_id), entered_at=from_timestamp(m.entered_at))
        for m in page.members
    ]
    return Page[MemberOut].of(items, page.next_page_token)


@router.get("/v1/segments/{segment_id}/sizes", response_model=SizesOut, responses=ERRORS, **scoped("operate"))
async def segment_sizes(segment_id: str, scoring: Scoring, days: SizeDays = DEFAULT_SIZE_DAYS) -> SizesOut:
    """The segment's size over time: one daily snapshot per day, oldest first."""
    request = segments_pb2.SegmentSizesRequest(segment_id=segment_id, days=days)
    answer = await scoring.segments.SegmentSizes(request)
    return SizesOut(
        items=[DailySizeOut(day=date.fromisoformat(s.day), members=s.members) for s in answer.sizes]
    )


@router.get(
    "/v1/customers/{customer_id}/segments",
    response_model=CustomerSegmentsOut,
    responses=ERRORS,
    **scoped("read"),
)
async def customer_segments(customer_id: str, profile: Profile, scoring: Scoring) -> CustomerSegmentsOut:
    """The live segments a customer is in now (a merged-away id: its survivor's; unknown: 404)."""
    customer = await profile.customers.GetCustomer(profile_pb2.GetCustomerRequest(customer_id=customer_id))
    try:
        answer = await scoring.segments.CustomerSegments(
            segments_pb2.CustomerSegmentsRequest(customer_id=customer.customer_id)
        )
    except ServiceCallError as error:
        if error.error.code().name != "NOT_FOUND":
            raise
        return CustomerSegmentsOut(items=[])  # scoring's projection has not seen the customer yet
    return CustomerSegmentsOut(
        items=[
            CustomerSegmentOut(
                segment_id=uuid.UUID(s.segment_id), name=s.name, entered_at=from_timestamp(s.entered_at)
            )
            for s in answer.segments
        ]
    )

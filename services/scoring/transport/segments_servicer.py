"""SegmentService: previews of a condition's audience, saved segments (their members, a customer's
segments, daily sizes), and for notify one customer evaluated now and a segment's member snapshot.
Converts and delegates only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from grpc import aio

from patron.scoring.v1 import segments_pb2, segments_pb2_grpc
from services.runtime.proto_convert import to_date_text, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.segments.audience import SegmentAudience
from services.scoring.domain.segments.preview import SegmentPreview
from services.scoring.domain.segments.saved import SavedSegments
from services.scoring.domain.segments.saved_rules import CustomerSegment, SavedSegment
from services.scoring.transport.convert import condition_document

SEGMENT_SERVICE = "patron.scoring.v1.SegmentService"

Context: TypeAlias = "aio.ServicerContext[Any, Any]"


def segment_to_proto(segment: SavedSegment) -> segments_pb2.Segment:
    """A saved segment as the contract's message (the canonical condition as JSON text)."""
    return segments_pb2.Segment(
        segment_id=str(segment.segment_id),
        name=segment.name,
        description=segment.description or "",
        condition_json=json.dumps(segment.condition, ensure_ascii=False),
        version=segment.version,
        count=segment.count,
        created_at=to_timestamp(segment.created_at),
        updated_at=to_timestamp(segment.updated_at),
    )


class SegmentServicer(segments_pb2_grpc.SegmentServiceServicer):
    """Every call acts for the tenant of its metadata: only that tenant's segments and customers."""

    def __init__(self, previews: SegmentPreview, saved: SavedSegments, audience: SegmentAudience) -> None:
        self._previews = previews
        self._saved = saved
        self._audience = audience

    async def Preview(
        self, request: segments_pb2.PreviewSegmentRequest, context: Context
    ) -> segments_pb2.PreviewSegmentResponse:
        answer = await self._previews.preview(
            current_tenant(), condition_document(request.condition_json), request.sample_size
        )
        return segments_pb2.PreviewSegmentResponse(
            count=answer.count, sample=[str(customer_id) for customer_id in answer.sample]
        )

    async def CreateSegment(
        self, request: segments_pb2.CreateSegmentRequest, context: Context
    ) -> segments_pb2.Segment:
        segment = await self._saved.create(
            current_tenant(), request.name, request.description, condition_document(request.condition_json)
        )
        return segment_to_proto(segment)

    async def GetSegment(
        self, request: segments_pb2.GetSegmentRequest, context: Context
    ) -> segments_pb2.Segment:
        return segment_to_proto(await self._saved.get(current_tenant(), request.segment_id))

    async def ListSegments(
        self, request: segments_pb2.ListSegmentsRequest, context: Context
    ) -> segments_pb2.ListSegmentsResponse:
        page = await self._saved.list_segments(current_tenant(), request.page_size, request.page_token)
        return segments_pb2.ListSegmentsResponse(
            segments=[segment_to_proto(segment) for segment in page.items],
            next_page_token=page.next_cursor or "",
        )

    async def UpdateSegment(
        self, request: segments_pb2.UpdateSegmentRequest, context: Context
    ) -> segments_pb2.Segment:
        segment = await self._saved.update(
            current_tenant(),
            request.segment_id,
            request.name,
            request.description,
            condition_document(request.condition_json),
        )
        return segment_to_proto(segment)

    async def DeleteSegment(
        self, request: segments_pb2.DeleteSegmentRequest, context: Context
    ) -> segments_pb2.DeleteSegmentResponse:
        await self._saved.delete(current_tenant(), request.segment_id)
        return segments_pb2.DeleteSegmentResponse()

    async def ListMembers(
        self, request: segments_pb2.ListMembersRequest, context: Context
    ) -> segments_pb2.ListMembersResponse:
        page = await self._saved.members(
            current_tenant(), request.segment_id, request.page_size, request.page_token
        )
        return segments_pb2.ListMembersResponse(
            members=[
                segments_pb2.SegmentMember(
                    customer_id=str(member.customer_id),
                    entered_at=to_timestamp(member.entered_at),
                    version=member.version,
                )
                for member in page.items
            ],
            next_page_token=page.next_cursor or "",
        )

    async def CustomerSegments(
        self, request: segments_pb2.CustomerSegmentsRequest, context: Context
    ) -> segments_pb2.CustomerSegmentsResponse:
        found = await self._saved.customer_segments(current_tenant(), request.customer_id)
        return segments_pb2.CustomerSegmentsResponse(segments=customer_segments_to_proto(found))

    async def SegmentSizes(
        self, request: segments_pb2.SegmentSizesRequest, context: Context
    ) -> segments_pb2.SegmentSizesResponse:
        sizes = await self._saved.sizes(current_tenant(), request.segment_id, request.days)
        return segments_pb2.SegmentSizesResponse(
            sizes=[segments_pb2.DailySize(day=to_date_text(size.day), members=size.members) for size in sizes]
        )

    async def Evaluate(
        self, request: segments_pb2.EvaluateSegmentRequest, context: Context
    ) -> segments_pb2.EvaluateSegmentResponse:
        target = request.WhichOneof("target")
        answer = await self._audience.evaluate(
            current_tenant(),
            request.customer_id,
            request.segment_id if target == "segment_id" else None,
            condition_document(request.condition_json) if target == "condition_json" else None,
        )
        return segments_pb2.EvaluateSegmentResponse(
            member=answer.member,
            version=answer.version,
            evaluated_at=to_timestamp(answer.evaluated_at),
            customer_id=str(answer.customer_id),
        )

    async def StreamMembers(
        self, request: segments_pb2.StreamMembersRequest, context: Context
    ) -> AsyncIterator[segments_pb2.MemberBatch]:
        batches = self._audience.snapshot(current_tenant(), request.segment_id, request.batch_size)
        async for batch in batches:
            yield segments_pb2.MemberBatch(
                customer_ids=[str(customer_id) for customer_id in batch.customer_ids],
                version=batch.version,
                as_of=to_timestamp(batch.as_of),
                total=batch.total,
                timezones=list(batch.timezones),
            )


def customer_segments_to_proto(found: list[CustomerSegment]) -> list[segments_pb2.CustomerSegment]:
    """A customer's live segments as the contract carries them."""
    return [
        segments_pb2.CustomerSegment(
            segment_id=str(item.segment_id), name=item.name, entered_at=to_timestamp(item.entered_at)
        )
        for item in found
    ]


def segments_registration(
    previews: SegmentPreview, saved: SavedSegments, audience: SegmentAudience
) -> Registration:
    """The SegmentService registration for the scoring service's server."""
    return Registration(
        segments_pb2_grpc.add_SegmentServiceServicer_to_server,
        SegmentServicer(previews, saved, audience),
        SEGMENT_SERVICE,
    )

"""SegmentService: previews of a condition's audience. Converts and delegates only."""

from __future__ import annotations

from typing import Any

from grpc import aio

from patron.scoring.v1 import segments_pb2, segments_pb2_grpc
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.segments.preview import SegmentPreview
from services.scoring.transport.convert import condition_document

SEGMENT_SERVICE = "patron.scoring.v1.SegmentService"


class SegmentServicer(segments_pb2_grpc.SegmentServiceServicer):
    """Every call acts for the tenant of its metadata: only that tenant's customers are counted."""

    def __init__(self, previews: SegmentPreview) -> None:
        self._previews = previews

    async def Preview(
        self, request: segments_pb2.PreviewSegmentRequest, context: aio.ServicerContext[Any, Any]
    ) -> segments_pb2.PreviewSegmentResponse:
        answer = await self._previews.preview(
            current_tenant(), condition_document(request.condition_json), request.sample_size
        )
        return segments_pb2.PreviewSegmentResponse(
            count=answer.count, sample=[str(customer_id) for customer_id in answer.sample]
        )


def segments_registration(previews: SegmentPreview) -> Registration:
    """The SegmentService registration for the scoring service's server."""
    return Registration(
        segments_pb2_grpc.add_SegmentServiceServicer_to_server, SegmentServicer(previews), SEGMENT_SERVICE
    )

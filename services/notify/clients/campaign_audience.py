"""The campaign worker's source of audiences: scoring's member snapshot stream.

``SegmentService.StreamMembers`` answers a saved segment's members from one REPEATABLE READ snapshot,
in customer id order, a batch a message, each member with its zone. NOT_FOUND (the segment was
deleted) becomes the domain's ``NotFound``, which cancels the campaign with that reason; any other
failure is ``Unavailable`` and the worker retries the snapshot later (nothing was recorded: the
snapshot commits whole).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc

from patron.scoring.v1 import segments_pb2, segments_pb2_grpc
from services.notify.domain.campaign_worker import AudienceBatch
from services.runtime.errors import NotFound, Unavailable
from services.runtime.proto_convert import from_timestamp
from services.runtime.tenancy import TENANT_METADATA_KEY

STREAM_BATCH = 10_000
STREAM_DEADLINE_SECONDS = 600.0
"""A million members stream in well under a minute; the deadline only bounds a stuck stream."""


class ScoringAudience:
    """Members of a saved segment, from scoring."""

    def __init__(self, scoring: grpc.aio.Channel) -> None:
        self._segments = segments_pb2_grpc.SegmentServiceStub(scoring)

    async def members(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> AsyncIterator[AudienceBatch]:
        """The segment's members at one moment, a batch at a time."""
        call = self._segments.StreamMembers(
            segments_pb2.StreamMembersRequest(segment_id=str(segment_id), batch_size=STREAM_BATCH),
            timeout=STREAM_DEADLINE_SECONDS,
            metadata=((TENANT_METADATA_KEY, str(tenant_id)),),
        )
        try:
            async for batch in call:
                zones = list(batch.timezones) or [""] * len(batch.customer_ids)
                yield AudienceBatch(
                    [uuid.UUID(c) for c in batch.customer_ids],
                    [zone or None for zone in zones],
                    batch.version,
                    from_timestamp(batch.as_of),
                )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("the segment was deleted before the audience was taken") from error
            raise Unavailable(f"scoring answered {error.code().name} while streaming the audience") from error

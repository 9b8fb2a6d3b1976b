"""Scoring's part of the customer 360: the scores and the live segments in one call."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from patron.scoring.v1 import customer_360_pb2, customer_360_pb2_grpc
from services.runtime.errors import NotFound
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant
from services.scoring.domain.scores import ScoreQueries
from services.scoring.domain.segments.saved import SavedSegments
from services.scoring.transport import convert
from services.scoring.transport.segments_servicer import customer_segments_to_proto

CUSTOMER_360_SERVICE = "patron.scoring.v1.Customer360Service"


class Customer360Servicer(customer_360_pb2_grpc.Customer360ServiceServicer):
    def __init__(self, scores: ScoreQueries, saved: SavedSegments) -> None:
        self._scores = scores
        self._saved = saved

    async def GetCustomer360(
        self, request: customer_360_pb2.GetCustomer360Request, context: aio.ServicerContext[Any, Any]
    ) -> customer_360_pb2.Customer360Part:
        """Both reads at once. Scoring not knowing the customer (not scored yet, or its projection has
        not seen it) is an answer here, not an error: profile is the one that says who exists."""
        tenant = current_tenant()
        scored, segments = await asyncio.gather(
            self._scores.customer(tenant, request.customer_id),
            self._saved.customer_segments(tenant, request.customer_id),
            return_exceptions=True,
        )
        part = customer_360_pb2.Customer360Part()
        for result in (scored, segments):
            if isinstance(result, BaseException) and not isinstance(result, NotFound):
                raise result
        if not isinstance(scored, BaseException):
            part.scored = True
            part.scores.CopyFrom(convert.scores_to_proto(*scored))
        if not isinstance(segments, BaseException):
            part.segments.extend(customer_segments_to_proto(segments))
        return part


def customer_360_registration(scores: ScoreQueries, saved: SavedSegments) -> Registration:
    return Registration(
        customer_360_pb2_grpc.add_Customer360ServiceServicer_to_server,
        Customer360Servicer(scores, saved),
        CUSTOMER_360_SERVICE,
    )

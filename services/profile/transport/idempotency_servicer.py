"""gRPC servicer of ``patron.profile.v1.IdempotencyService`` (used by the gateway)."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import profile_pb2, profile_pb2_grpc
from services.profile.domain.idempotency import IdempotencyKeys, Outcome, StoredAnswer
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

_OUTCOMES = {
    Outcome.NEW: profile_pb2.BeginIdempotentResponse.NEW,
    Outcome.REPLAY: profile_pb2.BeginIdempotentResponse.REPLAY,
    Outcome.MISMATCH: profile_pb2.BeginIdempotentResponse.MISMATCH,
    Outcome.IN_PROGRESS: profile_pb2.BeginIdempotentResponse.IN_PROGRESS,
}


class IdempotencyServicer(profile_pb2_grpc.IdempotencyServiceServicer):
    def __init__(self, keys: IdempotencyKeys) -> None:
        self._keys = keys

    async def BeginIdempotent(
        self, request: profile_pb2.BeginIdempotentRequest, context: aio.ServicerContext
    ) -> profile_pb2.BeginIdempotentResponse:
        outcome, answer = await self._keys.begin(current_tenant(), request.key, request.request_sha256)
        response = profile_pb2.BeginIdempotentResponse(outcome=_OUTCOMES[outcome])
        if answer is not None:
            response.status_code = answer.status_code
            response.body = answer.body
            response.content_type = answer.content_type
        return response

    async def CompleteIdempotent(
        self, request: profile_pb2.CompleteIdempotentRequest, context: aio.ServicerContext
    ) -> profile_pb2.IdempotencyAck:
        answer = StoredAnswer(request.status_code, request.body, request.content_type)
        await self._keys.complete(current_tenant(), request.key, answer)
        return profile_pb2.IdempotencyAck()

    async def AbandonIdempotent(
        self, request: profile_pb2.AbandonIdempotentRequest, context: aio.ServicerContext
    ) -> profile_pb2.IdempotencyAck:
        await self._keys.abandon(current_tenant(), request.key)
        return profile_pb2.IdempotencyAck()


def idempotency_registration(keys: IdempotencyKeys) -> Registration:
    return Registration(
        profile_pb2_grpc.add_IdempotencyServiceServicer_to_server,
        IdempotencyServicer(keys),
        "patron.profile.v1.IdempotencyService",
    )

"""gRPC servicers of ``patron.profile.v1.OperatorService`` and ``SessionService``: convert, delegate to
the domain, convert back."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import operators_pb2, operators_pb2_grpc
from services.profile.domain.operators import Operator, Operators
from services.profile.domain.sessions import Sessions
from services.profile.transport.convert import tenant_to_proto
from services.runtime.proto_convert import set_time, to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

OPERATOR_SERVICE = "patron.profile.v1.OperatorService"
SESSION_SERVICE = "patron.profile.v1.SessionService"
# Resolving a session is how the gateway learns its tenant: the call cannot carry one.
TENANT_EXEMPT = frozenset({f"/{SESSION_SERVICE}/ResolveSession"})


def operator_to_proto(operator: Operator) -> operators_pb2.Operator:
    message = operators_pb2.Operator(
        operator_id=str(operator.operator_id), email=operator.email, role=operator.role
    )
    set_time(message, "created_at", operator.created_at)
    set_time(message, "disabled_at", operator.disabled_at)
    set_time(message, "last_sign_in_at", operator.last_sign_in_at)
    return message


class OperatorServicer(operators_pb2_grpc.OperatorServiceServicer):
    def __init__(self, operators: Operators, sessions: Sessions) -> None:
        self._operators = operators
        self._sessions = sessions

    async def CreateOperator(
        self, request: operators_pb2.CreateOperatorRequest, context: aio.ServicerContext
    ) -> operators_pb2.Operator:
        created = await self._operators.create(
            current_tenant(), request.email, request.password, request.role
        )
        return operator_to_proto(created)

    async def ListOperators(
        self, request: operators_pb2.ListOperatorsRequest, context: aio.ServicerContext
    ) -> operators_pb2.ListOperatorsResponse:
        listed = await self._operators.list(current_tenant())
        return operators_pb2.ListOperatorsResponse(items=[operator_to_proto(item) for item in listed])

    async def UpdateOperator(
        self, request: operators_pb2.UpdateOperatorRequest, context: aio.ServicerContext
    ) -> operators_pb2.Operator:
        updated = await self._operators.update(
            current_tenant(),
            request.operator_id,
            request.role if request.HasField("role") else None,
            request.disabled if request.HasField("disabled") else None,
            request.password if request.HasField("password") else None,
        )
        return operator_to_proto(updated)

    async def SignIn(
        self, request: operators_pb2.SignInRequest, context: aio.ServicerContext
    ) -> operators_pb2.SignInResponse:
        operator, expires_at = await self._sessions.sign_in(
            current_tenant(), request.email, request.password, request.session_sha256
        )
        return operators_pb2.SignInResponse(
            operator=operator_to_proto(operator), expires_at=to_timestamp(expires_at)
        )

    async def RevokeSession(
        self, request: operators_pb2.RevokeSessionRequest, context: aio.ServicerContext
    ) -> operators_pb2.RevokeSessionResponse:
        revoked = await self._sessions.revoke(current_tenant(), request.session_sha256)
        return operators_pb2.RevokeSessionResponse(revoked=revoked)


class SessionServicer(operators_pb2_grpc.SessionServiceServicer):
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def ResolveSession(
        self, request: operators_pb2.ResolveSessionRequest, context: aio.ServicerContext
    ) -> operators_pb2.ResolveSessionResponse:
        found = await self._sessions.resolve(request.session_sha256)
        return operators_pb2.ResolveSessionResponse(
            tenant=tenant_to_proto(found.tenant),
            operator=operator_to_proto(found.operator),
            expires_at=to_timestamp(found.expires_at),
        )


def operator_registrations(operators: Operators, sessions: Sessions) -> list[Registration]:
    """The two services; ``TENANT_EXEMPT`` names the one method that carries no tenant."""
    return [
        Registration(
            operators_pb2_grpc.add_OperatorServiceServicer_to_server,
            OperatorServicer(operators, sessions),
            OPERATOR_SERVICE,
        ),
        Registration(
            operators_pb2_grpc.add_SessionServiceServicer_to_server,
            SessionServicer(sessions),
            SESSION_SERVICE,
        ),
    ]

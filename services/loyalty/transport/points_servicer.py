"""PointsService: balances, the ledger, redemptions, adjustments, sign-ins, expiring points.
Converts and delegates to ``services.loyalty.domain.points_desk``."""

from __future__ import annotations

from grpc import aio

from patron.loyalty.v1 import loyalty_pb2, loyalty_pb2_grpc
from services.loyalty.domain.ledger import LedgerEntry, LedgerResult
from services.loyalty.domain.points_desk import PointsDesk
from services.runtime.proto_convert import to_timestamp
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

POINTS_SERVICE = "patron.loyalty.v1.PointsService"


def entry_to_proto(entry: LedgerEntry) -> loyalty_pb2.LedgerEntry:
    return loyalty_pb2.LedgerEntry(
        entry_id=str(entry.entry_id),
        customer_id=str(entry.customer_id),
        type=entry.type,
        delta=entry.delta,
        balance_after=entry.balance_after,
        reason=entry.reason,
        source=entry.source,
        program_version=entry.program_version,
        occurred_at=to_timestamp(entry.occurred_at),
        created_at=to_timestamp(entry.created_at),
    )


def _moved(result: LedgerResult) -> loyalty_pb2.MovePointsResponse:
    return loyalty_pb2.MovePointsResponse(
        entry_id=str(result.entry_id), balance=result.balance, replayed=result.replayed
    )


class PointsServicer(loyalty_pb2_grpc.PointsServiceServicer):
    def __init__(self, desk: PointsDesk) -> None:
        self._desk = desk

    async def GetBalance(
        self, request: loyalty_pb2.GetBalanceRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Balance:
        customer, balance = await self._desk.balance(
            current_tenant(), request.customer_id, request.expiring_days
        )
        return loyalty_pb2.Balance(
            customer_id=str(customer), balance=balance.balance, expiring=balance.expiring, debt=balance.debt
        )

    async def ListLedger(
        self, request: loyalty_pb2.ListLedgerRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.ListLedgerResponse:
        page = await self._desk.ledger(current_tenant(), request.customer_id, request.limit, request.cursor)
        return loyalty_pb2.ListLedgerResponse(
            entries=[entry_to_proto(e) for e in page.items], next_cursor=page.next_cursor or ""
        )

    async def Redeem(
        self, request: loyalty_pb2.MovePointsRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.MovePointsResponse:
        return _moved(
            await self._desk.redeem(
                current_tenant(), request.customer_id, request.points, request.reason, request.idempotency_key
            )
        )

    async def Adjust(
        self, request: loyalty_pb2.MovePointsRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.MovePointsResponse:
        return _moved(
            await self._desk.adjust(
                current_tenant(), request.customer_id, request.points, request.reason, request.idempotency_key
            )
        )

    async def SignIn(
        self, request: loyalty_pb2.SignInRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.SignInResponse:
        result = await self._desk.sign_in(current_tenant(), request.customer_id)
        return loyalty_pb2.SignInResponse(
            points_awarded=result.points_awarded,
            streak=result.streak,
            local_date=result.local_date.isoformat(),
            already_signed_in=result.already_signed_in,
            awarded_today=result.awarded_today,
        )

    async def ListExpiring(
        self, request: loyalty_pb2.ListExpiringRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.ListExpiringResponse:
        page = await self._desk.expiring(current_tenant(), request.days, request.limit, request.cursor)
        return loyalty_pb2.ListExpiringResponse(
            customers=[
                loyalty_pb2.ExpiringPoints(
                    customer_id=str(e.customer_id),
                    points=e.points,
                    first_expires_at=to_timestamp(e.first_expires_at),
                )
                for e in page.items
            ],
            next_cursor=page.next_cursor or "",
        )


def points_registration(desk: PointsDesk) -> Registration:
    """The registration the loyalty service adds to serve PointsService."""
    return Registration(
        loyalty_pb2_grpc.add_PointsServiceServicer_to_server, PointsServicer(desk), POINTS_SERVICE
    )

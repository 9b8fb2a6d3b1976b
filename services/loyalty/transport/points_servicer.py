"""PointsService: balances, the ledger, redemptions, adjustments, sign-ins, expiring points.

Every customer id is resolved through the customer directory first (a merged-away id acts on the
survivor; unknown, erased or another tenant's is NOT_FOUND). Client idempotency keys are stored
as ``api:<key>``, so they can never collide with the keys the service books under itself.

Redemptions and adjustments try the one-statement path first (``store.fast_moves``: the customer
resolved, the cached programme's version checked and the points moved in one round trip) and
fall back to a transaction for what it leaves undecided (a customer not yet in loyalty's
projection, a merged-away id, an account in debt, a programme changed meanwhile).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.loyalty.v1 import loyalty_pb2, loyalty_pb2_grpc
from services.loyalty.domain.customers import parse_customer_id
from services.loyalty.domain.expiry import expires_at
from services.loyalty.domain.ledger import EntryType, LedgerEntry, LedgerResult, validate_movement
from services.loyalty.store.accounts import balance_of, ledger_page
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.expiry import expiring_page
from services.loyalty.store.fast_moves import balance_at_once, move_at_once
from services.loyalty.store.hot_pool import HotConnections
from services.loyalty.store.ledger import IdempotencyRace, Movement, credit, debit, spend_points
from services.loyalty.store.programs import ProgramCache, tenant_program
from services.loyalty.store.sign_ins import sign_in
from services.runtime.database import Database
from services.runtime.errors import InvalidArgument
from services.runtime.events.outbox import Outbox
from services.runtime.paging import page_size
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

POINTS_SERVICE = "patron.loyalty.v1.PointsService"
DEFAULT_EXPIRING_DAYS = 30
MAX_EXPIRING_DAYS = 366

Result = TypeVar("Result")


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _days(value: int, field: str) -> int:
    if value == 0:
        return DEFAULT_EXPIRING_DAYS
    if not 1 <= value <= MAX_EXPIRING_DAYS:
        raise InvalidArgument.single(field, f"must be between 1 and {MAX_EXPIRING_DAYS}")
    return value


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
        occurred_at=_timestamp(entry.occurred_at),
        created_at=_timestamp(entry.created_at),
    )


def _moved(result: LedgerResult) -> loyalty_pb2.MovePointsResponse:
    return loyalty_pb2.MovePointsResponse(
        entry_id=str(result.entry_id), balance=result.balance, replayed=result.replayed
    )


class PointsServicer(loyalty_pb2_grpc.PointsServiceServicer):
    def __init__(
        self,
        database: Database,
        hot: HotConnections,
        outbox: Outbox,
        directory: CustomerDirectory,
        programs: ProgramCache,
    ) -> None:
        self._database = database
        self._hot = hot
        self._outbox = outbox
        self._directory = directory
        self._programs = programs

    async def _at_once(
        self, customer_id: str, points: int, entry_type: EntryType, reason: str, source: str, key: str
    ) -> LedgerResult | None:
        return await move_at_once(
            self._database,
            self._hot,
            self._outbox,
            self._programs,
            tenant_id=current_tenant(),
            customer_id=parse_customer_id(customer_id),
            points=points,
            entry_type=entry_type,
            reason=reason,
            source=source,
            idempotency_key=key,
        )

    async def _in_transaction(self, work: Callable[[AsyncConnection], Awaitable[Result]]) -> Result:
        """Run ``work`` in a transaction, once more when a concurrent request booked the same
        idempotency key (the retry then answers that request's result)."""
        try:
            async with self._database.transaction() as connection:
                return await work(connection)
        except IdempotencyRace:
            async with self._database.transaction() as connection:
                return await work(connection)

    async def _customer(self, connection: AsyncConnection, customer_id: str) -> uuid.UUID:
        return await self._directory.resolve(connection, current_tenant(), parse_customer_id(customer_id))

    async def GetBalance(
        self, request: loyalty_pb2.GetBalanceRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.Balance:
        days = _days(request.expiring_days, "expiring_days")
        now = datetime.now(UTC)
        known = await balance_at_once(
            self._hot, current_tenant(), parse_customer_id(request.customer_id), now, days
        )
        if known is not None:
            customer, balance = known
        else:
            async with self._database.transaction() as connection:
                customer = await self._customer(connection, request.customer_id)
                balance = await balance_of(connection, current_tenant(), customer, now, days)
        return loyalty_pb2.Balance(
            customer_id=str(customer), balance=balance.balance, expiring=balance.expiring, debt=balance.debt
        )

    async def ListLedger(
        self, request: loyalty_pb2.ListLedgerRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.ListLedgerResponse:
        limit = page_size(request.limit)
        async with self._database.transaction() as connection:
            customer = await self._customer(connection, request.customer_id)
            page = await ledger_page(connection, current_tenant(), customer, limit, request.cursor)
        return loyalty_pb2.ListLedgerResponse(
            entries=[entry_to_proto(e) for e in page.items], next_cursor=page.next_cursor or ""
        )

    async def Redeem(
        self, request: loyalty_pb2.MovePointsRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.MovePointsResponse:
        validate_movement(request.points, request.reason)
        key = f"api:{request.idempotency_key or uuid.uuid4()}"
        done = await self._at_once(
            request.customer_id, -request.points, "redeem", request.reason, "api:redemption", key
        )
        if done is not None:
            return _moved(done)

        async def redeem(connection: AsyncConnection) -> LedgerResult:
            customer = await self._customer(connection, request.customer_id)
            return await spend_points(
                connection,
                self._outbox,
                tenant_id=current_tenant(),
                customer_id=customer,
                points=request.points,
                reason=request.reason,
                source="api:redemption",
                idempotency_key=key,
            )

        return _moved(await self._in_transaction(redeem))

    async def Adjust(
        self, request: loyalty_pb2.MovePointsRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.MovePointsResponse:
        validate_movement(request.points, request.reason, signed=True)
        key = f"api:{request.idempotency_key or uuid.uuid4()}"
        done = await self._at_once(
            request.customer_id, request.points, "adjust", request.reason, "api:adjustment", key
        )
        if done is not None:
            return _moved(done)

        async def adjust(connection: AsyncConnection) -> LedgerResult:
            customer = await self._customer(connection, request.customer_id)
            tenant = await tenant_program(connection, current_tenant())
            now = datetime.now(UTC)
            movement = Movement(
                tenant_id=tenant.tenant.tenant_id,
                customer_id=customer,
                entry_type="adjust",
                reason=request.reason,
                source="api:adjustment",
                idempotency_key=key,
                program_version=tenant.program.version,
                occurred_at=now,
            )
            if request.points > 0:
                expiry = expires_at(tenant.program.expiry, now, tenant.tenant.timezone)
                return await credit(connection, self._outbox, movement, request.points, expiry)
            return await debit(connection, self._outbox, movement, -request.points)

        return _moved(await self._in_transaction(adjust))

    async def SignIn(
        self, request: loyalty_pb2.SignInRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.SignInResponse:
        async with self._database.transaction() as connection:
            customer = await self._customer(connection, request.customer_id)
            tenant = await tenant_program(connection, current_tenant())
            result = await sign_in(connection, self._outbox, tenant, customer, datetime.now(UTC))
        return loyalty_pb2.SignInResponse(
            points_awarded=result.points_awarded,
            streak=result.streak,
            local_date=result.local_date.isoformat(),
            already_signed_in=result.already_signed_in,
        )

    async def ListExpiring(
        self, request: loyalty_pb2.ListExpiringRequest, context: aio.ServicerContext
    ) -> loyalty_pb2.ListExpiringResponse:
        days = _days(request.days, "days")
        limit = page_size(request.limit)
        until = datetime.now(UTC) + timedelta(days=days)
        async with self._database.read() as connection:
            page = await expiring_page(connection, current_tenant(), until, limit, request.cursor)
        return loyalty_pb2.ListExpiringResponse(
            customers=[
                loyalty_pb2.ExpiringPoints(
                    customer_id=str(customer), points=points, first_expires_at=_timestamp(first)
                )
                for customer, points, first in page.items
            ],
            next_cursor=page.next_cursor or "",
        )


def points_registration(
    database: Database,
    hot: HotConnections,
    outbox: Outbox,
    directory: CustomerDirectory,
    programs: ProgramCache,
) -> Registration:
    return Registration(
        loyalty_pb2_grpc.add_PointsServiceServicer_to_server,
        PointsServicer(database, hot, outbox, directory, programs),
        POINTS_SERVICE,
    )

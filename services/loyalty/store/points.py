"""Implements ``services.loyalty.domain.points_desk.PointsStore`` on the loyalty database.

The one-statement paths are ``fast_moves`` (raw asyncpg on the hot pool); every other method is
one transaction of its own, the customer resolved through the directory in it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.loyalty.domain.earning import SignInResult
from services.loyalty.domain.expiry import expires_at
from services.loyalty.domain.ledger import Balance, LedgerEntry, LedgerResult
from services.loyalty.domain.points_desk import ExpiringPoints, PointsMove
from services.loyalty.store.accounts import balance_of, ledger_page
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.expiry import expiring_page
from services.loyalty.store.fast_moves import balance_at_once, move_at_once
from services.loyalty.store.ledger import Movement, credit, debit, spend_points
from services.loyalty.store.programs import ProgramCache, tenant_program
from services.loyalty.store.sign_ins import sign_in
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.hot_pool import HotConnections
from services.runtime.paging import Page


class SqlPointsStore:
    """Points accounts, the ledger and sign-ins, with their events in the loyalty outbox."""

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

    async def move_at_once(self, tenant_id: uuid.UUID, move: PointsMove) -> LedgerResult | None:
        return await move_at_once(
            self._database,
            self._hot,
            self._outbox,
            self._programs,
            tenant_id=tenant_id,
            customer_id=move.customer_id,
            points=move.points,
            entry_type=move.entry_type,
            reason=move.reason,
            source=move.source,
            idempotency_key=move.idempotency_key,
        )

    async def balance_at_once(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, days: int
    ) -> tuple[uuid.UUID, Balance] | None:
        return await balance_at_once(self._hot, tenant_id, customer_id, now, days)

    async def balance(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, days: int
    ) -> tuple[uuid.UUID, Balance]:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, customer_id)
            return customer, await balance_of(connection, tenant_id, customer, now, days)

    async def ledger_page(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, cursor: str
    ) -> Page[LedgerEntry]:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, customer_id)
            return await ledger_page(connection, tenant_id, customer, limit, cursor)

    async def redeem(self, tenant_id: uuid.UUID, move: PointsMove) -> LedgerResult:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, move.customer_id)
            return await spend_points(
                connection,
                self._outbox,
                tenant_id=tenant_id,
                customer_id=customer,
                points=-move.points,
                reason=move.reason,
                source=move.source,
                idempotency_key=move.idempotency_key,
            )

    async def adjust(self, tenant_id: uuid.UUID, move: PointsMove, now: datetime) -> LedgerResult:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, move.customer_id)
            context = await tenant_program(connection, tenant_id)
            movement = Movement(
                tenant_id=context.tenant.tenant_id,
                customer_id=customer,
                entry_type=move.entry_type,
                reason=move.reason,
                source=move.source,
                idempotency_key=move.idempotency_key,
                program_version=context.program.version,
                occurred_at=now,
            )
            if move.points > 0:
                expiry = expires_at(context.program.expiry, now, context.tenant.timezone)
                return await credit(connection, self._outbox, movement, move.points, expiry)
            return await debit(connection, self._outbox, movement, -move.points)

    async def sign_in(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime) -> SignInResult:
        async with self._database.transaction() as connection:
            customer = await self._directory.resolve(connection, tenant_id, customer_id)
            context = await tenant_program(connection, tenant_id)
            return await sign_in(connection, self._outbox, context, customer, now)

    async def expiring_page(
        self, tenant_id: uuid.UUID, until: datetime, limit: int, cursor: str
    ) -> Page[ExpiringPoints]:
        async with self._database.read() as connection:
            page = await expiring_page(connection, tenant_id, until, limit, cursor)
        return Page([ExpiringPoints(*item) for item in page.items], page.next_cursor)

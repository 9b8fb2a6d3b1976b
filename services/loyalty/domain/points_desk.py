"""The points use cases: balances, the ledger, redemptions, adjustments, sign-ins, expiring points.

Client idempotency keys are stored as ``api:<key>``, so they can never collide with the keys the
service books under itself. Redemptions, adjustments and balances try the store's one-statement
path first and fall back to a transaction for what it leaves undecided (a customer not yet in
loyalty's projection, a merged-away id, an account in debt, a programme changed meanwhile).

The store is a protocol so that these rules never see SQL; ``services.loyalty.store.points``
implements it. A customer id names the customer it resolves to: a merged-away id acts on the
survivor; an id that is no UUID, unknown, erased or another tenant's is NOT_FOUND.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from services.loyalty.domain.customers import parse_customer_id
from services.loyalty.domain.earning import SignInResult
from services.loyalty.domain.errors import IdempotencyRace
from services.loyalty.domain.ledger import Balance, EntryType, LedgerEntry, LedgerResult, validate_movement
from services.runtime.errors import InvalidArgument
from services.runtime.paging import Page, page_size

DEFAULT_EXPIRING_DAYS = 30
MAX_EXPIRING_DAYS = 366

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class PointsMove:
    """One movement a client asks for: ``points`` > 0 credits, < 0 debits."""

    customer_id: uuid.UUID
    points: int
    entry_type: EntryType
    reason: str
    source: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ExpiringPoints:
    """A customer's points that expire soon, and when the first of them does."""

    customer_id: uuid.UUID
    points: int
    first_expires_at: datetime


class PointsStore(Protocol):
    async def move_at_once(self, tenant_id: uuid.UUID, move: PointsMove) -> LedgerResult | None:
        """The move in one statement; None when a transaction must decide."""
        ...

    async def balance_at_once(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, days: int
    ) -> tuple[uuid.UUID, Balance] | None:
        """The survivor's balance in one statement; None when a transaction must decide."""
        ...

    async def balance(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, days: int
    ) -> tuple[uuid.UUID, Balance]: ...

    async def ledger_page(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, cursor: str
    ) -> Page[LedgerEntry]: ...

    async def redeem(self, tenant_id: uuid.UUID, move: PointsMove) -> LedgerResult: ...

    async def adjust(self, tenant_id: uuid.UUID, move: PointsMove, now: datetime) -> LedgerResult: ...

    async def sign_in(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime) -> SignInResult: ...

    async def expiring_page(
        self, tenant_id: uuid.UUID, until: datetime, limit: int, cursor: str
    ) -> Page[ExpiringPoints]: ...


def expiring_days(value: int, field: str) -> int:
    """How many days ahead "expiring" looks: 0 (not given) is the default, else 1 to the maximum."""
    if value == 0:
        return DEFAULT_EXPIRING_DAYS
    if not 1 <= value <= MAX_EXPIRING_DAYS:
        raise InvalidArgument.single(field, f"must be between 1 and {MAX_EXPIRING_DAYS}")
    return value


async def _once_more_on_race(work: Callable[[], Awaitable[Result]]) -> Result:
    """Run ``work``, once more when a concurrent request booked the same idempotency key (the
    retry then answers that request's result)."""
    try:
        return await work()
    except IdempotencyRace:
        return await work()


class PointsDesk:
    """A tenant's customers' points."""

    def __init__(self, store: PointsStore) -> None:
        self._store = store

    async def balance(
        self, tenant_id: uuid.UUID, customer_id: str, days_ahead: int
    ) -> tuple[uuid.UUID, Balance]:
        """The live customer and their balance, with the part expiring within ``days_ahead``."""
        days = expiring_days(days_ahead, "expiring_days")
        now = datetime.now(UTC)
        customer = parse_customer_id(customer_id)
        known = await self._store.balance_at_once(tenant_id, customer, now, days)
        if known is not None:
            return known
        return await self._store.balance(tenant_id, customer, now, days)

    async def ledger(
        self, tenant_id: uuid.UUID, customer_id: str, limit: int, cursor: str
    ) -> Page[LedgerEntry]:
        """The customer's ledger entries, newest first."""
        size = page_size(limit)
        return await self._store.ledger_page(tenant_id, parse_customer_id(customer_id), size, cursor)

    async def redeem(
        self, tenant_id: uuid.UUID, customer_id: str, points: int, reason: str, idempotency_key: str
    ) -> LedgerResult:
        """Spend the customer's points (oldest lots first); InsufficientPoints when short."""
        validate_movement(points, reason)
        move = self._move(customer_id, -points, "redeem", reason, "api:redemption", idempotency_key)
        done = await self._store.move_at_once(tenant_id, move)
        if done is not None:
            return done
        return await _once_more_on_race(lambda: self._store.redeem(tenant_id, move))

    async def adjust(
        self, tenant_id: uuid.UUID, customer_id: str, points: int, reason: str, idempotency_key: str
    ) -> LedgerResult:
        """Correct the balance by a signed number of points (a credit expires per the programme)."""
        validate_movement(points, reason, signed=True)
        move = self._move(customer_id, points, "adjust", reason, "api:adjustment", idempotency_key)
        done = await self._store.move_at_once(tenant_id, move)
        if done is not None:
            return done
        return await _once_more_on_race(lambda: self._store.adjust(tenant_id, move, datetime.now(UTC)))

    async def sign_in(self, tenant_id: uuid.UUID, customer_id: str) -> SignInResult:
        """The customer's daily sign-in (once per tenant-local day)."""
        return await self._store.sign_in(tenant_id, parse_customer_id(customer_id), datetime.now(UTC))

    async def expiring(
        self, tenant_id: uuid.UUID, days_ahead: int, limit: int, cursor: str
    ) -> Page[ExpiringPoints]:
        """Customers with points expiring within ``days_ahead``, by customer id."""
        days = expiring_days(days_ahead, "days")
        size = page_size(limit)
        return await self._store.expiring_page(
            tenant_id, datetime.now(UTC) + timedelta(days=days), size, cursor
        )

    @staticmethod
    def _move(
        customer_id: str, points: int, entry_type: EntryType, reason: str, source: str, key: str
    ) -> PointsMove:
        return PointsMove(
            customer_id=parse_customer_id(customer_id),
            points=points,
            entry_type=entry_type,
            reason=reason,
            source=source,
            idempotency_key=f"api:{key or uuid.uuid4()}",
        )

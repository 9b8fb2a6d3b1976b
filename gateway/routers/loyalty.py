"""Points (loyalty service): balances, the ledger, redemptions, sign-ins, reports.

- **Programme**: see gateway.routers.loyalty_program.
- **Redemption** (`POST .../points/redemptions`, 201 `{"entry_id", "balance"}`) never overdraws:
  a balance that does not cover it answers 409 `INSUFFICIENT_POINTS` with `balance` in the
  problem. The `Idempotency-Key` header (gateway semantics) is also the ledger's key for the entry;
  without the header a fresh key is used. Points: 1 to 10^9; reason: 1-200 characters.
- **Adjustment** (`POST .../points/adjustments`, `{"points": ±n, "reason"}`): an operator's credit
  (a new lot, expiring per the programme) or debit (409 when not covered).
- **Balance** (`GET .../points`): `balance`, `expiring_30d` (of it, points expiring within 30
  days) and `debt` (points owed after refunds of points already spent; repaid by the next credits).
- **Ledger** (`GET .../points/ledger`): entries newest first, `?limit=` 1-500 (default 100), cursor.
- **Sign-in** (`POST .../sign-ins`): once per tenant-local day: the first call answers 201 with
  `points_awarded`; a later call that day answers 200 with `points_awarded: 0`,
  `already_signed_in: true`, and the day's `streak` and `awarded_today` (docs/loyalty.md).
- **Expiring** (`GET /v1/loyalty/points/expiring?days=30`): customers with points expiring within
  `days` (1-366), by customer id, paged.
- **Reports**: `GET /v1/loyalty/reports/liability` (outstanding points and their value in minor
  units), `GET /v1/loyalty/reports/daily?from=&to=` (tenant-local days, at most 366).
- A customer id that is unknown, erased or another tenant's answers 404; a merged-away id acts on
  the survivor.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gateway.audit import Audit
from gateway.auth import scoped
from gateway.bound_stubs import BoundCall
from gateway.dependencies import ERRORS, Loyalty
from gateway.limits import NOT_BLANK
from gateway.schemas import Cursor, IdempotencyKey, Int64, IsoDate, Limit, Page, StrictBody
from patron.loyalty.v1 import loyalty_pb2
from services.loyalty.domain.ledger import MAX_POINTS_PER_ENTRY, MAX_REASON
from services.loyalty.domain.points_desk import MAX_EXPIRING_DAYS
from services.loyalty.domain.reports import MAX_REPORT_DAYS
from services.runtime.proto_convert import from_timestamp

router = APIRouter(prefix="/v1", tags=["points"])


# ---- points bodies ------------------------------------------------------------------------------


class RedemptionIn(StrictBody):
    points: Int64 = Field(json_schema_extra={"minimum": 1, "maximum": MAX_POINTS_PER_ENTRY})
    reason: str = Field(max_length=MAX_REASON, json_schema_extra={"minLength": 1, "pattern": NOT_BLANK})


class AdjustmentIn(RedemptionIn):
    points: Int64 = Field(
        description="a credit (positive) or a debit (negative), never 0",
        json_schema_extra={
            "minimum": -MAX_POINTS_PER_ENTRY,
            "maximum": MAX_POINTS_PER_ENTRY,
            "not": {"const": 0},
        },
    )


class Movement(BaseModel):
    entry_id: str
    balance: int
    replayed: bool = Field(description="true: this key had already booked the entry; nothing moved now")

    @classmethod
    def from_proto(cls, message: loyalty_pb2.MovePointsResponse) -> Movement:
        return cls(entry_id=message.entry_id, balance=message.balance, replayed=message.replayed)


class PointsOut(BaseModel):
    customer_id: str = Field(description="the survivor when the id was merged away")
    balance: int
    expiring_30d: int = Field(description="of the balance, points expiring within 30 days")
    debt: int = Field(description="points owed after refunds of spent points; repaid by the next credits")

    @classmethod
    def from_proto(cls, message: loyalty_pb2.Balance) -> PointsOut:
        return cls(
            customer_id=message.customer_id,
            balance=message.balance,
            expiring_30d=message.expiring,
            debt=message.debt,
        )


class LedgerEntryOut(BaseModel):
    entry_id: str
    type: Literal["earn", "redeem", "expire", "reverse", "adjust"]
    delta: int
    balance_after: int
    reason: str
    source: str
    program_version: int
    occurred_at: datetime
    created_at: datetime

    @classmethod
    def from_proto(cls, message: loyalty_pb2.LedgerEntry) -> LedgerEntryOut:
        return cls(
            entry_id=message.entry_id,
            type=message.type,
            delta=message.delta,
            balance_after=message.balance_after,
            reason=message.reason,
            source=message.source,
            program_version=message.program_version,
            occurred_at=from_timestamp(message.occurred_at),
            created_at=from_timestamp(message.created_at),
        )


class SignInOut(BaseModel):
    points_awarded: int = Field(description="awarded by this call: 0 when already signed in today")
    streak: int
    local_date: date
    already_signed_in: bool = Field(description="true: signed in earlier today; nothing awarded now")
    awarded_today: int = Field(description="what the day's first sign-in awarded")

    @classmethod
    def from_proto(cls, message: loyalty_pb2.SignInResponse) -> SignInOut:
        return cls(
            points_awarded=message.points_awarded,
            streak=message.streak,
            local_date=date.fromisoformat(message.local_date),
            already_signed_in=message.already_signed_in,
            awarded_today=message.awarded_today,
        )


class ExpiringOut(BaseModel):
    customer_id: str
    points: int
    first_expires_at: datetime

    @classmethod
    def from_proto(cls, message: loyalty_pb2.ExpiringPoints) -> ExpiringOut:
        return cls(
            customer_id=message.customer_id,
            points=message.points,
            first_expires_at=from_timestamp(message.first_expires_at),
        )


class LiabilityOut(BaseModel):
    outstanding_points: int
    value_minor: int = Field(description="outstanding_points x point_value_minor")
    currency: str
    point_value_minor: int
    customers_with_points: int
    debt_points: int
    as_of: datetime

    @classmethod
    def from_proto(cls, message: loyalty_pb2.Liability) -> LiabilityOut:
        return cls(
            outstanding_points=message.outstanding_points,
            value_minor=message.value_minor,
            currency=message.currency,
            point_value_minor=message.point_value_minor,
            customers_with_points=message.customers_with_points,
            debt_points=message.debt_points,
            as_of=from_timestamp(message.as_of),
        )


class DayOut(BaseModel):
    date: date
    earned: int
    redeemed: int
    expired: int
    reversed: int
    adjusted_down: int

    @classmethod
    def from_proto(cls, message: loyalty_pb2.DailyPoints) -> DayOut:
        return cls(
            date=date.fromisoformat(message.local_date),
            earned=message.earned,
            redeemed=message.redeemed,
            expired=message.expired,
            reversed=message.reversed,
            adjusted_down=message.adjusted_down,
        )


class DailyOut(BaseModel):
    items: list[DayOut]


# ---- routes -------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/points", response_model=PointsOut, responses=ERRORS, **scoped("read"))
async def get_points(customer_id: str, loyalty: Loyalty) -> PointsOut:
    """The balance and how much of it expires within 30 days."""
    request = loyalty_pb2.GetBalanceRequest(customer_id=customer_id, expiring_days=30)
    return PointsOut.from_proto(await loyalty.points.GetBalance(request))


@router.get(
    "/customers/{customer_id}/points/ledger",
    response_model=Page[LedgerEntryOut],
    responses=ERRORS,
    **scoped("read"),
)
async def get_ledger(
    customer_id: str, loyalty: Loyalty, limit: Limit = 100, cursor: Cursor = None
) -> Page[LedgerEntryOut]:
    """The customer's ledger entries, newest first (a merged customer's history included)."""
    request = loyalty_pb2.ListLedgerRequest(customer_id=customer_id, limit=limit, cursor=cursor or "")
    page = await loyalty.points.ListLedger(request)
    return Page[LedgerEntryOut].of([LedgerEntryOut.from_proto(e) for e in page.entries], page.next_cursor)


async def _move_points(
    move: BoundCall, customer_id: str, body: RedemptionIn, idempotency_key: str | None, response: Response
) -> Movement:
    """Book a redemption or an adjustment under the caller's key (a fresh one without the header).
    When the ledger had booked the key already (the gateway's record of it expired), the answer
    says so in the body and in ``Idempotent-Replayed``, as the gateway's own replays do."""
    request = loyalty_pb2.MovePointsRequest(
        customer_id=customer_id,
        points=body.points,
        reason=body.reason,
        idempotency_key=idempotency_key or str(uuid.uuid4()),
    )
    movement = Movement.from_proto(await move(request))
    if movement.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return movement


@router.post(
    "/customers/{customer_id}/points/redemptions",
    status_code=201,
    response_model=Movement,
    responses=ERRORS,
    **scoped("points"),
)
async def redeem_points(
    customer_id: str,
    body: RedemptionIn,
    loyalty: Loyalty,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Movement:
    """Spend points, oldest-expiring first; 409 ``INSUFFICIENT_POINTS`` (with ``balance``) when the
    balance does not cover them. Never overdraws, whatever the concurrency."""
    return await _move_points(loyalty.points.Redeem, customer_id, body, idempotency_key, response)


@router.post(
    "/customers/{customer_id}/points/adjustments",
    status_code=201,
    response_model=Movement,
    responses=ERRORS,
    **scoped("points"),
)
async def adjust_points(
    customer_id: str,
    body: AdjustmentIn,
    loyalty: Loyalty,
    response: Response,
    audit: Audit,
    idempotency_key: IdempotencyKey = None,
) -> Movement:
    """An operator's correction: a credit (a new lot) or a debit (409 when not covered). Audited with
    the points, never the reason (free text the ledger blanks when the customer is erased)."""
    async with audit.action("points.adjust", target=customer_id, points=body.points) as entry:
        movement = await _move_points(loyalty.points.Adjust, customer_id, body, idempotency_key, response)
        entry.note(entry_id=movement.entry_id, replayed=movement.replayed)
    return movement


@router.post(
    "/customers/{customer_id}/sign-ins",
    status_code=201,
    response_model=SignInOut,
    responses={
        200: {"model": SignInOut, "description": "already signed in today: nothing awarded now"},
        **ERRORS,
    },
    **scoped("points"),
)
async def sign_in(customer_id: str, loyalty: Loyalty, response: Response) -> SignInOut:
    """Today's sign-in (tenant-local day): the first call awards the base plus any streak bonus
    (201); later calls that day award nothing (200, ``points_awarded`` 0, ``already_signed_in``,
    the day's award in ``awarded_today``)."""
    request = loyalty_pb2.SignInRequest(customer_id=customer_id)
    answer = SignInOut.from_proto(await loyalty.points.SignIn(request))
    if answer.already_signed_in:
        response.status_code = 200
    return answer


@router.get(
    "/loyalty/points/expiring", response_model=Page[ExpiringOut], responses=ERRORS, **scoped("operate")
)
async def list_expiring(
    loyalty: Loyalty,
    days: Annotated[int, Query(ge=1, le=MAX_EXPIRING_DAYS)] = 30,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[ExpiringOut]:
    """Customers with points expiring within ``days``, by customer id (what notify reminds)."""
    request = loyalty_pb2.ListExpiringRequest(days=days, limit=limit, cursor=cursor or "")
    page = await loyalty.points.ListExpiring(request)
    return Page[ExpiringOut].of([ExpiringOut.from_proto(c) for c in page.customers], page.next_cursor)


@router.get("/loyalty/reports/liability", response_model=LiabilityOut, responses=ERRORS, **scoped("operate"))
async def get_liability(loyalty: Loyalty) -> LiabilityOut:
    """Outstanding points over all customers and their value at the current point value."""
    return LiabilityOut.from_proto(await loyalty.reports.GetLiability(loyalty_pb2.LiabilityRequest()))


@router.get("/loyalty/reports/daily", response_model=DailyOut, responses=ERRORS, **scoped("operate"))
async def get_daily(
    loyalty: Loyalty,
    from_date: Annotated[IsoDate, Query(alias="from", description="first tenant-local day, YYYY-MM-DD")],
    to_date: Annotated[
        IsoDate,
        Query(
            alias="to", description=f"last tenant-local day, not before from, at most {MAX_REPORT_DAYS} days"
        ),
    ],
) -> DailyOut:
    """Points earned (earn and positive adjustments), redeemed, expired, reversed and adjusted down,
    per tenant-local day of booking, zeros included."""
    request = loyalty_pb2.DailyReportRequest(from_date=from_date.isoformat(), to_date=to_date.isoformat())
    answer = await loyalty.reports.GetDailyReport(request)
    return DailyOut(items=[DayOut.from_proto(d) for d in answer.days])

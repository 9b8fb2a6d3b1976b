"""Points (loyalty service): the programme, balances, the ledger, redemptions, sign-ins, reports.

- **Programme** (`GET|PUT /v1/loyalty/program`): earn rules, expiry policy, tier ladder, downgrade
  policy and the value of a point. Every PUT stores a new `version`; entries record the version
  they were booked under, and history is never recomputed. A tenant that never PUT one runs the
  default (version 0): 1 point per whole currency unit (rounded down), regular / silver / gold /
  platinum on rolling 12-month spend, points expiring at the end of the following year. Every
  rule violation answers 422 naming its field (`ladder.tiers[1].threshold`).
- **Redemption** (`POST .../points/redemptions`, 201 `{"entry_id", "balance"}`) never overdraws:
  a balance that does not cover it answers 409 `INSUFFICIENT_POINTS` with `balance` in the
  problem. The `Idempotency-Key` header (gateway semantics) is also the ledger's key for the entry;
  without the header a fresh key is used. Points: 1 to 10^9; reason: 1-200 characters.
- **Adjustment** (`POST .../points/adjustments`, `{"points": ±n, "reason"}`): an operator's credit
  (a new lot, expiring per the programme) or debit (409 when not covered).
- **Balance** (`GET .../points`): `balance`, `expiring_30d` (of it, points expiring within 30
  days) and `debt` (points owed after refunds of points already spent; repaid by the next credits).
- **Ledger** (`GET .../points/ledger`): entries newest first, `?limit=` 1-500 (default 100), cursor.
- **Sign-in** (`POST .../sign-ins`): once per tenant-local day; a second call that day answers the
  same `points_awarded` and `streak` with `already_signed_in: true` and awards nothing.
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

from fastapi import APIRouter, Header, Query
from google.protobuf import json_format
from pydantic import BaseModel, Field, StrictBool, StrictInt

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.schemas import Cursor, Limit, StrictBody, to_datetime
from patron.loyalty.v1 import loyalty_pb2

router = APIRouter(prefix="/v1", tags=["points"])

# Bounds of the protobuf integer types; the service applies the programme's real limits.
Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


# ---- the programme document ---------------------------------------------------------------------


class StreakBonusDoc(StrictBody):
    day: Int32 = Field(description="the n-th consecutive local day (2-366), increasing")
    bonus: Int64 = Field(description="extra points that day (0-100,000)")


class DailyCapsDoc(StrictBody):
    sign_in: Int64 = Field(description="most sign-in points a customer earns in a local day")
    review: Int64 = Field(description="most review points a customer earns in a local day")
    share: Int64 = Field(description="most share points a customer earns in a local day")


class EarnRulesDoc(StrictBody):
    points_per_unit: Int64 = Field(description="points per whole currency unit paid (0-1,000)")
    rounding: Literal["down", "half_up", "up"] = Field(description="how the amount becomes whole units")
    sign_in_base: Int64
    streak_bonuses: list[StreakBonusDoc] = Field(max_length=30)
    review_points: Int64
    share_points: Int64
    birthday_multiplier_percent: Int32 = Field(description="100 = x1, up to 1,000")
    daily_caps: DailyCapsDoc
    growth_per_unit: Int64 = Field(description="growth value per whole currency unit (growth ladders)")
    growth_per_review: Int64


class ExpiryDoc(StrictBody):
    kind: Literal["months_after_earn", "end_of_following_year", "never"]
    months: Int32 | None = Field(default=None, description="1-120, only for months_after_earn")


class TierBenefitsDoc(StrictBody):
    discount_percent: Int32 = Field(description="0-90 (silver 9折 = 10)")
    free_shipping: StrictBool
    priority_service: StrictBool
    birthday_coupon_template_id: str | None = Field(default=None, max_length=64)


class TierDoc(StrictBody):
    code: str = Field(max_length=32, description="1-32 of a-z 0-9 _ -")
    name: str = Field(max_length=64)
    threshold: Int64 = Field(description="minor units (spend), orders, or growth points; first tier 0")
    points_multiplier_percent: Int32 = Field(description="100 = x1, up to 1,000")
    benefits: TierBenefitsDoc


class LadderDoc(StrictBody):
    metric: Literal["spend", "orders", "growth"]
    window_months: Int32 = Field(description="rolling window, 1-36 months")
    tiers: list[TierDoc] = Field(max_length=10)


class DowngradeDoc(StrictBody):
    review_period_months: Int32 = Field(description="1-24")
    grace_days: Int32 = Field(description="0-365")


class ProgramIn(StrictBody):
    earn: EarnRulesDoc
    expiry: ExpiryDoc
    ladder: LadderDoc
    downgrade: DowngradeDoc
    point_value_minor: Int64 = Field(description="a point's value in the tenant currency's minor units")

    def to_proto(self) -> loyalty_pb2.Program:
        """The programme message: the body's fields are the message's fields (protobuf's JSON mapping)."""
        return json_format.ParseDict(self.model_dump(exclude_none=True), loyalty_pb2.Program())


class ProgramOut(ProgramIn):
    version: int = Field(description="0: the default programme; each PUT stores the next version")

    @classmethod
    def of(cls, message: loyalty_pb2.Program) -> ProgramOut:
        earn, ladder = message.earn, message.ladder
        return cls.model_validate(
            {
                "version": message.version,
                "earn": {
                    "points_per_unit": earn.points_per_unit,
                    "rounding": earn.rounding,
                    "sign_in_base": earn.sign_in_base,
                    "streak_bonuses": [{"day": b.day, "bonus": b.bonus} for b in earn.streak_bonuses],
                    "review_points": earn.review_points,
                    "share_points": earn.share_points,
                    "birthday_multiplier_percent": earn.birthday_multiplier_percent,
                    "daily_caps": {
                        "sign_in": earn.daily_caps.sign_in,
                        "review": earn.daily_caps.review,
                        "share": earn.daily_caps.share,
                    },
                    "growth_per_unit": earn.growth_per_unit,
                    "growth_per_review": earn.growth_per_review,
                },
                "expiry": {
                    "kind": message.expiry.kind,
                    "months": message.expiry.months if message.expiry.HasField("months") else None,
                },
                "ladder": {
                    "metric": ladder.metric,
                    "window_months": ladder.window_months,
                    "tiers": [
                        {
                            "code": t.code,
                            "name": t.name,
                            "threshold": t.threshold,
                            "points_multiplier_percent": t.points_multiplier_percent,
                            "benefits": {
                                "discount_percent": t.benefits.discount_percent,
                                "free_shipping": t.benefits.free_shipping,
                                "priority_service": t.benefits.priority_service,
                                "birthday_coupon_template_id": t.benefits.birthday_coupon_template_id
                                if t.benefits.HasField("birthday_coupon_template_id")
                                else None,
                            },
                        }
                        for t in ladder.tiers
                    ],
                },
                "downgrade": {
                    "review_period_months": message.downgrade.review_period_months,
                    "grace_days": message.downgrade.grace_days,
                },
                "point_value_minor": message.point_value_minor,
            }
        )


# ---- points bodies ------------------------------------------------------------------------------


class RedemptionIn(StrictBody):
    points: Int64 = Field(description="1 to 10^9")
    reason: str = Field(max_length=200, description="1-200 characters")


class AdjustmentIn(StrictBody):
    points: Int64 = Field(description="non-zero, -10^9 to 10^9: a credit or a debit")
    reason: str = Field(max_length=200, description="1-200 characters")


class Movement(BaseModel):
    entry_id: str
    balance: int
    replayed: bool = Field(description="true: this key had already booked the entry; nothing moved now")


class PointsOut(BaseModel):
    customer_id: str = Field(description="the survivor when the id was merged away")
    balance: int
    expiring_30d: int = Field(description="of the balance, points expiring within 30 days")
    debt: int = Field(description="points owed after refunds of spent points; repaid by the next credits")


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


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class SignInOut(BaseModel):
    points_awarded: int
    streak: int
    local_date: date
    already_signed_in: bool


class ExpiringOut(BaseModel):
    customer_id: str
    points: int
    first_expires_at: datetime


class ExpiringPage(BaseModel):
    items: list[ExpiringOut]
    next_cursor: str | None


class LiabilityOut(BaseModel):
    outstanding_points: int
    value_minor: int = Field(description="outstanding_points x point_value_minor")
    currency: str
    point_value_minor: int
    customers_with_points: int
    debt_points: int
    as_of: datetime


class DayOut(BaseModel):
    date: date
    earned: int
    redeemed: int
    expired: int
    reversed: int
    adjusted_down: int


class DailyOut(BaseModel):
    items: list[DayOut]


# ---- routes -------------------------------------------------------------------------------------


@router.get("/loyalty/program", response_model=ProgramOut, responses=ERRORS)
async def get_program(
    tenant: Tenant,
    clients: Clients,
    version: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="a stored version")] = None,
) -> ProgramOut:
    """The programme the tenant runs now, or an earlier ``version`` (0 = the default)."""
    request = loyalty_pb2.GetProgramRequest(version=version or 0, specific_version=version is not None)
    program = await clients.call(
        "loyalty", clients.loyalty_program.GetProgram, request, tenant_id=tenant.tenant_id
    )
    return ProgramOut.of(program)


@router.put("/loyalty/program", response_model=ProgramOut, responses=ERRORS)
async def put_program(body: ProgramIn, tenant: Tenant, clients: Clients) -> ProgramOut:
    """Store a new version of the programme (the whole document); 422 names every field at fault."""
    request = loyalty_pb2.PutProgramRequest(program=body.to_proto())
    program = await clients.call(
        "loyalty", clients.loyalty_program.PutProgram, request, tenant_id=tenant.tenant_id
    )
    return ProgramOut.of(program)


@router.get("/customers/{customer_id}/points", response_model=PointsOut, responses=ERRORS)
async def get_points(customer_id: str, tenant: Tenant, clients: Clients) -> PointsOut:
    """The balance and how much of it expires within 30 days."""
    request = loyalty_pb2.GetBalanceRequest(customer_id=customer_id, expiring_days=30)
    answer = await clients.call("loyalty", clients.points.GetBalance, request, tenant_id=tenant.tenant_id)
    return PointsOut(
        customer_id=answer.customer_id, balance=answer.balance, expiring_30d=answer.expiring, debt=answer.debt
    )


@router.get("/customers/{customer_id}/points/ledger", response_model=LedgerPage, responses=ERRORS)
async def get_ledger(
    customer_id: str, tenant: Tenant, clients: Clients, limit: Limit = 100, cursor: Cursor = None
) -> LedgerPage:
    """The customer's ledger entries, newest first (a merged customer's history included)."""
    request = loyalty_pb2.ListLedgerRequest(customer_id=customer_id, limit=limit, cursor=cursor or "")
    page = await clients.call("loyalty", clients.points.ListLedger, request, tenant_id=tenant.tenant_id)
    return LedgerPage(
        items=[
            LedgerEntryOut(
                entry_id=e.entry_id,
                type=e.type,
                delta=e.delta,
                balance_after=e.balance_after,
                reason=e.reason,
                source=e.source,
                program_version=e.program_version,
                occurred_at=to_datetime(e.occurred_at),
                created_at=to_datetime(e.created_at),
            )
            for e in page.entries
        ],
        next_cursor=page.next_cursor or None,
    )


@router.post(
    "/customers/{customer_id}/points/redemptions", status_code=201, response_model=Movement, responses=ERRORS
)
async def redeem_points(
    customer_id: str,
    body: RedemptionIn,
    tenant: Tenant,
    clients: Clients,
    idempotency_key: IdempotencyKey = None,
) -> Movement:
    """Spend points, oldest-expiring first; 409 ``INSUFFICIENT_POINTS`` (with ``balance``) when the
    balance does not cover them. Never overdraws, whatever the concurrency."""
    request = loyalty_pb2.MovePointsRequest(
        customer_id=customer_id,
        points=body.points,
        reason=body.reason,
        idempotency_key=idempotency_key or str(uuid.uuid4()),
    )
    answer = await clients.call("loyalty", clients.points.Redeem, request, tenant_id=tenant.tenant_id)
    return Movement(entry_id=answer.entry_id, balance=answer.balance, replayed=answer.replayed)


@router.post(
    "/customers/{customer_id}/points/adjustments", status_code=201, response_model=Movement, responses=ERRORS
)
async def adjust_points(
    customer_id: str,
    body: AdjustmentIn,
    tenant: Tenant,
    clients: Clients,
    idempotency_key: IdempotencyKey = None,
) -> Movement:
    """An operator's correction: a credit (a new lot) or a debit (409 when not covered)."""
    request = loyalty_pb2.MovePointsRequest(
        customer_id=customer_id,
        points=body.points,
        reason=body.reason,
        idempotency_key=idempotency_key or str(uuid.uuid4()),
    )
    answer = await clients.call("loyalty", clients.points.Adjust, request, tenant_id=tenant.tenant_id)
    return Movement(entry_id=answer.entry_id, balance=answer.balance, replayed=answer.replayed)


@router.post("/customers/{customer_id}/sign-ins", response_model=SignInOut, responses=ERRORS)
async def sign_in(customer_id: str, tenant: Tenant, clients: Clients) -> SignInOut:
    """Today's sign-in (tenant-local day): the first call awards the base plus any streak bonus;
    later calls that day answer the same result and award nothing."""
    request = loyalty_pb2.SignInRequest(customer_id=customer_id)
    answer = await clients.call("loyalty", clients.points.SignIn, request, tenant_id=tenant.tenant_id)
    return SignInOut(
        points_awarded=answer.points_awarded,
        streak=answer.streak,
        local_date=date.fromisoformat(answer.local_date),
        already_signed_in=answer.already_signed_in,
    )


@router.get("/loyalty/points/expiring", response_model=ExpiringPage, responses=ERRORS)
async def list_expiring(
    tenant: Tenant,
    clients: Clients,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ExpiringPage:
    """Customers with points expiring within ``days``, by customer id (what notify reminds)."""
    request = loyalty_pb2.ListExpiringRequest(days=days, limit=limit, cursor=cursor or "")
    page = await clients.call("loyalty", clients.points.ListExpiring, request, tenant_id=tenant.tenant_id)
    return ExpiringPage(
        items=[
            ExpiringOut(
                customer_id=c.customer_id, points=c.points, first_expires_at=to_datetime(c.first_expires_at)
            )
            for c in page.customers
        ],
        next_cursor=page.next_cursor or None,
    )


@router.get("/loyalty/reports/liability", response_model=LiabilityOut, responses=ERRORS)
async def get_liability(tenant: Tenant, clients: Clients) -> LiabilityOut:
    """Outstanding points over all customers and their value at the current point value."""
    answer = await clients.call(
        "loyalty",
        clients.loyalty_reports.GetLiability,
        loyalty_pb2.LiabilityRequest(),
        tenant_id=tenant.tenant_id,
    )
    return LiabilityOut(
        outstanding_points=answer.outstanding_points,
        value_minor=answer.value_minor,
        currency=answer.currency,
        point_value_minor=answer.point_value_minor,
        customers_with_points=answer.customers_with_points,
        debt_points=answer.debt_points,
        as_of=to_datetime(answer.as_of),
    )


@router.get("/loyalty/reports/daily", response_model=DailyOut, responses=ERRORS)
async def get_daily(
    tenant: Tenant,
    clients: Clients,
    from_date: Annotated[date, Query(alias="from", description="first tenant-local day, YYYY-MM-DD")],
    to_date: Annotated[date, Query(alias="to", description="last tenant-local day (at most 366 days)")],
) -> DailyOut:
    """Points earned (earn and positive adjustments), redeemed, expired, reversed and adjusted down,
    per tenant-local day of booking, zeros included."""
    request = loyalty_pb2.DailyReportRequest(from_date=from_date.isoformat(), to_date=to_date.isoformat())
    answer = await clients.call(
        "loyalty", clients.loyalty_reports.GetDailyReport, request, tenant_id=tenant.tenant_id
    )
    return DailyOut(
        items=[
            DayOut(
                date=date.fromisoformat(d.local_date),
                earned=d.earned,
                redeemed=d.redeemed,
                expired=d.expired,
                reversed=d.reversed,
                adjusted_down=d.adjusted_down,
            )
            for d in answer.days
        ]
    )

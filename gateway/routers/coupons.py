"""Coupons (loyalty service): templates, issuing, exchanging points, listing and redeeming.

- **Templates** (`POST /v1/coupon-templates`): `kind` is `threshold` (满X减Y: `discount_minor` off an
  order of at least `threshold_minor`), `percent` (`percent_off` 1-99 % off, rounded down, capped
  by `max_discount_minor` when given), `no_threshold` (`discount_minor` off any order) or
  `first_order` (`discount_minor` off the customer's first paid order). A field the kind does not
  use answers 422. Validity: `valid_from` and `valid_until` (fixed, ending in the future, at most
  ~10 years long) or `valid_days` (1-3,650 days from issue). `per_customer_limit` (1-1,000,
  default 1), `budget` (1-10^8 coupons in total; absent: none), `points_price` (1-10^9; absent:
  cannot be exchanged). Money is minor units of the tenant's currency, 1-10^12. A template shows
  `issued`, `redeemed` and the `redemption_rate` (redeemed / issued).
- **Issue** (`POST /v1/customers/{id}/coupons`) and **exchange** for points (`.../coupons/exchange`,
  one transaction with the points spent): with an `Idempotency-Key`, a retry answers the same
  coupon and never issues (or spends) twice. Refusals are 409 with a `reason`:
  `PER_CUSTOMER_LIMIT_REACHED`, `BUDGET_EXHAUSTED`, `TEMPLATE_EXPIRED`, `NOT_EXCHANGEABLE`,
  `INSUFFICIENT_POINTS` (with `balance`). An unknown `template_id` answers 422 naming it.
- **Redeem** (`POST /v1/coupons/{code}/redeem`) exactly once; 409 reasons: `COUPON_REDEEMED`,
  `COUPON_EXPIRED`, `COUPON_NOT_YET_VALID`, `COUPON_REVOKED`, `THRESHOLD_NOT_MET` (with
  `threshold_minor`), `NOT_FIRST_ORDER`, `NO_DISCOUNT`. The answer carries the discount.
- Customer ids resolve merged-away ids to the survivor; unknown or another tenant's ids, templates
  and codes answer 404. Lists take `?limit=` (1-500, default 100) and `cursor`; a customer's coupons
  take `?status=` (available, not_yet_valid, expired, redeemed, revoked), evaluated now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Loyalty
from gateway.limits import TRIMMED, coupon_kind_rules, documented
from gateway.schemas import Cursor, IdempotencyKey, Int32, Int64, Limit, Page, StrictBody, UtcDatetime
from patron.loyalty.v1 import coupons_pb2
from services.loyalty.domain import coupons as rules
from services.runtime.proto_convert import from_timestamp, optional_int, optional_time, set_time, text_or_none

router = APIRouter(prefix="/v1", tags=["coupons"])

Kind = rules.CouponKind
Status = rules.CouponStatus


def _range(low: int, high: int) -> Any:
    return documented(minimum=low, maximum=high)


Money = Annotated[Int64, _range(1, rules.MAX_MONEY_MINOR)]


class TemplateIn(StrictBody):
    # Which fields each kind requires and forbids, and fixed dates or valid_days: in the schema.
    model_config = ConfigDict(json_schema_extra=coupon_kind_rules())

    name: str = Field(default="", max_length=rules.MAX_NAME, json_schema_extra={"pattern": TRIMMED})
    kind: Kind
    threshold_minor: Money | None = Field(default=None, description="threshold only; at least discount_minor")
    discount_minor: Money | None = Field(default=None, description="threshold, no_threshold, first_order")
    percent_off: Annotated[Int32, _range(1, rules.MAX_PERCENT_OFF)] | None = Field(
        default=None, description="percent only"
    )
    max_discount_minor: Money | None = Field(default=None, description="percent only; absent: no cap")
    valid_from: UtcDatetime | None = Field(default=None, description="with valid_until, or give valid_days")
    valid_until: UtcDatetime | None = Field(
        default=None, description="after valid_from, in the future, at most ~10 years after valid_from"
    )
    valid_days: Annotated[Int32, _range(1, rules.MAX_VALID_DAYS)] | None = Field(
        default=None, description="days from issue, instead of valid_from and valid_until"
    )
    per_customer_limit: Annotated[Int32, _range(1, rules.MAX_PER_CUSTOMER)] = 1
    budget: Annotated[Int64, _range(1, rules.MAX_BUDGET)] | None = Field(
        default=None, description="absent: none"
    )
    points_price: Annotated[Int64, _range(1, rules.MAX_POINTS_PRICE)] | None = Field(
        default=None, description="absent: cannot be exchanged for points"
    )

    def to_proto(self) -> coupons_pb2.CouponTemplateSpec:
        spec = coupons_pb2.CouponTemplateSpec(
            name=self.name,
            kind=self.kind,
            threshold_minor=self.threshold_minor,
            discount_minor=self.discount_minor,
            percent_off=self.percent_off,
            max_discount_minor=self.max_discount_minor,
            valid_days=self.valid_days,
            per_customer_limit=self.per_customer_limit,
            budget=self.budget,
            points_price=self.points_price,
        )
        set_time(spec, "valid_from", self.valid_from)
        set_time(spec, "valid_until", self.valid_until)
        return spec


class TemplateOut(BaseModel):
    template_id: str
    name: str
    kind: Kind
    threshold_minor: int | None
    discount_minor: int | None
    percent_off: int | None
    max_discount_minor: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    per_customer_limit: int
    budget: int | None
    points_price: int | None
    issued: int
    redeemed: int
    redemption_rate: float = Field(description="redeemed / issued; 0 when none was issued")
    remaining_budget: int | None
    created_at: datetime

    @classmethod
    def from_proto(cls, message: coupons_pb2.CouponTemplate) -> TemplateOut:
        spec = message.spec
        return cls(
            template_id=message.template_id,
            name=spec.name,
            kind=spec.kind,
            threshold_minor=optional_int(spec, "threshold_minor"),
            discount_minor=optional_int(spec, "discount_minor"),
            percent_off=optional_int(spec, "percent_off"),
            max_discount_minor=optional_int(spec, "max_discount_minor"),
            valid_from=optional_time(spec, "valid_from"),
            valid_until=optional_time(spec, "valid_until"),
            valid_days=optional_int(spec, "valid_days"),
            per_customer_limit=spec.per_customer_limit,
            budget=optional_int(spec, "budget"),
            points_price=optional_int(spec, "points_price"),
            issued=message.issued,
            redeemed=message.redeemed,
            redemption_rate=message.redemption_rate,
            remaining_budget=optional_int(message, "remaining_budget"),
            created_at=from_timestamp(message.created_at),
        )


class CouponOut(BaseModel):
    code: str
    template_id: str
    customer_id: str | None
    kind: str
    status: Status
    source: str = Field(description="api or points_exchange")
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    redeemed_at: datetime | None
    order_id: str | None
    discount_minor: int | None

    @classmethod
    def from_proto(cls, message: coupons_pb2.Coupon) -> CouponOut:
        return cls(
            code=message.code,
            template_id=message.template_id,
            customer_id=text_or_none(message.customer_id),
            kind=message.kind,
            status=message.status,
            source=message.source,
            valid_from=from_timestamp(message.valid_from),
            valid_until=from_timestamp(message.valid_until),
            issued_at=from_timestamp(message.issued_at),
            redeemed_at=optional_time(message, "redeemed_at"),
            order_id=text_or_none(message.order_id),
            discount_minor=optional_int(message, "discount_minor"),
        )


class IssueIn(StrictBody):
    template_id: str = Field(max_length=64, description="a template of this tenant (an unknown id is 422)")


class ExchangeOut(BaseModel):
    coupon: CouponOut
    points_spent: int
    entry_id: str = Field(description="the points ledger entry that paid for the coupon")
    balance: int = Field(description="points left")


class RedeemIn(StrictBody):
    order_id: str = Field(
        description="the order the coupon is used on",
        json_schema_extra={"minLength": 1, "maxLength": rules.MAX_ORDER_ID, "pattern": TRIMMED},
    )
    amount_minor: Money = Field(description="the order's amount before the discount, minor units")


class RedemptionOut(BaseModel):
    code: str
    order_id: str
    amount_minor: int
    discount_minor: int
    payable_minor: int = Field(description="amount_minor - discount_minor")
    currency: str
    redeemed_at: datetime
    coupon: CouponOut


@router.post(
    "/coupon-templates", status_code=201, response_model=TemplateOut, responses=ERRORS, **scoped("operate")
)
async def create_template(body: TemplateIn, loyalty: Loyalty) -> TemplateOut:
    """Create a coupon template (rules in this module's description; every field at fault is named)."""
    request = coupons_pb2.CreateCouponTemplateRequest(spec=body.to_proto())
    return TemplateOut.from_proto(await loyalty.coupons.CreateTemplate(request))


@router.get("/coupon-templates", response_model=Page[TemplateOut], responses=ERRORS, **scoped("operate"))
async def list_templates(loyalty: Loyalty, limit: Limit = 100, cursor: Cursor = None) -> Page[TemplateOut]:
    """The tenant's templates, newest first, with their issued / redeemed figures."""
    request = coupons_pb2.ListCouponTemplatesRequest(limit=limit, cursor=cursor or "")
    page = await loyalty.coupons.ListTemplates(request)
    return Page[TemplateOut].of([TemplateOut.from_proto(t) for t in page.templates], page.next_cursor)


@router.get(
    "/coupon-templates/{template_id}", response_model=TemplateOut, responses=ERRORS, **scoped("operate")
)
async def get_template(template_id: str, loyalty: Loyalty) -> TemplateOut:
    """One template with its redemption rate."""
    request = coupons_pb2.GetCouponTemplateRequest(template_id=template_id)
    return TemplateOut.from_proto(await loyalty.coupons.GetTemplate(request))


@router.post(
    "/customers/{customer_id}/coupons",
    status_code=201,
    response_model=CouponOut,
    responses=ERRORS,
    **scoped("points"),
)
async def issue_coupon(
    customer_id: str, body: IssueIn, loyalty: Loyalty, idempotency_key: IdempotencyKey = None
) -> CouponOut:
    """Issue a coupon of the template to the customer, within the per-customer limit and the budget.

    With an ``Idempotency-Key``, a retry answers the same coupon and never issues twice.
    """
    request = coupons_pb2.IssueCouponRequest(
        customer_id=customer_id, template_id=body.template_id, idempotency_key=idempotency_key or ""
    )
    answer = await loyalty.coupons.IssueCoupon(request)
    return CouponOut.from_proto(answer.coupon)


@router.post(
    "/customers/{customer_id}/coupons/exchange",
    status_code=201,
    response_model=ExchangeOut,
    responses=ERRORS,
    **scoped("points"),
)
async def exchange_points(
    customer_id: str, body: IssueIn, loyalty: Loyalty, idempotency_key: IdempotencyKey = None
) -> ExchangeOut:
    """Buy a coupon with points (the template's `points_price`): one transaction, so a refusal
    (insufficient points, limit, budget) leaves both the points and the coupons untouched."""
    request = coupons_pb2.ExchangePointsRequest(
        customer_id=customer_id, template_id=body.template_id, idempotency_key=idempotency_key or ""
    )
    answer = await loyalty.coupons.ExchangePoints(request)
    return ExchangeOut(
        coupon=CouponOut.from_proto(answer.coupon),
        points_spent=answer.points_spent,
        entry_id=answer.entry_id,
        balance=answer.balance,
    )


@router.get(
    "/customers/{customer_id}/coupons", response_model=Page[CouponOut], responses=ERRORS, **scoped("read")
)
async def list_coupons(
    customer_id: str,
    loyalty: Loyalty,
    status: Status | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[CouponOut]:
    """The customer's coupons, newest first, optionally of one status."""
    request = coupons_pb2.ListCouponsRequest(
        customer_id=customer_id, status=status or "", limit=limit, cursor=cursor or ""
    )
    page = await loyalty.coupons.ListCoupons(request)
    return Page[CouponOut].of([CouponOut.from_proto(c) for c in page.coupons], page.next_cursor)


@router.post("/coupons/{code}/redeem", response_model=RedemptionOut, responses=ERRORS, **scoped("points"))
async def redeem_coupon(code: str, body: RedeemIn, loyalty: Loyalty) -> RedemptionOut:
    """Redeem the coupon on an order, exactly once; the answer has the discount."""
    request = coupons_pb2.RedeemCouponRequest(
        code=code, order_id=body.order_id, amount_minor=body.amount_minor
    )
    answer = await loyalty.coupons.RedeemCoupon(request)
    coupon = CouponOut.from_proto(answer.coupon)
    assert coupon.redeemed_at is not None
    return RedemptionOut(
        code=coupon.code,
        order_id=body.order_id,
        amount_minor=body.amount_minor,
        discount_minor=answer.discount_minor,
        payable_minor=answer.payable_minor,
        currency=answer.currency,
        redeemed_at=coupon.redeemed_at,
        coupon=coupon,
    )

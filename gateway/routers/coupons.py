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
from typing import Annotated, Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field, StrictInt

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.schemas import Cursor, Limit, StrictBody, UtcDatetime, to_datetime
from patron.loyalty.v1 import coupons_pb2

router = APIRouter(prefix="/v1", tags=["coupons"])

# Bounds of the protobuf integers: anything outside is refused here; the service applies the rules.
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]
Kind = Literal["threshold", "percent", "no_threshold", "first_order"]
Status = Literal["available", "not_yet_valid", "expired", "redeemed", "revoked"]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=255, description="a retry never issues twice")
]


class TemplateIn(StrictBody):
    name: str = Field(default="", max_length=100)
    kind: Kind
    threshold_minor: Int64 | None = None
    discount_minor: Int64 | None = None
    percent_off: Int32 | None = None
    max_discount_minor: Int64 | None = None
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    valid_days: Int32 | None = None
    per_customer_limit: Int32 = 1
    budget: Int64 | None = None
    points_price: Int64 | None = None


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
    def of(cls, message: coupons_pb2.CouponTemplate) -> TemplateOut:
        spec = message.spec

        def optional(field: str) -> int | None:
            return int(getattr(spec, field)) if spec.HasField(field) else None

        return cls(
            template_id=message.template_id,
            name=spec.name,
            kind=spec.kind,
            threshold_minor=optional("threshold_minor"),
            discount_minor=optional("discount_minor"),
            percent_off=optional("percent_off"),
            max_discount_minor=optional("max_discount_minor"),
            valid_from=to_datetime(spec.valid_from) if spec.HasField("valid_from") else None,
            valid_until=to_datetime(spec.valid_until) if spec.HasField("valid_until") else None,
            valid_days=optional("valid_days"),
            per_customer_limit=spec.per_customer_limit,
            budget=optional("budget"),
            points_price=optional("points_price"),
            issued=message.issued,
            redeemed=message.redeemed,
            redemption_rate=message.redemption_rate,
            remaining_budget=message.remaining_budget if message.HasField("remaining_budget") else None,
            created_at=to_datetime(message.created_at),
        )


class TemplatePage(BaseModel):
    items: list[TemplateOut]
    next_cursor: str | None


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
    def of(cls, message: coupons_pb2.Coupon) -> CouponOut:
        return cls(
            code=message.code,
            template_id=message.template_id,
            customer_id=message.customer_id or None,
            kind=message.kind,
            status=message.status,
            source=message.source,
            valid_from=to_datetime(message.valid_from),
            valid_until=to_datetime(message.valid_until),
            issued_at=to_datetime(message.issued_at),
            redeemed_at=to_datetime(message.redeemed_at) if message.HasField("redeemed_at") else None,
            order_id=message.order_id or None,
            discount_minor=message.discount_minor if message.HasField("discount_minor") else None,
        )


class CouponPage(BaseModel):
    items: list[CouponOut]
    next_cursor: str | None


class IssueIn(StrictBody):
    template_id: str = Field(max_length=64)


class ExchangeOut(BaseModel):
    coupon: CouponOut
    points_spent: int
    entry_id: str = Field(description="the points ledger entry that paid for the coupon")
    balance: int = Field(description="points left")


class RedeemIn(StrictBody):
    order_id: str = Field(description="1-128 characters")
    amount_minor: Int64 = Field(description="the order's amount before the discount, minor units")


class RedemptionOut(BaseModel):
    code: str
    order_id: str
    amount_minor: int
    discount_minor: int
    payable_minor: int = Field(description="amount_minor - discount_minor")
    currency: str
    redeemed_at: datetime
    coupon: CouponOut


@router.post("/coupon-templates", status_code=201, response_model=TemplateOut, responses=ERRORS)
async def create_template(body: TemplateIn, tenant: Tenant, clients: Clients) -> TemplateOut:
    """Create a coupon template (rules in this module's description; every field at fault is named)."""
    spec = coupons_pb2.CouponTemplateSpec(
        name=body.name,
        kind=body.kind,
        threshold_minor=body.threshold_minor,
        discount_minor=body.discount_minor,
        percent_off=body.percent_off,
        max_discount_minor=body.max_discount_minor,
        valid_days=body.valid_days,
        per_customer_limit=body.per_customer_limit,
        budget=body.budget,
        points_price=body.points_price,
    )
    if body.valid_from is not None:
        spec.valid_from.FromDatetime(body.valid_from)
    if body.valid_until is not None:
        spec.valid_until.FromDatetime(body.valid_until)
    request = coupons_pb2.CreateCouponTemplateRequest(spec=spec)
    answer = await clients.call(
        "loyalty", clients.coupons.CreateTemplate, request, tenant_id=tenant.tenant_id
    )
    return TemplateOut.of(answer)


@router.get("/coupon-templates", response_model=TemplatePage, responses=ERRORS)
async def list_templates(
    tenant: Tenant, clients: Clients, limit: Limit = 100, cursor: Cursor = None
) -> TemplatePage:
    """The tenant's templates, newest first, with their issued / redeemed figures."""
    request = coupons_pb2.ListCouponTemplatesRequest(limit=limit, cursor=cursor or "")
    page = await clients.call("loyalty", clients.coupons.ListTemplates, request, tenant_id=tenant.tenant_id)
    return TemplatePage(
        items=[TemplateOut.of(t) for t in page.templates], next_cursor=page.next_cursor or None
    )


@router.get("/coupon-templates/{template_id}", response_model=TemplateOut, responses=ERRORS)
async def get_template(template_id: str, tenant: Tenant, clients: Clients) -> TemplateOut:
    """One template with its redemption rate."""
    request = coupons_pb2.GetCouponTemplateRequest(template_id=template_id)
    answer = await clients.call("loyalty", clients.coupons.GetTemplate, request, tenant_id=tenant.tenant_id)
    return TemplateOut.of(answer)


@router.post("/customers/{customer_id}/coupons", status_code=201, response_model=CouponOut, responses=ERRORS)
async def issue_coupon(
    customer_id: str, body: IssueIn, tenant: Tenant, clients: Clients, idempotency_key: IdempotencyKey = None
) -> CouponOut:
    """Issue a coupon of the template to the customer, within the per-customer limit and the budget."""
    request = coupons_pb2.IssueCouponRequest(
        customer_id=customer_id, template_id=body.template_id, idempotency_key=idempotency_key or ""
    )
    answer = await clients.call("loyalty", clients.coupons.IssueCoupon, request, tenant_id=tenant.tenant_id)
    return CouponOut.of(answer.coupon)


@router.post(
    "/customers/{customer_id}/coupons/exchange", status_code=201, response_model=ExchangeOut, responses=ERRORS
)
async def exchange_points(
    customer_id: str, body: IssueIn, tenant: Tenant, clients: Clients, idempotency_key: IdempotencyKey = None
) -> ExchangeOut:
    """Buy a coupon with points (the template's `points_price`): one transaction, so a refusal
    (insufficient points, limit, budget) leaves both the points and the coupons untouched."""
    request = coupons_pb2.ExchangePointsRequest(
        customer_id=customer_id, template_id=body.template_id, idempotency_key=idempotency_key or ""
    )
    answer = await clients.call(
        "loyalty", clients.coupons.ExchangePoints, request, tenant_id=tenant.tenant_id
    )
    return ExchangeOut(
        coupon=CouponOut.of(answer.coupon),
        points_spent=answer.points_spent,
        entry_id=answer.entry_id,
        balance=answer.balance,
    )


@router.get("/customers/{customer_id}/coupons", response_model=CouponPage, responses=ERRORS)
async def list_coupons(
    customer_id: str,
    tenant: Tenant,
    clients: Clients,
    status: Status | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> CouponPage:
    """The customer's coupons, newest first, optionally of one status."""
    request = coupons_pb2.ListCouponsRequest(
        customer_id=customer_id, status=status or "", limit=limit, cursor=cursor or ""
    )
    page = await clients.call("loyalty", clients.coupons.ListCoupons, request, tenant_id=tenant.tenant_id)
    return CouponPage(items=[CouponOut.of(c) for c in page.coupons], next_cursor=page.next_cursor or None)


@router.post("/coupons/{code}/redeem", response_model=RedemptionOut, responses=ERRORS)
async def redeem_coupon(code: str, body: RedeemIn, tenant: Tenant, clients: Clients) -> RedemptionOut:
    """Redeem the coupon on an order, exactly once; the answer has the discount."""
    request = coupons_pb2.RedeemCouponRequest(
        code=code, order_id=body.order_id, amount_minor=body.amount_minor
    )
    answer = await clients.call("loyalty", clients.coupons.RedeemCoupon, request, tenant_id=tenant.tenant_id)
    coupon = CouponOut.of(answer.coupon)
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

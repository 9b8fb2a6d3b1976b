"""Orders and refunds (profile service): record a paid order, refund it, read it, list a customer's.

This router checks the shape of a body (types, integers that are integers, list sizes); the rules
(currency, amounts, times, the customer) are the profile service's, which names every field at fault
at once. The order id and the refund id are the idempotency keys: the same id with the same body
answers 200 with what was recorded, with another body 409.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, StrictInt, field_validator

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.schemas import IdentityIn, StrictBody
from patron.profile.v1 import orders_pb2, profile_pb2

router = APIRouter(prefix="/v1", tags=["orders"])

MAX_ITEMS = 500
# Bounds of a protobuf int64: anything outside is refused here; the service applies the real limits.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
Int64 = Annotated[StrictInt, Field(ge=_INT64_MIN, le=_INT64_MAX)]


def _encodable(value: str) -> str:
    """JSON may carry lone surrogates ("\\ud800"), which no protobuf string can: refuse them here."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]


class OrderIdentityIn(IdentityIn):
    @field_validator("value")
    @classmethod
    def _encodable_value(cls, value: str) -> str:
        return _encodable(value)


class OrderItemIn(StrictBody):
    sku: Text = Field(description="1 to 128 characters")
    category: Text | None = Field(default=None, description="up to 100 characters")
    brand: Text | None = Field(default=None, description="up to 100 characters")
    unit_price_minor: Int64 = Field(description="price of one unit in minor units, 0 to 10^15")
    quantity: Int64 = Field(description="1 to 10,000")


class OrderIn(StrictBody):
    order_id: Text = Field(
        description="your id of the order: 1 to 128 letters, digits or . _ : ~ - ; recorded once per id"
    )
    customer_id: Text | None = Field(default=None, description="the customer, or give identities instead")
    identities: list[OrderIdentityIn] | None = Field(
        default=None, max_length=20, description="resolved like identify; an unknown customer is created"
    )
    paid_at: AwareDatetime = Field(description="RFC 3339 with an offset; at most 5 minutes ahead")
    currency: Text = Field(description="ISO 4217 code, e.g. CNY; any currency, not only the tenant's")
    amount_minor: Int64 = Field(
        description="what was paid, in minor units, 0 to 10^15; may differ from the items' sum "
        "(discounts, coupons, shipping)"
    )
    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    coupon_code: Text | None = Field(default=None, description="the coupon used, up to 64 characters")
    channel: Text | None = Field(default=None, description="where it was sold (app, mini_program, ...)")


class RefundIn(StrictBody):
    refund_id: Text = Field(description="your id of the refund, unique within the order; recorded once")
    amount_minor: Int64 = Field(description="at least 1 and at most what is left of the order")
    reason: Text | None = Field(default=None, description="e.g. 尺寸不符 (wrong size), up to 200 characters")
    currency: Text | None = Field(default=None, description="when given, must be the order's currency")
    refunded_at: AwareDatetime | None = Field(default=None, description="default: now")


class OrderItemOut(BaseModel):
    sku: str
    category: str | None
    brand: str | None
    unit_price_minor: int
    quantity: int


class RefundOut(BaseModel):
    refund_id: str
    amount_minor: int
    currency: str
    reason: str | None
    refunded_at: datetime
    created_at: datetime


class OrderOut(BaseModel):
    order_id: str
    customer_id: str = Field(description="the customer the order belongs to (the survivor of a merge)")
    paid_at: datetime
    currency: str
    amount_minor: int
    refunded_minor: int
    remaining_minor: int = Field(description="what may still be refunded")
    status: str = Field(description="paid, partially_refunded or refunded")
    items: list[OrderItemOut]
    coupon_code: str | None
    channel: str | None
    refunds: list[RefundOut] = Field(description="oldest first")
    created_at: datetime
    updated_at: datetime


class RefundRecorded(RefundOut):
    order_id: str
    order_status: str = Field(description="the order's status after this refund")
    order_amount_minor: int
    order_refunded_minor: int
    remaining_minor: int = Field(description="what is left of the order to refund")


class OrderPage(BaseModel):
    items: list[OrderOut] = Field(description="newest paid first")
    next_cursor: str | None


def _moment(stamp: Any) -> datetime:
    moment: datetime = stamp.ToDatetime(tzinfo=UTC)
    return moment


def _optional(message: Any, name: str) -> str | None:
    value: str | None = getattr(message, name) if message.HasField(name) else None
    return value


def _refund_fields(refund: orders_pb2.Refund) -> dict[str, Any]:
    return {
        "refund_id": refund.refund_id,
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "reason": _optional(refund, "reason"),
        "refunded_at": _moment(refund.refunded_at),
        "created_at": _moment(refund.created_at),
    }


def order_out(order: orders_pb2.Order) -> OrderOut:
    """The REST form of an order."""
    return OrderOut(
        order_id=order.order_id,
        customer_id=order.customer_id,
        paid_at=_moment(order.paid_at),
        currency=order.currency,
        amount_minor=order.amount_minor,
        refunded_minor=order.refunded_minor,
        remaining_minor=order.amount_minor - order.refunded_minor,
        status=order.status,
        items=[
            OrderItemOut(
                sku=i.sku,
                category=_optional(i, "category"),
                brand=_optional(i, "brand"),
                unit_price_minor=i.unit_price_minor,
                quantity=i.quantity,
            )
            for i in order.items
        ],
        coupon_code=_optional(order, "coupon_code"),
        channel=_optional(order, "channel"),
        refunds=[RefundOut(**_refund_fields(r)) for r in order.refunds],
        created_at=_moment(order.created_at),
        updated_at=_moment(order.updated_at),
    )


def order_to_proto(body: OrderIn) -> orders_pb2.RecordOrderRequest:
    """The gRPC request for one order (the batch endpoint sends a list of these)."""
    message = orders_pb2.RecordOrderRequest(
        order_id=body.order_id,
        customer_id=body.customer_id or "",
        identities=[profile_pb2.Identity(type=i.type, value=i.value) for i in body.identities or ()],
        currency=body.currency,
        amount_minor=body.amount_minor,
        items=[
            orders_pb2.OrderLine(
                sku=i.sku,
                category=i.category,
                brand=i.brand,
                unit_price_minor=i.unit_price_minor,
                quantity=i.quantity,
            )
            for i in body.items
        ],
        coupon_code=body.coupon_code,
        channel=body.channel,
    )
    message.paid_at.FromDatetime(body.paid_at.astimezone(UTC))
    return message


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    responses={200: {"model": OrderOut, "description": "the order id was already recorded"}, **ERRORS},
)
async def record_order(body: OrderIn, response: Response, tenant: Tenant, clients: Clients) -> OrderOut:
    """Record a paid order (emits ``order.paid``): 201, or 200 with the order when its id is known.

    A known order id sent with a different body answers 409 naming the order id. The 200 answer
    shows the order as it is now (with any refunds since).
    """
    result = await clients.call(
        "profile", clients.orders.RecordOrder, order_to_proto(body), tenant_id=tenant.tenant_id
    )
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = f"/v1/orders/{result.order.order_id}"
    return order_out(result.order)


@router.post(
    "/orders/{order_id}/refunds",
    status_code=201,
    response_model=RefundRecorded,
    responses={200: {"model": RefundRecorded, "description": "the refund id was already recorded"}, **ERRORS},
)
async def refund_order(
    order_id: str, body: RefundIn, response: Response, tenant: Tenant, clients: Clients
) -> RefundRecorded:
    """Refund part or all of what is left of an order (emits ``order.refunded``); 201, or 200 on a repeat.

    A repeat answers the refund as recorded with the order's state now; the same refund id with another
    body answers 409. More than what is left answers 409 with ``remaining_minor``; an unknown order 404.
    """
    request = orders_pb2.RefundOrderRequest(
        order_id=order_id,
        refund_id=body.refund_id,
        amount_minor=body.amount_minor,
        reason=body.reason,
        currency=body.currency,
    )
    if body.refunded_at is not None:
        request.refunded_at.FromDatetime(body.refunded_at.astimezone(UTC))
    result = await clients.call("profile", clients.orders.RefundOrder, request, tenant_id=tenant.tenant_id)
    response.status_code = 201 if result.created else 200
    return RefundRecorded(
        **_refund_fields(result.refund),
        order_id=order_id,
        order_status=result.order_status,
        order_amount_minor=result.order_amount_minor,
        order_refunded_minor=result.order_refunded_minor,
        remaining_minor=result.order_amount_minor - result.order_refunded_minor,
    )


@router.get("/orders/{order_id}", response_model=OrderOut, responses=ERRORS)
async def get_order(order_id: str, tenant: Tenant, clients: Clients) -> OrderOut:
    """The order with its items and refunds; another tenant's order id is not found."""
    order = await clients.call(
        "profile",
        clients.orders.GetOrder,
        orders_pb2.GetOrderRequest(order_id=order_id),
        tenant_id=tenant.tenant_id,
    )
    return order_out(order)


@router.get("/customers/{customer_id}/orders", response_model=OrderPage, responses=ERRORS)
async def list_customer_orders(
    customer_id: str,
    tenant: Tenant,
    clients: Clients,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> OrderPage:
    """The customer's orders, newest paid first, a page at a time (``next_cursor``).

    A page also ends early once it holds 5,000 items and refunds; follow ``next_cursor`` for more.
    """
    page = await clients.call(
        "profile",
        clients.orders.ListCustomerOrders,
        orders_pb2.ListCustomerOrdersRequest(customer_id=customer_id, limit=limit, cursor=cursor or ""),
        tenant_id=tenant.tenant_id,
    )
    return OrderPage(items=[order_out(o) for o in page.orders], next_cursor=page.next_cursor or None)

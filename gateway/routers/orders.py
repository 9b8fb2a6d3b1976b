"""Orders and refunds (profile service): record a paid order, refund it, read it, list a customer's.

This router checks the shape of a body (types, integers that are integers, list sizes); the rules
(currency, amounts, times, the customer) are the profile service's, which names every field at fault
at once. The order id and the refund id are the idempotency keys: the same id with the same body
answers 200 with what was recorded, with another body 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import scoped
from gateway.dependencies import ERRORS, Profile
from gateway.limits import CURRENCY_PATTERN, ORDER_ID_PATTERN, ORDER_TEXT_PATTERN, documented
from gateway.schemas import Cursor, IdentityIn, Int64, Limit, Page, StrictBody, Text, UtcDatetime
from patron.profile.v1 import orders_pb2
from services.profile.domain.identities import MAX_IDENTITIES_PER_CALL
from services.profile.domain.order_rules import (
    MAX_AMOUNT_MINOR,
    MAX_CODE_LENGTH,
    MAX_ID_LENGTH,
    MAX_ITEMS,
    MAX_LABEL_LENGTH,
    MAX_QUANTITY,
    MAX_REASON_LENGTH,
    MAX_SKU_LENGTH,
)
from services.runtime.proto_convert import from_timestamp, optional_text, set_time, to_timestamp

router = APIRouter(prefix="/v1", tags=["orders"])


def _text(limit: int) -> Any:
    """Order text as the profile service takes it: 1 to ``limit`` characters, not blank, no control
    character (checked there, with the order's other faults)."""
    return documented(minLength=1, maxLength=limit, pattern=ORDER_TEXT_PATTERN)


def _id(description: str) -> Any:
    return Field(
        description=description,
        json_schema_extra={"minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ORDER_ID_PATTERN},
    )


def _money(minimum: int, description: str) -> Any:
    return Field(description=description, json_schema_extra={"minimum": minimum, "maximum": MAX_AMOUNT_MINOR})


# Exactly one of customer_id and identities names the customer (the profile service's rule).
_ONE_CUSTOMER: dict[str, Any] = {
    "oneOf": [
        {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
        {"required": ["identities"], "properties": {"identities": {"type": "array", "minItems": 1}}},
    ]
}


class OrderItemIn(StrictBody):
    text_checked_elsewhere = frozenset({"sku", "category", "brand"})

    sku: Annotated[str, _text(MAX_SKU_LENGTH)]
    category: Annotated[str, _text(MAX_LABEL_LENGTH)] | None = None
    brand: Annotated[str, _text(MAX_LABEL_LENGTH)] | None = None
    unit_price_minor: Int64 = _money(0, "price of one unit in minor units")
    quantity: Int64 = Field(json_schema_extra={"minimum": 1, "maximum": MAX_QUANTITY})

    def to_proto(self) -> orders_pb2.OrderLine:
        return orders_pb2.OrderLine(
            sku=self.sku,
            category=self.category,
            brand=self.brand,
            unit_price_minor=self.unit_price_minor,
            quantity=self.quantity,
        )


class OrderIn(StrictBody):
    model_config = ConfigDict(json_schema_extra=_ONE_CUSTOMER)
    text_checked_elsewhere = frozenset({"order_id", "currency", "coupon_code", "channel"})

    order_id: str = _id("your id of the order; recorded once per id")
    customer_id: Annotated[Text, documented(format="uuid")] | None = Field(
        default=None, description="a customer of this tenant (an unknown id is 422), or give identities"
    )
    identities: list[IdentityIn] | None = Field(
        default=None,
        max_length=MAX_IDENTITIES_PER_CALL,
        description="resolved like identify; an unknown customer is created",
    )
    paid_at: UtcDatetime = Field(description="RFC 3339 with an offset; from 1970 to 5 minutes ahead")
    currency: str = Field(
        description="ISO 4217 code, e.g. CNY; any currency in use, not only the tenant's",
        json_schema_extra={"pattern": CURRENCY_PATTERN},
    )
    amount_minor: Int64 = _money(
        0, "what was paid, in minor units; may differ from the items' sum (discounts, coupons, shipping)"
    )
    items: list[OrderItemIn] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_ITEMS})
    coupon_code: Annotated[str, _text(MAX_CODE_LENGTH)] | None = Field(
        default=None, description="the coupon used"
    )
    channel: Annotated[str, _text(MAX_CODE_LENGTH)] | None = Field(
        default=None, description="where it was sold (app, mini_program, ...)"
    )

    def to_proto(self) -> orders_pb2.RecordOrderRequest:
        """The gRPC request for one order (the batch endpoint sends a list of these)."""
        return orders_pb2.RecordOrderRequest(
            order_id=self.order_id,
            customer_id=self.customer_id or "",
            identities=[i.to_proto() for i in self.identities or ()],
            paid_at=to_timestamp(self.paid_at),
            currency=self.currency,
            amount_minor=self.amount_minor,
            items=[item.to_proto() for item in self.items],
            coupon_code=self.coupon_code,
            channel=self.channel,
        )


class RefundIn(StrictBody):
    text_checked_elsewhere = frozenset({"refund_id", "reason", "currency"})

    refund_id: str = _id("your id of the refund, unique within the order; recorded once")
    amount_minor: Int64 = _money(1, "at most what is left of the order")
    reason: Annotated[str, _text(MAX_REASON_LENGTH)] | None = Field(
        default=None, description="e.g. 尺寸不符 (wrong size)"
    )
    currency: str | None = Field(
        default=None,
        description="when given, must be the order's currency",
        json_schema_extra={"pattern": CURRENCY_PATTERN},
    )
    refunded_at: UtcDatetime | None = Field(default=None, description="default: now")

    def to_proto(self, order_id: str) -> orders_pb2.RefundOrderRequest:
        """The gRPC request refunding the order ``order_id``."""
        message = orders_pb2.RefundOrderRequest(
            order_id=order_id,
            refund_id=self.refund_id,
            amount_minor=self.amount_minor,
            reason=self.reason,
            currency=self.currency,
        )
        set_time(message, "refunded_at", self.refunded_at)
        return message


class OrderItemOut(BaseModel):
    sku: str
    category: str | None
    brand: str | None
    unit_price_minor: int
    quantity: int

    @classmethod
    def from_proto(cls, message: orders_pb2.OrderLine) -> OrderItemOut:
        return cls(
            sku=message.sku,
            category=optional_text(message, "category"),
            brand=optional_text(message, "brand"),
            unit_price_minor=message.unit_price_minor,
            quantity=message.quantity,
        )


class RefundOut(BaseModel):
    refund_id: str
    amount_minor: int
    currency: str
    reason: str | None
    refunded_at: datetime
    created_at: datetime

    @classmethod
    def from_proto(cls, message: orders_pb2.Refund) -> RefundOut:
        return cls(
            refund_id=message.refund_id,
            amount_minor=message.amount_minor,
            currency=message.currency,
            reason=optional_text(message, "reason"),
            refunded_at=from_timestamp(message.refunded_at),
            created_at=from_timestamp(message.created_at),
        )


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

    @classmethod
    def from_proto(cls, message: orders_pb2.Order) -> OrderOut:
        return cls(
            order_id=message.order_id,
            customer_id=message.customer_id,
            paid_at=from_timestamp(message.paid_at),
            currency=message.currency,
            amount_minor=message.amount_minor,
            refunded_minor=message.refunded_minor,
            remaining_minor=message.remaining_minor,
            status=message.status,
            items=[OrderItemOut.from_proto(i) for i in message.items],
            coupon_code=optional_text(message, "coupon_code"),
            channel=optional_text(message, "channel"),
            refunds=[RefundOut.from_proto(r) for r in message.refunds],
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
        )


class RefundRecorded(RefundOut):
    order_id: str
    order_status: str = Field(description="the order's status after this refund")
    order_amount_minor: int
    order_refunded_minor: int
    remaining_minor: int = Field(description="what is left of the order to refund")

    @classmethod
    def from_response(cls, order_id: str, message: orders_pb2.RefundOrderResponse) -> RefundRecorded:
        """The refund with the order's state after it."""
        return cls(
            **RefundOut.from_proto(message.refund).model_dump(),
            order_id=order_id,
            order_status=message.order_status,
            order_amount_minor=message.order_amount_minor,
            order_refunded_minor=message.order_refunded_minor,
            remaining_minor=message.order_remaining_minor,
        )


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    responses={200: {"model": OrderOut, "description": "the order id was already recorded"}, **ERRORS},
    **scoped("ingest"),
)
async def record_order(body: OrderIn, response: Response, profile: Profile) -> OrderOut:
    """Record a paid order (emits ``order.paid``): 201, or 200 with the order when its id is known.

    A known order id sent with a different body answers 409 naming the order id. The 200 answer
    shows the order as it is now (with any refunds since).
    """
    result = await profile.orders.RecordOrder(body.to_proto())
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = f"/v1/orders/{result.order.order_id}"
    return OrderOut.from_proto(result.order)


@router.post(
    "/orders/{order_id}/refunds",
    status_code=201,
    response_model=RefundRecorded,
    responses={200: {"model": RefundRecorded, "description": "the refund id was already recorded"}, **ERRORS},
    **scoped("ingest"),
)
async def refund_order(order_id: str, body: RefundIn, response: Response, profile: Profile) -> RefundRecorded:
    """Refund part or all of what is left of an order (emits ``order.refunded``); 201, or 200 on a repeat.

    A repeat answers the refund as recorded with the order's state now; the same refund id with another
    body answers 409. More than what is left answers 409 with ``remaining_minor``; an unknown order 404.
    """
    result = await profile.orders.RefundOrder(body.to_proto(order_id))
    response.status_code = 201 if result.created else 200
    return RefundRecorded.from_response(order_id, result)


@router.get("/orders/{order_id}", response_model=OrderOut, responses=ERRORS, **scoped("read"))
async def get_order(order_id: str, profile: Profile) -> OrderOut:
    """The order with its items and refunds; another tenant's order id is not found."""
    return OrderOut.from_proto(await profile.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id)))


@router.get(
    "/customers/{customer_id}/orders", response_model=Page[OrderOut], responses=ERRORS, **scoped("read")
)
async def list_customer_orders(
    customer_id: str, profile: Profile, limit: Limit = 50, cursor: Cursor = None
) -> Page[OrderOut]:
    """The customer's orders, newest paid first, a page at a time (``next_cursor``).

    A page also ends early once it holds 5,000 items and refunds; follow ``next_cursor`` for more.
    """
    request = orders_pb2.ListCustomerOrdersRequest(customer_id=customer_id, limit=limit, cursor=cursor or "")
    page = await profile.orders.ListCustomerOrders(request)
    return Page[OrderOut].of([OrderOut.from_proto(o) for o in page.orders], page.next_cursor)

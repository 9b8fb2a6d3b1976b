"""The order servicer: proto ⇄ domain for orders and refunds. No rules live here."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from patron.profile.v1 import orders_pb2, orders_pb2_grpc
from services.profile.domain.order_book import OrderBook
from services.profile.domain.orders import Order, OrderLine, OrderRequest, Refund, RefundRequest
from services.profile.transport.convert import identities_from_proto, timestamp
from services.runtime.errors import InvalidArgument
from services.runtime.tenancy import current_tenant

ORDER_SERVICE = "patron.profile.v1.OrderService"


def _moment(message: Timestamp, field: str) -> datetime:
    """A timestamp as an aware datetime; one outside what a datetime holds names ``field``."""
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.single(field, "is not a valid time") from None


def _optional(message: object, name: str) -> str | None:
    return getattr(message, name) if message.HasField(name) else None  # type: ignore[attr-defined]


def lines_from_proto(items: object) -> list[OrderLine]:
    """Domain order lines from proto ones; an absent category or brand stays None, not ""."""
    return [
        OrderLine(
            sku=i.sku,
            category=_optional(i, "category"),
            brand=_optional(i, "brand"),
            unit_price_minor=i.unit_price_minor,
            quantity=i.quantity,
        )
        for i in items  # type: ignore[attr-defined]
    ]


def _line_to_proto(line: OrderLine) -> orders_pb2.OrderLine:
    message = orders_pb2.OrderLine(
        sku=line.sku, unit_price_minor=line.unit_price_minor, quantity=line.quantity
    )
    if line.category is not None:
        message.category = line.category
    if line.brand is not None:
        message.brand = line.brand
    return message


def refund_to_proto(refund: Refund) -> orders_pb2.Refund:
    """The proto form of a refund (its currency is always the order's)."""
    message = orders_pb2.Refund(
        refund_id=refund.refund_id,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        refunded_at=timestamp(refund.refunded_at),
        created_at=timestamp(refund.created_at),
    )
    if refund.reason is not None:
        message.reason = refund.reason
    return message


def order_to_proto(order: Order) -> orders_pb2.Order:
    """The proto form of an order with its items and refunds; the request fingerprint stays inside."""
    message = orders_pb2.Order(
        order_id=order.order_id,
        customer_id=str(order.customer_id),
        paid_at=timestamp(order.paid_at),
        currency=order.currency,
        amount_minor=order.amount_minor,
        refunded_minor=order.refunded_minor,
        status=order.status,
        items=[_line_to_proto(line) for line in order.items],
        refunds=[refund_to_proto(refund) for refund in order.refunds],
        created_at=timestamp(order.created_at),
        updated_at=timestamp(order.updated_at),
    )
    if order.coupon_code is not None:
        message.coupon_code = order.coupon_code
    if order.channel is not None:
        message.channel = order.channel
    return message


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    """``patron.profile.v1.OrderService``: orders and refunds for the calling tenant."""

    def __init__(self, book: OrderBook) -> None:
        self._book = book

    async def RecordOrder(  # noqa: N802
        self, request: orders_pb2.RecordOrderRequest, context: aio.ServicerContext
    ) -> orders_pb2.RecordOrderResponse:
        result = await self._book.record(
            current_tenant(),
            OrderRequest(
                order_id=request.order_id,
                customer_id=request.customer_id or None,
                identities=identities_from_proto(request.identities),
                paid_at=_moment(request.paid_at, "paid_at") if request.HasField("paid_at") else None,
                currency=request.currency,
                amount_minor=request.amount_minor,
                items=lines_from_proto(request.items),
                coupon_code=_optional(request, "coupon_code"),
                channel=_optional(request, "channel"),
            ),
        )
        return orders_pb2.RecordOrderResponse(order=order_to_proto(result.order), created=result.created)

    async def RefundOrder(  # noqa: N802
        self, request: orders_pb2.RefundOrderRequest, context: aio.ServicerContext
    ) -> orders_pb2.RefundOrderResponse:
        result = await self._book.refund(
            current_tenant(),
            RefundRequest(
                order_id=request.order_id,
                refund_id=request.refund_id,
                amount_minor=request.amount_minor,
                reason=_optional(request, "reason"),
                currency=_optional(request, "currency"),
                refunded_at=_moment(request.refunded_at, "refunded_at")
                if request.HasField("refunded_at")
                else None,
            ),
        )
        return orders_pb2.RefundOrderResponse(
            refund=refund_to_proto(result.refund),
            created=result.created,
            order_status=result.order_status,
            order_amount_minor=result.order_amount_minor,
            order_refunded_minor=result.order_refunded_minor,
        )

    async def GetOrder(  # noqa: N802
        self, request: orders_pb2.GetOrderRequest, context: aio.ServicerContext
    ) -> orders_pb2.Order:
        return order_to_proto(await self._book.get(current_tenant(), request.order_id))

    async def ListCustomerOrders(  # noqa: N802
        self, request: orders_pb2.ListCustomerOrdersRequest, context: aio.ServicerContext
    ) -> orders_pb2.ListCustomerOrdersResponse:
        page = await self._book.list_for_customer(
            current_tenant(), request.customer_id, request.limit, request.cursor
        )
        return orders_pb2.ListCustomerOrdersResponse(
            orders=[order_to_proto(order) for order in page.orders], next_cursor=page.next_cursor or ""
        )

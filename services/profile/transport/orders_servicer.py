"""The order servicer: proto ⇄ domain for orders and refunds. No rules live here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from grpc import aio

from patron.profile.v1 import behaviour_pb2, orders_pb2, orders_pb2_grpc
from services.profile.domain.batch_identities import BatchIdentityResolver
from services.profile.domain.behaviour import Outcome, RecordResult
from services.profile.domain.directory import CustomerDirectory, TenantRegistry
from services.profile.domain.order_batch import OrderBatches
from services.profile.domain.order_book import OrderBook
from services.profile.domain.orders import Order, OrderLine, OrderRequest, Refund, RefundRequest
from services.profile.store.batch_identities import SqlBatchIdentityStore
from services.profile.store.customers import SqlCustomerStore
from services.profile.store.order_batch import SqlOrderBatchStore
from services.profile.store.orders import SqlOrderStore
from services.profile.store.pii import PiiCipher
from services.profile.transport.convert import identities_from_proto
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.proto_convert import (
    lenient_time,
    optional_text,
    optional_time,
    set_optional,
    to_timestamp,
)
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

ORDER_SERVICE = "patron.profile.v1.OrderService"


_OUTCOMES = {
    Outcome.ACCEPTED: orders_pb2.BATCH_OUTCOME_ACCEPTED,
    Outcome.DUPLICATE: orders_pb2.BATCH_OUTCOME_DUPLICATE,
    Outcome.REJECTED: orders_pb2.BATCH_OUTCOME_REJECTED,
}


def lines_from_proto(items: Iterable[orders_pb2.OrderLine]) -> list[OrderLine]:
    """Domain order lines from proto ones; an absent category or brand stays None, not ""."""
    return [
        OrderLine(
            sku=i.sku,
            category=optional_text(i, "category"),
            brand=optional_text(i, "brand"),
            unit_price_minor=i.unit_price_minor,
            quantity=i.quantity,
        )
        for i in items
    ]


def _line_to_proto(line: OrderLine) -> orders_pb2.OrderLine:
    message = orders_pb2.OrderLine(
        sku=line.sku, unit_price_minor=line.unit_price_minor, quantity=line.quantity
    )
    set_optional(message, "category", line.category)
    set_optional(message, "brand", line.brand)
    return message


def refund_to_proto(refund: Refund) -> orders_pb2.Refund:
    """The proto form of a refund (its currency is always the order's)."""
    message = orders_pb2.Refund(
        refund_id=refund.refund_id,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        refunded_at=to_timestamp(refund.refunded_at),
        created_at=to_timestamp(refund.created_at),
    )
    set_optional(message, "reason", refund.reason)
    return message


def order_to_proto(order: Order) -> orders_pb2.Order:
    """The proto form of an order with its items and refunds; the request fingerprint stays inside."""
    message = orders_pb2.Order(
        order_id=order.order_id,
        customer_id=str(order.customer_id),
        paid_at=to_timestamp(order.paid_at),
        currency=order.currency,
        amount_minor=order.amount_minor,
        refunded_minor=order.refunded_minor,
        remaining_minor=order.remaining_minor,
        status=order.status,
        items=[_line_to_proto(line) for line in order.items],
        refunds=[refund_to_proto(refund) for refund in order.refunds],
        created_at=to_timestamp(order.created_at),
        updated_at=to_timestamp(order.updated_at),
    )
    set_optional(message, "coupon_code", order.coupon_code)
    set_optional(message, "channel", order.channel)
    return message


def order_request(message: orders_pb2.RecordOrderRequest, paid_at: datetime | None) -> OrderRequest:
    """The domain's order request from the proto one (``paid_at`` converted by the caller)."""
    return OrderRequest(
        order_id=message.order_id,
        customer_id=message.customer_id or None,
        identities=identities_from_proto(message.identities),
        paid_at=paid_at,
        currency=message.currency,
        amount_minor=message.amount_minor,
        items=lines_from_proto(message.items),
        coupon_code=optional_text(message, "coupon_code"),
        channel=optional_text(message, "channel"),
    )


def refund_request(message: orders_pb2.RefundOrderRequest, refunded_at: datetime | None) -> RefundRequest:
    """The domain's refund request from the proto one (``refunded_at`` converted by the caller)."""
    return RefundRequest(
        order_id=message.order_id,
        refund_id=message.refund_id,
        amount_minor=message.amount_minor,
        reason=optional_text(message, "reason"),
        currency=optional_text(message, "currency"),
        refunded_at=refunded_at,
    )


def batch_to_proto(result: RecordResult) -> orders_pb2.BatchResponse:
    """The proto answer to a batch: counts, each rejected item's faults, one outcome per item."""
    return orders_pb2.BatchResponse(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[
            orders_pb2.RejectedItem(
                index=r.index,
                errors=[behaviour_pb2.FieldError(field=v.field, message=v.message) for v in r.violations],
            )
            for r in result.rejected
        ],
        outcomes=[_OUTCOMES[o] for o in result.outcomes],
    )


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    """``patron.profile.v1.OrderService``: orders and refunds for the calling tenant."""

    def __init__(self, book: OrderBook, batches: OrderBatches) -> None:
        self._book = book
        self._batches = batches

    async def RecordOrder(
        self, request: orders_pb2.RecordOrderRequest, context: aio.ServicerContext
    ) -> orders_pb2.RecordOrderResponse:
        paid_at = optional_time(request, "paid_at")
        result = await self._book.record(current_tenant(), order_request(request, paid_at))
        return orders_pb2.RecordOrderResponse(order=order_to_proto(result.order), created=result.created)

    async def RefundOrder(
        self, request: orders_pb2.RefundOrderRequest, context: aio.ServicerContext
    ) -> orders_pb2.RefundOrderResponse:
        refunded_at = optional_time(request, "refunded_at")
        result = await self._book.refund(current_tenant(), refund_request(request, refunded_at))
        return orders_pb2.RefundOrderResponse(
            refund=refund_to_proto(result.refund),
            created=result.created,
            order_status=result.order_status,
            order_amount_minor=result.order_amount_minor,
            order_refunded_minor=result.order_refunded_minor,
            order_remaining_minor=result.order_remaining_minor,
        )

    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: aio.ServicerContext
    ) -> orders_pb2.Order:
        return order_to_proto(await self._book.get(current_tenant(), request.order_id))

    async def ListCustomerOrders(
        self, request: orders_pb2.ListCustomerOrdersRequest, context: aio.ServicerContext
    ) -> orders_pb2.ListCustomerOrdersResponse:
        page = await self._book.list_for_customer(
            current_tenant(), request.customer_id, request.limit, request.cursor
        )
        return orders_pb2.ListCustomerOrdersResponse(
            orders=[order_to_proto(order) for order in page.orders], next_cursor=page.next_cursor or ""
        )

    async def RecordOrders(
        self, request: orders_pb2.RecordOrdersRequest, context: aio.ServicerContext
    ) -> orders_pb2.BatchResponse:
        orders = [
            order_request(o, lenient_time(o.paid_at) if o.HasField("paid_at") else None)
            for o in request.orders
        ]
        return batch_to_proto(await self._batches.record(current_tenant(), orders))

    async def RefundOrders(
        self, request: orders_pb2.RefundOrdersRequest, context: aio.ServicerContext
    ) -> orders_pb2.BatchResponse:
        refunds = [
            refund_request(r, lenient_time(r.refunded_at) if r.HasField("refunded_at") else None)
            for r in request.refunds
        ]
        return batch_to_proto(await self._batches.refund(current_tenant(), refunds))


def orders_registration(
    database: Database,
    cipher: PiiCipher,
    outbox: Outbox,
    directory: CustomerDirectory,
    tenants: TenantRegistry,
) -> Registration:
    """The OrderService, assembled: single orders through the directory's identify, batches through
    the batched identity resolver (which falls back to the same identify)."""
    store = SqlOrderStore(database, cipher, outbox)
    resolver = BatchIdentityResolver(
        SqlBatchIdentityStore(database, cipher, outbox), SqlCustomerStore(database, cipher, outbox)
    )
    batches = OrderBatches(SqlOrderBatchStore(database, store, outbox), resolver, tenants)
    return Registration(
        orders_pb2_grpc.add_OrderServiceServicer_to_server,
        OrderServicer(OrderBook(store, directory, tenants), batches),
        ORDER_SERVICE,
    )

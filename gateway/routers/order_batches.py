"""Orders and refunds in batches (profile service): bulk ingest and history imports.

``POST /v1/orders/batch`` takes ``{"orders": [...]}`` — up to 500 order objects exactly as
``POST /v1/orders`` takes them — and ``POST /v1/refunds/batch`` takes ``{"refunds": [...]}``, up to
500 refunds as ``POST /v1/orders/{order_id}/refunds`` takes them plus their ``order_id``. Both answer
like ``POST /v1/events``: ``accepted``, ``duplicates``, ``rejected`` (``index`` and ``errors``, each a
``field`` and a ``message``) and one ``results`` entry per item.

The call as a whole is checked here (JSON, a list of 1 to 500, the body within
``PATRON_GATEWAY_MAX_BODY_BYTES``) and refused with 422 / 413; each item's shape is checked here too
but rejects only that item; the rules are the profile service's, per item, the same as the single
calls'. A known id with the same body is a duplicate; with another body it is rejected naming the id.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter
from pydantic import Field, SkipValidation, TypeAdapter

from gateway.auth import scoped
from gateway.batches import BatchRecorded, ItemShape, Outcome
from gateway.dependencies import ERRORS, Profile
from gateway.routers.orders import OrderIn, RefundIn
from gateway.schemas import StrictBody, Text
from patron.profile.v1 import orders_pb2
from services.profile.domain.order_batch import MAX_ORDERS_PER_CALL, MAX_REFUNDS_PER_CALL

router = APIRouter(prefix="/v1", tags=["orders"])

# A batch may create up to 500 customers on the way: it gets more time than an ordinary call.
BATCH_DEADLINE_SECONDS = 15.0

_OUTCOME_NAMES: dict[int, Outcome] = {
    orders_pb2.BATCH_OUTCOME_ACCEPTED: "accepted",
    orders_pb2.BATCH_OUTCOME_DUPLICATE: "duplicate",
    orders_pb2.BATCH_OUTCOME_REJECTED: "rejected",
}


class RefundInBatch(RefundIn):
    order_id: Text = Field(description="the order refunded")


class OrdersIn(StrictBody):
    # SkipValidation: the schema documents each order, but an order of the wrong shape must be
    # rejected alone (below), not fail the whole call.
    text_checked_elsewhere = frozenset({"orders"})
    orders: list[SkipValidation[OrderIn]] = Field(min_length=1, max_length=MAX_ORDERS_PER_CALL)


class RefundsIn(StrictBody):
    text_checked_elsewhere = frozenset({"refunds"})
    refunds: list[SkipValidation[RefundInBatch]] = Field(min_length=1, max_length=MAX_REFUNDS_PER_CALL)


ORDERS = ItemShape("orders", OrderIn, TypeAdapter(list[OrderIn]), _OUTCOME_NAMES)
REFUNDS = ItemShape("refunds", RefundInBatch, TypeAdapter(list[RefundInBatch]), _OUTCOME_NAMES)


@router.post("/orders/batch", response_model=BatchRecorded, responses=ERRORS, **scoped("ingest"))
async def record_orders(body: OrdersIn, profile: Profile) -> BatchRecorded:
    """Record up to 500 paid orders, each once per ``order_id`` (emits ``order.paid`` for each new one).

    Answers 200 whenever the call itself is sound, also when some orders are rejected: the good ones
    are recorded, and ``rejected`` names each bad order's faults by its index.
    """
    raw = cast(list[object], body.orders)
    batch = ORDERS.sort(raw)
    response = None
    if batch.sound:
        request = orders_pb2.RecordOrdersRequest(orders=[order.to_proto() for _, order in batch.sound])
        response = await profile.orders.RecordOrders(request, deadline_seconds=BATCH_DEADLINE_SECONDS)
    return ORDERS.answer(len(raw), batch, response)


@router.post("/refunds/batch", response_model=BatchRecorded, responses=ERRORS, **scoped("ingest"))
async def record_refunds(body: RefundsIn, profile: Profile) -> BatchRecorded:
    """Record up to 500 refunds, each once per (``order_id``, ``refund_id``), emitting ``order.refunded``.

    The refunds of one order are judged in request order against what is left of it: one that would
    refund more than is left is rejected (``amount_minor``), as is one of an unknown order (``order_id``).
    """
    raw = cast(list[object], body.refunds)
    batch = REFUNDS.sort(raw)
    response = None
    if batch.sound:
        request = orders_pb2.RefundOrdersRequest(refunds=[r.to_proto(r.order_id) for _, r in batch.sound])
        response = await profile.orders.RefundOrders(request, deadline_seconds=BATCH_DEADLINE_SECONDS)
    return REFUNDS.answer(len(raw), batch, response)

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

from datetime import UTC
from typing import Literal, TypeVar, cast

from fastapi import APIRouter
from pydantic import BaseModel, Field, SkipValidation, TypeAdapter, ValidationError

from gateway.dependencies import ERRORS, Clients, Tenant
from gateway.problems import field_path
from gateway.routers.events import FieldError
from gateway.routers.orders import OrderIn, RefundIn, Text, order_to_proto
from gateway.schemas import StrictBody
from patron.profile.v1 import orders_pb2

router = APIRouter(prefix="/v1", tags=["orders"])

MAX_ORDERS_PER_CALL = 500
MAX_REFUNDS_PER_CALL = 500
# A batch may create up to 500 customers on the way: it gets more time than an ordinary call.
BATCH_DEADLINE_SECONDS = 15.0

Outcome = Literal["accepted", "duplicate", "rejected"]
_OUTCOME_NAMES: dict[int, Outcome] = {
    orders_pb2.BATCH_OUTCOME_ACCEPTED: "accepted",
    orders_pb2.BATCH_OUTCOME_DUPLICATE: "duplicate",
    orders_pb2.BATCH_OUTCOME_REJECTED: "rejected",
}
Item = TypeVar("Item", bound=BaseModel)


class RefundInBatch(RefundIn):
    order_id: Text = Field(description="the order refunded")


class OrdersIn(StrictBody):
    # SkipValidation: the schema documents each order, but an order of the wrong shape must be
    # rejected alone (below), not fail the whole call.
    orders: list[SkipValidation[OrderIn]] = Field(min_length=1, max_length=MAX_ORDERS_PER_CALL)


class RefundsIn(StrictBody):
    refunds: list[SkipValidation[RefundInBatch]] = Field(min_length=1, max_length=MAX_REFUNDS_PER_CALL)


class RejectedItem(BaseModel):
    index: int
    errors: list[FieldError]


class BatchRecorded(BaseModel):
    accepted: int = Field(description="items recorded by this call")
    duplicates: int = Field(
        description="items whose id was already recorded with the same body (or came earlier)"
    )
    rejected: list[RejectedItem]
    results: list[Outcome] = Field(description="what became of each item, in request order")


def _shape_check(
    name: str, model: type[Item], raw_items: list[object]
) -> tuple[list[tuple[int, Item]], dict[int, list[FieldError]]]:
    """The well-formed items with their positions, and each malformed one's faults."""
    messages = {"missing": "is required", "extra_forbidden": "is not a known field"}
    try:  # one pass over the whole list when every item is well formed (the usual case) ...
        return list(enumerate(TypeAdapter(list[model]).validate_python(raw_items))), {}  # type: ignore[valid-type]
    except ValidationError:  # ... else item by item, so that each bad one is rejected alone
        pass
    sound: list[tuple[int, Item]] = []
    rejected: dict[int, list[FieldError]] = {}
    for index, raw in enumerate(raw_items):
        try:
            sound.append((index, model.model_validate(raw)))
        except ValidationError as error:
            rejected[index] = [
                FieldError(
                    field=field_path(("body", name, index, *e["loc"])),
                    message=messages.get(e["type"], e["msg"]),
                )
                for e in error.errors()
            ]
    return sound, rejected


def _renumber(field: str, name: str, sent_index: int, index: int) -> str:
    """A service field path about the ``sent_index``-th item sent, as the client numbered it."""
    sent = f"{name}[{sent_index}]"
    return f"{name}[{index}]{field[len(sent) :]}" if field.startswith(sent) else field


def _answer(
    name: str,
    count: int,
    positions: list[int],
    rejected: dict[int, list[FieldError]],
    response: orders_pb2.BatchResponse | None,
) -> BatchRecorded:
    results: list[Outcome] = ["rejected"] * count
    accepted = duplicates = 0
    if response is not None:
        accepted, duplicates = response.accepted, response.duplicates
        for sent_index, outcome in enumerate(response.outcomes):
            results[positions[sent_index]] = _OUTCOME_NAMES[outcome]
        for item in response.rejected:
            index = positions[item.index]
            rejected[index] = [
                FieldError(field=_renumber(e.field, name, item.index, index), message=e.message)
                for e in item.errors
            ]
    return BatchRecorded(
        accepted=accepted,
        duplicates=duplicates,
        rejected=[RejectedItem(index=i, errors=rejected[i]) for i in sorted(rejected)],
        results=results,
    )


@router.post("/orders/batch", response_model=BatchRecorded, responses=ERRORS)
async def record_orders(body: OrdersIn, tenant: Tenant, clients: Clients) -> BatchRecorded:
    """Record up to 500 paid orders, each once per ``order_id`` (emits ``order.paid`` for each new one).

    Answers 200 whenever the call itself is sound, also when some orders are rejected: the good ones
    are recorded, and ``rejected`` names each bad order's faults by its index.
    """
    raw = cast(list[object], body.orders)
    sound, rejected = _shape_check("orders", OrderIn, raw)
    response = None
    if sound:
        response = await clients.call(
            "profile",
            clients.orders.RecordOrders,
            orders_pb2.RecordOrdersRequest(orders=[order_to_proto(order) for _, order in sound]),
            tenant_id=tenant.tenant_id,
            deadline_seconds=BATCH_DEADLINE_SECONDS,
        )
    return _answer("orders", len(raw), [index for index, _ in sound], rejected, response)


def _refund_to_proto(refund: RefundInBatch) -> orders_pb2.RefundOrderRequest:
    message = orders_pb2.RefundOrderRequest(
        order_id=refund.order_id,
        refund_id=refund.refund_id,
        amount_minor=refund.amount_minor,
        reason=refund.reason,
        currency=refund.currency,
    )
    if refund.refunded_at is not None:
        message.refunded_at.FromDatetime(refund.refunded_at.astimezone(UTC))
    return message


@router.post("/refunds/batch", response_model=BatchRecorded, responses=ERRORS)
async def record_refunds(body: RefundsIn, tenant: Tenant, clients: Clients) -> BatchRecorded:
    """Record up to 500 refunds, each once per (``order_id``, ``refund_id``), emitting ``order.refunded``.

    The refunds of one order are judged in request order against what is left of it: one that would
    refund more than is left is rejected (``amount_minor``), as is one of an unknown order (``order_id``).
    """
    raw = cast(list[object], body.refunds)
    sound, rejected = _shape_check("refunds", RefundInBatch, raw)
    response = None
    if sound:
        response = await clients.call(
            "profile",
            clients.orders.RefundOrders,
            orders_pb2.RefundOrdersRequest(refunds=[_refund_to_proto(refund) for _, refund in sound]),
            tenant_id=tenant.tenant_id,
            deadline_seconds=BATCH_DEADLINE_SECONDS,
        )
    return _answer("refunds", len(raw), [index for index, _ in sound], rejected, response)

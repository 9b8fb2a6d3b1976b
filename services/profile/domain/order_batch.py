"""Orders and refunds in batches (bulk ingest, history imports): each item judged alone, the batch
written in a few set-based statements.

Every order is checked by ``validate_order`` and every refund by ``validate_refund`` and
``judge_refund`` — the rules of the single calls, applied per item; a bad item is rejected with its
index and its faults (``orders[3].paid_at``) and never stops the others. Idempotency is the single
calls' too: an order id (a refund id within its order) already recorded with the same body is a
duplicate, with another body a rejection naming the id. An id that appears twice in one call counts
once: the first occurrence decides, a later one with the same body is a duplicate.

A known order id is answered before any identity is resolved, so re-sending a batch (an import
resumed after a crash) creates no customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from services.profile.domain.batch_identities import BatchIdentityResolver
from services.profile.domain.behaviour import Outcome, RecordResult, Rejection
from services.profile.domain.directory import TenantRegistry
from services.profile.domain.order_rules import (
    is_well_formed_id,
    judge_refund,
    validate_order,
    validate_refund,
)
from services.profile.domain.orders import (
    NewOrder,
    NewRefund,
    OrderRequest,
    OrderTerms,
    RefundRequest,
)
from services.runtime.errors import Conflict, FieldViolation, InvalidArgument

MAX_ORDERS_PER_CALL = 500
MAX_REFUNDS_PER_CALL = 500


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """A valid new order with the customer it names (the store follows a merge to the survivor)."""

    customer_id: uuid.UUID
    order: NewOrder
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class OrderBatchWrite:
    """What the store did: orders inserted now, ids found taken (with their fingerprints), and the
    customers it could not find (unknown, another tenant's, erased)."""

    inserted: frozenset[str]
    taken: dict[str, bytes]
    missing_customers: frozenset[uuid.UUID]


@dataclass(frozen=True, slots=True)
class PlacedRefund:
    """A refund whose own fields are valid, with its position in the call."""

    index: int
    refund: NewRefund
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class RefundVerdict:
    """What became of one refund in the store: created, already there (with its fingerprint), or
    refused (the order is missing, or a rule about the order failed)."""

    created: bool = False
    existing_fingerprint: bytes | None = None
    violations: tuple[FieldViolation, ...] = ()


RefundJudge = Callable[[PlacedRefund, OrderTerms], list[FieldViolation]]


class OrderBatchStore(Protocol):
    def fingerprint(self, tenant_id: uuid.UUID, canonical: str) -> bytes: ...

    async def fingerprints(self, tenant_id: uuid.UUID, order_ids: Sequence[str]) -> dict[str, bytes]: ...

    async def record_many(self, tenant_id: uuid.UUID, orders: Sequence[PlacedOrder]) -> OrderBatchWrite: ...

    async def refund_many(
        self, tenant_id: uuid.UUID, refunds: Sequence[PlacedRefund], judge: RefundJudge
    ) -> dict[int, RefundVerdict]: ...


@dataclass(slots=True)
class _Item:
    """One item of a call on its way through the rules."""

    index: int
    violations: list[FieldViolation] = field(default_factory=list)
    outcome: Outcome | None = None
    first: int | None = None  # index of the earlier item with the same id, when there is one


def _nested(prefix: str, violations: Sequence[FieldViolation]) -> list[FieldViolation]:
    return [FieldViolation(f"{prefix}.{v.field}", v.message) for v in violations]


def _answer(items: list[_Item]) -> RecordResult:
    """Outcomes in request order; a repeat of an id follows the first occurrence's fate."""
    for item in items:
        if item.first is not None and item.outcome is None:
            if items[item.first].violations and not item.violations:
                item.violations = [
                    _reused(item.index, f"repeats orders[{item.first}] of this call, which was rejected")
                ]
            item.outcome = Outcome.REJECTED if item.violations else Outcome.DUPLICATE
        if item.violations:
            item.outcome = Outcome.REJECTED
    outcomes = [item.outcome or Outcome.REJECTED for item in items]
    return RecordResult(
        accepted=outcomes.count(Outcome.ACCEPTED),
        duplicates=outcomes.count(Outcome.DUPLICATE),
        rejected=[Rejection(i.index, i.violations) for i in items if i.outcome is Outcome.REJECTED],
        outcomes=outcomes,
    )


def _check_size(name: str, count: int, limit: int) -> None:
    if count == 0:
        raise InvalidArgument.single(name, f"at least one of the {name} is required")
    if count > limit:
        raise InvalidArgument.single(name, f"at most {limit} {name} per call")


def _refund_rules(placed: PlacedRefund, terms: OrderTerms) -> list[FieldViolation]:
    """``judge_refund``'s verdict as faults of this refund (a refusal is a rejection, not an error)."""
    prefix = f"refunds[{placed.index}]"
    try:
        judge_refund(placed.refund, terms)
    except InvalidArgument as error:
        return _nested(prefix, error.violations)
    except Conflict as error:  # over what is left (amount_minor), or too many refunds (the order)
        field = "order_id" if error.reason == "TOO_MANY_REFUNDS" else "amount_minor"
        return [FieldViolation(f"{prefix}.{field}", error.message)]
    return []


class OrderBatches:
    """Records batches of orders and of refunds (see the module docstring)."""

    def __init__(
        self, store: OrderBatchStore, identities: BatchIdentityResolver, tenants: TenantRegistry
    ) -> None:
        self._store = store
        self._identities = identities
        self._tenants = tenants

    async def record(self, tenant_id: uuid.UUID, requests: Sequence[OrderRequest]) -> RecordResult:
        """Record the good orders of a batch once each (with order.paid); say what became of each.

        A fault of the call (no orders, more than 500) raises InvalidArgument and writes nothing.
        """
        _check_size("orders", len(requests), MAX_ORDERS_PER_CALL)
        tenant = await self._tenants.get(tenant_id)
        now = datetime.now(UTC)
        items = [_Item(index) for index in range(len(requests))]
        valid: dict[int, tuple[NewOrder, bytes]] = {}
        first_of: dict[str, int] = {}
        for item, request in zip(items, requests, strict=True):
            try:
                order = validate_order(request, tenant.default_region, now)
            except InvalidArgument as error:
                item.violations = _nested(f"orders[{item.index}]", error.violations)
                continue
            fingerprint = self._store.fingerprint(tenant_id, order.canonical)
            valid[item.index] = (order, fingerprint)
            earlier = first_of.setdefault(order.order_id, item.index)
            if earlier != item.index:
                item.first = earlier
                if valid[earlier][1] != fingerprint:
                    item.violations = [_reused(item.index, "appears earlier in this call with another body")]
        fresh = {index: pair for index, pair in valid.items() if items[index].first is None}
        taken = await self._store.fingerprints(tenant_id, [order.order_id for order, _ in fresh.values()])
        for index, (order, fingerprint) in list(fresh.items()):
            if order.order_id in taken:
                self._settle_taken(items[index], taken[order.order_id], fingerprint)
                del fresh[index]
        placed = await self._place(tenant_id, fresh)
        written = await self._store.record_many(tenant_id, list(placed.values()))
        for index, sent in placed.items():
            item = items[index]
            order_id = sent.order.order_id
            if order_id in written.inserted:
                item.outcome = Outcome.ACCEPTED
            elif order_id in written.taken:  # recorded by a concurrent call meanwhile
                self._settle_taken(item, written.taken[order_id], sent.fingerprint)
            else:
                named_by = "identities" if sent.order.customer_id is None else "customer_id"
                item.violations = [FieldViolation(f"orders[{index}].{named_by}", "customer not found")]
        return _answer(items)

    async def _place(
        self, tenant_id: uuid.UUID, fresh: dict[int, tuple[NewOrder, bytes]]
    ) -> dict[int, PlacedOrder]:
        """Each new order with its customer; the batch's identity sets are resolved together."""
        sets = {frozenset(order.identities) for order, _ in fresh.values() if order.customer_id is None}
        customers = await self._identities.resolve(tenant_id, sets)
        placed: dict[int, PlacedOrder] = {}
        for index, (order, fingerprint) in fresh.items():
            customer_id = order.customer_id or customers[frozenset(order.identities)]
            placed[index] = PlacedOrder(customer_id, order, fingerprint)
        return placed

    @staticmethod
    def _settle_taken(item: _Item, recorded: bytes, sent: bytes) -> None:
        if recorded == sent:
            item.outcome = Outcome.DUPLICATE
        else:
            item.violations = [_reused(item.index, "was already recorded with a different body")]

    async def refund(self, tenant_id: uuid.UUID, requests: Sequence[RefundRequest]) -> RecordResult:
        """Record the good refunds of a batch once each (with order.refunded); say what became of each.

        The refunds of one order are judged in request order against what is left of it, under the
        order's row lock, so a batch can never refund more than an order's amount.
        """
        _check_size("refunds", len(requests), MAX_REFUNDS_PER_CALL)
        now = datetime.now(UTC)
        items = [_Item(index) for index in range(len(requests))]
        placed: list[PlacedRefund] = []
        for item, request in zip(items, requests, strict=True):
            if not is_well_formed_id(request.order_id):
                item.violations.append(FieldViolation(f"refunds[{item.index}].order_id", "order not found"))
            try:
                refund = validate_refund(request, now)
            except InvalidArgument as error:
                item.violations.extend(_nested(f"refunds[{item.index}]", error.violations))
                continue
            if not item.violations:
                fingerprint = self._store.fingerprint(tenant_id, refund.canonical)
                placed.append(PlacedRefund(item.index, refund, fingerprint))
        verdicts = await self._store.refund_many(tenant_id, placed, _refund_rules) if placed else {}
        for sent in placed:
            item, verdict = items[sent.index], verdicts[sent.index]
            if verdict.violations:
                item.violations = list(verdict.violations)
            elif verdict.created:
                item.outcome = Outcome.ACCEPTED
            elif verdict.existing_fingerprint == sent.fingerprint:
                item.outcome = Outcome.DUPLICATE
            else:
                item.violations = [
                    FieldViolation(
                        f"refunds[{sent.index}].refund_id",
                        "was already recorded for this order with a different body",
                    )
                ]
        return _answer(items)


def _reused(index: int, message: str) -> FieldViolation:
    return FieldViolation(f"orders[{index}].order_id", message)

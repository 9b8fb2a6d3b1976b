"""The rules a paid order and a refund must meet, each fault named by its REST field path.

``validate_order`` and ``validate_refund`` check what a caller wrote and normalise it (with the
canonical body that idempotency compares); ``judge_refund`` applies what depends on the order, under
its lock. The single calls (``order_book``) and the batches (``order_batch``) apply the same rules.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.profile.domain.identities import NormalizedIdentity, normalize_identities
from services.profile.domain.orders import (
    NewOrder,
    NewRefund,
    OrderLine,
    OrderRequest,
    OrderTerms,
    RefundRequest,
)
from services.runtime.currencies import is_tender
from services.runtime.errors import Conflict, InvalidArgument, ViolationCollector

MAX_ID_LENGTH = 128
MAX_ITEMS = 500
MAX_QUANTITY = 10_000
# Below 2**53 so that every amount survives a JavaScript client and sums never near BIGINT's limit.
# The same bound holds for each line's total (unit price x quantity) and for the lines' sum, so that
# every figure a consumer derives from one order fits BIGINT (docs/money-bounds.md).
MAX_AMOUNT_MINOR = 10**15
MAX_SKU_LENGTH = 128
MAX_LABEL_LENGTH = 100  # category, brand
MAX_CODE_LENGTH = 64  # coupon_code, channel
MAX_REASON_LENGTH = 200
MAX_REFUNDS_PER_ORDER = 100
# History is imported too (the CDNOW cohort of 1997 is the reference data set): the epoch, not 2000.
EARLIEST_PAID_AT = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)

# Letters, digits and . _ : ~ - (so that an id is safe as a URL path segment), starting alphanumeric.
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~-]*$")


def is_well_formed_id(value: str) -> bool:
    """Whether ``value`` could be an order or refund id (anything else cannot name one)."""
    return 1 <= len(value) <= MAX_ID_LENGTH and _ID_PATTERN.match(value) is not None


def _check_id(errors: ViolationCollector, field: str, value: str) -> None:
    if not is_well_formed_id(value):
        errors.add(
            field,
            f"must be 1 to {MAX_ID_LENGTH} letters, digits or . _ : ~ - (starting with a letter or digit)",
        )


def _text(errors: ViolationCollector, field: str, value: str | None, limit: int) -> str | None:
    """An optional label, trimmed; given but blank, too long or with control characters is an error."""
    if value is None:
        return None
    trimmed = value.strip()
    if not trimmed or len(trimmed) > limit:
        errors.add(field, f"must be 1 to {limit} characters")
    elif any(unicodedata.category(c) == "Cc" for c in trimmed):
        errors.add(field, "must not contain control characters")
    return trimmed


def _amount(errors: ViolationCollector, field: str, value: int, *, minimum: int) -> None:
    if not minimum <= value <= MAX_AMOUNT_MINOR:
        errors.add(field, f"must be an integer from {minimum} to {MAX_AMOUNT_MINOR} (minor units)")


def _line_totals(errors: ViolationCollector, items: list[OrderLine]) -> None:
    """Each line's total and the lines' sum are money too: at most MAX_AMOUNT_MINOR, like the amount.
    (A line whose own fields are out of range is left to those fields' messages.)"""
    total = 0
    every_line_fits = True
    for index, line in enumerate(items):
        if not (0 <= line.unit_price_minor <= MAX_AMOUNT_MINOR and 1 <= line.quantity <= MAX_QUANTITY):
            every_line_fits = False
            continue
        line_total = line.unit_price_minor * line.quantity
        if line_total > MAX_AMOUNT_MINOR:
            every_line_fits = False
            errors.add(
                f"items[{index}].quantity",
                f"unit_price_minor x quantity must be at most {MAX_AMOUNT_MINOR} minor units",
            )
        total += line_total
    if every_line_fits and total > MAX_AMOUNT_MINOR:
        errors.add(
            "items", f"the lines' total (unit_price_minor x quantity) must be at most {MAX_AMOUNT_MINOR}"
        )


def _currency(errors: ViolationCollector, field: str, value: str) -> str:
    code = value.upper()
    if not is_tender(code):  # one rule with a tenant's currency (services.runtime.currencies)
        errors.add(field, f"must be an ISO 4217 currency code, not {value!r}")
    return code


def _moment(
    errors: ViolationCollector, field: str, value: datetime | None, now: datetime, earliest: datetime
) -> datetime:
    if value is None:
        errors.add(field, "is required")
        return now
    if value.tzinfo is None:
        errors.add(field, "must carry a time zone offset")
        return now
    if not earliest <= value <= now + CLOCK_SKEW:
        errors.add(field, f"must be between {earliest.isoformat()} and now")
    return value.astimezone(UTC)


def _canonical(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def validate_order(request: OrderRequest, default_region: str, now: datetime) -> NewOrder:
    """Check every field of a paid order and normalise it; raises InvalidArgument naming each fault.

    The amount may differ from the sum of the items (discounts, coupons and shipping make it so).
    """
    errors = ViolationCollector()
    _check_id(errors, "order_id", request.order_id)
    customer_id: uuid.UUID | None = None
    identities: list[NormalizedIdentity] = []
    if request.customer_id and request.identities:
        errors.add("customer_id", "give either customer_id or identities, not both")
    elif request.customer_id:
        try:
            customer_id = uuid.UUID(request.customer_id)
        except ValueError:
            errors.add("customer_id", "must be a customer id (UUID)")
    elif request.identities:
        try:
            identities = normalize_identities(request.identities, default_region)
        except InvalidArgument as error:
            errors.violations.extend(error.violations)
    else:
        errors.add("customer_id", "customer_id or identities is required")
    paid_at = _moment(errors, "paid_at", request.paid_at, now, EARLIEST_PAID_AT)
    currency = _currency(errors, "currency", request.currency)
    _amount(errors, "amount_minor", request.amount_minor, minimum=0)
    if not 1 <= len(request.items) <= MAX_ITEMS:
        errors.add("items", f"must hold 1 to {MAX_ITEMS} items")
    items: list[OrderLine] = []
    for index, item in enumerate(request.items[:MAX_ITEMS]):
        field = f"items[{index}]"
        sku = _text(errors, f"{field}.sku", item.sku, MAX_SKU_LENGTH) or ""
        category = _text(errors, f"{field}.category", item.category, MAX_LABEL_LENGTH)
        brand = _text(errors, f"{field}.brand", item.brand, MAX_LABEL_LENGTH)
        _amount(errors, f"{field}.unit_price_minor", item.unit_price_minor, minimum=0)
        if not 1 <= item.quantity <= MAX_QUANTITY:
            errors.add(f"{field}.quantity", f"must be an integer from 1 to {MAX_QUANTITY}")
        items.append(OrderLine(sku, category, brand, item.unit_price_minor, item.quantity))
    _line_totals(errors, items)
    coupon_code = _text(errors, "coupon_code", request.coupon_code, MAX_CODE_LENGTH)
    channel = _text(errors, "channel", request.channel, MAX_CODE_LENGTH)
    errors.raise_if_any()
    canonical = _canonical(
        {
            "order_id": request.order_id,
            "customer_id": str(customer_id) if customer_id else None,
            "identities": sorted([i.type, i.value] for i in identities),
            "paid_at": paid_at.isoformat(),
            "currency": currency,
            "amount_minor": request.amount_minor,
            "items": [[i.sku, i.category, i.brand, i.unit_price_minor, i.quantity] for i in items],
            "coupon_code": coupon_code,
            "channel": channel,
        }
    )
    return NewOrder(
        request.order_id,
        customer_id,
        identities,
        paid_at,
        currency,
        request.amount_minor,
        tuple(items),
        coupon_code,
        channel,
        canonical,
    )


def validate_refund(request: RefundRequest, now: datetime) -> NewRefund:
    """Check a refund's own fields (the order id is the caller's to check: a bad one is not found).

    What depends on the order (currency, what is left) is judged later, under the order's lock.
    """
    errors = ViolationCollector()
    _check_id(errors, "refund_id", request.refund_id)
    _amount(errors, "amount_minor", request.amount_minor, minimum=1)
    reason = _text(errors, "reason", request.reason, MAX_REASON_LENGTH)
    currency = _currency(errors, "currency", request.currency) if request.currency is not None else None
    given_at = request.refunded_at if request.refunded_at is not None else now
    refunded_at = _moment(errors, "refunded_at", given_at, now, EARLIEST_PAID_AT)
    errors.raise_if_any()
    canonical = _canonical(
        {
            "refund_id": request.refund_id,
            "amount_minor": request.amount_minor,
            "reason": reason,
            "currency": currency,
            # A refund time the server chose is not part of what the client asked for.
            "refunded_at": refunded_at.isoformat() if request.refunded_at is not None else None,
        }
    )
    return NewRefund(
        request.order_id, request.refund_id, request.amount_minor, reason, currency, refunded_at, canonical
    )


def judge_refund(refund: NewRefund, terms: OrderTerms) -> None:
    """The rules that depend on the order, applied by the store while it holds the order's lock."""
    errors = ViolationCollector()
    if refund.currency is not None and refund.currency != terms.currency:
        errors.add("currency", f"must be the order's currency {terms.currency}")
    if refund.refunded_at < terms.paid_at:
        errors.add("refunded_at", "must not be before the order was paid")
    errors.raise_if_any()
    if refund.amount_minor > terms.remaining_minor:
        raise Conflict(
            f"order {refund.order_id} has {terms.remaining_minor} {terms.currency} minor units left "
            f"to refund, not {refund.amount_minor}",
            reason="REFUND_EXCEEDS_REMAINING",
            metadata={"order_id": refund.order_id, "remaining_minor": str(terms.remaining_minor)},
        )
    if terms.refund_count >= MAX_REFUNDS_PER_ORDER:
        raise Conflict(
            f"order {refund.order_id} already has {MAX_REFUNDS_PER_ORDER} refunds, the most it may have",
            reason="TOO_MANY_REFUNDS",
            metadata={"order_id": refund.order_id},
        )

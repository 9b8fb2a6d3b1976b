"""Orders and refunds: what they are and the rules a paid order and a refund must meet.

Money is an integer count of the currency's minor units; floats never appear. An order is recorded
once per order id and a refund once per (order id, refund id): a repeat with the same body answers
what was recorded, a repeat with another body is a conflict (``order_book`` applies that).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pycountry

from services.profile.domain.identities import IdentityInput, NormalizedIdentity, normalize_identities
from services.runtime.errors import Conflict, InvalidArgument, ViolationCollector

MAX_ID_LENGTH = 128
MAX_ITEMS = 500
MAX_QUANTITY = 10_000
# Below 2**53 so that every amount survives a JavaScript client and sums never near BIGINT's limit.
MAX_AMOUNT_MINOR = 10**15
MAX_SKU_LENGTH = 128
MAX_LABEL_LENGTH = 100  # category, brand
MAX_CODE_LENGTH = 64  # coupon_code, channel
MAX_REASON_LENGTH = 200
MAX_REFUNDS_PER_ORDER = 100
# History is imported too (the CDNOW cohort of 1997 is the reference data set): the epoch, not 2000.
EARLIEST_PAID_AT = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# A page of orders also stops once it holds this many items and refunds, so a page stays small.
MAX_LINES_PER_PAGE = 5_000

# Letters, digits and . _ : ~ - (so that an id is safe as a URL path segment), starting alphanumeric.
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~-]*$")
# ISO 4217 codes that are not money a shop is paid in: metals, bond units, SDR, test and "none".
_NOT_TENDER = frozenset(
    {"XAG", "XAU", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XTS", "XXX"}
)

PAID = "paid"
PARTIALLY_REFUNDED = "partially_refunded"
REFUNDED = "refunded"


def order_status(amount_minor: int, refunded_minor: int) -> str:
    """paid until something is refunded, refunded once nothing is left, partially_refunded between."""
    if refunded_minor == 0:
        return PAID
    return REFUNDED if refunded_minor >= amount_minor else PARTIALLY_REFUNDED


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One item of an order: what was bought, at which unit price, how many."""

    sku: str
    category: str | None
    brand: str | None
    unit_price_minor: int
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A paid order as the caller wrote it; ``validate_order`` checks and normalises it."""

    order_id: str
    customer_id: str | None
    identities: Sequence[IdentityInput]
    paid_at: datetime | None
    currency: str
    amount_minor: int
    items: Sequence[OrderLine]
    coupon_code: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A valid order, normalised. ``canonical`` is the body in one spelling, for idempotency."""

    order_id: str
    customer_id: uuid.UUID | None
    identities: list[NormalizedIdentity]
    paid_at: datetime
    currency: str
    amount_minor: int
    items: tuple[OrderLine, ...]
    coupon_code: str | None
    channel: str | None
    canonical: str


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund of part or all of an order, in the order's currency."""

    refund_id: str
    amount_minor: int
    currency: str
    reason: str | None
    refunded_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Order:
    """A recorded order with its items and refunds (oldest first)."""

    order_id: str
    customer_id: uuid.UUID
    paid_at: datetime
    currency: str
    amount_minor: int
    refunded_minor: int
    status: str
    items: tuple[OrderLine, ...]
    coupon_code: str | None
    channel: str | None
    refunds: tuple[Refund, ...]
    created_at: datetime
    updated_at: datetime
    fingerprint: bytes  # keyed digest of the body it was recorded with

    @property
    def remaining_minor(self) -> int:
        """What may still be refunded."""
        return self.amount_minor - self.refunded_minor


@dataclass(frozen=True, slots=True)
class RecordedOrder:
    """An order and whether this call recorded it (False: it was already recorded)."""

    order: Order
    created: bool


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """A refund as the caller wrote it; ``validate_refund`` checks it."""

    order_id: str
    refund_id: str
    amount_minor: int
    reason: str | None = None
    currency: str | None = None
    refunded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewRefund:
    """A refund whose own fields are valid. ``canonical`` is the body in one spelling."""

    order_id: str
    refund_id: str
    amount_minor: int
    reason: str | None
    currency: str | None
    refunded_at: datetime
    canonical: str


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What a refund is judged against: the order's fixed terms and what is refunded so far."""

    currency: str
    paid_at: datetime
    amount_minor: int
    refunded_minor: int
    refund_count: int

    @property
    def remaining_minor(self) -> int:
        return self.amount_minor - self.refunded_minor


@dataclass(frozen=True, slots=True)
class RefundAttempt:
    """What the store found or did: the refund recorded now, or the one already under that id."""

    terms: OrderTerms
    refund: Refund
    created: bool
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class RecordedRefund:
    """A refund, whether this call recorded it, and the order's state after it."""

    refund: Refund
    created: bool
    order_status: str
    order_amount_minor: int
    order_refunded_minor: int

    @property
    def order_remaining_minor(self) -> int:
        """What is left of the order to refund after this refund."""
        return self.order_amount_minor - self.order_refunded_minor


@dataclass(frozen=True, slots=True)
class OrderCursor:
    """Where a page of a customer's orders (newest paid first) stopped."""

    paid_at: datetime
    order_id: str

    def encode(self) -> str:
        raw = json.dumps([self.paid_at.isoformat(), self.order_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> OrderCursor:
        """Parse a cursor this API gave; anything else names ``cursor`` as invalid."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            paid_at, order_id = raw
            parsed = datetime.fromisoformat(paid_at)
            if not isinstance(order_id, str) or parsed.tzinfo is None:
                raise ValueError("malformed cursor")
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise InvalidArgument.single("cursor", "is not a cursor this API gave") from None
        return cls(parsed, order_id)


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of a customer's orders; ``next_cursor`` is None on the last page."""

    orders: list[Order]
    next_cursor: str | None


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


def _currency(errors: ViolationCollector, field: str, value: str) -> str:
    code = value.upper()
    if len(code) != 3 or code in _NOT_TENDER or pycountry.currencies.get(alpha_3=code) is None:
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

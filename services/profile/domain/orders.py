"""Orders and refunds: what they are, the state of an order, and where a page of orders stopped.

Money is an integer count of the currency's minor units; floats never appear. An order is recorded
once per order id and a refund once per (order id, refund id): a repeat with the same body answers
what was recorded, a repeat with another body is a conflict (``order_book`` applies that). The rules
an order and a refund must meet are in ``order_rules``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.profile.domain.identities import IdentityInput, NormalizedIdentity
from services.runtime.paging import cursor_key, encode_cursor

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# A page of orders also stops once it holds this many items and refunds, so a page stays small.
MAX_LINES_PER_PAGE = 5_000

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
        """The opaque cursor of the page that follows this order."""
        return encode_cursor([self.paid_at, self.order_id])

    @classmethod
    def decode(cls, value: str) -> OrderCursor:
        """Parse a cursor this API gave; anything else names ``cursor`` as invalid."""
        return cls(*cursor_key(value, (datetime, str)))


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of a customer's orders; ``next_cursor`` is None on the last page."""

    orders: list[Order]
    next_cursor: str | None

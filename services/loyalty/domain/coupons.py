"""Coupons: what a template may say, when a coupon is valid, and what a redemption gives.

Rules (docs/membership-coupons.md states them for clients):

- **Kinds**: ``threshold`` (满X减Y: ``discount_minor`` off an order of at least ``threshold_minor``),
  ``percent`` (``percent_off`` % off, rounded down, at most ``max_discount_minor`` when given),
  ``no_threshold`` (``discount_minor`` off any order) and ``first_order`` (``discount_minor`` off the
  customer's first paid order). A discount never exceeds the order amount. A field that the kind
  does not use is refused, so a template always means one thing.
- **Validity**: fixed dates (``valid_from`` < ``valid_until``) or ``valid_days`` from the moment
  of issue; a fixed-date template whose end has passed issues nothing.
- **Limits**: ``per_customer_limit`` coupons per customer (default 1), ``budget`` coupons in total
  (absent: no budget), both enforced by the database under concurrency.
- **Codes**: 16 characters from a 32-letter alphabet without look-alikes (80 bits from ``secrets``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from services.runtime.errors import Conflict, ViolationCollector

CouponKind = Literal["threshold", "percent", "no_threshold", "first_order"]
COUPON_KINDS: tuple[str, ...] = get_args(CouponKind)
CouponStatus = Literal["available", "not_yet_valid", "expired", "redeemed", "revoked"]
COUPON_STATUSES: tuple[str, ...] = get_args(CouponStatus)

# Limits of a template (each is also stated in docs/membership-coupons.md).
MAX_NAME = 100
MAX_MONEY_MINOR = 10**12
MAX_PERCENT_OFF = 99
MAX_VALID_DAYS = 3_650
MAX_VALIDITY = timedelta(days=3_660)  # a fixed window ends at most ~10 years after it starts
MAX_PER_CUSTOMER = 1_000
MAX_BUDGET = 100_000_000
MAX_POINTS_PRICE = 10**9
MAX_ORDER_ID = 128
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ0123456789"  # no I, L, O, U: nothing to misread
CODE_LENGTH = 16

_FIELDS_BY_KIND: dict[str, frozenset[str]] = {
    "threshold": frozenset({"threshold_minor", "discount_minor"}),
    "percent": frozenset({"percent_off", "max_discount_minor"}),
    "no_threshold": frozenset({"discount_minor"}),
    "first_order": frozenset({"discount_minor"}),
}
_REQUIRED_BY_KIND: dict[str, frozenset[str]] = {
    "threshold": frozenset({"threshold_minor", "discount_minor"}),
    "percent": frozenset({"percent_off"}),
    "no_threshold": frozenset({"discount_minor"}),
    "first_order": frozenset({"discount_minor"}),
}


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A template as an operator writes it."""

    name: str
    kind: str
    threshold_minor: int | None = None
    discount_minor: int | None = None
    percent_off: int | None = None
    max_discount_minor: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    per_customer_limit: int = 1
    budget: int | None = None
    points_price: int | None = None


@dataclass(frozen=True, slots=True)
class CouponTemplate:
    """A stored template with its counters."""

    template_id: uuid.UUID
    spec: TemplateSpec
    issued_count: int
    redeemed_count: int
    created_at: datetime

    @property
    def redemption_rate(self) -> float:
        """Redeemed / issued (0 when nothing was issued): a ratio, not money."""
        return round(self.redeemed_count / self.issued_count, 4) if self.issued_count else 0.0

    @property
    def remaining_budget(self) -> int | None:
        return None if self.spec.budget is None else self.spec.budget - self.issued_count


@dataclass(frozen=True, slots=True)
class Coupon:
    """One issued coupon."""

    code: str
    template_id: uuid.UUID
    customer_id: uuid.UUID | None
    kind: str
    source: str
    stored_status: str
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    redeemed_at: datetime | None
    order_id: str | None
    discount_minor: int | None
    order_amount_minor: int | None = None

    def repeats_redemption(self, order_id: str, amount_minor: int) -> bool:
        """Whether redeeming on ``order_id`` of ``amount_minor`` is the redemption this coupon
        already had (a client's retry), to be answered with that redemption."""
        return (
            self.stored_status == "redeemed"
            and self.order_id == order_id
            and self.order_amount_minor == amount_minor
            and self.discount_minor is not None
        )

    def status(self, now: datetime) -> CouponStatus:
        """What the coupon is at ``now``: redeemed and revoked are final, the rest is time."""
        if self.stored_status == "redeemed":
            return "redeemed"
        if self.stored_status == "revoked":
            return "revoked"
        if now < self.valid_from:
            return "not_yet_valid"
        if now >= self.valid_until:
            return "expired"
        return "available"


def _check_money(errors: ViolationCollector, field: str, value: int | None) -> None:
    if value is not None and not 1 <= value <= MAX_MONEY_MINOR:
        errors.add(field, f"must be between 1 and {MAX_MONEY_MINOR} minor units")


def validate_template(spec: TemplateSpec, now: datetime) -> TemplateSpec:
    """Check every rule of a template; raises InvalidArgument naming each field at fault."""
    errors = ViolationCollector()
    name = spec.name.strip()
    if len(name) > MAX_NAME or name != spec.name:
        errors.add("name", f"must be at most {MAX_NAME} characters without surrounding spaces")
    if spec.kind not in COUPON_KINDS:
        errors.add("kind", f"must be one of {', '.join(COUPON_KINDS)}")
    else:
        given = {
            field
            for field in ("threshold_minor", "discount_minor", "percent_off", "max_discount_minor")
            if getattr(spec, field) is not None
        }
        for field in sorted(given - _FIELDS_BY_KIND[spec.kind]):
            errors.add(field, f"is not used by a {spec.kind} coupon")
        for field in sorted(_REQUIRED_BY_KIND[spec.kind] - given):
            errors.add(field, f"is required for a {spec.kind} coupon")
    for field in ("threshold_minor", "discount_minor", "max_discount_minor"):
        _check_money(errors, field, getattr(spec, field))
    if spec.percent_off is not None and not 1 <= spec.percent_off <= MAX_PERCENT_OFF:
        errors.add("percent_off", f"must be between 1 and {MAX_PERCENT_OFF}")
    if (
        spec.kind == "threshold"
        and spec.threshold_minor is not None
        and spec.discount_minor is not None
        and spec.discount_minor > spec.threshold_minor
    ):
        errors.add("discount_minor", "must not exceed threshold_minor")
    _validate_validity(errors, spec, now)
    if not 1 <= spec.per_customer_limit <= MAX_PER_CUSTOMER:
        errors.add("per_customer_limit", f"must be between 1 and {MAX_PER_CUSTOMER}")
    if spec.budget is not None and not 1 <= spec.budget <= MAX_BUDGET:
        errors.add("budget", f"must be between 1 and {MAX_BUDGET}")
    if spec.points_price is not None and not 1 <= spec.points_price <= MAX_POINTS_PRICE:
        errors.add("points_price", f"must be between 1 and {MAX_POINTS_PRICE}")
    errors.raise_if_any()
    return spec


def _validate_validity(errors: ViolationCollector, spec: TemplateSpec, now: datetime) -> None:
    fixed = spec.valid_from is not None or spec.valid_until is not None
    if spec.valid_days is not None:
        if fixed:
            errors.add("valid_days", "give either valid_days or valid_from and valid_until, not both")
        elif not 1 <= spec.valid_days <= MAX_VALID_DAYS:
            errors.add("valid_days", f"must be between 1 and {MAX_VALID_DAYS}")
        return
    if spec.valid_from is None:
        errors.add("valid_from", "is required unless valid_days is given")
    if spec.valid_until is None:
        errors.add("valid_until", "is required unless valid_days is given")
    if spec.valid_from is None or spec.valid_until is None:
        return
    if spec.valid_until <= spec.valid_from:
        errors.add("valid_until", "must be after valid_from")
    elif spec.valid_until - spec.valid_from > MAX_VALIDITY:
        errors.add("valid_until", "must be at most about 10 years after valid_from")
    elif spec.valid_until <= now:
        errors.add("valid_until", "must lie in the future")


def coupon_validity(template: CouponTemplate, issued_at: datetime) -> tuple[datetime, datetime]:
    """The window of a coupon issued at ``issued_at``; Conflict when the template has ended."""
    spec = template.spec
    if spec.valid_days is not None:
        return issued_at, issued_at + timedelta(days=spec.valid_days)
    assert spec.valid_from is not None
    assert spec.valid_until is not None
    if spec.valid_until <= issued_at:
        raise Conflict("this template's coupons are no longer valid", reason="TEMPLATE_EXPIRED")
    return spec.valid_from, spec.valid_until


def new_code() -> str:
    """An unguessable coupon code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """A code as clients may type it: case and separators do not matter."""
    return code.strip().upper().replace("-", "").replace(" ", "")


def validate_redemption(order_id: str, amount_minor: int) -> None:
    """The redemption request itself: a usable order id and a positive amount."""
    errors = ViolationCollector()
    if not 1 <= len(order_id) <= MAX_ORDER_ID or order_id != order_id.strip():
        errors.add("order_id", f"must be 1-{MAX_ORDER_ID} characters without surrounding spaces")
    if not 1 <= amount_minor <= MAX_MONEY_MINOR:
        errors.add("amount_minor", f"must be between 1 and {MAX_MONEY_MINOR} minor units")
    errors.raise_if_any()


def redemption_discount(
    coupon: Coupon, template: TemplateSpec, *, amount_minor: int, now: datetime, has_other_order: bool
) -> int:
    """The discount the coupon gives on an order of ``amount_minor`` at ``now``.

    Raises Conflict with a machine-readable reason when it cannot be redeemed: COUPON_REDEEMED,
    COUPON_REVOKED, COUPON_NOT_YET_VALID, COUPON_EXPIRED, THRESHOLD_NOT_MET (with threshold_minor),
    NOT_FIRST_ORDER, NO_DISCOUNT (a percentage of a tiny amount that rounds to nothing).
    """
    status = coupon.status(now)
    if status == "redeemed":
        raise Conflict(
            "this coupon has already been redeemed",
            reason="COUPON_REDEEMED",
            metadata={"order_id": coupon.order_id or ""},
        )
    if status == "revoked":
        raise Conflict("this coupon was revoked", reason="COUPON_REVOKED")
    if status == "not_yet_valid":
        raise Conflict(
            "this coupon is not valid yet",
            reason="COUPON_NOT_YET_VALID",
            metadata={"valid_from": coupon.valid_from.isoformat()},
        )
    if status == "expired":
        raise Conflict(
            "this coupon has expired",
            reason="COUPON_EXPIRED",
            metadata={"valid_until": coupon.valid_until.isoformat()},
        )
    if template.kind == "threshold":
        assert template.threshold_minor is not None
        if amount_minor < template.threshold_minor:
            raise Conflict(
                "the order does not reach this coupon's threshold",
                reason="THRESHOLD_NOT_MET",
                metadata={"threshold_minor": str(template.threshold_minor)},
            )
    if template.kind == "first_order" and has_other_order:
        raise Conflict("this coupon is for the customer's first order only", reason="NOT_FIRST_ORDER")
    if template.kind == "percent":
        assert template.percent_off is not None
        discount = amount_minor * template.percent_off // 100
        if template.max_discount_minor is not None:
            discount = min(discount, template.max_discount_minor)
    else:
        assert template.discount_minor is not None
        discount = template.discount_minor
    discount = min(discount, amount_minor)
    if discount <= 0:
        raise Conflict("this coupon gives no discount on so small an amount", reason="NO_DISCOUNT")
    return discount


@dataclass(frozen=True, slots=True)
class Issued:
    """An issued coupon, and whether this call only found it (issued earlier under the same key)."""

    coupon: Coupon
    replayed: bool


@dataclass(frozen=True, slots=True)
class Exchanged:
    """A coupon bought with points, the ledger entry that paid for it and the balance after it."""

    coupon: Coupon
    points_spent: int
    entry_id: uuid.UUID
    balance: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class Redemption:
    """A redeemed coupon and what it took off the order."""

    coupon: Coupon
    discount_minor: int
    currency: str


def scoped_key(operation: str, key: str) -> str:
    """The stored issue key of a client's idempotency key for one operation (bounded length), so
    keys of different operations (``issue`` / ``exchange``) can never collide."""
    return f"{operation}:{hashlib.sha256(key.encode()).hexdigest()}"

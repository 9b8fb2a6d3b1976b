"""The catalogue of fields a segment may test, their kinds, and the operators each kind allows.

The codes of closed vocabularies are those the owning services write: genders and devices from
profile (``services/profile/domain/customers.py``), RFM groups from ``scoring/domain/rfm.py``,
lifecycle stages from ``scoring/domain/lifecycle.py``, consent channels and purposes from profile's
``consent.py``, behaviour types from profile's ``behaviour_rules.py``. Scoring's domain may not import
another service, so the codes are repeated here and a test checks they stay equal to the originals.
Checking a value against its vocabulary turns a typo (``"mail"``) into a 422 instead of an empty
segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.scoring.domain.rfm import GROUPS
from services.scoring.domain.segments.limits import MAX_MINOR


class Op(StrEnum):
    """The operators of the segment condition language (docs/segments.md)."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"
    HAS = "has"
    HAS_NOT = "has_not"
    OLDER_THAN = "older_than"
    NEWER_THAN = "newer_than"
    IN_NEXT_DAYS = "in_next_days"


class Kind(StrEnum):
    """What a field holds, which decides its operators and the type of its values."""

    TEXT = "text"  # free text (a province, a tier code), compared exactly
    ENUM = "enum"  # one of a closed vocabulary
    INTEGER = "integer"  # counts, scores, points, money in minor units
    NUMBER = "number"  # a real number (engagement, probabilities)
    TIME = "time"  # an instant
    DATE = "date"  # a calendar date without a year that matters (the birthday)
    TAGS = "tags"  # the customer's tags, with expiry
    CONSENT = "consent"  # granted or withdrawn (or never recorded)


_PRESENCE = frozenset({Op.EXISTS, Op.NOT_EXISTS})
_ORDER = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN})
_EQUALITY = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})

OPS_BY_KIND: dict[Kind, frozenset[Op]] = {
    Kind.TEXT: _EQUALITY | _PRESENCE,
    Kind.ENUM: _EQUALITY | _PRESENCE,
    Kind.INTEGER: _EQUALITY | _ORDER | _PRESENCE,
    # Equality on a real number computed by a model is a trap: only ranges are offered.
    Kind.NUMBER: _ORDER | _PRESENCE,
    Kind.TIME: _ORDER | _PRESENCE | {Op.OLDER_THAN, Op.NEWER_THAN},
    Kind.DATE: _PRESENCE | {Op.IN_NEXT_DAYS},
    Kind.TAGS: frozenset({Op.HAS, Op.HAS_NOT}),
    Kind.CONSENT: frozenset({Op.EQ}),
}

GENDERS: tuple[str, ...] = ("female", "male", "other", "unknown")
DEVICES: tuple[str, ...] = ("app", "mini_program", "web")
RFM_GROUPS: tuple[str, ...] = tuple(group.code for group in GROUPS)
LIFECYCLE_STAGES: tuple[str, ...] = ("acquisition", "growth", "mature", "decline", "churned")
CONSENT_CHANNELS: tuple[str, ...] = ("sms", "email", "push", "wechat")
CONSENT_PURPOSES: tuple[str, ...] = ("marketing", "service")
TIER_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: its kind, and for values the vocabulary, pattern or range they must meet."""

    name: str
    kind: Kind
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    minimum: float = -MAX_MINOR
    maximum: float = MAX_MINOR

    @property
    def ops(self) -> frozenset[Op]:
        return OPS_BY_KIND[self.kind]


def _catalogue() -> dict[str, FieldSpec]:
    specs = [
        FieldSpec("attributes.gender", Kind.ENUM, choices=GENDERS),
        FieldSpec("attributes.province", Kind.TEXT),
        FieldSpec("attributes.city", Kind.TEXT),
        FieldSpec("attributes.registration_channel", Kind.TEXT),
        FieldSpec("attributes.device", Kind.ENUM, choices=DEVICES),
        FieldSpec("attributes.birthday", Kind.DATE),
        FieldSpec("attributes.registered_at", Kind.TIME),
        FieldSpec("tags", Kind.TAGS),
        FieldSpec("rfm.group", Kind.ENUM, choices=RFM_GROUPS),
        FieldSpec("rfm.r", Kind.INTEGER, minimum=1, maximum=5),
        FieldSpec("rfm.f", Kind.INTEGER, minimum=1, maximum=5),
        FieldSpec("rfm.m", Kind.INTEGER, minimum=1, maximum=5),
        FieldSpec("lifecycle.stage", Kind.ENUM, choices=LIFECYCLE_STAGES),
        FieldSpec("engagement", Kind.NUMBER, minimum=0, maximum=1e9),
        FieldSpec("orders.count", Kind.INTEGER, minimum=0),
        FieldSpec("orders.net_spend_minor", Kind.INTEGER),
        FieldSpec("orders.last_at", Kind.TIME),
        FieldSpec("last_seen_at", Kind.TIME),
        FieldSpec("loyalty.tier", Kind.TEXT, pattern=TIER_CODE),
        FieldSpec("loyalty.points", Kind.INTEGER),
        FieldSpec("predictions.p_alive", Kind.NUMBER, minimum=0, maximum=1),
        FieldSpec("predictions.expected_purchases_30d", Kind.NUMBER, minimum=0, maximum=1e9),
        FieldSpec("predictions.expected_avg_spend_minor", Kind.INTEGER, minimum=0),
        FieldSpec("predictions.clv_minor", Kind.INTEGER, minimum=0),
    ]
    specs += [
        FieldSpec(f"consent.{channel}.{purpose}", Kind.CONSENT)
        for channel in CONSENT_CHANNELS
        for purpose in CONSENT_PURPOSES
    ]
    return {spec.name: spec for spec in specs}


FIELDS: dict[str, FieldSpec] = _catalogue()

# Behaviour types (docs/product.md) and the merchant's own under ``custom.``.
EVENT_TYPES: frozenset[str] = frozenset(
    {
        "view",
        "search",
        "favorite",
        "add_to_cart",
        "order_paid",
        "order_refunded",
        "review",
        "share",
        "sign_in",
        "survey_response",
        "message_opened",
        "message_clicked",
    }
)
CUSTOM_EVENT_TYPE = re.compile(r"custom\.[a-z0-9_.]{1,64}")
ORDER_FOLLOWER = "order"
"""``not_followed_by: "order"`` means a paid order (the order facts, not an ``order_paid`` event)."""


def is_event_type(value: str) -> bool:
    """A behaviour type profile accepts: one of docs/product.md, or ``custom.<name>``."""
    return value in EVENT_TYPES or CUSTOM_EVENT_TYPE.fullmatch(value) is not None

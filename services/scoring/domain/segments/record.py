"""What the reference evaluator knows of one customer: the facts a segment may test, in memory.

This is the shape of the audience projection (issue 11 item 1) without its storage: the attributes
a segment may use (never a nickname or a contact), tags with expiry, consents, the nightly scores,
loyalty, and the dated facts (orders, refunds, behaviour events) that windows are counted over.
A fact dated after ``now`` has not happened yet for an evaluation at ``now``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class TagHolding:
    """A tag the customer holds; it stops counting at ``expires_at`` (None: never)."""

    tag_id: uuid.UUID
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderFact:
    """A paid order: when, how much, and how much of it has been refunded since."""

    paid_at: datetime
    amount_minor: int
    refunded_minor: int = 0


@dataclass(frozen=True, slots=True)
class RefundFact:
    """A refund of an order, with the operator's reason (free text, often a code such as ``size``)."""

    refunded_at: datetime
    amount_minor: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BehaviourFact:
    """One behaviour event: its type, when it happened and its (JSON object) properties."""

    type: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """One customer's facts. ``None`` means the fact is missing (never given, never scored)."""

    customer_id: uuid.UUID
    gender: str | None = None
    province: str | None = None
    city: str | None = None
    registration_channel: str | None = None
    device: str | None = None
    birthday: date | None = None
    registered_at: datetime | None = None
    timezone: str | None = None  # the customer's IANA zone; the tenant's zone when None
    tags: tuple[TagHolding, ...] = ()
    consents: Mapping[tuple[str, str], bool] = field(default_factory=dict)  # (channel, purpose)
    rfm_r: int | None = None
    rfm_f: int | None = None
    rfm_m: int | None = None
    rfm_group: str | None = None
    lifecycle_stage: str | None = None
    engagement: float | None = None
    p_alive: float | None = None
    expected_purchases_30d: float | None = None
    expected_avg_spend_minor: int | None = None
    clv_minor: int | None = None
    loyalty_tier: str | None = None
    loyalty_points: int | None = None
    last_seen_at: datetime | None = None
    orders: tuple[OrderFact, ...] = ()
    refunds: tuple[RefundFact, ...] = ()
    events: tuple[BehaviourFact, ...] = ()

"""The reference evaluator: a condition tree against one customer's facts at a given moment.

Plain Python and deliberately naive — every leaf is answered from the record by the definitions of
docs/segments.md ("Semantics"). It is the oracle that the SQL compilation is compared with in the
property tests, so it favours being obviously right over being fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.scoring.domain.segments.birthdays import customer_zone, days_until_birthday
from services.scoring.domain.segments.fields import ORDER_FOLLOWER, Op
from services.scoring.domain.segments.record import BehaviourFact, CustomerRecord
from services.scoring.domain.segments.tree import (
    AllOf,
    AnyOf,
    Between,
    Condition,
    EventLeaf,
    FieldLeaf,
    Not,
    OrdersLeaf,
    PropertyValue,
    RefundLeaf,
)

_ATTRIBUTES: dict[str, str] = {
    "attributes.gender": "gender",
    "attributes.province": "province",
    "attributes.city": "city",
    "attributes.registration_channel": "registration_channel",
    "attributes.device": "device",
    "attributes.birthday": "birthday",
    "attributes.registered_at": "registered_at",
    "rfm.group": "rfm_group",
    "rfm.r": "rfm_r",
    "rfm.f": "rfm_f",
    "rfm.m": "rfm_m",
    "lifecycle.stage": "lifecycle_stage",
    "engagement": "engagement",
    "last_seen_at": "last_seen_at",
    "loyalty.tier": "loyalty_tier",
    "loyalty.points": "loyalty_points",
    "predictions.p_alive": "p_alive",
    "predictions.expected_purchases_30d": "expected_purchases_30d",
    "predictions.expected_avg_spend_minor": "expected_avg_spend_minor",
    "predictions.clv_minor": "clv_minor",
}


def evaluate(condition: Condition, record: CustomerRecord, now: datetime, tenant_zone: ZoneInfo) -> bool:
    """Whether the customer meets the condition at ``now`` (an aware instant).

    ``tenant_zone`` decides the local date of a customer without their own zone (birthdays).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if isinstance(condition, AllOf):
        return all(evaluate(child, record, now, tenant_zone) for child in condition.children)
    if isinstance(condition, AnyOf):
        return any(evaluate(child, record, now, tenant_zone) for child in condition.children)
    if isinstance(condition, Not):
        return not evaluate(condition.child, record, now, tenant_zone)
    if isinstance(condition, FieldLeaf):
        return _field(condition, record, now, tenant_zone)
    if isinstance(condition, EventLeaf):
        return len(qualifying_events(condition, record, now)) >= condition.min_count
    if isinstance(condition, OrdersLeaf):
        return _orders(condition, record, now)
    return _refund(condition, record, now)


def field_value(record: CustomerRecord, name: str, now: datetime) -> Any:
    """The value of a (non-tag) field for the customer at ``now``; None when it is missing.

    ``orders.count`` and ``orders.net_spend_minor`` are never missing (a customer without orders
    has 0); ``orders.last_at`` is missing until the first order.
    """
    if name in _ATTRIBUTES:
        return getattr(record, _ATTRIBUTES[name])
    if name.startswith("consent."):
        _, channel, purpose = name.split(".")
        return record.consents.get((channel, purpose))
    paid = [order for order in record.orders if order.paid_at <= now]
    if name == "orders.count":
        return len(paid)
    if name == "orders.net_spend_minor":
        return sum(order.amount_minor - order.refunded_minor for order in paid)
    if name == "orders.last_at":
        return max((order.paid_at for order in paid), default=None)
    raise ValueError(f"unknown field {name}")


def holds_tag(record: CustomerRecord, tag_id: object, now: datetime) -> bool:
    """Whether the customer holds the tag at ``now``: held, and not expired (``expires_at > now``)."""
    return any(
        holding.tag_id == tag_id and (holding.expires_at is None or holding.expires_at > now)
        for holding in record.tags
    )


def _field(leaf: FieldLeaf, record: CustomerRecord, now: datetime, tenant_zone: ZoneInfo) -> bool:
    op, wanted = leaf.op, leaf.value
    if op in (Op.HAS, Op.HAS_NOT):
        return holds_tag(record, wanted, now) == (op is Op.HAS)
    value = field_value(record, leaf.field, now)
    if op is Op.EXISTS:
        return value is not None
    if op is Op.NOT_EXISTS:
        return value is None
    if value is None:
        return False  # every comparison with a missing value is false, ne and not_in included
    if op is Op.EQ:
        return bool(value == wanted)
    if op is Op.NE:
        return bool(value != wanted)
    if op is Op.IN:
        return isinstance(wanted, tuple) and value in wanted
    if op is Op.NOT_IN:
        return isinstance(wanted, tuple) and value not in wanted
    if op is Op.GT:
        return bool(value > wanted)
    if op is Op.GTE:
        return bool(value >= wanted)
    if op is Op.LT:
        return bool(value < wanted)
    if op is Op.LTE:
        return bool(value <= wanted)
    if op is Op.BETWEEN:
        return isinstance(wanted, Between) and bool(wanted.low <= value <= wanted.high)
    if op is Op.OLDER_THAN:
        return isinstance(wanted, timedelta) and bool(value <= now - wanted)
    if op is Op.NEWER_THAN:
        return isinstance(wanted, timedelta) and bool(value > now - wanted)
    zone = customer_zone(record.timezone, tenant_zone)  # in_next_days
    return isinstance(wanted, int) and days_until_birthday(value, now, zone) <= wanted


def property_matches(properties: Mapping[str, Any], name: str, wanted: PropertyValue) -> bool:
    """JSON equality of one property: same JSON type (true is not 1), numbers by value (1 == 1.0)."""
    if name not in properties:
        return False
    actual = properties[name]
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and actual == wanted
    if isinstance(wanted, int | float):
        return isinstance(actual, int | float) and actual == wanted
    return isinstance(actual, str) and actual == wanted


def qualifying_events(leaf: EventLeaf, record: CustomerRecord, now: datetime) -> list[BehaviourFact]:
    """The events that count for an event leaf at ``now``: of its type, in ``(now - within, now]``,
    matching every ``where`` filter, and — with ``not_followed_by`` — with no follower at or after
    them up to ``now`` (another event of that type, or a paid order)."""
    start = now - leaf.within
    found: list[BehaviourFact] = []
    for index, event in enumerate(record.events):
        if event.type != leaf.event or not start < event.occurred_at <= now:
            continue
        if not all(property_matches(event.properties, name, value) for name, value in leaf.where):
            continue
        if leaf.not_followed_by is not None and _followed(leaf.not_followed_by, index, event, record, now):
            continue
        found.append(event)
    return found


def _followed(follower: str, index: int, event: BehaviourFact, record: CustomerRecord, now: datetime) -> bool:
    if follower == ORDER_FOLLOWER:
        return any(event.occurred_at <= order.paid_at <= now for order in record.orders)
    return any(
        other_index != index and other.type == follower and event.occurred_at <= other.occurred_at <= now
        for other_index, other in enumerate(record.events)
    )


def _orders(leaf: OrdersLeaf, record: CustomerRecord, now: datetime) -> bool:
    start = now - leaf.within
    orders = [order for order in record.orders if start < order.paid_at <= now]
    if len(orders) < leaf.min_count:
        return False
    spend = sum(order.amount_minor - order.refunded_minor for order in orders)
    return leaf.min_spend_minor is None or spend >= leaf.min_spend_minor


def _refund(leaf: RefundLeaf, record: CustomerRecord, now: datetime) -> bool:
    start = now - leaf.within
    return any(
        start < refund.refunded_at <= now and (leaf.reason is None or refund.reason == leaf.reason)
        for refund in record.refunds
    )

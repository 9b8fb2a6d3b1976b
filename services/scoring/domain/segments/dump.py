"""From a condition tree back to JSON data: what is stored with a saved segment and shown to operators.

The output is canonical (durations as ``P1DT2H30M``, instants in ISO form, defaults left out), and
``parse_condition(dump_condition(tree)) == tree`` for every tree the parser can build.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from services.scoring.domain.segments.durations import format_duration
from services.scoring.domain.segments.tree import (
    AllOf,
    AnyOf,
    Between,
    Condition,
    EventLeaf,
    FieldLeaf,
    FieldValue,
    Not,
    OrdersLeaf,
)


def _value(value: FieldValue) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Between):
        return [_value(value.low), _value(value.high)]
    if isinstance(value, tuple):
        return [_value(item) for item in value]
    return value


def dump_condition(condition: Condition) -> Any:
    """The JSON data of a condition (dicts, lists, text, numbers, booleans)."""
    if isinstance(condition, AllOf):
        return {"all": [dump_condition(child) for child in condition.children]}
    if isinstance(condition, AnyOf):
        return {"any": [dump_condition(child) for child in condition.children]}
    if isinstance(condition, Not):
        return {"not": dump_condition(condition.child)}
    if isinstance(condition, FieldLeaf):
        leaf: dict[str, Any] = {"field": condition.field, "op": condition.op.value}
        if condition.value is not None:
            leaf["value"] = _value(condition.value)
        return leaf
    if isinstance(condition, EventLeaf):
        event: dict[str, Any] = {"event": condition.event, "within": format_duration(condition.within)}
        if condition.min_count != 1:
            event["min_count"] = condition.min_count
        if condition.where:
            event["where"] = dict(condition.where)
        if condition.not_followed_by is not None:
            event["not_followed_by"] = condition.not_followed_by
        return event
    if isinstance(condition, OrdersLeaf):
        orders: dict[str, Any] = {"within": format_duration(condition.within)}
        if condition.min_count != 1:
            orders["min_count"] = condition.min_count
        if condition.min_spend_minor is not None:
            orders["min_spend_minor"] = condition.min_spend_minor
        return {"orders": orders}
    refund: dict[str, Any] = {"within": format_duration(condition.within)}
    if condition.reason is not None:
        refund["reason"] = condition.reason
    return {"refund": refund}

"""From decoded JSON to a checked condition tree, naming the path of every fault at once.

``parse_condition`` walks the document once, depth first, and never stops at the first fault: a
client learns everything that is wrong (``condition.all[2].op``, ``condition.any[0].value``) in one
422. The walk is bounded whatever the document: it does not descend past ``MAX_DEPTH``, stops
taking leaves past ``MAX_LEAVES``, and stops listing faults past ``MAX_REPORTED_FAULTS``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from services.scoring.domain.segments.durations import parse_duration
from services.scoring.domain.segments.faults import Faults, integer, key_path, text
from services.scoring.domain.segments.fields import FIELDS, ORDER_FOLLOWER, Op, is_event_type
from services.scoring.domain.segments.limits import (
    MAX_DEPTH,
    MAX_KEY_LENGTH,
    MAX_LEAVES,
    MAX_MIN_COUNT,
    MAX_MINOR,
    MAX_WHERE_PROPERTIES,
)
from services.scoring.domain.segments.tree import (
    AllOf,
    AnyOf,
    Condition,
    EventLeaf,
    FieldLeaf,
    Not,
    OrdersLeaf,
    PropertyValue,
    RefundLeaf,
)
from services.scoring.domain.segments.values import Refused, field_value

KINDS = ("all", "any", "not", "field", "event", "orders", "refund")
_KEYS: dict[str, frozenset[str]] = {
    "all": frozenset({"all"}),
    "any": frozenset({"any"}),
    "not": frozenset({"not"}),
    "field": frozenset({"field", "op", "value"}),
    "event": frozenset({"event", "within", "min_count", "where", "not_followed_by"}),
    "orders": frozenset({"orders"}),
    "refund": frozenset({"refund"}),
}
_OP_NAMES = frozenset(op.value for op in Op)
_ORDERS_KEYS = frozenset({"within", "min_count", "min_spend_minor"})
_REFUND_KEYS = frozenset({"within", "reason"})


def parse_condition(document: Any, path: str = "condition") -> Condition:
    """The condition tree of a decoded JSON document; InvalidArgument listing every fault otherwise.

    Only InvalidArgument is ever raised, whatever ``document`` holds: it comes from a client.
    """
    parser = _Parser(Faults(path))
    condition = parser.node(document, path, 1)
    parser.faults.raise_if_any()
    assert condition is not None  # no fault means every node was built
    return condition


class _Parser:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.leaf_count = 0

    def node(self, value: Any, path: str, depth: int) -> Condition | None:
        if self.faults.full:
            return None
        if depth > MAX_DEPTH:
            self.faults.add(path, f"nests deeper than {MAX_DEPTH} levels")
            return None
        if not isinstance(value, Mapping):
            self.faults.add(path, f"must be an object with one of {', '.join(KINDS)}")
            return None
        kinds = [kind for kind in KINDS if kind in value]
        if len(kinds) != 1:
            found = f"; found {', '.join(kinds)}" if kinds else ""
            self.faults.add(path, f"must have exactly one of {', '.join(KINDS)}{found}")
            return None
        kind = kinds[0]
        self._unknown_keys(value, _KEYS[kind], path)
        if kind in ("all", "any"):
            return self._group(kind, value[kind], path, depth)
        if kind == "not":
            child = self.node(value["not"], f"{path}.not", depth + 1)
            return None if child is None else Not(child)
        self.leaf_count += 1
        if self.leaf_count == MAX_LEAVES + 1:
            self.faults.add(self.faults.root, f"must have at most {MAX_LEAVES} leaves")
        if self.leaf_count > MAX_LEAVES:
            return None
        if kind == "field":
            return self._field(value, path)
        if kind == "event":
            return self._event(value, path)
        if kind == "orders":
            return self._orders(value["orders"], f"{path}.orders")
        return self._refund(value["refund"], f"{path}.refund")

    def _unknown_keys(self, value: Mapping[Any, Any], allowed: frozenset[str], path: str) -> None:
        for key in value:
            if key not in allowed:
                self.faults.add(
                    key_path(path, key), f"is not a key here; allowed: {', '.join(sorted(allowed))}"
                )

    def _group(self, kind: str, children: Any, path: str, depth: int) -> Condition | None:
        path = f"{path}.{kind}"
        if not isinstance(children, list) or not 1 <= len(children) <= MAX_LEAVES:
            self.faults.add(path, f"must be a list of 1 to {MAX_LEAVES} conditions")
            return None
        built = [self.node(child, f"{path}[{index}]", depth + 1) for index, child in enumerate(children)]
        nodes = tuple(node for node in built if node is not None)
        if len(nodes) != len(built):
            return None
        return AllOf(nodes) if kind == "all" else AnyOf(nodes)

    def _field(self, value: Mapping[str, Any], path: str) -> FieldLeaf | None:
        name = text(value["field"], f"{path}.field", self.faults)
        spec = FIELDS.get(name) if name is not None else None
        if name is not None and spec is None:
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; see docs/segments.md for the fields"
            self.faults.add(f"{path}.field", f"is not a field a segment may use{hint}")
        if "op" not in value:
            self.faults.add(f"{path}.op", "is required")
            return None
        op_text = text(value["op"], f"{path}.op", self.faults, limit=32)
        if op_text is None:
            return None
        if op_text not in _OP_NAMES:
            self.faults.add(f"{path}.op", f"must be one of {', '.join(Op)}")
            return None
        op = Op(op_text)
        if spec is None:
            return None
        if op not in spec.ops:
            allowed = ", ".join(o for o in Op if o in spec.ops)
            self.faults.add(f"{path}.op", f"{op} does not apply to {spec.name} ({spec.kind}); use {allowed}")
            return None
        checked = field_value(spec, op, value, path, self.faults)
        return None if isinstance(checked, Refused) else FieldLeaf(spec.name, op, checked)

    def _within(self, container: Mapping[str, Any], path: str) -> timedelta | None:
        if "within" not in container:
            self.faults.add(f"{path}.within", "is required (an ISO 8601 duration such as PT24H)")
            return None
        raw = container["within"]
        if not isinstance(raw, str) or len(raw) > 40:
            self.faults.add(f"{path}.within", "must be an ISO 8601 duration such as PT24H or P30D")
            return None
        try:
            return parse_duration(raw)
        except ValueError as error:
            self.faults.add(f"{path}.within", str(error))
            return None

    def _event_type(self, raw: Any, path: str, *, order_allowed: bool) -> str | None:
        name = text(raw, path, self.faults, limit=MAX_KEY_LENGTH + 7)
        if name is None:
            return None
        if is_event_type(name) or (order_allowed and name == ORDER_FOLLOWER):
            return name
        what = '"order" or a behaviour type' if order_allowed else "a behaviour type"
        self.faults.add(path, f"must be {what} (view, add_to_cart, ... or custom.<name>)")
        return None

    def _min_count(self, container: Mapping[str, Any], path: str) -> int | None:
        if "min_count" not in container:
            return 1
        return integer(container["min_count"], f"{path}.min_count", self.faults, 1, MAX_MIN_COUNT)

    def _where(self, raw: Any, path: str) -> tuple[tuple[str, PropertyValue], ...] | None:
        if not isinstance(raw, Mapping) or not 1 <= len(raw) <= MAX_WHERE_PROPERTIES:
            self.faults.add(path, f"must be an object of 1 to {MAX_WHERE_PROPERTIES} property filters")
            return None
        pairs: list[tuple[str, PropertyValue]] = []
        for key, item in raw.items():
            item_path = key_path(path, key)
            name = text(key, item_path, self.faults, limit=MAX_KEY_LENGTH)
            if isinstance(item, str):
                checked: PropertyValue | None = text(item, item_path, self.faults)
            elif isinstance(item, bool | int) or (isinstance(item, float) and math.isfinite(item)):
                checked = item
                if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_MINOR:
                    self.faults.add(item_path, f"must be between {-MAX_MINOR} and {MAX_MINOR}")
                    checked = None
            else:
                self.faults.add(item_path, "must be text, a finite number, true or false")
                checked = None
            if name is not None and checked is not None:
                pairs.append((name, checked))
        return tuple(pairs) if len(pairs) == len(raw) else None

    def _event(self, value: Mapping[str, Any], path: str) -> EventLeaf | None:
        event = self._event_type(value["event"], f"{path}.event", order_allowed=False)
        within = self._within(value, path)
        min_count = self._min_count(value, path)
        where = self._where(value["where"], f"{path}.where") if "where" in value else ()
        follower: str | None = None
        if "not_followed_by" in value:
            follower = self._event_type(
                value["not_followed_by"], f"{path}.not_followed_by", order_allowed=True
            )
            if follower is None:
                return None
        if event is None or within is None or min_count is None or where is None:
            return None
        return EventLeaf(event, within, min_count, where, follower)

    def _orders(self, inner: Any, path: str) -> OrdersLeaf | None:
        if not isinstance(inner, Mapping):
            self.faults.add(path, "must be an object with within, min_count?, min_spend_minor?")
            return None
        self._unknown_keys(inner, _ORDERS_KEYS, path)
        within = self._within(inner, path)
        min_count = self._min_count(inner, path)
        spend: int | None = None
        if "min_spend_minor" in inner:
            spend = integer(inner["min_spend_minor"], f"{path}.min_spend_minor", self.faults, 0, MAX_MINOR)
            if spend is None:
                return None
        if within is None or min_count is None:
            return None
        return OrdersLeaf(within, min_count, spend)

    def _refund(self, inner: Any, path: str) -> RefundLeaf | None:
        if not isinstance(inner, Mapping):
            self.faults.add(path, "must be an object with within and reason?")
            return None
        self._unknown_keys(inner, _REFUND_KEYS, path)
        within = self._within(inner, path)
        reason: str | None = None
        if "reason" in inner:
            reason = text(inner["reason"], f"{path}.reason", self.faults)
            if reason is None:
                return None
        return None if within is None else RefundLeaf(within, reason)

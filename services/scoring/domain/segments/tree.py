"""The typed, immutable syntax tree of a segment condition (what ``parse_condition`` returns).

Every node is a frozen dataclass and every collection a tuple, so a parsed condition can be hashed,
compared (``parse(dump(tree)) == tree``), cached and shared between evaluations without copying.
Values are already converted: durations are ``timedelta``s, instants aware ``datetime``s, tag ids
``uuid.UUID``s; nothing in a tree is evaluated as code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scoring.domain.segments.fields import Op

Scalar = str | int | float | bool | datetime
"""A comparable value: text, a number, a consent flag or an instant."""

PropertyValue = str | int | float | bool
"""A value an event property is compared with in ``where`` (JSON scalars except null)."""


@dataclass(frozen=True, slots=True)
class Between:
    """The inclusive range of ``between``: ``low <= value <= high`` (``low <= high`` is checked)."""

    low: int | float | datetime
    high: int | float | datetime


FieldValue = Scalar | tuple[Scalar, ...] | Between | timedelta | uuid.UUID | None
"""What a field leaf compares with: a scalar, an ``in`` list, a range, a duration, a tag id, or
nothing (``exists``/``not_exists``)."""


@dataclass(frozen=True, slots=True)
class FieldLeaf:
    """``{"field", "op", "value"?}``: one fact of the customer against a value."""

    field: str
    op: Op
    value: FieldValue = None


@dataclass(frozen=True, slots=True)
class EventLeaf:
    """``{"event", "within", "min_count"?, "where"?, "not_followed_by"?}``: behaviour in a window."""

    event: str
    within: timedelta
    min_count: int = 1
    where: tuple[tuple[str, PropertyValue], ...] = ()
    not_followed_by: str | None = None


@dataclass(frozen=True, slots=True)
class OrdersLeaf:
    """``{"orders": {"within", "min_count"?, "min_spend_minor"?}}``: paid orders in a window."""

    within: timedelta
    min_count: int = 1
    min_spend_minor: int | None = None


@dataclass(frozen=True, slots=True)
class RefundLeaf:
    """``{"refund": {"within", "reason"?}}``: a refund in a window, with that reason if given."""

    within: timedelta
    reason: str | None = None


Leaf = FieldLeaf | EventLeaf | OrdersLeaf | RefundLeaf


@dataclass(frozen=True, slots=True)
class AllOf:
    """``{"all": [...]}``: every child holds (never empty)."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """``{"any": [...]}``: at least one child holds (never empty)."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``{"not": condition}``: the child does not hold (two-valued: see docs/segments.md)."""

    child: Condition


Condition = AllOf | AnyOf | Not | Leaf


def leaves(condition: Condition) -> list[Leaf]:
    """Every leaf of a condition, depth first: what a compiler or a due-time index walks."""
    found: list[Leaf] = []
    pending: list[Condition] = [condition]
    while pending:
        node = pending.pop()
        if isinstance(node, AllOf | AnyOf):
            pending.extend(reversed(node.children))
        elif isinstance(node, Not):
            pending.append(node.child)
        else:
            found.append(node)
    return found

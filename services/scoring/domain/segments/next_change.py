"""When time alone changes an answer: the due moments that live membership waits for.

A segment's answer for a customer changes either because a fact arrives (an event, an order, a
nightly score) or because the clock moves: a window lets an event go (``occurred_at + within``), an
``older_than`` passes, a tag expires, a birthday comes into ``in_next_days`` range or goes by.
Between those moments every leaf's answer is constant, and at each of them the new answer already
holds (windows are ``(now - within, now]``, expiry is ``expires_at > now``). So the first moment the
answer changes is found by stepping through the leaves' due moments in order and re-evaluating the
tree at each — exact, with no polling. Issue 11 item 4 keeps the result per (segment, customer) and
re-evaluates when it is due.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.scoring.domain.segments.birthdays import (
    customer_zone,
    local_today,
    next_birthday,
    start_of_day,
)
from services.scoring.domain.segments.evaluate import evaluate, field_value
from services.scoring.domain.segments.fields import ORDER_FOLLOWER, Op
from services.scoring.domain.segments.record import CustomerRecord
from services.scoring.domain.segments.tree import (
    Condition,
    EventLeaf,
    FieldLeaf,
    Leaf,
    OrdersLeaf,
    RefundLeaf,
    leaves,
)

MAX_STEPS = 256
"""Due moments examined before giving up with an earlier re-check moment (a tree whose answer
never changes although its birthday leaves do would otherwise step through every future year)."""

_CLOCK_OPS = frozenset({Op.OLDER_THAN, Op.NEWER_THAN, Op.IN_NEXT_DAYS, Op.HAS, Op.HAS_NOT})


def is_time_dependent(leaf: Leaf) -> bool:
    """Whether the clock alone can change the leaf's answer, given facts already recorded.

    Windows (event, orders, refund leaves), ``older_than``/``newer_than``, ``in_next_days`` and
    tags (which expire) can; a comparison with a fixed value cannot. (Facts dated in the future —
    within profile's clock skew — also "arrive" with time; ``leaf_due`` counts them.)
    """
    return not isinstance(leaf, FieldLeaf) or leaf.op in _CLOCK_OPS or leaf.field.startswith("orders.")


def _first_after(moments: Iterable[datetime], after: datetime) -> datetime | None:
    return min((moment for moment in moments if moment > after), default=None)


def _window(times: list[datetime], within: timedelta) -> list[datetime]:
    """A dated fact enters a window when it happens and leaves it ``within`` later."""
    return times + [moment + within for moment in times]


def _field_due(
    leaf: FieldLeaf, record: CustomerRecord, after: datetime, tenant_zone: ZoneInfo
) -> datetime | None:
    moments: list[datetime] = []
    if leaf.field.startswith("orders."):
        moments += [order.paid_at for order in record.orders]
    if leaf.op in (Op.HAS, Op.HAS_NOT):
        moments += [h.expires_at for h in record.tags if h.tag_id == leaf.value and h.expires_at is not None]
    elif leaf.op in (Op.OLDER_THAN, Op.NEWER_THAN) and isinstance(leaf.value, timedelta):
        value = field_value(record, leaf.field, after)
        if isinstance(value, datetime):
            moments.append(value + leaf.value)
    elif leaf.op is Op.IN_NEXT_DAYS and isinstance(leaf.value, int) and record.birthday is not None:
        zone = customer_zone(record.timezone, tenant_zone)
        today = local_today(after, zone)
        birthday = next_birthday(record.birthday, today)
        if (birthday - today).days <= leaf.value:
            moments.append(start_of_day(birthday + timedelta(days=1), zone))  # the day after: it goes by
        else:
            moments.append(start_of_day(birthday - timedelta(days=leaf.value), zone))  # comes into range
    return _first_after(moments, after)


def leaf_due(leaf: Leaf, record: CustomerRecord, after: datetime, tenant_zone: ZoneInfo) -> datetime | None:
    """The first moment after ``after`` at which the leaf's inputs change by time; None if never.

    The leaf's answer is constant from ``after`` up to (not including) that moment.
    """
    if isinstance(leaf, FieldLeaf):
        return _field_due(leaf, record, after, tenant_zone)
    if isinstance(leaf, EventLeaf):
        moments = _window([e.occurred_at for e in record.events if e.type == leaf.event], leaf.within)
        if leaf.not_followed_by == ORDER_FOLLOWER:
            moments += [order.paid_at for order in record.orders]
        elif leaf.not_followed_by is not None:
            moments += [e.occurred_at for e in record.events if e.type == leaf.not_followed_by]
        return _first_after(moments, after)
    if isinstance(leaf, OrdersLeaf):
        return _first_after(_window([o.paid_at for o in record.orders], leaf.within), after)
    assert isinstance(leaf, RefundLeaf)
    return _first_after(_window([r.refunded_at for r in record.refunds], leaf.within), after)


def next_change(
    condition: Condition, record: CustomerRecord, now: datetime, tenant_zone: ZoneInfo
) -> datetime | None:
    """The first moment after ``now`` at which the answer differs from the answer at ``now``, if no
    new fact arrives; None when time alone never changes it.

    When ``MAX_STEPS`` due moments pass without a change, the last one is returned as a moment to
    ask again (the answer is then the same as now): a scheduler treats both alike — re-evaluate at
    the moment, then ask for the next one.
    """
    answer = evaluate(condition, record, now, tenant_zone)
    tree_leaves = [leaf for leaf in leaves(condition) if is_time_dependent(leaf)]
    moment = now
    for _ in range(MAX_STEPS):
        dues = [leaf_due(leaf, record, moment, tenant_zone) for leaf in tree_leaves]
        due = min((d for d in dues if d is not None), default=None)
        if due is None:
            return None
        if evaluate(condition, record, due, tenant_zone) != answer:
            return due
        moment = due
    return moment

"""When time alone may next change a segment's answer, per customer, as one set-based statement.

Live membership keeps, per (segment, customer), the next moment at which the clock alone can change
the answer (``segment_due``); the due worker re-evaluates just those rows when the moment comes, so
no one re-scans every customer every minute. The moments are those of ``domain/segments/next_change``
``leaf_due`` (docs/segments.md, "When time alone changes an answer"), computed per leaf over the
tenant's facts and reduced with ``min`` per customer:

- an event, orders or refund leaf with ``within d``: each fact in ``(now - d, now]`` leaves the window
  at ``time + d``; a fact dated after ``now`` arrives at its time; for ``not_followed_by``, a
  follower dated after ``now`` arrives at its time;
- ``orders.*`` fields: an order dated after ``now`` arrives at ``paid_at``; ``orders.last_at``
  ``older_than``/``newer_than d``: each paid order's ``paid_at + d`` still ahead;
- ``older_than``/``newer_than d`` on ``registered_at`` or ``last_seen_at``: ``value + d``;
- ``has``/``has_not``: the tag's ``expires_at``;
- ``in_next_days N``: local midnight starting the day ``next birthday - N`` when not yet in range,
  else local midnight after the birthday.

The moment is one at which the answer *may* change (the first due moment of any leaf), not
necessarily one at which it does: re-evaluating then costs one customer's statement and stores the
next moment. ``where`` filters are ignored for the same reason (more moments, never fewer), so a
moment is never missed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from services.scoring.domain.segments.fields import ORDER_FOLLOWER, Op
from services.scoring.domain.segments.next_change import is_time_dependent
from services.scoring.domain.segments.tree import (
    Condition,
    EventLeaf,
    FieldLeaf,
    Leaf,
    OrdersLeaf,
    RefundLeaf,
    leaves,
)
from services.scoring.store.audience_tables import audience_tags, behaviour_events
from services.scoring.store.feature_tables import customer_scores, order_refunds, orders
from services.scoring.store.segment_sql import segment_compiler
from services.scoring.store.tables import customers

_TS = sa.TIMESTAMP(timezone=True)
Candidates = sa.Select[tuple[uuid.UUID, datetime]]


def has_time_leaves(condition: Condition) -> bool:
    """Whether the clock alone can ever change the condition's answer (else no due rows are kept)."""
    return any(is_time_dependent(leaf) for leaf in leaves(condition))


def segment_due_moments(
    condition: Condition,
    tenant_id: uuid.UUID,
    now: datetime,
    tenant_zone: str,
    known_zones: Collection[str] | None = None,
    customer_ids: Sequence[uuid.UUID] | None = None,
) -> sa.Select[tuple[uuid.UUID, datetime]] | None:
    """``SELECT customer_id, due_at``: for each live customer (of ``customer_ids`` when given) the
    first moment after ``now`` at which time alone may change the answer; None when it never can."""
    timed = [leaf for leaf in leaves(condition) if is_time_dependent(leaf)]
    if not timed:
        return None
    moments = _DueCompiler(tenant_id, now, tenant_zone, known_zones, customer_ids)
    parts = [part for leaf in timed for part in moments.leaf(leaf)]
    union = sa.union_all(*parts).subquery("due_candidates")
    return (
        sa.select(customers.c.customer_id, sa.func.min(union.c.due_at).label("due_at"))
        .join(union, union.c.customer_id == customers.c.customer_id)
        .where(
            customers.c.tenant_id == moments.tenant,
            customers.c.merged_into.is_(None),
            customers.c.erased_at.is_(None),
            union.c.due_at > moments.now,
            *moments.scoped(customers),
        )
        .group_by(customers.c.customer_id)
    )


class _DueCompiler:
    """The due-moment candidates of one leaf: selects of (customer_id, due_at), possibly several."""

    def __init__(
        self,
        tenant_id: uuid.UUID,
        now: datetime,
        tenant_zone: str,
        known_zones: Collection[str] | None,
        customer_ids: Sequence[uuid.UUID] | None,
    ) -> None:
        self.compiler = segment_compiler(tenant_id, now, tenant_zone, known_zones, customer_ids)
        self.tenant = self.compiler.tenant
        self.now = self.compiler.now
        self.now_value = now

    def scoped(self, table: sa.FromClause) -> list[sa.ColumnElement[bool]]:
        return self.compiler.facts.scoped(table)

    def leaf(self, leaf: Leaf) -> list[Candidates]:
        if isinstance(leaf, EventLeaf):
            parts = [self._events(leaf.event, leaf.within)]
            if leaf.not_followed_by == ORDER_FOLLOWER:
                parts.append(self._future_orders())
            elif leaf.not_followed_by is not None:
                parts.append(self._events(leaf.not_followed_by, None))
            return parts
        if isinstance(leaf, OrdersLeaf):
            return [self._orders(leaf.within)]
        if isinstance(leaf, RefundLeaf):
            return [self._refunds(leaf.within)]
        assert isinstance(leaf, FieldLeaf)
        return self._field(leaf)

    def _since(self, within: timedelta) -> sa.BindParameter[Any]:
        return sa.literal(self.now_value - within, _TS)

    def _events(self, event_type: str, within: timedelta | None) -> Candidates:
        """Events of a type leaving the window (``within``), or arriving (dated after now)."""
        event = behaviour_events.alias("due_events")
        after = self._since(within) if within is not None else self.now
        due = (
            event.c.occurred_at + sa.literal(within, sa.Interval())
            if within is not None
            else event.c.occurred_at
        )
        moment = sa.case((event.c.occurred_at > self.now, event.c.occurred_at), else_=due)
        return (
            sa.select(event.c.customer_id, sa.func.min(moment).label("due_at"))
            .where(
                event.c.tenant_id == self.tenant,
                event.c.event_type == sa.literal(event_type, sa.Text()),
                event.c.occurred_at > after,
                *self.scoped(event),
            )
            .group_by(event.c.customer_id)
        )

    def _orders(self, within: timedelta | None, plus: timedelta | None = None) -> Candidates:
        """Paid orders leaving a window or arriving; with ``plus``, every ``paid_at + plus`` ahead."""
        paid = orders.alias("due_orders")
        if plus is not None:
            moment: sa.ColumnElement[Any] = paid.c.paid_at + sa.literal(plus, sa.Interval())
            after: sa.ColumnElement[Any] = self._since(plus)
        elif within is not None:
            moment = sa.case(
                (paid.c.paid_at > self.now, paid.c.paid_at),
                else_=paid.c.paid_at + sa.literal(within, sa.Interval()),
            )
            after = self._since(within)
        else:
            moment, after = paid.c.paid_at, self.now
        return (
            sa.select(paid.c.customer_id, sa.func.min(moment).label("due_at"))
            .where(paid.c.tenant_id == self.tenant, paid.c.paid_at > after, *self.scoped(paid))
            .group_by(paid.c.customer_id)
        )

    def _future_orders(self) -> Candidates:
        return self._orders(None)

    def _refunds(self, within: timedelta) -> Candidates:
        refund, order = order_refunds.alias("due_refunds"), orders.alias("due_refunded_orders")
        moment = sa.case(
            (refund.c.refunded_at > self.now, refund.c.refunded_at),
            else_=refund.c.refunded_at + sa.literal(within, sa.Interval()),
        )
        return (
            sa.select(order.c.customer_id, sa.func.min(moment).label("due_at"))
            .where(
                refund.c.tenant_id == self.tenant,
                order.c.tenant_id == self.tenant,
                order.c.order_id == refund.c.order_id,
                refund.c.refunded_at > self._since(within),
                *self.scoped(order),
            )
            .group_by(order.c.customer_id)
        )

    def _field(self, leaf: FieldLeaf) -> list[Candidates]:
        parts: list[Candidates] = []
        if leaf.field.startswith("orders."):
            parts.append(self._future_orders())
        if leaf.op in (Op.HAS, Op.HAS_NOT):
            parts.append(
                sa.select(audience_tags.c.customer_id, audience_tags.c.expires_at.label("due_at")).where(
                    audience_tags.c.tenant_id == self.tenant,
                    audience_tags.c.tag_id == sa.literal(leaf.value, audience_tags.c.tag_id.type),
                    audience_tags.c.expires_at > self.now,
                    *self.scoped(audience_tags),
                )
            )
        elif leaf.op in (Op.OLDER_THAN, Op.NEWER_THAN) and isinstance(leaf.value, timedelta):
            parts.append(self._value_plus(leaf.field, leaf.value))
        elif leaf.op is Op.IN_NEXT_DAYS and isinstance(leaf.value, int):
            parts.append(self._birthday(leaf.value))
        return parts

    def _value_plus(self, field: str, plus: timedelta) -> Candidates:
        """``value + plus`` of a time field, when still ahead."""
        if field == "orders.last_at":
            return self._orders(None, plus=plus)
        table, column = (
            (customers, customers.c.registered_at)
            if field == "attributes.registered_at"
            else (customer_scores, customer_scores.c.last_seen_at)
        )
        moment = column + sa.literal(plus, sa.Interval())
        return sa.select(table.c.customer_id, moment.label("due_at")).where(
            table.c.tenant_id == self.tenant, column > self._since(plus), *self.scoped(table)
        )

    def _birthday(self, days: int) -> Candidates:
        """Local midnight of the day the next birthday comes into ``days`` range, or after it."""
        born = customers.alias("due_birthdays")
        upcoming, today, zone = self.compiler.upcoming_birthday(born.c.birthday)
        assert self.compiler.zones is not None
        span = sa.literal(days, sa.Integer())
        in_range = sa.type_coerce(upcoming - today, sa.Integer()) <= span
        day = sa.case((in_range, upcoming + 1), else_=upcoming - span)
        moment = sa.func.timezone(zone, sa.cast(day, sa.DateTime()))
        source = born.outerjoin(self.compiler.zones, self.compiler.zones.c.name == born.c.timezone)
        return (
            sa.select(born.c.customer_id, moment.label("due_at"))
            .select_from(source)
            .where(born.c.tenant_id == self.tenant, born.c.birthday.is_not(None), *self.scoped(born))
        )

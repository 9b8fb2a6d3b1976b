"""A parsed segment condition compiled to ONE parameterised SQL statement over the audience tables.

``segment_members(condition, tenant_id, now, tenant_zone)`` returns a SQLAlchemy Core ``SELECT`` of
the ids of the tenant's live customers (not merged, not erased) that meet the condition at ``now``.
It must agree with the reference evaluator (``domain/segments/evaluate.py``) on every tree and every
history; ``tests/test_segment_sql.py`` checks that with hypothesis.

How the definitions of docs/segments.md become SQL:
- every value of the tree is a bind parameter (``sa.literal``), never text in the statement: a
  value such as ``"'; DROP TABLE x; --"`` is compared, not executed. Field names, operators and
  table names come from the compiler's own tables, never from the condition;
- each leaf is a boolean that is never NULL (a comparison with a missing value is wrapped in
  ``coalesce(…, false)``; ``EXISTS`` is never NULL), so ``not`` is plain negation as in the evaluator;
- one-row-per-customer facts (scores, predictions, loyalty) are LEFT JOINed once when some leaf
  reads them; dated facts (orders, refunds, behaviour, tags, consents) are ``EXISTS``/``NOT EXISTS``
  subqueries or semi/anti joins against grouped derived tables — forms the planner turns into hash
  joins over the whole tenant rather than a lookup per customer;
- instants derived from ``now`` (``now - within``, ``now - d`` of ``older_than``) are computed in
  Python with the evaluator's own arithmetic and bound as values.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.scoring.domain.segments.evaluate import evaluate
from services.scoring.domain.segments.fields import FIELDS, Kind, Op
from services.scoring.domain.segments.record import CustomerRecord
from services.scoring.domain.segments.tree import (
    AllOf,
    AnyOf,
    Between,
    Condition,
    EventLeaf,
    FieldLeaf,
    Not,
    OrdersLeaf,
    RefundLeaf,
)
from services.scoring.store.audience_tables import audience_consents, audience_loyalty
from services.scoring.store.feature_tables import customer_scores, orders
from services.scoring.store.prediction_tables import predictions
from services.scoring.store.segment_sql_facts import FactCompiler
from services.scoring.store.tables import customers

Expression = sa.ColumnElement[bool]

_SCORE_COLUMNS = {
    "rfm.group": "rfm_group",
    "rfm.r": "r",
    "rfm.f": "f",
    "rfm.m": "m",
    "lifecycle.stage": "stage",
    "engagement": "engagement",
    "last_seen_at": "last_seen_at",
}
_PREDICTION_COLUMNS = {
    "predictions.p_alive": "p_alive",
    "predictions.expected_purchases_30d": "expected_purchases_30d",
    "predictions.expected_avg_spend_minor": "expected_avg_spend_minor",
    "predictions.clv_minor": "clv_minor",
}
_LOYALTY_COLUMNS = {"loyalty.tier": "tier", "loyalty.points": "points"}
_CUSTOMER_COLUMNS = {
    "attributes.gender": "gender",
    "attributes.province": "province",
    "attributes.city": "city",
    "attributes.registration_channel": "registration_channel",
    "attributes.device": "device",
    "attributes.birthday": "birthday",
    "attributes.registered_at": "registered_at",
}
_VALUE_TYPES: dict[Kind, sa.types.TypeEngine[Any]] = {
    Kind.TEXT: sa.Text(),
    Kind.ENUM: sa.Text(),
    Kind.INTEGER: sa.BigInteger(),
    Kind.NUMBER: sa.Float(precision=53),
    Kind.TIME: sa.TIMESTAMP(timezone=True),
    Kind.CONSENT: sa.Boolean(),
}


@cache
def python_zones() -> frozenset[str]:
    """The IANA zones this Python knows: the evaluator falls back to the tenant's zone for others."""
    return frozenset(available_timezones())


def segment_members(
    condition: Condition,
    tenant_id: uuid.UUID,
    now: datetime,
    tenant_zone: str,
    known_zones: Collection[str] | None = None,
    customer_ids: Sequence[uuid.UUID] | None = None,
) -> sa.Select[uuid.UUID]:
    """The ids of the tenant's live customers meeting ``condition`` at ``now`` (one statement).

    ``tenant_zone`` is the tenant's IANA zone (birthdays of customers without a zone of their own).
    ``known_zones`` are the customer zones taken as valid (default: those this Python knows, as the
    evaluator does); a customer zone outside it counts as none, so a name the database does not know
    can never fail the statement — the store passes the zones both Python and PostgreSQL know.
    ``customer_ids`` limits the answer to those customers (live membership re-evaluates the customers
    an event batch touched): the limit reaches the grouped derived tables too, so nothing is
    aggregated for customers outside it.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    ZoneInfo(tenant_zone)  # the tenant's zone must be real: a typo must fail here, not in SQL
    zones = sorted(python_zones() if known_zones is None else known_zones)
    compiler = _Compiler(tenant_id, now, tenant_zone, zones, customer_ids)
    where = compiler.condition(condition)
    source: sa.FromClause = customers
    for table in compiler.joined:
        source = source.outerjoin(
            table,
            sa.and_(
                table.c.tenant_id == customers.c.tenant_id,
                table.c.customer_id == customers.c.customer_id,
            ),
        )
    if compiler.zones is not None:
        source = source.outerjoin(compiler.zones, compiler.zones.c.name == customers.c.timezone)
    statement = (
        sa.select(customers.c.customer_id)
        .select_from(source)
        .where(
            customers.c.tenant_id == compiler.tenant,
            customers.c.merged_into.is_(None),
            customers.c.erased_at.is_(None),
            where,
        )
    )
    if compiler.scope is not None:
        statement = statement.where(customers.c.customer_id == sa.any_(compiler.scope))
    return statement


def segment_compiler(
    tenant_id: uuid.UUID,
    now: datetime,
    tenant_zone: str,
    known_zones: Collection[str] | None = None,
    customer_ids: Sequence[uuid.UUID] | None = None,
) -> _Compiler:
    """A compiler's bound parameters and helpers for statements built beside ``segment_members``
    (the due moments of ``segment_due_sql``), with the same parameters."""
    zones = sorted(python_zones() if known_zones is None else known_zones)
    return _Compiler(tenant_id, now, tenant_zone, zones, customer_ids)


class _Compiler:
    """Walks one tree; remembers which one-row tables and helpers the statement must join."""

    def __init__(
        self,
        tenant_id: uuid.UUID,
        now: datetime,
        tenant_zone: str,
        zones: list[str],
        customer_ids: Sequence[uuid.UUID] | None = None,
    ) -> None:
        self.now_value = now
        self.tenant_zone = tenant_zone
        self.zone_list = zones
        self.tenant = sa.bindparam("segment_tenant", tenant_id, type_=pg.UUID(as_uuid=True))
        self.now = sa.bindparam("segment_now", now, type_=sa.TIMESTAMP(timezone=True))
        self.joined: list[sa.Table] = []
        self.zones: sa.Subquery | None = None  # the valid customer zones, joined when a birthday asks
        self.scope = (
            None
            if customer_ids is None
            else sa.bindparam("segment_scope", list(customer_ids), type_=pg.ARRAY(pg.UUID(as_uuid=True)))
        )
        self.facts = FactCompiler(self.tenant, self.now, now, self.scope)

    def condition(self, node: Condition, positive: bool = True) -> Expression:
        """The boolean of a node: never NULL under a ``not``; in a positive context (the WHERE, and
        ``all``/``any`` below it without a ``not``) a comparison may be NULL, as WHERE and AND/OR take
        NULL for false exactly as the evaluator's missing value, and a bare comparison is strict, so
        the planner turns the LEFT JOIN of the table it reads into an inner join it can drive from an
        index (``coalesce`` hid that: every score leaf hashed all of ``customer_scores``)."""
        if isinstance(node, AllOf):
            # all of several has_not: none of the tags, one anti join (NOT EXISTS … = ANY)
            rest, lacking = _split_tags(node.children, Op.HAS_NOT)
            parts = [self.condition(child, positive) for child in rest]
            if lacking:
                parts.append(sa.not_(self.facts.holds_any_tag(lacking)))
            return sa.and_(*parts)
        if isinstance(node, AnyOf):
            # any of several has: one pass over the holdings of those tags (EXISTS … = ANY)
            rest, held = _split_tags(node.children, Op.HAS)
            parts = [self.condition(child, positive) for child in rest]
            if held:
                parts.append(self.facts.holds_any_tag(held))
            return sa.or_(*parts)
        if isinstance(node, Not):
            return sa.not_(self.condition(node.child, positive=False))
        if isinstance(node, FieldLeaf):
            return self.field(node, positive)
        if isinstance(node, EventLeaf):
            return self.facts.event(node)
        if isinstance(node, OrdersLeaf):
            return self.facts.orders(node)
        if isinstance(node, RefundLeaf):
            return self.facts.refund(node)
        raise TypeError(f"not a condition node: {node!r}")

    def field(self, leaf: FieldLeaf, positive: bool = True) -> Expression:
        name, op, spec = leaf.field, leaf.op, FIELDS[leaf.field]
        if spec.kind is Kind.TAGS:
            held = self.facts.holds_any_tag([leaf.value])
            return held if op is Op.HAS else sa.not_(held)
        if spec.kind is Kind.CONSENT:
            _, channel, purpose = name.split(".")
            return sa.exists().where(
                audience_consents.c.tenant_id == self.tenant,
                audience_consents.c.customer_id == customers.c.customer_id,
                audience_consents.c.channel == sa.literal(channel, sa.Text()),
                audience_consents.c.purpose == sa.literal(purpose, sa.Text()),
                audience_consents.c.granted == sa.literal(bool(leaf.value), sa.Boolean()),
            )
        if name == "orders.last_at":
            return self.facts.last_order(leaf)
        if name in ("orders.count", "orders.net_spend_minor"):
            return self._order_totals(leaf)
        column = self._column(name)
        if op is Op.EXISTS:
            return column.is_not(None)
        if op is Op.NOT_EXISTS:
            return column.is_(None)
        if op is Op.IN_NEXT_DAYS:
            compared = self._days_to_birthday(column) <= sa.literal(leaf.value, sa.Integer())
        else:
            compared = compare(column, op, leaf.value, _VALUE_TYPES[spec.kind], self.now_value)
        return compared if positive else sa.func.coalesce(compared, sa.false())

    def _column(self, name: str) -> sa.ColumnElement[Any]:
        if name in _CUSTOMER_COLUMNS:
            return customers.c[_CUSTOMER_COLUMNS[name]]
        for columns, table in (
            (_SCORE_COLUMNS, customer_scores),
            (_PREDICTION_COLUMNS, predictions),
            (_LOYALTY_COLUMNS, audience_loyalty),
        ):
            if name in columns:
                if table not in self.joined:
                    self.joined.append(table)
                return table.c[columns[name]]
        raise ValueError(f"no column for field {name}")

    def _order_totals(self, leaf: FieldLeaf) -> Expression:
        """``orders.count`` / ``orders.net_spend_minor`` over paid orders up to now.

        A customer without orders has 0 (never missing), which may or may not meet the leaf: the
        evaluator itself answers that case, and the statement then looks only for the customers
        whose totals answer differently (a semi join when 0 fails, an anti join when it holds).
        """
        if leaf.op in (Op.EXISTS, Op.NOT_EXISTS):  # never missing: 0 without orders
            return sa.true() if leaf.op is Op.EXISTS else sa.false()
        paid = orders.alias("order_totals_src")
        count = sa.func.count()
        spend = sa.func.sum(paid.c.amount_minor - paid.c.refunded_minor)
        total = count if leaf.field == "orders.count" else spend
        holds = sa.func.coalesce(
            compare(total, leaf.op, leaf.value, sa.BigInteger(), self.now_value), sa.false()
        )
        without_orders = evaluate(leaf, CustomerRecord(uuid.UUID(int=0)), self.now_value, ZoneInfo("UTC"))
        differ = sa.not_(holds) if without_orders else holds
        totals = (
            sa.select(paid.c.customer_id)
            .where(paid.c.tenant_id == self.tenant, paid.c.paid_at <= self.now, *self.facts.scoped(paid))
            .group_by(paid.c.customer_id)
            .having(differ)
            .subquery("order_totals")
        )
        found = sa.exists().where(totals.c.customer_id == customers.c.customer_id)
        return sa.not_(found) if without_orders else found

    def _days_to_birthday(self, birthday: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
        """Whole local days from today to the next birthday, in the customer's zone else the tenant's.

        ``birthday + make_interval(years => n)`` is PostgreSQL's calendar arithmetic, which keeps 29
        February on 28 February in a year without it — the evaluator's ``anniversary``.
        """
        upcoming, today, _ = self.upcoming_birthday(birthday)
        return sa.type_coerce(upcoming - today, sa.Integer())

    def upcoming_birthday(
        self, birthday: sa.ColumnElement[Any]
    ) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any], sa.ColumnElement[str]]:
        """(the next birthday on or after the local today, the local today, the local zone): the
        statement must outer-join ``self.zones`` on the customer's zone (``segment_members`` does)."""
        if self.zones is None:  # the valid customer zones as a derived table (one array parameter)
            names = sa.func.unnest(sa.literal(self.zone_list, pg.ARRAY(sa.Text()))).table_valued("name")
            self.zones = sa.select(names.c.name).subquery("segment_zones")
        zone = sa.func.coalesce(self.zones.c.name, sa.literal(self.tenant_zone, sa.Text()))
        today = sa.cast(sa.func.timezone(zone, self.now), sa.Date())
        year = sa.cast(sa.extract("year", today), sa.Integer())

        def anniversary(in_year: sa.ColumnElement[int]) -> sa.ColumnElement[Any]:
            born = sa.cast(sa.extract("year", birthday), sa.Integer())
            return sa.cast(birthday + sa.func.make_interval(in_year - born), sa.Date())

        this_year = anniversary(year)
        upcoming = sa.case((this_year >= today, this_year), else_=anniversary(year + 1))
        return upcoming, today, zone


def _split_tags(children: Sequence[Condition], op: Op) -> tuple[list[Condition], list[object]]:
    """The children apart from their ``tags <op> t`` leaves, and those leaves' tags — when there are
    two or more of them to test in one pass; otherwise every child, and no tags."""
    tags: list[object] = [
        child.value
        for child in children
        if isinstance(child, FieldLeaf) and FIELDS[child.field].kind is Kind.TAGS and child.op is op
    ]
    if len(tags) < 2:
        return list(children), []
    rest = [
        child
        for child in children
        if not (isinstance(child, FieldLeaf) and FIELDS[child.field].kind is Kind.TAGS and child.op is op)
    ]
    return rest, tags


def compare(
    value: sa.ColumnElement[Any], op: Op, wanted: Any, value_type: sa.types.TypeEngine[Any], now: datetime
) -> sa.ColumnElement[bool]:
    """``value OP wanted`` with every value bound; NULL when ``value`` is NULL (the caller coalesces)."""

    def bound(item: Any) -> sa.BindParameter[Any]:
        return sa.literal(item, value_type)

    if op is Op.EQ:
        return value == bound(wanted)
    if op is Op.NE:
        return value != bound(wanted)
    if op in (Op.IN, Op.NOT_IN):
        items = sa.literal(list(wanted), pg.ARRAY(value_type))
        return value == sa.any_(items) if op is Op.IN else value != sa.all_(items)
    if op is Op.GT:
        return value > bound(wanted)
    if op is Op.GTE:
        return value >= bound(wanted)
    if op is Op.LT:
        return value < bound(wanted)
    if op is Op.LTE:
        return value <= bound(wanted)
    if op is Op.BETWEEN and isinstance(wanted, Between):
        return sa.and_(value >= bound(wanted.low), value <= bound(wanted.high))
    if op is Op.OLDER_THAN and isinstance(wanted, timedelta):
        return value <= bound(now - wanted)
    if op is Op.NEWER_THAN and isinstance(wanted, timedelta):
        return value > bound(now - wanted)
    raise ValueError(f"operator {op} cannot compare {wanted!r}")

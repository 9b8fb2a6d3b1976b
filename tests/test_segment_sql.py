"""The compiled segment statement agrees with the reference evaluator, and the preview around it.

Property: for random condition trees and random customer histories, the ids the SQL statement
selects equal the live customers ``evaluate`` accepts at the same ``now`` in the same tenant zone —
with another tenant holding the same customer ids but other facts, so a subquery that forgot the
tenant would be caught. Examples pin the cases the issue names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.errors import InvalidArgument, NotFound, Unavailable
from services.scoring.domain.segments import evaluate, parse_condition
from services.scoring.domain.segments.fields import FIELDS, Kind, Op
from services.scoring.domain.segments.preview import MAX_SAMPLE, SegmentPreview
from services.scoring.domain.segments.record import (
    BehaviourFact,
    CustomerRecord,
    OrderFact,
    RefundFact,
    TagHolding,
)
from services.scoring.domain.segments.tree import Condition, OrdersLeaf
from services.scoring.store.segment_preview import SqlSegmentStore
from services.scoring.store.segment_sql import segment_members
from tests.segment_histories import (
    EVENT_TYPES,
    INJECTION,
    LIVE,
    NOWS,
    OFFSETS,
    PROPERTIES,
    REASONS,
    TAGS,
    TENANT_ZONES,
    TEXTS,
    WITHINS,
    histories,
    insert_histories,
    insert_tenant,
    moment,
)
from tests.support import PostgresServer
from tests.test_segment_conditions import trees

History = Sequence[tuple[CustomerRecord, str]]


@pytest.fixture(scope="module")
async def database(postgres: PostgresServer) -> AsyncIterator[Database]:
    name = f"patron_test_segsql_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    try:
        await asyncio.to_thread(migrations.upgrade, "scoring", url)
        database = Database(create_engine(url, application_name="segment-sql-test"))
        yield database
        await database.dispose()
    finally:
        await postgres.drop_database(name)


async def selected(
    database: Database, condition: Condition, tenant: uuid.UUID, now: datetime, zone: str
) -> set[uuid.UUID]:
    async with database.read() as connection:
        return set((await connection.execute(segment_members(condition, tenant, now, zone))).scalars())


def expected(condition: Condition, history: History, now: datetime, zone: str) -> set[uuid.UUID]:
    return {
        record.customer_id
        for record, status in history
        if status == LIVE and evaluate(condition, record, now, ZoneInfo(zone))
    }


async def store(
    database: Database, history: History, now: datetime, zone: str, rotate: bool = True
) -> uuid.UUID:
    """A fresh tenant holding ``history``, beside another tenant holding the same customer ids with
    the facts rotated one place; returns the first tenant."""
    tenant, other = uuid.uuid4(), uuid.uuid4()
    ids = [record.customer_id for record, _ in history]
    shifted = [
        (dataclasses.replace(record, customer_id=ids[(i + 1) % len(ids)]), LIVE)
        for i, (record, _) in enumerate(history)
    ]
    async with database.transaction() as connection:
        await insert_tenant(connection, tenant, zone)
        await insert_histories(connection, tenant, history, now)
        if rotate:
            await insert_tenant(connection, other, zone)
            await insert_histories(connection, other, shifted, now)
    return tenant


# --- The property ----------------------------------------------------------------------------------


def field_values(field: str, op: Op, now: datetime) -> st.SearchStrategy[Any]:
    """Values from the same pools the histories draw from."""
    kind = FIELDS[field].kind
    if op in (Op.EXISTS, Op.NOT_EXISTS):
        return st.none()
    if op in (Op.HAS, Op.HAS_NOT):
        return st.sampled_from([str(tag) for tag in TAGS])
    if op in (Op.OLDER_THAN, Op.NEWER_THAN):
        return st.sampled_from(WITHINS)
    if op is Op.IN_NEXT_DAYS:
        return st.sampled_from([0, 1, 2, 3, 366])
    scalar: st.SearchStrategy[Any]
    if kind is Kind.CONSENT:
        scalar = st.booleans()
    elif kind is Kind.TIME:
        scalar = moment(now).map(lambda at: at.isoformat())
    elif kind is Kind.ENUM:
        scalar = st.sampled_from(FIELDS[field].choices)
    elif field == "loyalty.tier":
        scalar = st.sampled_from(["gold", "silver"])
    elif kind is Kind.TEXT:
        scalar = st.sampled_from([*TEXTS, "store"])
    elif field.startswith("rfm."):
        scalar = st.integers(1, 5)
    else:
        spec = FIELDS[field]
        pool = (
            [-100, 0, 1, 2, 100, 500, 1_000, 5_000, 50_000]
            if kind is Kind.INTEGER
            else [0, 0.25, 0.5, 1, 1.5, 2.0, 3]
        )
        scalar = st.sampled_from([number for number in pool if spec.minimum <= number <= spec.maximum])
    if op in (Op.IN, Op.NOT_IN):
        return st.lists(scalar, min_size=1, max_size=3)
    if op is Op.BETWEEN:
        return st.lists(scalar, min_size=2, max_size=2).map(sorted)
    return scalar


def leaf_documents(now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    fields = st.sampled_from(sorted(FIELDS)).flatmap(
        lambda name: st.sampled_from(sorted(FIELDS[name].ops)).flatmap(
            lambda op: field_values(name, op, now).map(
                lambda value: (
                    {"field": name, "op": op.value}
                    | ({} if op in (Op.EXISTS, Op.NOT_EXISTS) else {"value": value})
                )
            )
        )
    )
    events = st.fixed_dictionaries(
        {"event": st.sampled_from(EVENT_TYPES), "within": st.sampled_from(WITHINS)},
        optional={
            "min_count": st.integers(1, 3),
            "where": st.sampled_from([p for p in PROPERTIES if (p and "sku" not in p) or p == {"sku": "a"}]),
            "not_followed_by": st.sampled_from(["order", "view", "add_to_cart"]),
        },
    )
    orders = st.fixed_dictionaries(
        {"within": st.sampled_from(WITHINS)},
        optional={"min_count": st.integers(1, 2), "min_spend_minor": st.sampled_from([0, 1_000, 5_000])},
    ).map(lambda body: {"orders": body})
    refunds = st.fixed_dictionaries(
        {"within": st.sampled_from(WITHINS)}, optional={"reason": st.sampled_from([r for r in REASONS if r])}
    ).map(lambda body: {"refund": body})
    birthdays = st.sampled_from([0, 1, 2, 3, 366]).map(
        lambda days: {"field": "attributes.birthday", "op": "in_next_days", "value": days}
    )
    return st.one_of(fields, fields, events, orders, refunds, birthdays)


def documents(now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaf_documents(now),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
            st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
            children.map(lambda c: {"not": c}),
        ),
        max_leaves=6,
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Condition, History, datetime, str]:
    now = draw(st.sampled_from(NOWS))
    condition = parse_condition(draw(documents(now)))
    return condition, draw(histories(now)), now, draw(st.sampled_from(TENANT_ZONES))


def run_property(
    database: Database, strategy: st.SearchStrategy[Any], examples: int, loop: asyncio.AbstractEventLoop
) -> None:
    """Drive an async check from hypothesis (which is synchronous, in a thread) on the test's loop."""

    async def example(case: tuple[Condition, History, datetime, str]) -> None:
        condition, history, now, zone = case
        tenant = await store(database, history, now, zone)
        assert await selected(database, condition, tenant, now, zone) == expected(
            condition, history, now, zone
        )

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(case: tuple[Condition, History, datetime, str]) -> None:
        asyncio.run_coroutine_threadsafe(example(case), loop).result()

    check()


async def test_the_statement_selects_what_the_evaluator_accepts(database: Database) -> None:
    await asyncio.to_thread(run_property, database, cases(), 250, asyncio.get_running_loop())


@st.composite
def any_tree_cases(draw: st.DrawFn) -> tuple[Condition, History, datetime, str]:
    now = draw(st.sampled_from(NOWS))
    return draw(trees), draw(histories(now)), now, draw(st.sampled_from(TENANT_ZONES))


async def test_any_valid_tree_compiles_and_agrees(database: Database) -> None:
    """The condition module's own tree strategy: extreme numbers, any text, any duration."""
    await asyncio.to_thread(run_property, database, any_tree_cases(), 100, asyncio.get_running_loop())


# --- Examples --------------------------------------------------------------------------------------

NOW = NOWS[0]
SHANGHAI = "Asia/Shanghai"
CART_24H = {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"}


def person(number: int, **facts: Any) -> tuple[CustomerRecord, str]:
    return CustomerRecord(customer_id=uuid.UUID(int=number), **facts), LIVE


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


async def check(
    database: Database, document: Any, history: History, now: datetime = NOW, zone: str = SHANGHAI
) -> set[int]:
    """The numbers of the customers the statement selects, after checking the evaluator agrees."""
    condition = parse_condition(document)
    tenant = await store(database, history, now, zone)
    found = await selected(database, condition, tenant, now, zone)
    assert found == expected(condition, history, now, zone)
    return {customer.int for customer in found}


async def test_the_24_hour_abandoned_cart(database: Database) -> None:
    cart = BehaviourFact("add_to_cart", hours_ago(3))
    history = [
        person(1, events=(cart,)),
        person(2, events=(cart,), orders=(OrderFact(hours_ago(1), 100),)),
        person(3, events=(BehaviourFact("add_to_cart", hours_ago(24)),)),
        person(4, events=(BehaviourFact("add_to_cart", hours_ago(23.99)),)),
        person(
            5,
            events=(cart, BehaviourFact("add_to_cart", hours_ago(0.5))),
            orders=(OrderFact(hours_ago(1), 100),),
        ),
        person(6, events=(cart,), orders=(OrderFact(hours_ago(3), 100),)),
        person(7, events=(cart,), orders=(OrderFact(NOW + timedelta(minutes=1), 100),)),
    ]
    assert await check(database, CART_24H, history) == {1, 4, 5, 7}


async def test_birthdays_across_the_year_end_and_on_29_february(database: Database) -> None:
    def born(number: int, day: date, zone: str | None = None) -> tuple[CustomerRecord, str]:
        return person(number, birthday=day, timezone=zone)

    def soon(days: int) -> dict[str, Any]:
        return {"field": "attributes.birthday", "op": "in_next_days", "value": days}

    dec_28 = datetime(2026, 12, 28, 4, 0, tzinfo=ZoneInfo("UTC"))  # noon in Shanghai
    year_end = [born(1, date(1990, 1, 2)), born(2, date(1990, 12, 27)), born(3, date(1990, 12, 28))]
    assert await check(database, soon(5), year_end, dec_28) == {1, 3}
    assert await check(database, soon(4), year_end, dec_28) == {3}
    assert await check(database, soon(364), year_end, dec_28) == {1, 2, 3}
    new_year = datetime(2026, 12, 31, 17, 0, tzinfo=ZoneInfo("UTC"))  # 1 January 01:00 in Shanghai
    zones = [
        born(1, date(1990, 1, 1)),
        born(2, date(1990, 1, 1), "UTC"),
        born(3, date(1990, 1, 1), "Not/AZone"),
    ]
    assert await check(database, soon(0), zones, new_year) == {1, 3}, "the customer's own zone wins"
    leap = [born(1, date(2000, 2, 29)), born(2, date(1990, 3, 1)), born(3, date(1990, 2, 28))]
    feb_28_2027 = datetime(2027, 2, 28, 1, 0, tzinfo=ZoneInfo("UTC"))
    assert await check(database, soon(0), leap, feb_28_2027) == {1, 3}, "29 February kept on the 28th"
    feb_28_2028 = datetime(2028, 2, 28, 1, 0, tzinfo=ZoneInfo("UTC"))
    assert await check(database, soon(0), leap, feb_28_2028) == {3}
    assert await check(database, soon(1), leap, feb_28_2028) == {1, 3}
    assert await check(database, soon(2), leap, feb_28_2028) == {1, 2, 3}


async def test_tags_count_until_they_expire(database: Database) -> None:
    tag = TAGS[0]
    history = [
        person(1, tags=(TagHolding(tag),)),
        person(2, tags=(TagHolding(tag, NOW),)),
        person(3, tags=(TagHolding(tag, NOW + timedelta(microseconds=1)),)),
        person(4, tags=(TagHolding(TAGS[1]),)),
        person(5),
    ]
    assert await check(database, {"field": "tags", "op": "has", "value": str(tag)}, history) == {1, 3}
    assert await check(database, {"field": "tags", "op": "has_not", "value": str(tag)}, history) == {2, 4, 5}


async def test_order_totals_are_never_missing(database: Database) -> None:
    """``orders.count`` and ``orders.net_spend_minor`` are 0 without orders, so they always exist."""
    history = [person(1, orders=(OrderFact(hours_ago(2), 500, 0),)), person(2)]
    for field in ("orders.count", "orders.net_spend_minor"):
        assert await check(database, {"field": field, "op": "exists"}, history) == {1, 2}
        assert await check(database, {"field": field, "op": "not_exists"}, history) == set()


async def test_injection_strings_are_just_values(database: Database) -> None:
    history = [
        person(1, province=INJECTION, events=(BehaviourFact("view", hours_ago(1), {INJECTION: INJECTION}),)),
        person(
            2,
            province="Zhejiang",
            orders=(OrderFact(hours_ago(2), 500, 100),),
            refunds=(RefundFact(hours_ago(1), 100, INJECTION),),
        ),
    ]
    document = {
        "any": [
            {"field": "attributes.province", "op": "eq", "value": INJECTION},
            {"refund": {"within": "PT2H", "reason": INJECTION}},
            {"event": "view", "within": "PT2H", "where": {INJECTION: INJECTION}},
        ]
    }
    assert await check(database, document, history) == {1, 2}
    assert await check(database, document["any"][2], history) == {1}
    statement = segment_members(parse_condition(document), uuid.uuid4(), NOW, SHANGHAI)
    assert "DROP" not in str(statement), "every value is a parameter"
    async with database.read() as connection:
        assert (await connection.execute(sa.text("SELECT count(*) FROM customers"))).scalar_one() > 0


async def test_another_tenants_rows_never_match(database: Database) -> None:
    shared = uuid.UUID(int=1)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    busy = CustomerRecord(
        customer_id=shared,
        province="Zhejiang",
        tags=(TagHolding(TAGS[0]),),
        orders=(OrderFact(hours_ago(1.5), 5_000),),
        events=(BehaviourFact("add_to_cart", hours_ago(1)),),
    )
    async with database.transaction() as connection:
        await insert_tenant(connection, mine, SHANGHAI)
        await insert_histories(connection, mine, [(CustomerRecord(customer_id=shared), LIVE)], NOW)
        await insert_tenant(connection, theirs, SHANGHAI)
        await insert_histories(connection, theirs, [(busy, LIVE)], NOW)
    for document in (
        {"field": "attributes.province", "op": "eq", "value": "Zhejiang"},
        {"field": "tags", "op": "has", "value": str(TAGS[0])},
        {"orders": {"within": "PT2H"}},
        {"field": "orders.count", "op": "gte", "value": 1},
        CART_24H,
    ):
        condition = parse_condition(document)
        assert await selected(database, condition, mine, NOW, SHANGHAI) == set(), document
        assert await selected(database, condition, theirs, NOW, SHANGHAI) == {shared}, document


# --- Preview ---------------------------------------------------------------------------------------


async def test_the_preview_counts_and_samples(database: Database) -> None:
    history = [person(number, province="Zhejiang" if number % 2 else None) for number in range(1, 60)]
    history.append((CustomerRecord(customer_id=uuid.UUID(int=99), province="Zhejiang"), "merged"))
    tenant = await store(database, history, NOW, SHANGHAI, rotate=False)
    preview = SegmentPreview(SqlSegmentStore(database), clock=lambda: NOW)
    answer = await preview.preview(tenant, {"field": "attributes.province", "op": "eq", "value": "Zhejiang"})
    assert answer.count == 30
    assert answer.as_of == NOW
    assert answer.sample == tuple(uuid.UUID(int=n) for n in range(1, 40, 2)), "the first 20 ids in order"
    assert len(answer.sample) == MAX_SAMPLE
    small = await preview.preview(tenant, {"field": "attributes.province", "op": "exists"}, sample_size=3)
    assert (small.count, len(small.sample)) == (30, 3)
    counted = await preview.preview(
        tenant, {"not": {"field": "attributes.province", "op": "exists"}}, sample_size=0
    )
    assert (counted.count, counted.sample) == (29, ())
    none = await preview.preview(tenant, {"field": "attributes.province", "op": "eq", "value": "x"})
    assert (none.count, none.sample) == (0, ())


async def test_the_preview_refuses_bad_input_and_unknown_tenants(database: Database) -> None:
    preview = SegmentPreview(SqlSegmentStore(database), clock=lambda: NOW)
    with pytest.raises(InvalidArgument) as bad:
        await preview.preview(uuid.uuid4(), {"all": [{"field": "engagement", "op": "eq", "value": 1}]})
    assert [v.field for v in bad.value.violations] == ["condition.all[0].op"]
    with pytest.raises(InvalidArgument) as too_many:
        await preview.preview(
            uuid.uuid4(), {"field": "engagement", "op": "exists"}, sample_size=MAX_SAMPLE + 1
        )
    assert [v.field for v in too_many.value.violations] == ["sample_size"]
    with pytest.raises(NotFound):
        await preview.preview(uuid.uuid4(), {"field": "engagement", "op": "exists"})


async def test_a_slow_preview_answers_unavailable(database: Database) -> None:
    tenant = await store(database, [person(1, province="Zhejiang")], NOW, SHANGHAI, rotate=False)
    preview = SegmentPreview(SqlSegmentStore(database, timeout_ms=200), clock=lambda: NOW)
    async with database.transaction() as blocker:
        await blocker.execute(sa.text("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(Unavailable, match="200 ms"):
            await preview.preview(tenant, {"field": "attributes.province", "op": "exists"})


def test_windows_and_offsets_meet_at_the_edges() -> None:
    """The pools probe every window exactly at its edge (a guard on the property's power)."""
    edges = set()
    for within in WITHINS:
        leaf = parse_condition({"orders": {"within": within}})
        assert isinstance(leaf, OrdersLeaf)
        edges.add(-int(leaf.within / timedelta(minutes=1)))
    assert edges <= set(OFFSETS)

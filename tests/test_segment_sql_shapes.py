"""The shapes the segment compiler chooses for speed answer exactly what the evaluator answers.

``segment_sql.py`` compiles some trees into other shapes than one leaf after another: an ``any``
of several ``tags has`` (and an ``all`` of several ``has_not``) is one pass over the holdings of
those tags; comparisons outside a ``not`` are left strict (no ``coalesce``) so the planner can drive
a score leaf from its index; a ``not_followed_by`` follower is bounded by the window. And live
membership limits the statement to a few customers (``customer_ids``). These properties aim random
trees and histories at exactly those shapes; ``test_segment_sql.py`` checks the language at large.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.scoring.domain.segments import parse_condition
from services.scoring.domain.segments.record import BehaviourFact, OrderFact, TagHolding
from services.scoring.domain.segments.tree import Condition
from services.scoring.store.segment_sql import segment_members
from tests.segment_histories import NOWS, TAGS, TENANT_ZONES, WITHINS, histories
from tests.support import PostgresServer
from tests.test_segment_sql import (
    NOW,
    SHANGHAI,
    History,
    cases,
    check,
    expected,
    hours_ago,
    person,
    store,
)


@pytest.fixture(scope="module")
async def database(postgres: PostgresServer) -> AsyncIterator[Database]:
    name = f"patron_test_segshape_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    try:
        await asyncio.to_thread(migrations.upgrade, "scoring", url)
        database = Database(create_engine(url, application_name="segment-shape-test"))
        yield database
        await database.dispose()
    finally:
        await postgres.drop_database(name)


def shaped_leaves(now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    """Tag leaves (often several under one group), score and attribute leaves that are often missing,
    and behaviour with a follower."""
    tags = st.builds(
        lambda op, tag: {"field": "tags", "op": op, "value": str(tag)},
        st.sampled_from(["has", "has_not"]),
        st.sampled_from(TAGS),
    )
    scores = st.one_of(
        st.builds(
            lambda group: {"field": "rfm.group", "op": "eq", "value": group},
            st.sampled_from(["to_keep", "lost"]),
        ),
        st.builds(lambda r: {"field": "rfm.r", "op": "gte", "value": r}, st.integers(1, 5)),
        st.builds(
            lambda gender: {"field": "attributes.gender", "op": "ne", "value": gender}, st.just("male")
        ),
        st.just({"field": "predictions.p_alive", "op": "lt", "value": 0.5}),
        st.just({"field": "loyalty.points", "op": "not_in", "value": [0, 100]}),
    )
    followed = st.builds(
        lambda within, follower: {"event": "add_to_cart", "within": within, "not_followed_by": follower},
        st.sampled_from(WITHINS),
        st.sampled_from(["order", "view", "add_to_cart"]),
    )
    return st.one_of(tags, tags, tags, scores, followed)


def shaped_documents(now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        shaped_leaves(now),
        lambda children: st.one_of(
            st.lists(children, min_size=2, max_size=4).map(lambda c: {"any": c}),
            st.lists(children, min_size=2, max_size=4).map(lambda c: {"all": c}),
            children.map(lambda c: {"not": c}),
        ),
        max_leaves=8,
    )


@st.composite
def shaped_cases(draw: st.DrawFn) -> tuple[Condition, History, datetime, str]:
    now = draw(st.sampled_from(NOWS))
    condition = parse_condition(draw(shaped_documents(now)))
    return condition, draw(histories(now)), now, draw(st.sampled_from(TENANT_ZONES))


async def scoped(
    database: Database,
    condition: Condition,
    tenant: uuid.UUID,
    now: datetime,
    zone: str,
    ids: list[uuid.UUID],
) -> set[uuid.UUID]:
    async with database.read() as connection:
        statement = segment_members(condition, tenant, now, zone, customer_ids=ids)
        return set((await connection.execute(statement)).scalars())


def run(
    database: Database, strategy: st.SearchStrategy[Any], examples: int, loop: asyncio.AbstractEventLoop
) -> None:
    """Each case answered whole and limited to every other customer (and one nobody knows)."""

    async def example(case: tuple[Condition, History, datetime, str]) -> None:
        condition, history, now, zone = case
        tenant = await store(database, history, now, zone)
        wanted = expected(condition, history, now, zone)
        async with database.read() as connection:
            whole = set((await connection.execute(segment_members(condition, tenant, now, zone))).scalars())
        assert whole == wanted
        ids = [*[record.customer_id for record, _ in history][::2], uuid.uuid4()]
        assert await scoped(database, condition, tenant, now, zone, ids) == wanted & set(ids)
        assert await scoped(database, condition, tenant, now, zone, []) == set()

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def property_(case: tuple[Condition, History, datetime, str]) -> None:
        asyncio.run_coroutine_threadsafe(example(case), loop).result()

    property_()


async def test_grouped_tags_strict_comparisons_and_followers_agree(database: Database) -> None:
    await asyncio.to_thread(run, database, shaped_cases(), 200, asyncio.get_running_loop())


async def test_a_statement_limited_to_some_customers_answers_for_them(database: Database) -> None:
    """Live membership's form (``customer_ids``) on the language at large."""
    await asyncio.to_thread(run, database, cases(), 100, asyncio.get_running_loop())


async def test_any_of_tags_is_one_pass_and_keeps_expiry(database: Database) -> None:
    first, second = TAGS
    history = [
        person(1, tags=(TagHolding(first),)),
        person(2, tags=(TagHolding(second, NOW),)),  # expired at now exactly
        person(3, tags=(TagHolding(first, NOW), TagHolding(second))),
        person(4),
    ]
    has = [{"field": "tags", "op": "has", "value": str(tag)} for tag in TAGS]
    has_not = [{"field": "tags", "op": "has_not", "value": str(tag)} for tag in TAGS]
    assert await check(database, {"any": has}, history) == {1, 3}
    assert await check(database, {"all": has_not}, history) == {2, 4}
    assert await check(database, {"not": {"any": has}}, history) == {2, 4}
    assert await check(database, {"all": has}, history) == set()
    assert await check(database, {"any": [*has_not, has[0]]}, history) == {1, 2, 3, 4}
    statement = str(segment_members(parse_condition({"any": has}), uuid.uuid4(), NOW, SHANGHAI))
    assert statement.count("FROM audience_tags") == 1, "one pass over the holdings"


async def test_a_follower_in_the_window_still_cancels_a_cart(database: Database) -> None:
    cart = BehaviourFact("add_to_cart", hours_ago(23))
    history = [
        person(1, events=(cart,), orders=(OrderFact(hours_ago(23), 100),)),  # the same instant
        person(2, events=(cart,), orders=(OrderFact(hours_ago(25), 100),)),  # before the cart
        person(3, events=(cart, BehaviourFact("view", hours_ago(0.1)))),
    ]
    cart_24h = {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"}
    assert await check(database, cart_24h, history) == {2, 3}
    assert await check(database, {**cart_24h, "not_followed_by": "view"}, history) == {1, 2}

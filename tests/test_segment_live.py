"""Live membership is exact: what events and the passing of time leave in ``segment_members`` is what
a full evaluation at that moment selects, and every change was announced exactly once.

Property: random trees and histories (the pools of the SQL property test) are saved as a segment at
``now``; the clock then moves through moments chosen at window edges, expiries and birthdays, and at
each the due worker runs (``apply_due`` with an injected clock). Membership must equal the compiled
statement's answer at that moment, and the outbox must hold, per customer, alternating entered and
exited events ending in the customer's state. Examples: the 24-hour abandoned cart with an injected
clock (an add-to-cart enters, an order exits, 24 h passing exits), merges and erasure.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.domain.segments import parse_condition
from services.scoring.domain.segments.dump import dump_condition
from services.scoring.domain.segments.record import CustomerRecord
from services.scoring.domain.segments.tree import Condition
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.segment_live import apply_due
from services.scoring.store.segment_membership import (
    LiveSegment,
    reevaluate_segment,
    refresh_customers,
)
from services.scoring.store.segment_sql import segment_members
from services.scoring.store.segment_tables import segment_due, segments
from services.scoring.store.segment_tables import segment_members as members
from services.scoring.store.tables import customers
from tests.segment_histories import LIVE, NOWS, TENANT_ZONES, histories, insert_histories, insert_tenant
from tests.support import PostgresServer
from tests.test_segment_sql import documents

History = Sequence[tuple[CustomerRecord, str]]
# Minutes after ``now``: just before, at and after the window edges of the pools (PT1H, PT2H,
# PT24H, P2D from facts up to 48 h old or 90 min ahead), then days for expiries and birthdays.
STEPS = (1, 59, 60, 61, 89, 90, 91, 119, 120, 121, 150, 1439, 1440, 1441, 1530, 2879, 2880, 2881, 2970)
DAY_STEPS = (3, 4, 5, 30, 366, 367)


@pytest.fixture(scope="module")
async def database(postgres: PostgresServer) -> AsyncIterator[Database]:
    name = f"patron_test_seglive_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    try:
        await asyncio.to_thread(migrations.upgrade, "scoring", url)
        database = Database(create_engine(url, application_name="segment-live-test"))
        yield database
        await database.dispose()
    finally:
        await postgres.drop_database(name)


@pytest.fixture(scope="module")
def outbox() -> Outbox:
    return Outbox("scoring", outbox_table, partitions=4)


async def save(
    database: Database, outbox: Outbox, tenant: uuid.UUID, condition: Condition, now: datetime
) -> LiveSegment:
    """A saved segment, evaluated over the tenant at ``now`` (as creating it through the API does)."""
    segment = LiveSegment(uuid.uuid4(), 1, condition)
    async with database.transaction() as connection:
        await connection.execute(
            sa.insert(segments).values(
                tenant_id=tenant,
                segment_id=segment.segment_id,
                name=f"s-{segment.segment_id}",
                condition=dump_condition(condition),
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
        await reevaluate_segment(connection, outbox, tenant, segment, now, "saved")
    return segment


async def stored_members(database: Database, tenant: uuid.UUID, segment: LiveSegment) -> set[uuid.UUID]:
    async with database.read() as connection:
        rows = await connection.execute(
            sa.select(members.c.customer_id).where(
                members.c.tenant_id == tenant, members.c.segment_id == segment.segment_id
            )
        )
        return set(rows.scalars())


async def answer(
    database: Database, tenant: uuid.UUID, condition: Condition, now: datetime, zone: str
) -> set[uuid.UUID]:
    async with database.read() as connection:
        return set((await connection.execute(segment_members(condition, tenant, now, zone))).scalars())


async def announced(
    database: Database, tenant: uuid.UUID, segment: LiveSegment
) -> dict[uuid.UUID, list[str]]:
    """Per customer, the segment's events in outbox order ("entered"/"exited")."""
    async with database.read() as connection:
        rows = await connection.execute(
            sa.select(outbox_table.c.envelope)
            .where(outbox_table.c.tenant_id == tenant, outbox_table.c.type.like("segment.%"))
            .order_by(outbox_table.c.id)
        )
        envelopes = [envelope_pb2.EventEnvelope.FromString(row) for row in rows.scalars()]
    seen: dict[uuid.UUID, list[str]] = defaultdict(list)
    for envelope in envelopes:
        payload = envelope.segment_entered if envelope.type == "segment.entered" else envelope.segment_exited
        if payload.segment_id == str(segment.segment_id):
            seen[uuid.UUID(envelope.customer_id)].append(envelope.type.removeprefix("segment."))
    return seen


def assert_announced_once_per_change(seen: dict[uuid.UUID, list[str]], now_in: set[uuid.UUID]) -> None:
    for customer, kinds in seen.items():
        assert kinds == ["entered", "exited"] * (len(kinds) // 2) + ["entered"] * (len(kinds) % 2), kinds
        assert (len(kinds) % 2 == 1) == (customer in now_in)
    assert now_in <= set(seen)


async def run_due(database: Database, outbox: Outbox, now: datetime) -> None:
    while await apply_due(database, outbox, now):
        pass


async def follow_the_clock(
    database: Database, outbox: Outbox, condition: Condition, history: History, now: datetime, zone: str
) -> None:
    tenant = uuid.uuid4()
    async with database.transaction() as connection:
        await insert_tenant(connection, tenant, zone)
        await insert_histories(connection, tenant, history, now)
    segment = await save(database, outbox, tenant, condition, now)
    assert await stored_members(database, tenant, segment) == await answer(
        database, tenant, condition, now, zone
    )
    moments = [now + timedelta(minutes=m) for m in STEPS] + [now + timedelta(days=d) for d in DAY_STEPS]
    for moment in moments:
        await run_due(database, outbox, moment)
        expected = await answer(database, tenant, condition, moment, zone)
        assert await stored_members(database, tenant, segment) == expected, moment - now
    assert_announced_once_per_change(await announced(database, tenant, segment), expected)


@st.composite
def clock_cases(draw: st.DrawFn) -> tuple[Condition, History, datetime, str]:
    now = draw(st.sampled_from(NOWS))
    condition = parse_condition(draw(documents(now)))
    return condition, draw(histories(now)), now, draw(st.sampled_from(TENANT_ZONES))


async def test_time_alone_moves_membership_exactly(database: Database, outbox: Outbox) -> None:
    loop = asyncio.get_running_loop()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(clock_cases())
    def check(case: tuple[Condition, History, datetime, str]) -> None:
        condition, history, now, zone = case
        asyncio.run_coroutine_threadsafe(
            follow_the_clock(database, outbox, condition, history, now, zone), loop
        ).result()

    await asyncio.to_thread(check)


# --- The abandoned cart, with an injected clock ------------------------------------------------------

NOW = NOWS[0]
CART_24H: dict[str, Any] = {"event": "add_to_cart", "within": "PT24H", "not_followed_by": "order"}


async def add_fact(database: Database, tenant: uuid.UUID, history: History) -> None:
    async with database.transaction() as connection:
        await insert_histories(connection, tenant, history, NOW)


async def test_the_abandoned_cart_gains_on_add_to_cart_and_loses_on_order_and_on_time(
    database: Database, outbox: Outbox
) -> None:
    tenant, shopper, stale = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with database.transaction() as connection:
        await insert_tenant(connection, tenant, "Asia/Shanghai")
        await insert_histories(
            connection, tenant, [(CustomerRecord(shopper), LIVE), (CustomerRecord(stale), LIVE)], NOW
        )
    segment = await save(database, outbox, tenant, parse_condition(CART_24H), NOW)
    assert await stored_members(database, tenant, segment) == set()

    # Both add to cart: one 10 minutes ago, one 23 hours ago.
    async with database.transaction() as connection:
        for who, ago in ((shopper, timedelta(minutes=10)), (stale, timedelta(hours=23))):
            await connection.execute(
                sa.text(
                    "INSERT INTO behaviour_events (tenant_id, event_id, customer_id, event_type, "
                    "occurred_at, properties) VALUES (:t, :e, :c, 'add_to_cart', :at, '{}')"
                ),
                {"t": tenant, "e": f"cart-{who}", "c": who, "at": NOW - ago},
            )
        await refresh_customers(connection, outbox, tenant, [shopper, stale], NOW, "event")
    assert await stored_members(database, tenant, segment) == {shopper, stale}

    # The shopper pays an order: they leave at once (the consumer's refresh).
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO orders (tenant_id, order_id, customer_id, paid_at, amount_minor, "
                "refunded_minor, currency) VALUES (:t, :o, :c, :at, 100, 0, 'CNY')"
            ),
            {"t": tenant, "o": f"o-{shopper}", "c": shopper, "at": NOW + timedelta(minutes=1)},
        )
        await refresh_customers(connection, outbox, tenant, [shopper], NOW + timedelta(minutes=1), "event")
    assert await stored_members(database, tenant, segment) == {stale}

    # The stale cart's 24 hours end 1 hour from NOW: the due index holds that moment.
    async with database.read() as connection:
        due = (
            await connection.execute(
                sa.select(segment_due.c.due_at).where(
                    segment_due.c.segment_id == segment.segment_id, segment_due.c.customer_id == stale
                )
            )
        ).scalar_one()
    assert due == NOW + timedelta(hours=1)
    await run_due(database, outbox, NOW + timedelta(minutes=59))
    assert await stored_members(database, tenant, segment) == {stale}
    await run_due(database, outbox, NOW + timedelta(hours=1))
    assert await stored_members(database, tenant, segment) == set()
    seen = await announced(database, tenant, segment)
    assert seen == {shopper: ["entered", "exited"], stale: ["entered", "exited"]}


async def test_merged_and_erased_customers_leave_their_segments(database: Database, outbox: Outbox) -> None:
    tenant = uuid.uuid4()
    one, two, three = (CustomerRecord(uuid.uuid4(), gender="female") for _ in range(3))
    async with database.transaction() as connection:
        await insert_tenant(connection, tenant, "UTC")
        await insert_histories(connection, tenant, [(one, LIVE), (two, LIVE), (three, LIVE)], NOW)
    women = parse_condition({"field": "attributes.gender", "op": "eq", "value": "female"})
    segment = await save(database, outbox, tenant, women, NOW)
    assert await stored_members(database, tenant, segment) == {
        one.customer_id,
        two.customer_id,
        three.customer_id,
    }
    async with database.transaction() as connection:
        await connection.execute(
            sa.update(customers)
            .where(customers.c.tenant_id == tenant, customers.c.customer_id == two.customer_id)
            .values(merged_into=one.customer_id)
        )
        await connection.execute(
            sa.update(customers)
            .where(customers.c.tenant_id == tenant, customers.c.customer_id == three.customer_id)
            .values(erased_at=NOW, gender=None)
        )
        await refresh_customers(
            connection, outbox, tenant, [two.customer_id, three.customer_id], NOW, "event"
        )
    assert await stored_members(database, tenant, segment) == {one.customer_id}
    seen = await announced(database, tenant, segment)
    assert seen[two.customer_id] == ["entered", "exited"]
    assert seen[three.customer_id] == ["entered", "exited"]
    assert seen[one.customer_id] == ["entered"]

"""Tier rules on a real loyalty database: upgrade on the crossing order, reviews with grace driven by
an injected clock, tier.changed exactly once, refunds, merges and the review job run twice at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from patron.events.v1 import envelope_pb2
from services.loyalty.domain import membership_flow
from services.loyalty.domain.program import Program, default_program
from services.loyalty.domain.tiers import shift_months
from services.loyalty.store import membership, membership_reads
from services.loyalty.store.membership import SqlMembershipWork
from services.loyalty.store.membership_tables import tier_history
from services.loyalty.store.tables import outbox as outbox_table
from services.loyalty.store.tier_reviews import run_due_reviews
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from tests.support import PostgresServer

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SILVER = 100_000  # default ladder in CNY: silver at 1,000 yuan, gold 5,000, platinum 20,000


@dataclass
class Loyalty:
    database: Database
    outbox: Outbox
    tenant_id: uuid.UUID
    program: Program


@pytest.fixture(scope="module")
async def loyalty_url(postgres: PostgresServer) -> AsyncIterator[str]:
    name = f"patron_membership_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await asyncio.to_thread(migrations.upgrade, "loyalty", url)
    yield url
    await postgres.drop_database(name)


@pytest.fixture
async def loyalty(loyalty_url: str) -> AsyncIterator[Loyalty]:
    database = Database(create_engine(loyalty_url, application_name="test-membership"))
    tenant_id = uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region)"
                " VALUES (:t, 'Shop', 'Asia/Shanghai', 'CNY', 'CN')"
            ),
            {"t": tenant_id},
        )
    yield Loyalty(database, Outbox("loyalty", outbox_table, 16), tenant_id, default_program("CNY"))
    await database.dispose()


async def pay(loyalty: Loyalty, customer: uuid.UUID, amount: int, at: datetime, order: str = "") -> None:
    async with loyalty.database.transaction() as connection:
        await membership_flow.record_order(
            SqlMembershipWork(connection, loyalty.outbox),
            loyalty.program,
            tenant_id=loyalty.tenant_id,
            customer_id=customer,
            order_id=order or uuid.uuid4().hex,
            paid_at=at,
            amount_minor=amount,
        )


async def tier(loyalty: Loyalty, customer: uuid.UUID) -> str:
    async with loyalty.database.read() as connection:
        held = await membership.tier_of(
            connection, loyalty.program, tenant_id=loyalty.tenant_id, customer_id=customer
        )
    return held.code


async def tier_events(loyalty: Loyalty, customer: uuid.UUID) -> list[tuple[str, str, str]]:
    async with loyalty.database.read() as connection:
        rows = (
            await connection.execute(
                sa.select(outbox_table.c.envelope)
                .where(outbox_table.c.customer_id == customer, outbox_table.c.type == "tier.changed")
                .order_by(outbox_table.c.id)
            )
        ).all()
    changes = [envelope_pb2.EventEnvelope.FromString(r.envelope).tier_changed for r in rows]
    return [(c.from_tier, c.to_tier, c.direction) for c in changes]


async def reviews(loyalty: Loyalty, now: datetime) -> int:
    return await run_due_reviews(loyalty.database, loyalty.outbox, now=now)


async def test_upgrade_happens_on_the_order_that_crosses_the_threshold(loyalty: Loyalty) -> None:
    customer = uuid.uuid4()
    await pay(loyalty, customer, SILVER - 1, T0)
    assert await tier(loyalty, customer) == "regular"
    assert await tier_events(loyalty, customer) == []
    await pay(loyalty, customer, 1, T0 + timedelta(days=1))
    assert await tier(loyalty, customer) == "silver"
    await pay(loyalty, customer, 10, T0 + timedelta(days=2))
    assert await tier_events(loyalty, customer) == [("regular", "silver", "upgrade")]


async def test_one_order_may_skip_tiers_and_a_repeated_order_counts_once(loyalty: Loyalty) -> None:
    customer = uuid.uuid4()
    await pay(loyalty, customer, 3 * SILVER, T0, order="SO-1")
    await pay(loyalty, customer, 3 * SILVER, T0, order="SO-1")  # the same order again
    assert await tier(loyalty, customer) == "silver"
    await pay(loyalty, customer, 2 * SILVER, T0 + timedelta(hours=1), order="SO-2")
    assert await tier(loyalty, customer) == "gold"
    assert await tier_events(loyalty, customer) == [
        ("regular", "silver", "upgrade"),
        ("silver", "gold", "upgrade"),
    ]


async def test_no_downgrade_before_review_and_grace_then_downgrade(loyalty: Loyalty) -> None:
    customer = uuid.uuid4()
    await pay(loyalty, customer, SILVER, T0)
    review_at = shift_months(T0, 12)
    await reviews(loyalty, review_at - timedelta(seconds=1))
    assert await tier(loyalty, customer) == "silver"
    # At the review the order has left the 12-month window: grace starts, no downgrade yet.
    await reviews(loyalty, review_at)
    assert await tier(loyalty, customer) == "silver"
    await reviews(loyalty, review_at + timedelta(days=30) - timedelta(seconds=1))
    assert await tier(loyalty, customer) == "silver"
    await reviews(loyalty, review_at + timedelta(days=30))
    assert await tier(loyalty, customer) == "regular"
    assert await tier_events(loyalty, customer) == [
        ("regular", "silver", "upgrade"),
        ("silver", "regular", "downgrade"),
    ]
    async with loyalty.database.read() as connection:
        view = await membership_reads.membership_view(
            connection, loyalty.program, tenant_id=loyalty.tenant_id, customer_id=customer, now=review_at
        )
    assert view.next_review_at is None
    assert view.tier.code == "regular"


async def test_spending_again_during_grace_keeps_the_tier(loyalty: Loyalty) -> None:
    customer = uuid.uuid4()
    await pay(loyalty, customer, SILVER, T0)
    review_at = shift_months(T0, 12)
    await reviews(loyalty, review_at)  # grace starts
    await pay(loyalty, customer, SILVER, review_at + timedelta(days=3))
    await reviews(loyalty, review_at + timedelta(days=31))
    assert await tier(loyalty, customer) == "silver"
    async with loyalty.database.read() as connection:
        view = await membership_reads.membership_view(
            connection,
            loyalty.program,
            tenant_id=loyalty.tenant_id,
            customer_id=customer,
            now=review_at + timedelta(days=31),
        )
    assert view.next_review_at == shift_months(T0, 24)
    assert view.grace_until is None
    assert await tier_events(loyalty, customer) == [("regular", "silver", "upgrade")]


async def test_a_refund_lowers_progress_but_never_downgrades_at_once(loyalty: Loyalty) -> None:
    customer = uuid.uuid4()
    await pay(loyalty, customer, SILVER, T0, order="R-1")
    async with loyalty.database.transaction() as connection:
        await membership_flow.record_refund(
            SqlMembershipWork(connection, loyalty.outbox),
            loyalty.program,
            tenant_id=loyalty.tenant_id,
            customer_id=customer,
            order_id="R-1",
            refunded_minor=SILVER // 2,
            refunded_at=T0 + timedelta(days=1),
        )
        view = await membership_reads.membership_view(
            connection,
            loyalty.program,
            tenant_id=loyalty.tenant_id,
            customer_id=customer,
            now=T0 + timedelta(days=2),
        )
    assert view.tier.code == "silver"
    assert view.value == SILVER // 2
    assert view.next_tier is not None
    assert view.next_tier.code == "gold"


async def test_review_job_run_twice_at_once_decides_each_member_once(loyalty: Loyalty) -> None:
    customers = [uuid.uuid4() for _ in range(30)]
    for customer in customers:
        await pay(loyalty, customer, SILVER, T0)
    # The job reads the tenant's current programme (the default: 30 days of grace); one run steps
    # through the review and the end of the grace.
    late = shift_months(T0, 12) + timedelta(days=30)
    first, second = await asyncio.gather(reviews(loyalty, late), reviews(loyalty, late))
    assert first + second >= len(customers)
    assert await reviews(loyalty, late) == 0
    for customer in customers:
        assert await tier(loyalty, customer) == "regular"
        assert [e[2] for e in await tier_events(loyalty, customer)] == ["upgrade", "downgrade"]


async def test_merge_keeps_the_higher_tier_and_moves_progress(loyalty: Loyalty) -> None:
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    await pay(loyalty, survivor, SILVER, T0)
    await pay(loyalty, merged, 5 * SILVER, T0)
    async with loyalty.database.transaction() as connection:
        await membership_flow.merge_customers(
            SqlMembershipWork(connection, loyalty.outbox),
            tenant_id=loyalty.tenant_id,
            survivor_id=survivor,
            merged_ids=[merged],
            merged_at=T0 + timedelta(days=1),
        )
        view = await membership_reads.membership_view(
            connection,
            loyalty.program,
            tenant_id=loyalty.tenant_id,
            customer_id=survivor,
            now=T0 + timedelta(days=1),
        )
        history = (
            await connection.execute(sa.select(sa.func.count()).where(tier_history.c.customer_id == merged))
        ).scalar_one()
    assert view.tier.code == "gold"
    assert view.value == 6 * SILVER
    assert history == 0
    assert await tier(loyalty, merged) == "regular"
    assert (await tier_events(loyalty, survivor))[-1] == ("silver", "gold", "upgrade")

"""Re-scoring after behaviour is coalesced: the consumer marks, a round re-scores each marked customer
once, and no fact is ever left out of a customer's scores.

These run on a scoring database of their own, so that no running service's re-scorer takes a round
in their place. A round's race with a consumer is made real, not simulated: a consumer transaction
stays open, holding a mark it set again, while the round runs to its end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.consumers.profile_events import scoring_consumer
from services.scoring.domain.segments import parse_condition
from services.scoring.store import rescore_marks
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.rescore_marks import rescore_marked
from services.scoring.store.segment_live import MembershipAfterEvents
from tests.support import PostgresServer, service_database
from tests.test_segment_live import announced, save, stored_members

ROUND_APP = "test-rescore-round"


@pytest.fixture(scope="module")
async def scoring_db(postgres: PostgresServer) -> AsyncIterator[str]:
    async with service_database(postgres, "scoring", "rescore") as url:
        yield url


@pytest.fixture
async def database(scoring_db: str) -> AsyncIterator[Database]:
    db = Database(create_engine(scoring_db, application_name="test-rescore-marks", pool_size=4))
    yield db
    await db.dispose()


def _event(tenant: uuid.UUID, customer: uuid.UUID, event_type: str) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()), tenant_id=str(tenant), customer_id=str(customer), type=event_type
    )
    envelope.occurred_at.FromDatetime(datetime.now(UTC) - timedelta(minutes=5))
    return envelope


def _view(tenant: uuid.UUID, customer: uuid.UUID) -> envelope_pb2.EventEnvelope:
    envelope = _event(tenant, customer, "event.recorded")
    envelope.event_recorded.event_type = "view"
    return envelope


def _order(tenant: uuid.UUID, customer: uuid.UUID) -> envelope_pb2.EventEnvelope:
    envelope = _event(tenant, customer, "order.paid")
    paid = envelope.order_paid
    paid.order_id, paid.currency, paid.amount_minor = f"O-{uuid.uuid4().hex[:8]}", "CNY", 12_000
    paid.paid_at.CopyFrom(envelope.occurred_at)
    paid.items.add(sku="s", category="tea", brand="tea", unit_price_minor=12_000, quantity=1)
    return envelope


class Shop:
    """A tenant of the test database with one customer, and the consumer's handlers."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.tenant = uuid.uuid4()
        self.customer = uuid.uuid4()
        self.outbox = Outbox("scoring", outbox_table, 16)
        self.spec = scoring_consumer(1.0, self.outbox)

    async def open(self) -> Shop:
        async with self.database.transaction() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                    "VALUES (:t, 'shop', 'Asia/Shanghai', 'CNY', 'CN')"
                ),
                {"t": self.tenant},
            )
            await self.spec.handlers["customer.created"](
                connection, _event(self.tenant, self.customer, "customer.created")
            )
        return self

    async def views(self, count: int) -> None:
        """``count`` views applied as the consumer does, each in a transaction of its own."""
        for _ in range(count):
            async with self.database.transaction() as connection:
                await self.spec.batch_handlers["event.recorded"](
                    connection, [_view(self.tenant, self.customer)]
                )

    async def counted_views(self) -> int:
        """The views the customer's scores count (the last 90 days)."""
        async with self.database.read() as connection:
            counts = (
                await connection.execute(
                    sa.text(
                        "SELECT activity_counts FROM customer_scores "
                        "WHERE tenant_id = :t AND customer_id = :c"
                    ),
                    {"t": self.tenant, "c": self.customer},
                )
            ).scalar_one()
        return int(counts.get("view", [0, 0, 0])[2])

    async def orders_counted(self) -> int | None:
        """The orders the customer's scores count (None: no score row)."""
        async with self.database.read() as connection:
            return (
                await connection.execute(
                    sa.text(
                        "SELECT order_count FROM customer_scores WHERE tenant_id = :t AND customer_id = :c"
                    ),
                    {"t": self.tenant, "c": self.customer},
                )
            ).scalar_one_or_none()

    async def marks(self) -> int:
        async with self.database.read() as connection:
            return int(
                (
                    await connection.execute(
                        sa.text("SELECT count(*) FROM rescore_marks WHERE tenant_id = :t"), {"t": self.tenant}
                    )
                ).scalar_one()
            )


async def _waiting_for_a_lock(database: Database, application: str) -> None:
    """Until a backend of ``application`` waits for a lock (at most 10 s)."""
    for _ in range(200):
        async with database.read() as connection:
            waiting = (
                await connection.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name = :a AND wait_event_type = 'Lock'"
                    ),
                    {"a": application},
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{application} never waited for a lock")


async def test_behaviour_is_rescored_once_per_round_and_its_marks_go(database: Database) -> None:
    shop = await Shop(database).open()
    await shop.views(3)
    assert await shop.counted_views() == 0  # the consumer marked, it did not re-score
    assert await shop.marks() == 1  # three batches, one mark

    assert await rescore_marked(database, shop.outbox) >= 1
    assert await shop.counted_views() == 3
    assert await shop.marks() == 0
    pending, _oldest = await rescore_marks.pending(database)
    assert pending == 0


async def test_a_mark_renewed_while_a_round_runs_outlives_the_round(database: Database) -> None:
    """The round re-scores without the open transaction's view, does not wait for it, and leaves the
    mark that transaction set for the next round."""
    shop = await Shop(database).open()
    await shop.views(1)
    async with database.transaction() as consumer:
        await shop.spec.batch_handlers["event.recorded"](consumer, [_view(shop.tenant, shop.customer)])
        assert await asyncio.wait_for(rescore_marked(database, shop.outbox), timeout=10) == 1
    assert await shop.counted_views() == 1  # the round did not see the second view...
    assert await shop.marks() == 1  # ...and left its mark
    assert await rescore_marked(database, shop.outbox) == 1
    assert await shop.counted_views() == 2
    assert await shop.marks() == 0


async def test_a_round_that_dies_leaves_its_marks(database: Database, scoring_db: str) -> None:
    shop = await Shop(database).open()
    await shop.views(2)
    rounds = Database(create_engine(scoring_db, application_name=ROUND_APP, pool_size=1))
    try:
        async with database.transaction() as holder:  # the round's write of the scores waits for us
            await holder.execute(
                sa.text("SELECT 1 FROM customer_scores WHERE tenant_id = :t AND customer_id = :c FOR UPDATE"),
                {"t": shop.tenant, "c": shop.customer},
            )
            round_ = asyncio.create_task(rescore_marked(rounds, shop.outbox))
            await _waiting_for_a_lock(database, ROUND_APP)
            async with database.read() as other:  # the round's backend dies mid-round
                await other.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"
                    ),
                    {"a": ROUND_APP},
                )
            with pytest.raises(Exception):  # noqa: B017, PT011 (the driver's connection error)
                await round_
    finally:
        await rounds.dispose()
    assert await shop.counted_views() == 0  # nothing of the round was kept
    assert await shop.marks() == 1
    assert await rescore_marked(database, shop.outbox) == 1
    assert await shop.counted_views() == 2


async def test_one_round_at_a_time_across_replicas(database: Database) -> None:
    shop = await Shop(database).open()
    await shop.views(1)
    async with database.transaction() as other_replica:
        await other_replica.execute(
            sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": rescore_marks._ROUND_LOCK}
        )
        assert await rescore_marked(database, shop.outbox) == 0
    assert await shop.marks() == 1
    assert await rescore_marked(database, shop.outbox) == 1


async def test_a_round_serves_the_oldest_marks_first_and_at_most_its_limit(database: Database) -> None:
    first, second = await Shop(database).open(), await Shop(database).open()
    await first.views(1)
    await second.views(1)
    assert await rescore_marked(database, first.outbox, limit=1) == 1
    assert (await first.marks(), await second.marks()) == (0, 1)
    assert await rescore_marked(database, first.outbox) == 1
    assert await second.counted_views() == 1


async def test_a_segment_reading_scores_moves_in_the_round_and_announces_once(database: Database) -> None:
    """An ``engagement > 0`` segment: the consumer's own re-evaluation after a view sees the scores
    before the round and keeps the customer out; the round's re-evaluation lets them in, once."""
    shop = await Shop(database).open()
    condition = parse_condition({"field": "engagement", "op": "gt", "value": 0})
    segment = await save(database, shop.outbox, shop.tenant, condition, datetime.now(UTC))
    membership = MembershipAfterEvents(shop.outbox)
    view = _view(shop.tenant, shop.customer)
    async with database.transaction() as connection:
        await shop.spec.batch_handlers["event.recorded"](connection, [view])
        await membership(connection, [view])
    assert await stored_members(database, shop.tenant, segment) == set()

    assert await rescore_marked(database, shop.outbox) == 1
    assert await stored_members(database, shop.tenant, segment) == {shop.customer}
    assert await rescore_marked(database, shop.outbox) == 0  # nothing left to serve
    assert await announced(database, shop.tenant, segment) == {shop.customer: ["entered"]}


async def test_a_round_leaves_a_customer_a_consumer_is_re_scoring(database: Database) -> None:
    """A consumer re-scoring an order holds the customer's scores lock: the round does not compute the
    customer from a snapshot without the order (and then write that over the consumer's result), it
    leaves the mark for a later round."""
    shop = await Shop(database).open()
    await shop.views(1)
    async with database.transaction() as consumer:
        await shop.spec.batch_handlers["order.paid"](consumer, [_order(shop.tenant, shop.customer)])
        assert await asyncio.wait_for(rescore_marked(database, shop.outbox), timeout=10) == 0
    assert await shop.orders_counted() == 1
    assert await shop.marks() == 1
    assert await rescore_marked(database, shop.outbox) == 1
    assert (await shop.orders_counted(), await shop.counted_views()) == (1, 1)


async def test_a_round_leaves_a_customer_being_erased(database: Database) -> None:
    shop = await Shop(database).open()
    await shop.views(1)
    async with database.transaction() as consumer:
        erased = _event(shop.tenant, shop.customer, "customer.erased")
        erased.customer_erased.erased_at.GetCurrentTime()
        await shop.spec.handlers["customer.erased"](consumer, erased)
        assert await asyncio.wait_for(rescore_marked(database, shop.outbox), timeout=10) == 0
    assert await shop.orders_counted() is None  # no score row came back
    assert await shop.marks() == 0

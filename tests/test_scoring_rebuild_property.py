"""Property: whatever the sequence of orders, refunds, behaviour events and merges, the features and
stages the consumer keeps incrementally (with the re-scorer's rounds after behaviour) equal a rebuild
of the tenant from its stored facts.

The handlers run directly on the scoring database (the events are built here, as profile would
send them); the rebuild is the batch run's ``run_features`` / ``run_scores``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.consumers.profile_events import scoring_consumer
from services.scoring.store.batch import BatchSession
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.rescore_marks import rescore_marked

CUSTOMERS = 3
COMPARED = (
    "order_count, net_spend_minor, first_order_at, last_order_at, mean_gap_days, last_gap_days, "
    "top_category, top_brand, avg_unit_price_minor, coupon_share, active_hour, last_seen_at, "
    "last_activity, activity_counts, recency_days, frequency, monetary_minor, stage, engagement"
)

_REBUILT = " ".join(["SELECT customer_id,", COMPARED, "FROM run_scores"])

operation = st.one_of(
    st.tuples(
        st.just("order"),
        st.integers(0, CUSTOMERS - 1),
        st.integers(0, 400),
        st.integers(1, 50_000),
        st.sampled_from(["tea", "shoes", ""]),
        st.booleans(),
    ),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 60_000)),
    st.tuples(
        st.just("event"),
        st.integers(0, CUSTOMERS - 1),
        st.sampled_from(["view", "favorite"]),
        st.integers(0, 120),
    ),
    st.tuples(st.just("merge"), st.integers(0, CUSTOMERS - 1), st.integers(0, CUSTOMERS - 1)),
)


def _envelope(
    tenant: uuid.UUID, customer: uuid.UUID, event_type: str, at: datetime
) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()), tenant_id=str(tenant), customer_id=str(customer), type=event_type
    )
    envelope.occurred_at.FromDatetime(at)
    return envelope


def _events(
    tenant: uuid.UUID, customers: list[uuid.UUID], steps: list[tuple[Any, ...]]
) -> list[envelope_pb2.EventEnvelope]:
    now = datetime.now(UTC).replace(microsecond=0)
    events = [_envelope(tenant, c, "customer.created", now - timedelta(days=500)) for c in customers]
    for c, envelope in zip(customers, events, strict=True):
        envelope.customer_created.created_at.FromDatetime(now - timedelta(days=500))
        del c
    orders: list[tuple[str, uuid.UUID]] = []
    for step in steps:
        if step[0] == "order":
            _, who, days, amount, category, coupon = step
            at = now - timedelta(days=days, minutes=len(orders))
            envelope = _envelope(tenant, customers[who], "order.paid", at)
            paid = envelope.order_paid
            paid.order_id, paid.currency, paid.amount_minor = f"O{len(orders)}", "CNY", amount
            paid.coupon_code = "C" if coupon else ""
            paid.paid_at.FromDatetime(at)
            paid.items.add(sku="s", category=category, brand=category, unit_price_minor=amount, quantity=1)
            orders.append((paid.order_id, customers[who]))
            events.append(envelope)
        elif step[0] == "refund" and orders:
            _, index, amount = step
            order_id, owner = orders[index % len(orders)]
            envelope = _envelope(tenant, owner, "order.refunded", now)
            refund = envelope.order_refunded
            refund.order_id, refund.refund_id, refund.amount_minor = order_id, f"R{len(events)}", amount
            refund.refunded_at.FromDatetime(now)
            events.append(envelope)
        elif step[0] == "event":
            _, who, kind, days = step
            envelope = _envelope(tenant, customers[who], "event.recorded", now - timedelta(days=days))
            envelope.event_recorded.event_type = kind
            events.append(envelope)
        elif step[0] == "merge" and step[1] != step[2]:
            envelope = _envelope(tenant, customers[step[1]], "customer.merged", now)
            envelope.customer_merged.survivor_id = str(customers[step[1]])
            envelope.customer_merged.merged_ids.append(str(customers[step[2]]))
            events.append(envelope)
    return events


def _normal(rows: list[Any]) -> dict[str, tuple[Any, ...]]:
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, dict):
            return json.dumps(value, sort_keys=True, default=str)
        return value

    return {str(row[0]): tuple(clean(v) for v in row[1:]) for row in rows}


async def provision(database: Database) -> tuple[uuid.UUID, list[uuid.UUID], Outbox, Any]:
    """A new tenant (Asia/Shanghai, CNY), its customers' ids, the outbox and the consumer's spec."""
    tenant = uuid.uuid4()
    outbox = Outbox("scoring", outbox_table, 16)
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES (:t, 'p', 'Asia/Shanghai', 'CNY', 'CN')"
            ),
            {"t": tenant},
        )
    return tenant, [uuid.uuid4() for _ in range(CUSTOMERS)], outbox, scoring_consumer(1.0, outbox)


async def rescored(database: Database, outbox: Outbox, tenant: uuid.UUID) -> None:
    """Until the tenant has no customer waiting for re-scoring (``rescore_marks``): behaviour moves
    scores in the re-scorer's rounds, here or in a running scoring service on the same database."""
    for _ in range(400):
        await rescore_marked(database, outbox)
        async with database.read() as connection:
            waiting = (
                await connection.execute(
                    sa.text("SELECT count(*) FROM rescore_marks WHERE tenant_id = :t"), {"t": tenant}
                )
            ).scalar_one()
        if not waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the tenant's re-scoring never finished")


async def _example(database: Database, steps: list[tuple[Any, ...]]) -> None:
    tenant, customers, outbox, spec = await provision(database)
    for envelope in _events(tenant, customers, steps):
        async with database.transaction() as connection:
            await spec.handlers[envelope.type](connection, envelope)
    await rescored(database, outbox, tenant)
    query = sa.text(" ".join(["SELECT customer_id,", COMPARED, "FROM customer_scores WHERE tenant_id = :t"]))
    async with database.read() as connection:
        incremental = _normal(list((await connection.execute(query, {"t": tenant})).all()))
    as_of = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the consumer scores as of today
    async with BatchSession.open(database, tenant, as_of) as batch:
        await batch.snapshot_features()
        await batch.baselines()
        await batch.score()
        rebuilt = _normal(list((await batch.connection.execute(sa.text(_REBUILT))).all()))
    assert rebuilt == incremental


async def test_rebuild_equals_incremental(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["scoring"], application_name="scoring-property"))
    loop = asyncio.get_running_loop()

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=st.lists(operation, min_size=1, max_size=10))
    def check(steps: list[tuple[Any, ...]]) -> None:
        asyncio.run_coroutine_threadsafe(_example(database, steps), loop).result()

    try:
        await asyncio.to_thread(check)
    finally:
        await database.dispose()

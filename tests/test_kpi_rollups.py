"""Property: whatever the sequence of orders (in the tenant's currency or another), refunds, behaviour
and survey answers, merges and erasures, and however the consumer batches them and whichever
partitions they travel on, the KPI rollups the consumer keeps by increments equal a rebuild of the
tenant from its facts (``kpi_backfill.rebuild_tenant``, the migration's backfill) — which also holds
the survey rule in Python (the consumer) to the one in SQL (the backfill).

The handlers run directly on the scoring database, as the existing rebuild property does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from services.scoring.consumers.profile_events import scoring_consumer
from services.scoring.domain.kpis import survey_answer
from services.scoring.store.feature_tables import outbox as outbox_table
from services.scoring.store.kpi_backfill import rebuild_tenant

CUSTOMERS = 3
ANSWERS = [
    {"survey": "nps", "score": 10},
    {"survey": "nps", "score": 9},
    {"survey": "nps", "score": 7},
    {"survey": "nps", "score": 0},
    {"survey": "nps", "score": 6.0},
    {"survey": "csat", "score": 5},
    {"survey": "csat", "score": 1},
    {"survey": "csat", "score": 4},
    {"survey": "nps", "score": 11},
    {"survey": "csat", "score": 0},
    {"survey": "csat", "score": 4.5},
    {"survey": "csat", "score": "4"},
    {"survey": "nps", "score": True},
    {"score": 9},
    {"survey": "ces", "score": 3},
]

operation = st.one_of(
    st.tuples(
        st.just("order"),
        st.integers(0, CUSTOMERS - 1),
        st.integers(0, 3),
        st.integers(1, 50_000),
        st.sampled_from(["CNY", "CNY", "JPY"]),
    ),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 60_000)),
    st.tuples(
        st.just("event"),
        st.integers(0, CUSTOMERS - 1),
        st.sampled_from(["view", "sign_in", "survey_response"]),
        st.integers(0, 3),
        st.integers(0, len(ANSWERS) - 1),
    ),
    st.tuples(st.just("merge"), st.integers(0, CUSTOMERS - 1), st.integers(0, CUSTOMERS - 1)),
    st.tuples(st.just("erase"), st.integers(0, CUSTOMERS - 1)),
)

_ROWS = {
    "kpi_customer_days": "SELECT day, customer_id, orders FROM kpi_customer_days WHERE tenant_id = :t",
    "kpi_first_orders": (
        "SELECT customer_id, first_day, order_days FROM kpi_first_orders WHERE tenant_id = :t"
    ),
    "kpi_order_returns": (
        "SELECT day, back, previous_day, sum(orders) FROM kpi_order_returns WHERE tenant_id = :t"
        " GROUP BY day, back, previous_day HAVING sum(orders) <> 0"
    ),
    "kpi_surveys": "SELECT customer_id, day, survey, score, responses FROM kpi_surveys WHERE tenant_id = :t",
    "kpi_returns": (
        "SELECT day, previous_day, sum(customers) FROM kpi_returns WHERE tenant_id = :t"
        " GROUP BY day, previous_day HAVING sum(customers) <> 0"
    ),
    "kpi_daily": (
        "SELECT day, sum(active_customers), sum(orders), sum(money_orders), sum(revenue_minor),"
        " sum(refunds_minor), sum(nps_promoters), sum(nps_passives), sum(nps_detractors),"
        " sum(csat_responses), sum(csat_satisfied), sum(csat_score_sum), sum(new_buyers),"
        " sum(wau_change), sum(mau_change), sum(new_customers)"
        " FROM kpi_daily WHERE tenant_id = :t GROUP BY day"
        " HAVING sum(active_customers) <> 0 OR sum(orders) <> 0 OR sum(revenue_minor) <> 0"
        " OR sum(refunds_minor) <> 0 OR sum(nps_promoters + nps_passives + nps_detractors) <> 0"
        " OR sum(csat_responses) <> 0 OR sum(new_buyers) <> 0"
        " OR sum(wau_change) <> 0 OR sum(mau_change) <> 0 OR sum(new_customers) <> 0"
    ),
}


def _envelope(
    tenant: uuid.UUID, customer: uuid.UUID, event_type: str, at: datetime, partition: int
) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        tenant_id=str(tenant),
        customer_id=str(customer),
        type=event_type,
        partition=partition,
    )
    envelope.occurred_at.FromDatetime(at)
    return envelope


def _events(
    tenant: uuid.UUID, customers: list[uuid.UUID], steps: list[tuple[Any, ...]], partitions: list[int]
) -> list[envelope_pb2.EventEnvelope]:
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for c in customers:
        envelope = _envelope(tenant, c, "customer.created", now - timedelta(days=200), 0)
        envelope.customer_created.created_at.FromDatetime(now - timedelta(days=200))
        events.append(envelope)
    orders: list[tuple[str, uuid.UUID]] = []
    for n, step in enumerate(steps):
        partition = partitions[n % len(partitions)]
        if step[0] == "order":
            _, who, days, amount, currency = step
            at = now - timedelta(days=days, hours=n)
            envelope = _envelope(tenant, customers[who], "order.paid", at, partition)
            paid = envelope.order_paid
            paid.order_id, paid.currency, paid.amount_minor = f"O{n}", currency, amount
            paid.paid_at.FromDatetime(at)
            paid.items.add(sku="s", unit_price_minor=amount, quantity=1)
            orders.append((paid.order_id, customers[who]))
            events.append(envelope)
        elif step[0] == "refund" and orders:
            _, index, amount = step
            order_id, owner = orders[index % len(orders)]
            envelope = _envelope(tenant, owner, "order.refunded", now, partition)
            refund = envelope.order_refunded
            refund.order_id, refund.refund_id, refund.amount_minor = order_id, f"R{n}", amount
            refund.refunded_at.FromDatetime(now)
            events.append(envelope)
        elif step[0] == "event":
            _, who, kind, days, answer = step
            at = now - timedelta(days=days, hours=n)
            envelope = _envelope(tenant, customers[who], "event.recorded", at, partition)
            envelope.event_recorded.event_type = kind
            envelope.event_recorded.client_event_id = f"E{n}"
            if kind == "survey_response":
                envelope.event_recorded.properties_json = json.dumps(ANSWERS[answer])
            events.append(envelope)
        elif step[0] == "merge" and step[1] != step[2]:
            envelope = _envelope(tenant, customers[step[1]], "customer.merged", now, partition)
            envelope.customer_merged.survivor_id = str(customers[step[1]])
            envelope.customer_merged.merged_ids.append(str(customers[step[2]]))
            events.append(envelope)
        elif step[0] == "erase":
            envelope = _envelope(tenant, customers[step[1]], "customer.erased", now, partition)
            envelope.customer_erased.erased_at.FromDatetime(now)
            events.append(envelope)
    return events


async def _rows(database: Database, tenant: uuid.UUID) -> dict[str, set[tuple[Any, ...]]]:
    async with database.read() as connection:
        return {
            name: {
                tuple(tuple(value) if isinstance(value, list) else value for value in row)
                for row in await connection.execute(sa.text(query), {"t": tenant})
            }
            for name, query in _ROWS.items()
        }


async def _example(
    database: Database, steps: list[tuple[Any, ...]], cuts: list[int], partitions: list[int]
) -> None:
    tenant = uuid.uuid4()
    customers = [uuid.uuid4() for _ in range(CUSTOMERS)]
    spec = scoring_consumer(1.0, Outbox("scoring", outbox_table, 16))
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES (:t, 'k', 'America/New_York', 'CNY', 'CN')"
            ),
            {"t": tenant},
        )
    events = _events(tenant, customers, steps, partitions)
    # runs of one type, cut where the example says, go to the batch handlers as the consumer does
    position, cut = 0, iter(cuts)
    while position < len(events):
        kind = events[position].type
        size = max(1, next(cut, 1))
        run = [events[position]]
        while (
            len(run) < size and position + len(run) < len(events) and events[position + len(run)].type == kind
        ):
            run.append(events[position + len(run)])
        async with database.transaction() as connection:
            if kind in spec.batch_handlers:
                await spec.batch_handlers[kind](connection, run)
            else:
                for envelope in run:
                    await spec.handlers[kind](connection, envelope)
        position += len(run)
    incremental = await _rows(database, tenant)
    async with database.transaction() as connection:
        await rebuild_tenant(connection, tenant)
    rebuilt = await _rows(database, tenant)
    assert incremental == rebuilt


async def test_increments_equal_a_rebuild(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["scoring"], application_name="kpi-property"))
    loop = asyncio.get_running_loop()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    # a merge of two customers active on the same day (that day's actives drop by one), and an
    # erasure of a buyer after a full refund of one of its orders
    @example(
        steps=[("order", 0, 0, 100, "CNY"), ("event", 1, "view", 0, 0), ("merge", 0, 1)],
        cuts=[],
        partitions=[3],
    )
    @example(
        steps=[("order", 2, 1, 500, "CNY"), ("order", 2, 0, 70, "JPY"), ("refund", 0, 900), ("erase", 2)],
        cuts=[2],
        partitions=[1, 9],
    )
    # kpi_returns: a run of two new days between two stored ones (the second's previous day is the
    # first), and new days on both sides of a stored one (the stored day moves to the nearer new day);
    # the first cut is the run of sign-ups
    @example(
        steps=[
            ("event", 0, "view", 6, 0),
            ("event", 0, "view", 0, 0),
            *(("event", 0, "view", d, 0) for d in (4, 2)),
        ],
        cuts=[CUSTOMERS, 1, 1, 2],
        partitions=[5],
    )
    @example(
        steps=[("event", 0, "view", 4, 0), ("event", 0, "view", 6, 0), ("event", 0, "view", 2, 0)],
        cuts=[CUSTOMERS, 1, 2],
        partitions=[5],
    )
    @given(
        steps=st.lists(operation, min_size=1, max_size=14),
        cuts=st.lists(st.integers(1, 4), max_size=14),
        partitions=st.lists(st.integers(0, 15), min_size=1, max_size=3),
    )
    def check(steps: list[tuple[Any, ...]], cuts: list[int], partitions: list[int]) -> None:
        asyncio.run_coroutine_threadsafe(_example(database, steps, cuts, partitions), loop).result()

    try:
        await asyncio.to_thread(check)
    finally:
        await database.dispose()


def test_the_survey_rule() -> None:
    answers = [survey_answer("survey_response", json.dumps(properties)) for properties in ANSWERS]
    assert answers == [
        ("nps", 10),
        ("nps", 9),
        ("nps", 7),
        ("nps", 0),
        ("nps", 6),
        ("csat", 5),
        ("csat", 1),
        ("csat", 4),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    assert survey_answer("view", json.dumps(ANSWERS[0])) is None
    assert survey_answer("survey_response", "[1]") is None
    assert survey_answer("survey_response", "") is None

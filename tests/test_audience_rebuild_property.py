"""Property: the audience tables are rebuildable. Whatever the history of attribute changes, tags,
consents, behaviour, loyalty points and tiers, merges and erasures, applying it one event at a time
(as the consumers do live, and as they retry a failing event) leaves the same audience as replaying
it from scratch into an empty tenant in runs (as the consumers do when they catch up, one set-based
statement per run of consecutive events of a type).

The handlers run directly on the scoring database with envelopes built here, as profile and
loyalty would send them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database, create_engine
from services.runtime.events.consumer import BatchHandler, Handler
from services.runtime.events.outbox import Outbox
from services.scoring.consumers.loyalty_events import loyalty_consumer
from services.scoring.consumers.profile_events import scoring_consumer
from services.scoring.store.feature_tables import outbox as outbox_table

CUSTOMERS = 3
TAGS = [uuid.UUID(int=n) for n in range(1, 4)]

operation = st.one_of(
    st.tuples(st.just("attributes"), st.integers(0, CUSTOMERS - 1), st.sampled_from(["Hangzhou", None])),
    st.tuples(
        st.just("tag"),
        st.integers(0, CUSTOMERS - 1),
        st.integers(0, len(TAGS) - 1),
        st.booleans(),
        st.sampled_from([None, 1, 30]),
    ),
    st.tuples(
        st.just("consent"), st.integers(0, CUSTOMERS - 1), st.sampled_from(["sms", "email"]), st.booleans()
    ),
    st.tuples(st.just("event"), st.integers(0, CUSTOMERS - 1), st.integers(0, 5000), st.booleans()),
    st.tuples(st.just("points"), st.integers(0, CUSTOMERS - 1), st.integers(-50, 200)),
    st.tuples(st.just("tier"), st.integers(0, CUSTOMERS - 1), st.sampled_from(["regular", "silver", "gold"])),
    st.tuples(st.just("merge"), st.integers(0, CUSTOMERS - 1), st.integers(0, CUSTOMERS - 1)),
    st.tuples(st.just("erase"), st.integers(0, CUSTOMERS - 1)),
)


def _envelope(customer: uuid.UUID, event_type: str, at: datetime) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()), customer_id=str(customer), type=event_type
    )
    envelope.occurred_at.FromDatetime(at)
    return envelope


def _history(customers: list[uuid.UUID], steps: list[tuple[Any, ...]]) -> list[envelope_pb2.EventEnvelope]:
    """The envelopes of a history (tenant left blank: each replay stamps its own)."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for c in customers:
        created = _envelope(c, "customer.created", now - timedelta(days=100))
        created.customer_created.created_at.FromDatetime(now - timedelta(days=100))
        created.customer_created.attributes.gender = "female"
        events.append(created)
    balances = dict.fromkeys(customers, 0)
    for n, step in enumerate(steps):
        at = now - timedelta(minutes=len(steps) - n)
        kind, who = step[0], customers[step[1]]
        if kind == "attributes":
            envelope = _envelope(who, "customer.updated", at)
            envelope.customer_updated.attributes.gender = "female"
            if step[2] is not None:
                envelope.customer_updated.attributes.city = step[2]
                envelope.customer_updated.attributes.timezone = "Asia/Shanghai"
        elif kind == "tag":
            envelope = _envelope(who, "tag.changed", at)
            envelope.tag_changed.tag_id, envelope.tag_changed.applied = str(TAGS[step[2]]), step[3]
            if step[3] and step[4] is not None:
                envelope.tag_changed.expires_at.FromDatetime(now + timedelta(days=step[4]))
        elif kind == "consent":
            envelope = _envelope(who, "consent.changed", at)
            consent = envelope.consent_changed
            consent.channel, consent.purpose, consent.granted = step[2], "marketing", step[3]
        elif kind == "event":
            envelope = _envelope(who, "event.recorded", now - timedelta(minutes=step[2]))
            recorded = envelope.event_recorded
            recorded.client_event_id, recorded.event_type = f"E{n}", "add_to_cart"
            recorded.properties_json = json.dumps({"sku": f"S{step[2] % 3}", "gift": step[3]})
        elif kind == "points":
            balances[who] += step[2]
            envelope = _envelope(who, "points.changed", at)
            envelope.points_changed.delta, envelope.points_changed.balance = step[2], balances[who]
        elif kind == "tier":
            envelope = _envelope(who, "tier.changed", at)
            envelope.tier_changed.to_tier = step[2]
        elif kind == "merge":
            if step[1] == step[2]:
                continue
            envelope = _envelope(who, "customer.merged", at)
            envelope.customer_merged.survivor_id = str(who)
            envelope.customer_merged.merged_ids.append(str(customers[step[2]]))
            envelope.customer_merged.survivor_attributes.gender = "female"
        else:
            envelope = _envelope(who, "customer.erased", at)
            envelope.customer_erased.erased_at.FromDatetime(at)
        events.append(envelope)
    return events


_AUDIENCE = [
    "SELECT customer_id, gender, city, timezone, merged_into, erased_at IS NOT NULL FROM customers",
    "SELECT customer_id, tag_id, expires_at FROM audience_tags",
    "SELECT customer_id, channel, purpose, granted, changed_at FROM audience_consents",
    "SELECT customer_id, tier, points FROM audience_loyalty",
    "SELECT customer_id, event_id, event_type, occurred_at, properties::text FROM behaviour_events",
]


async def _audience(database: Database, tenant: uuid.UUID) -> list[list[tuple[Any, ...]]]:
    async with database.read() as connection:
        return [
            sorted(
                (
                    tuple(str(v) for v in row)
                    for row in await connection.execute(sa.text(f"{q} WHERE tenant_id = :t"), {"t": tenant})
                ),
            )
            for q in _AUDIENCE
        ]


async def _new_tenant(database: Database) -> uuid.UUID:
    tenant = uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES (:t, 'p', 'Asia/Shanghai', 'CNY', 'CN')"
            ),
            {"t": tenant},
        )
    return tenant


def _stamped(events: list[envelope_pb2.EventEnvelope], tenant: uuid.UUID) -> list[envelope_pb2.EventEnvelope]:
    copies = []
    for event in events:
        copy = envelope_pb2.EventEnvelope()
        copy.CopyFrom(event)
        copy.tenant_id = str(tenant)
        copies.append(copy)
    return copies


async def _example(database: Database, steps: list[tuple[Any, ...]]) -> None:
    outbox = Outbox("scoring", outbox_table, 16)
    handlers: dict[str, Handler] = {}
    batches: dict[str, BatchHandler] = {}
    for spec in (scoring_consumer(1.0, outbox), loyalty_consumer(1.0)):
        handlers.update(spec.handlers)
        batches.update(spec.batch_handlers)
    history = _history([uuid.uuid4() for _ in range(CUSTOMERS)], steps)

    live = await _new_tenant(database)
    for envelope in _stamped(history, live):
        async with database.transaction() as connection:
            await handlers[envelope.type](connection, envelope)

    replayed = await _new_tenant(database)
    for event_type, run in groupby(_stamped(history, replayed), key=lambda e: e.type):
        async with database.transaction() as connection:
            if event_type in batches:
                await batches[event_type](connection, list(run))
            else:
                for envelope in run:
                    await handlers[event_type](connection, envelope)

    assert await _audience(database, replayed) == await _audience(database, live)


async def test_a_replay_in_runs_equals_the_live_audience(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["scoring"], application_name="audience-property"))
    loop = asyncio.get_running_loop()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=st.lists(operation, min_size=1, max_size=16))
    def check(steps: list[tuple[Any, ...]]) -> None:
        asyncio.run_coroutine_threadsafe(_example(database, steps), loop).result()

    try:
        await asyncio.to_thread(check)
    finally:
        await database.dispose()

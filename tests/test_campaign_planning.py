"""The campaign store's SQL against its Python references, on a real PostgreSQL.

- the snapshot's groups (md5 bucket, ``width_bucket`` over the thresholds, the tenant's global
  control group) equal ``campaign_assignment`` for 10,000 customers, and each share is within one
  percentage point of its weight;
- planning judges every recipient as ``policy.decide`` would (erased, unsubscribed, consent, the
  cap, quiet hours in the customer's zone else the tenant's), one message per variant recipient,
  and a batch replayed (its lease lost, taken again) commits nothing twice;
- the cursor only moves with a committed batch;
- a customer-local send is due at each customer's own wall-clock time, positions in that order;
- a paused campaign's messages are not rendered (so not sent) until it resumes.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from services.notify.domain.campaign_assignment import (
    HOLDOUT,
    bucket,
    group_of,
    in_global_control,
    thresholds,
)
from services.notify.domain.campaign_worker import AudienceBatch, Claim
from services.notify.domain.policy import Cap, Policy, QuietHours, Recipient, decide
from services.notify.store.campaign_planning import SqlCampaignPlanning
from services.notify.store.campaign_render import SqlRenderQueue
from services.notify.store.tables import outbox as outbox_table
from services.runtime import migrations
from services.runtime.database import Database, create_engine
from services.runtime.events.outbox import Outbox
from tests.support import PostgresServer

KEY = "test-assignment-key"
LEASE = timedelta(seconds=30)


@pytest.fixture(scope="module")
async def database(postgres: PostgresServer) -> AsyncIterator[Database]:
    name = f"patron_plan_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await asyncio.to_thread(migrations.upgrade, "notify", url)
    engine = create_engine(url, application_name="test-campaign-planning", pool_size=4)
    yield Database(engine)
    await engine.dispose()
    await postgres.drop_database(name)


async def _tenant(
    database: Database, zone: str = "Asia/Shanghai", tenant_id: uuid.UUID | None = None
) -> uuid.UUID:
    tenant_id = tenant_id or uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES (:t, 'shop', :z, 'CNY', 'CN')"
            ),
            {"t": tenant_id, "z": zone},
        )
    return tenant_id


async def _template(database: Database, tenant_id: uuid.UUID) -> uuid.UUID:
    template_id = uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                """
                INSERT INTO templates (tenant_id, template_id, name, channel, purpose, body, personal_fields)
                VALUES (:t, :id, :name, 'email', 'marketing', 'Hi', '{}')
                """
            ),
            {"t": tenant_id, "id": template_id, "name": f"t{template_id.hex[:6]}"},
        )
    return template_id


async def _campaign(
    database: Database,
    tenant_id: uuid.UUID,
    variants: list[tuple[str, uuid.UUID, int]],
    holdout: float,
    control: float = 0.0,
    campaign_id: uuid.UUID | None = None,
) -> Claim:
    campaign_id, token = campaign_id or uuid.uuid4(), uuid.uuid4()
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                """
                INSERT INTO campaigns (tenant_id, campaign_id, name, segment_id, document, status, phase,
                  groups, templates, ends, conversion_window, send_zone, global_control_percent,
                  created_at, updated_at, started_at, wake_at, first_send_at, lease_token, lease_until)
                VALUES (:t, :c, 'test', :s, '{}', 'running', 'snapshot', :groups, :templates, :ends,
                  interval '7 days', 'tenant', :control, now(), now(), now(), now(), now(), :token,
                  now() + interval '1 hour')
                """
            ),
            {
                "t": tenant_id,
                "c": campaign_id,
                "s": uuid.uuid4(),
                "groups": [n for n, _, _ in variants],
                "templates": [t for _, t, _ in variants],
                "ends": thresholds([w for _, _, w in variants], holdout),
                "control": control,
                "token": token,
            },
        )
    return Claim(tenant_id, campaign_id, uuid.uuid4(), "snapshot", token)


async def _stream(customers: list[uuid.UUID], zones: list[str | None]) -> AsyncIterator[AudienceBatch]:
    for start in range(0, len(customers), 3_000):
        yield AudienceBatch(
            customers[start : start + 3_000], zones[start : start + 3_000], 1, datetime.now(UTC)
        )


async def _claim_own(planning: SqlCampaignPlanning, campaign_id: uuid.UUID) -> Claim:
    """Claim until this test's campaign comes up (the module's other campaigns are leased away)."""
    for _ in range(10):
        claimed = await planning.claim(LEASE)
        assert claimed is not None
        if claimed.campaign_id == campaign_id:
            return claimed
    raise AssertionError("the campaign was never claimed")


def _planning(database: Database) -> SqlCampaignPlanning:
    return SqlCampaignPlanning(database, Outbox("notify", outbox_table, 16), KEY)


def _seeded_ids(count: int, seed: int) -> list[uuid.UUID]:
    """Fixed ids: the draw is a keyed hash, so a fixed population makes the shares reproducible (with
    random ids each share would miss its weight by more than a point in about one run in twenty)."""
    rng = random.Random(seed)
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(count)]


async def test_the_snapshot_draws_every_group_as_the_reference_does(database: Database) -> None:
    tenant_seed, campaign_seed = _seeded_ids(2, seed=20261205)
    tenant_id = await _tenant(database, tenant_id=tenant_seed)
    template = await _template(database, tenant_id)
    claim = await _campaign(
        database, tenant_id, [("A", template, 45), ("B", template, 45)], 10.0, 5.0, campaign_seed
    )
    customers = _seeded_ids(10_000, seed=14)
    taken = await _planning(database).take_snapshot(claim, _stream(customers, [None] * len(customers)))
    assert taken == 10_000
    async with database.transaction() as connection:
        rows = list(
            await connection.execute(
                sa.text(
                    "SELECT customer_id, group_name, message_id, position FROM campaign_recipients "
                    "WHERE tenant_id = :t AND campaign_id = :c"
                ),
                {"t": tenant_id, "c": claim.campaign_id},
            )
        )
        sizes = await connection.scalar(
            sa.text("SELECT group_sizes FROM campaigns WHERE campaign_id = :c"), {"c": claim.campaign_id}
        )
    ends = thresholds([45, 45], 10.0)
    for row in rows:
        if in_global_control(KEY, tenant_id, row.customer_id, 5.0):
            expected = "global_control"
        else:
            expected = group_of(bucket(KEY, claim.campaign_id, row.customer_id), ["A", "B"], ends)
        assert row.group_name == expected
        assert (row.message_id is None) == (expected in (HOLDOUT, "global_control"))
    assert sorted(r.position for r in rows) == list(range(1, 10_001))
    counts = Counter(r.group_name for r in rows)
    assert counts == Counter(sizes)
    assert abs(counts["global_control"] / 10_000 - 0.05) <= 0.01
    eligible = 10_000 - counts["global_control"]
    for name, share in (("A", 0.45), ("B", 0.45), (HOLDOUT, 0.10)):
        assert abs(counts[name] / eligible - share) <= 0.01, (name, counts)


async def _put_policy(database: Database, tenant_id: uuid.UUID, document: dict[str, object]) -> None:
    async with database.transaction() as connection:
        await connection.execute(
            sa.text("INSERT INTO policies (tenant_id, document) VALUES (:t, :d)"),
            {"t": tenant_id, "d": json.dumps(document)},
        )


async def test_planning_judges_each_recipient_as_a_single_send_would(database: Database) -> None:
    tenant_id = await _tenant(database, "Asia/Shanghai")
    template = await _template(database, tenant_id)
    now = datetime.now(UTC)
    # quiet hours around the current UTC hour: Berlin and Shanghai customers fall on different sides
    quiet = QuietHours(time((now.hour + 20) % 24, 0), time((now.hour + 2) % 24, 0))
    policy = Policy((Cap(2, timedelta(days=7)),), quiet)
    await _put_policy(
        database,
        tenant_id,
        {
            "frequency_caps": [{"max": 2, "per": "P7D"}],
            "quiet_hours": {"start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M")},
        },
    )
    rng = random.Random(14)
    customers = [uuid.uuid4() for _ in range(600)]
    zones: list[str | None] = [
        rng.choice([None, "Europe/Berlin", "America/Los_Angeles", "Mars/Base"]) for _ in customers
    ]
    facts: dict[uuid.UUID, dict[str, Any]] = {}
    async with database.transaction() as connection:
        for customer in customers:
            fact: dict[str, Any] = {
                "consent": rng.choice([True, True, True, False, None]),
                "unsubscribed": rng.random() < 0.1,
                "erased": rng.random() < 0.05,
                "earlier": rng.choice([0, 0, 1, 2, 3]),
            }
            facts[customer] = fact
            if fact["consent"] is not None:
                await connection.execute(
                    sa.text(
                        "INSERT INTO consents (tenant_id, customer_id, channel, purpose, granted, "
                        "changed_at) VALUES (:t, :c, 'email', 'marketing', :g, now())"
                    ),
                    {"t": tenant_id, "c": customer, "g": fact["consent"]},
                )
            if fact["unsubscribed"]:
                await connection.execute(
                    sa.text(
                        "INSERT INTO suppressions (tenant_id, customer_id, channel, scope, reason) "
                        "VALUES (:t, :c, 'email', '', 'unsubscribed')"
                    ),
                    {"t": tenant_id, "c": customer},
                )
            if fact["erased"]:
                await connection.execute(
                    sa.text(
                        "INSERT INTO customer_states (tenant_id, customer_id, erased_at) "
                        "VALUES (:t, :c, now())"
                    ),
                    {"t": tenant_id, "c": customer},
                )
            for days in range(int(str(fact["earlier"]))):
                await connection.execute(
                    sa.text(
                        """
                        INSERT INTO messages (message_id, tenant_id, customer_id, template_id, channel,
                          purpose, sender, status, created_at)
                        VALUES (gen_random_uuid(), :t, :c, :tpl, 'email', 'marketing', 'api', 'sent',
                          now() - make_interval(days => :d + 1))
                        """
                    ),
                    {"t": tenant_id, "c": customer, "tpl": template, "d": days},
                )
    claim = await _campaign(database, tenant_id, [("A", template, 1)], 0.0)
    planning = _planning(database)
    assert await planning.take_snapshot(claim, _stream(customers, zones)) == 600
    again = await _claim_own(planning, claim.campaign_id)
    assert (again.campaign_id, again.phase) == (claim.campaign_id, "planning")
    stale = Claim(again.tenant_id, again.campaign_id, again.segment_id, "planning", uuid.uuid4())
    assert (await planning.plan_batch(stale, 250, LEASE, now)).lost  # another worker's lease: nothing
    first = await planning.plan_batch(again, 250, LEASE, now)
    assert (first.planned, first.positions, first.finished) == (250, 250, False)
    rest = await planning.plan_batch(again, 1_000, LEASE, now)
    assert (rest.planned, rest.positions, rest.finished) == (350, 350, True)
    async with database.transaction() as connection:
        rows = {
            r.customer_id: r
            for r in await connection.execute(
                sa.text(
                    "SELECT customer_id, status, reason, render_at FROM messages "
                    "WHERE tenant_id = :t AND sender = 'campaign' AND sender_ref = :ref"
                ),
                {"t": tenant_id, "ref": str(claim.campaign_id)},
            )
        }
        cursor = await connection.scalar(
            sa.text("SELECT planned_through FROM campaigns WHERE campaign_id = :c"), {"c": claim.campaign_id}
        )
    assert cursor == 600
    assert set(rows) == set(customers)
    for customer, zone in zip(customers, zones, strict=True):
        fact = facts[customer]
        known_zone = zone if zone in ("Europe/Berlin", "America/Los_Angeles") else None
        recipient = Recipient(
            erased=bool(fact["erased"]),
            has_contact=True,
            unsubscribed=bool(fact["unsubscribed"]),
            consent=fact["consent"],
            zone=ZoneInfo(known_zone or "Asia/Shanghai"),
        )
        sent = [now - timedelta(days=d + 1) for d in range(int(str(fact["earlier"])))]
        decision = decide("marketing", recipient, policy, sent, now)
        row = rows[customer]
        expected_status = {"send": "queued", "defer": "deferred", "suppress": "suppressed"}[decision.action]
        assert (row.status, row.reason) == (expected_status, decision.reason), (fact, zone)
        if decision.action == "defer":
            assert decision.until is not None
            assert row.render_at == decision.until


async def test_a_customer_local_send_is_due_at_each_customers_own_wall_clock_time(database: Database) -> None:
    tenant_id = await _tenant(database, "Asia/Shanghai")
    template = await _template(database, tenant_id)
    claim = await _campaign(database, tenant_id, [("A", template, 1)], 0.0)
    local = datetime(2026, 12, 12, 10, 0)
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "UPDATE campaigns SET send_local = :local, send_zone = 'customer' WHERE campaign_id = :c"
            ),
            {"local": local, "c": claim.campaign_id},
        )
    customers = [uuid.uuid4() for _ in range(4)]
    zones: list[str | None] = ["Europe/Berlin", "Asia/Shanghai", None, "America/Los_Angeles"]
    assert await _planning(database).take_snapshot(claim, _stream(customers, zones)) == 4
    async with database.transaction() as connection:
        rows = list(
            await connection.execute(
                sa.text(
                    "SELECT position, customer_id, due_at FROM campaign_recipients "
                    "WHERE campaign_id = :c ORDER BY position"
                ),
                {"c": claim.campaign_id},
            )
        )
        wake_at = await connection.scalar(
            sa.text("SELECT wake_at FROM campaigns WHERE campaign_id = :c"), {"c": claim.campaign_id}
        )
    due = {r.customer_id: r.due_at for r in rows}
    for customer, zone in zip(customers, zones, strict=True):
        assert due[customer] == local.replace(tzinfo=ZoneInfo(zone or "Asia/Shanghai"))
    assert [r.due_at for r in rows] == sorted(r.due_at for r in rows)  # positions follow the clock
    assert wake_at == min(due.values())  # planning begins with the earliest zone


async def test_a_paused_campaigns_messages_are_not_rendered(database: Database) -> None:
    tenant_id = await _tenant(database)
    template = await _template(database, tenant_id)
    claim = await _campaign(database, tenant_id, [("A", template, 1)], 0.0)
    customers = [uuid.uuid4() for _ in range(20)]
    async with database.transaction() as connection:
        for customer in customers:
            await connection.execute(
                sa.text(
                    "INSERT INTO consents (tenant_id, customer_id, channel, purpose, granted, "
                    "changed_at) VALUES (:t, :c, 'email', 'marketing', true, now())"
                ),
                {"t": tenant_id, "c": customer},
            )
    planning = _planning(database)
    await planning.take_snapshot(claim, _stream(customers, [None] * 20))
    own = await _claim_own(planning, claim.campaign_id)
    assert (await planning.plan_batch(own, 100, LEASE, datetime.now(UTC))).planned == 20
    queue = SqlRenderQueue(database, Outbox("notify", outbox_table, 16))
    async with database.transaction() as connection:
        await connection.execute(
            sa.text("UPDATE campaigns SET status = 'paused' WHERE campaign_id = :c"), {"c": claim.campaign_id}
        )
    mine = str(claim.campaign_id)
    assert [p for p in await queue.claim(1_000, LEASE) if p.campaign_ref == mine] == []
    async with database.transaction() as connection:
        await connection.execute(
            sa.text("UPDATE campaigns SET status = 'running' WHERE campaign_id = :c"),
            {"c": claim.campaign_id},
        )
    claimed = [p for p in await queue.claim(1_000, LEASE) if p.campaign_ref == mine]
    assert sorted(p.customer_id for p in claimed) == sorted(customers)
    assert [p for p in await queue.claim(1_000, LEASE) if p.campaign_ref == mine] == []  # leased

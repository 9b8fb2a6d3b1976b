"""A campaign's report totals (store/campaign_report.py) equal an independent computation, and the
orders and coupon discounts it counts are recorded once (store/campaign_attribution.py).

The data are seeded and deliberately awkward: 2,000 recipients in A, B and a holdout; messages in
every status, some sent hours after they were due, some never planned; several orders per customer
before the anchor, on it, inside the window, on its last instant, just after it and far after; coupons
on counted and uncounted orders, two on one order; and a second campaign and a second tenant sharing
customers and order ids, which must not leak into the first campaign's figures.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notify.domain.campaigns import GroupTotals
from services.notify.store.campaign_attribution import record_campaign_order, record_coupon_discount
from services.notify.store.campaign_report import campaign_totals
from services.notify.store.campaign_tables import (
    campaign_order_discounts,
    campaign_orders,
    campaign_recipients,
    campaigns,
)
from services.notify.store.message_tables import messages
from services.notify.store.tables import tenants
from services.runtime import migrations
from services.runtime.database import create_engine
from tests.support import PostgresServer

WINDOW = timedelta(days=7)
SLACK = timedelta(days=30)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENT_STATUSES = ("sent", "delivered", "opened", "clicked")


@pytest.fixture(scope="module")
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """A fresh notify database migrated to head, for this module alone."""
    import asyncio

    name = f"patron_rep_{uuid.uuid4().hex[:8]}"
    url = await postgres.create_database(name)
    await asyncio.to_thread(migrations.upgrade, "notify", url)
    created = create_engine(url, application_name="test-campaign-report", pool_size=2)
    yield created
    await created.dispose()
    await postgres.drop_database(name)


@dataclass
class Recipient:
    customer_id: uuid.UUID
    group: str
    due_at: datetime
    message_id: uuid.UUID | None = None
    message: dict[str, Any] | None = None  # the messages row, when planned

    @property
    def sent(self) -> bool:
        m = self.message
        return m is not None and (m["status"] in SENT_STATUSES or m["sent_at"] is not None)

    @property
    def anchor(self) -> datetime:
        m = self.message
        return m["sent_at"] if m is not None and m["sent_at"] is not None else self.due_at


@dataclass
class Order:
    order_id: str
    customer_id: uuid.UUID
    amount_minor: int
    paid_at: datetime
    discounts: dict[str, int] = field(default_factory=dict)


async def add_tenant(engine: AsyncEngine) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            tenants.insert().values(
                tenant_id=tenant_id,
                name="Shop",
                timezone="Asia/Shanghai",
                currency="CNY",
                default_region="CN",
            )
        )
    return tenant_id


async def add_campaign(engine: AsyncEngine, tenant_id: uuid.UUID, window: timedelta = WINDOW) -> uuid.UUID:
    campaign_id = uuid.uuid4()
    template = uuid.uuid4()
    document = {"name": "Spring", "variants": [{"name": "A"}, {"name": "B"}], "holdout_percent": 10}
    async with engine.begin() as connection:
        await connection.execute(
            campaigns.insert().values(
                tenant_id=tenant_id,
                campaign_id=campaign_id,
                name="Spring",
                segment_id=uuid.uuid4(),
                document=document,
                status="running",
                groups=["A", "B"],
                templates=[template, template],
                ends=[1000, 5500, 10000],
                conversion_window=window,
                send_zone="tenant",
                created_at=START,
                updated_at=START,
                started_at=START,
            )
        )
    return campaign_id


def make_message(
    rng: random.Random, tenant_id: uuid.UUID, campaign_id: uuid.UUID, recipient: Recipient
) -> dict[str, Any]:
    """A planned message in a random state; a sent one went out up to three days after it was due."""
    status = rng.choice(
        ["queued", "deferred", "sent", "delivered", "opened", "clicked", "failed", "suppressed"]
    )
    sent_at = delivered_at = opened_at = clicked_at = None
    if status in SENT_STATUSES or (status == "failed" and rng.random() < 0.5):
        sent_at = recipient.due_at + timedelta(seconds=rng.choice([0, 1, 3600, rng.randrange(3 * 86400)]))
    if status in ("delivered", "opened", "clicked"):
        delivered_at = sent_at + timedelta(seconds=5)  # type: ignore[operator]
    if status in ("opened", "clicked"):
        opened_at = sent_at + timedelta(minutes=10)  # type: ignore[operator]
    if status == "clicked":
        clicked_at = sent_at + timedelta(minutes=11)  # type: ignore[operator]
    return {
        "message_id": recipient.message_id,
        "tenant_id": tenant_id,
        "customer_id": recipient.customer_id,
        "template_id": uuid.uuid4(),
        "channel": "sms",
        "purpose": "marketing",
        "sender": "campaign",
        "sender_ref": str(campaign_id),
        "status": status,
        "sent_at": sent_at,
        "delivered_at": delivered_at,
        "opened_at": opened_at,
        "clicked_at": clicked_at,
    }


async def add_recipients(
    engine: AsyncEngine,
    rng: random.Random,
    tenant_id: uuid.UUID,
    campaign_id: uuid.UUID,
    people: list[uuid.UUID],
) -> list[Recipient]:
    """The audience: 45/45/10, due over two days; most variant messages planned, a few not yet."""
    recipients = []
    for customer_id in people:
        draw = rng.random()
        group = "holdout" if draw < 0.10 else "A" if draw < 0.55 else "B"
        due_at = START + timedelta(seconds=rng.randrange(2 * 86400))
        recipient = Recipient(customer_id, group, due_at)
        if group != "holdout":
            recipient.message_id = uuid.uuid4()
            if rng.random() < 0.95:
                recipient.message = make_message(rng, tenant_id, campaign_id, recipient)
        recipients.append(recipient)
    async with engine.begin() as connection:
        await connection.execute(
            campaign_recipients.insert(),
            [
                {
                    "tenant_id": tenant_id,
                    "campaign_id": campaign_id,
                    "position": position,
                    "customer_id": r.customer_id,
                    "group_name": r.group,
                    "due_at": r.due_at,
                    "message_id": r.message_id,
                }
                for position, r in enumerate(recipients, start=1)
            ],
        )
        planned = [r.message for r in recipients if r.message is not None]
        if planned:
            await connection.execute(messages.insert(), planned)
    return recipients


def make_orders(rng: random.Random, recipients: list[Recipient], prefix: str) -> list[Order]:
    """Zero to five orders a customer, around its anchor: boundaries exactly, and a skewed amount."""
    offsets = [
        -timedelta(days=2),
        -timedelta(seconds=1),
        timedelta(0),
        timedelta(seconds=1),
        WINDOW - timedelta(seconds=1),
        WINDOW,
        WINDOW + timedelta(seconds=1),
        WINDOW + timedelta(days=3),
        WINDOW + SLACK + timedelta(days=1),
    ]
    orders = []
    for index, recipient in enumerate(recipients):
        for number in range(rng.choice([0, 0, 0, 1, 1, 2, 3, 5])):
            if rng.random() < 0.5:
                offset = rng.choice(offsets)
            else:
                offset = timedelta(
                    seconds=rng.randrange(-86400, int((WINDOW + timedelta(days=2)).total_seconds()))
                )
            amount = int(rng.lognormvariate(9.0, 1.0)) + 1
            order = Order(
                f"{prefix}-{index}-{number}", recipient.customer_id, amount, recipient.anchor + offset
            )
            for coupon in range(rng.choice([0, 0, 1, 2])):
                order.discounts[f"C{coupon}-{index}"] = rng.randrange(100, 5_000)
            orders.append(order)
    return orders


async def record(engine: AsyncEngine, tenant_id: uuid.UUID, orders: list[Order]) -> tuple[int, int]:
    """Record orders and discounts as the consumers would (discounts first for half of them: loyalty's
    event may come before profile's); the rows each call added."""
    added_orders = added_discounts = 0
    async with engine.begin() as connection:
        for order in orders:
            discounts_first = sum(map(ord, order.order_id)) % 2 == 0
            if not discounts_first:
                added_orders += await record_campaign_order(
                    connection,
                    tenant_id,
                    order.customer_id,
                    order.order_id,
                    order.amount_minor,
                    "CNY",
                    order.paid_at,
                )
            for code, discount in order.discounts.items():
                added_discounts += await record_coupon_discount(
                    connection, tenant_id, order.customer_id, order.order_id, code, discount, order.paid_at
                )
            if discounts_first:
                added_orders += await record_campaign_order(
                    connection,
                    tenant_id,
                    order.customer_id,
                    order.order_id,
                    order.amount_minor,
                    "CNY",
                    order.paid_at,
                )
    return added_orders, added_discounts


def expected_totals(recipients: list[Recipient], orders: list[Order]) -> list[GroupTotals]:
    """The report's definition, in plain Python over the generated rows."""
    by_customer: dict[uuid.UUID, list[Order]] = defaultdict(list)
    for order in orders:
        by_customer[order.customer_id].append(order)
    groups: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in recipients:
        g = groups[r.group]
        m = r.message or {}
        g["recipients"] += 1
        g["sent"] += r.sent
        g["delivered"] += m.get("delivered_at") is not None
        g["opened"] += m.get("opened_at") is not None
        g["clicked"] += m.get("clicked_at") is not None
        g["suppressed"] += m.get("status") == "suppressed"
        counted = [o for o in by_customer[r.customer_id] if r.anchor < o.paid_at <= r.anchor + WINDOW]
        revenue = sum(o.amount_minor for o in counted)
        g["converted"] += bool(counted)
        g["orders"] += len(counted)
        g["revenue_minor"] += revenue
        g["revenue_sq_minor"] += revenue * revenue
        g["coupon_cost_minor"] += sum(sum(o.discounts.values()) for o in counted)
    return [GroupTotals(name, **values) for name, values in sorted(groups.items())]


def customers(rng: random.Random, count: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(count)]


async def test_the_totals_equal_an_independent_computation(engine: AsyncEngine) -> None:
    rng = random.Random(20260302)
    tenant_id, other_tenant = await add_tenant(engine), await add_tenant(engine)
    campaign_id = await add_campaign(engine, tenant_id)
    people = customers(rng, 2_000)
    recipients = await add_recipients(engine, rng, tenant_id, campaign_id, people)
    orders = make_orders(rng, recipients, "o")
    await record(engine, tenant_id, orders)

    # Noise that must not count: a second campaign of the same tenant over half the same customers
    # (its own messages and orders, and the same orders recorded for it), another tenant with the
    # same customers, campaign and order ids, and a discount on an order of no recipient.
    second = await add_campaign(engine, tenant_id)
    second_recipients = await add_recipients(
        engine, rng, tenant_id, second, people[:1_000] + customers(rng, 200)
    )
    second_orders = make_orders(rng, second_recipients, "second")
    await record(engine, tenant_id, second_orders)
    foreign = await add_campaign(engine, other_tenant)
    foreign_recipients = await add_recipients(engine, rng, other_tenant, foreign, people[:500])
    await record(engine, other_tenant, make_orders(rng, foreign_recipients, "o"))

    # an order counts for every campaign that reached its customer: the second campaign's orders of
    # shared customers are the first one's too, when they fall in its window
    expected = expected_totals(recipients, orders + second_orders)
    assert {t.group for t in expected} == {"A", "B", "holdout"}
    assert sum(t.converted for t in expected) > 200
    assert sum(t.coupon_cost_minor for t in expected) > 0
    async with engine.connect() as connection:
        assert await campaign_totals(connection, tenant_id, campaign_id) == expected
        assert await campaign_totals(connection, other_tenant, campaign_id) == []
        assert await campaign_totals(connection, tenant_id, uuid.uuid4()) == []


async def test_replays_change_nothing(engine: AsyncEngine) -> None:
    rng = random.Random(7)
    tenant_id = await add_tenant(engine)
    campaign_id = await add_campaign(engine, tenant_id)
    recipients = await add_recipients(engine, rng, tenant_id, campaign_id, customers(rng, 300))
    orders = make_orders(rng, recipients, "r")
    first = await record(engine, tenant_id, orders)
    async with engine.connect() as connection:
        before = await campaign_totals(connection, tenant_id, campaign_id)
    assert first[0] > 0
    assert first[1] > 0
    assert await record(engine, tenant_id, orders) == (0, 0)
    # a replay with other figures (a buggy producer) does not rewrite what was kept either
    changed = [
        Order(o.order_id, o.customer_id, o.amount_minor + 1, o.paid_at, dict(o.discounts)) for o in orders
    ]
    for order in changed:
        order.discounts = {code: value + 1 for code, value in order.discounts.items()}
    assert await record(engine, tenant_id, changed) == (0, 0)
    async with engine.connect() as connection:
        assert await campaign_totals(connection, tenant_id, campaign_id) == before
        kept = (
            await connection.execute(
                sa.select(sa.func.count())
                .select_from(campaign_orders)
                .where(campaign_orders.c.tenant_id == tenant_id)
            )
        ).scalar_one()
    assert kept == first[0]


async def test_orders_are_kept_within_the_window_and_its_slack(engine: AsyncEngine) -> None:
    tenant_id = await add_tenant(engine)
    campaign_id = await add_campaign(engine, tenant_id)
    late_window = await add_campaign(engine, tenant_id, window=timedelta(days=1))
    customer, stranger = uuid.uuid4(), uuid.uuid4()
    due = START + timedelta(hours=5)
    async with engine.begin() as connection:
        for position, campaign in enumerate((campaign_id, late_window), start=1):
            await connection.execute(
                campaign_recipients.insert().values(
                    tenant_id=tenant_id,
                    campaign_id=campaign,
                    position=position,
                    customer_id=customer,
                    group_name="holdout",
                    due_at=due,
                )
            )
    cases = {
        "on-due": (due, set()),
        "after-due": (due + timedelta(microseconds=1), {campaign_id, late_window}),
        "one-day-slack-end": (due + timedelta(days=31), {campaign_id, late_window}),
        "past-one-day-slack": (due + timedelta(days=31, microseconds=1), {campaign_id}),
        "seven-day-slack-end": (due + WINDOW + SLACK, {campaign_id}),
        "past-seven-day-slack": (due + WINDOW + SLACK + timedelta(microseconds=1), set()),
        "before": (due - timedelta(days=1), set()),
    }
    async with engine.begin() as connection:
        for order_id, (paid_at, _) in cases.items():
            await record_campaign_order(connection, tenant_id, customer, order_id, 1_000, "CNY", paid_at)
            await record_campaign_order(
                connection, tenant_id, stranger, f"{order_id}-x", 1_000, "CNY", paid_at
            )
        assert await record_coupon_discount(connection, tenant_id, stranger, "s-1", "C", 50, due) == 0
        assert await record_coupon_discount(connection, tenant_id, customer, "on-due", "C", 50, due) == 1
        assert await record_coupon_discount(connection, tenant_id, customer, "on-due", "C", 50, due) == 0
        rows = (
            await connection.execute(
                sa.select(campaign_orders.c.order_id, campaign_orders.c.campaign_id).where(
                    campaign_orders.c.tenant_id == tenant_id
                )
            )
        ).all()
        discounts = (
            await connection.execute(
                sa.select(campaign_order_discounts.c.order_id).where(
                    campaign_order_discounts.c.tenant_id == tenant_id
                )
            )
        ).all()
    kept: dict[str, set[uuid.UUID]] = defaultdict(set)
    for order_id, campaign in rows:
        kept[order_id].add(campaign)
    assert {k: v for k, v in kept.items()} == {k: v for k, (_, v) in cases.items() if v}
    assert [d.order_id for d in discounts] == ["on-due"]

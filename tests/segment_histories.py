"""Customer histories for the segment SQL tests: hypothesis strategies and set-based insertion.

A history is a ``CustomerRecord`` (what the reference evaluator reads) plus a status (live, merged,
erased); ``insert_histories`` writes the same facts into scoring's audience tables so that the
compiled statement and ``evaluate`` can be asked the same question.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.domain.segments.record import (
    BehaviourFact,
    CustomerRecord,
    OrderFact,
    RefundFact,
    TagHolding,
)
from services.scoring.store.audience_tables import (
    audience_consents,
    audience_loyalty,
    audience_tags,
    behaviour_events,
)
from services.scoring.store.feature_tables import customer_scores, order_refunds, orders
from services.scoring.store.prediction_tables import predictions
from services.scoring.store.tables import customers, tenants

LIVE, MERGED, ERASED = "live", "merged", "erased"
INJECTION = "'; DROP TABLE customers; --"
TAGS = (uuid.UUID("0b6a0c1e-5a3f-4f7e-9d2b-1c3e5f7a9b0d"), uuid.UUID("8f0e2d4c-6b8a-4c2e-9f1d-3b5a7c9e1f20"))
TEXTS = ("Zhejiang", "zhejiang", INJECTION, "${jndi:ldap://x}")
REASONS = (None, "size", INJECTION)
EVENT_TYPES = ("add_to_cart", "view", "custom.quiz")
CONSENT_KEYS = (("sms", "marketing"), ("email", "service"))
ZONES = (None, "", "Pacific/Kiritimati", "America/Los_Angeles", "Not/AZone")
BIRTHDAYS = (
    date(2000, 2, 29),
    date(1990, 2, 28),
    date(1985, 3, 1),
    date(1992, 1, 1),
    date(1980, 12, 31),
    date(1990, 6, 15),
    date(1991, 6, 17),
)
PROPERTIES: tuple[dict[str, Any], ...] = (
    {},
    {"sku": "a"},
    {"sku": "b", "qty": 1},
    {"qty": 1.0},
    {"qty": True},
    {"qty": "1"},
    {"sku": ["a"]},
    {INJECTION: INJECTION},
)
# Moments of evaluation: mid-year, the year end (already 1 January in Shanghai), 28 February of a
# non-leap and of a leap year in the evening UTC (1 March / 29 February in Shanghai).
NOWS = (
    datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 20, 0, tzinfo=UTC),
    datetime(2027, 2, 28, 18, 0, tzinfo=UTC),
    datetime(2028, 2, 28, 17, 0, tzinfo=UTC),
)
TENANT_ZONES = ("Asia/Shanghai", "America/New_York", "UTC")
# Offsets from now in minutes: window edges of PT1H, PT2H, PT24H, P2D exactly and just inside, now
# itself, and the future (a fact after now has not happened yet).
OFFSETS = (-2881, -2880, -1441, -1440, -1439, -121, -120, -60, -59, -1, 0, 1, 90)
WITHINS = ("PT1H", "PT2H", "PT24H", "P2D")
EDGES = (-2880, -1440, -120, -60)  # exactly now - within: out of the window


def moment(now: datetime) -> st.SearchStrategy[datetime]:
    """An instant at one of the interesting distances from ``now`` (a window's edge half the time)."""
    offsets = st.sampled_from(OFFSETS) | st.sampled_from(EDGES)
    return offsets.map(lambda minutes: now + timedelta(minutes=minutes))


def near_birthdays(now: datetime) -> st.SearchStrategy[date]:
    """Birthdays from yesterday to the day after tomorrow around ``now`` (UTC date), born in 2000."""
    return st.integers(-1, 2).map(lambda days: (now + timedelta(days=days)).date().replace(year=2000))


@st.composite
def histories(draw: st.DrawFn, now: datetime) -> list[tuple[CustomerRecord, str]]:
    """One to six customers with facts drawn from small shared pools, so that conditions over the same
    pools often hold and often fail, and windows are probed at their exact edges."""
    found = []
    for index in range(draw(st.integers(1, 6))):
        at = moment(now)
        order_list, refund_list = [], []
        for _ in range(draw(st.integers(0, 3))):
            refunds = draw(
                st.lists(
                    st.builds(RefundFact, at, st.sampled_from([100, 500]), st.sampled_from(REASONS)),
                    max_size=2,
                )
            )
            amount = draw(st.sampled_from([100, 1_000, 5_000]))
            order_list.append(OrderFact(draw(at), amount, sum(r.amount_minor for r in refunds)))
            refund_list.append(tuple(refunds))
        scored = draw(st.booleans())
        predicted = draw(st.booleans())
        loyal = draw(st.booleans())
        record = CustomerRecord(
            customer_id=uuid.UUID(int=index + 1),
            gender=draw(st.none() | st.sampled_from(["female", "male"])),
            province=draw(st.none() | st.sampled_from(TEXTS)),
            city=draw(st.none() | st.sampled_from(TEXTS)),
            registration_channel=draw(st.none() | st.just("store")),
            device=draw(st.none() | st.sampled_from(["app", "web"])),
            birthday=draw(st.none() | st.sampled_from(BIRTHDAYS) | near_birthdays(now)),
            registered_at=draw(st.none() | at),
            timezone=draw(st.sampled_from(ZONES)),
            tags=tuple(
                draw(
                    st.lists(
                        st.builds(TagHolding, st.sampled_from(TAGS), st.none() | at),
                        max_size=2,
                        unique_by=lambda holding: holding.tag_id,
                    )
                )
            ),
            consents=draw(st.dictionaries(st.sampled_from(CONSENT_KEYS), st.booleans(), max_size=2)),
            rfm_r=draw(st.integers(1, 5)) if scored and draw(st.booleans()) else None,
            rfm_f=draw(st.integers(1, 5)) if scored and draw(st.booleans()) else None,
            rfm_m=draw(st.integers(1, 5)) if scored else None,
            rfm_group=draw(st.none() | st.sampled_from(["core_value", "lost"])) if scored else None,
            lifecycle_stage=draw(st.sampled_from(["growth", "churned"])) if scored else None,
            engagement=draw(st.sampled_from([0.0, 0.5, 1.5, 3.0])) if scored else None,
            last_seen_at=draw(st.none() | at) if scored else None,
            p_alive=draw(st.sampled_from([0.0, 0.25, 1.0])) if predicted else None,
            expected_purchases_30d=draw(st.sampled_from([0.0, 0.5, 2.0])) if predicted else None,
            expected_avg_spend_minor=draw(st.sampled_from([0, 1_000])) if predicted else None,
            clv_minor=draw(st.sampled_from([0, 50_000])) if predicted else None,
            loyalty_tier=draw(st.none() | st.sampled_from(["gold", "silver"])) if loyal else None,
            loyalty_points=draw(st.none() | st.sampled_from([0, 100, 500])) if loyal else None,
            orders=tuple(order_list),
            refunds=tuple(refund for group in refund_list for refund in group),
            events=tuple(
                draw(
                    st.lists(
                        st.builds(
                            BehaviourFact, st.sampled_from(EVENT_TYPES), at, st.sampled_from(PROPERTIES)
                        ),
                        max_size=5,
                    )
                )
            ),
        )
        found.append((record, draw(st.sampled_from([LIVE, LIVE, LIVE, MERGED, ERASED]))))
    return found


def refunds_by_order(record: CustomerRecord) -> list[tuple[OrderFact, list[RefundFact]]]:
    """Re-pair the record's refunds with their orders (``histories`` lists them in order)."""
    pending = list(record.refunds)
    paired = []
    for order in record.orders:
        mine: list[RefundFact] = []
        while pending and sum(r.amount_minor for r in mine) < order.refunded_minor:
            mine.append(pending.pop(0))
        paired.append((order, mine))
    return paired


async def insert_tenant(connection: AsyncConnection, tenant_id: uuid.UUID, zone: str) -> None:
    await connection.execute(
        sa.insert(tenants).values(
            tenant_id=tenant_id, name="t", timezone=zone, currency="CNY", default_region="CN"
        )
    )


async def insert_histories(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    histories: Sequence[tuple[CustomerRecord, str]],
    now: datetime,
) -> None:
    """Write the histories as the audience projection keeps them: one multi-row INSERT per table."""
    rows: dict[sa.Table, list[dict[str, Any]]] = {table: [] for table in _TABLES}
    for number, (record, status) in enumerate(histories):
        who = {"tenant_id": tenant_id, "customer_id": record.customer_id}
        rows[customers].append(
            {
                **who,
                "created_at": now - timedelta(days=400),
                "gender": record.gender,
                "province": record.province,
                "city": record.city,
                "registration_channel": record.registration_channel,
                "device": record.device,
                "birthday": record.birthday,
                "registered_at": record.registered_at,
                "timezone": record.timezone,
                "merged_into": uuid.uuid4() if status == MERGED else None,
                "erased_at": now if status == ERASED else None,
            }
        )
        rows[audience_tags] += [{**who, "tag_id": t.tag_id, "expires_at": t.expires_at} for t in record.tags]
        rows[audience_consents] += [
            {**who, "channel": channel, "purpose": purpose, "granted": granted, "changed_at": now}
            for (channel, purpose), granted in record.consents.items()
        ]
        if record.lifecycle_stage is not None:
            rows[customer_scores].append(
                {
                    **who,
                    "as_of": now.date(),
                    "order_count": 0,
                    "net_spend_minor": 0,
                    "last_activity": {},
                    "activity_counts": {},
                    "r": record.rfm_r,
                    "f": record.rfm_f,
                    "m": record.rfm_m,
                    "rfm_group": record.rfm_group,
                    "stage": record.lifecycle_stage,
                    "stage_reason": "",
                    "engagement": record.engagement,
                    "last_seen_at": record.last_seen_at,
                }
            )
        if record.p_alive is not None:
            rows[predictions].append(
                {
                    **who,
                    "as_of": now.date(),
                    "p_alive": record.p_alive,
                    "expected_purchases_30d": record.expected_purchases_30d,
                    "expected_avg_spend_minor": record.expected_avg_spend_minor,
                    "clv_minor": record.clv_minor,
                }
            )
        if record.loyalty_tier is not None or record.loyalty_points is not None:
            rows[audience_loyalty].append(
                {**who, "tier": record.loyalty_tier, "points": record.loyalty_points, "updated_at": now}
            )
        for index, (order, refunds) in enumerate(refunds_by_order(record)):
            order_id = f"{number}-{index}"
            rows[orders].append(
                {
                    **who,
                    "order_id": order_id,
                    "paid_at": order.paid_at,
                    "currency": "CNY",
                    "amount_minor": order.amount_minor,
                    "refunded_minor": order.refunded_minor,
                }
            )
            rows[order_refunds] += [
                {
                    "tenant_id": tenant_id,
                    "order_id": order_id,
                    "refund_id": f"r{position}",
                    "amount_minor": refund.amount_minor,
                    "refunded_at": refund.refunded_at,
                    "reason": refund.reason,
                }
                for position, refund in enumerate(refunds)
            ]
        rows[behaviour_events] += [
            {
                **who,
                "event_id": f"{number}-{index}",
                "event_type": event.type,
                "occurred_at": event.occurred_at,
                "properties": dict(event.properties),
            }
            for index, event in enumerate(record.events)
        ]
    for table, table_rows in rows.items():
        if table_rows:
            await connection.execute(sa.insert(table).values(table_rows))


_TABLES = (
    customers,
    audience_tags,
    audience_consents,
    customer_scores,
    predictions,
    audience_loyalty,
    orders,
    order_refunds,
    behaviour_events,
)

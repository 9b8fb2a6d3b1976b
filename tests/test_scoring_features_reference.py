"""Property: the features SQL equals a plain Python reading of the rules in docs/scoring.md.

The batch features are set-based aggregates written for speed (the last gap from the last order
time and the one before it, top picks as maximum-then-smallest, order hours counted per customer),
so this checks them against the obvious per-customer computation on facts written straight into
scoring's tables: orders at few distinct instants (ties in ``paid_at``), refunds partial and full,
orders after ``as_of``, items with empty or missing categories and brands, behaviour hours.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtime.database import Database, create_engine
from services.scoring.store.batch import BatchSession

ZONE = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 1, 10)
END = datetime(2026, 1, 11, tzinfo=ZONE)
CUSTOMERS = 2

item = st.tuples(
    st.sampled_from(["a", "b", "", None]),
    st.sampled_from(["x", "y", "", None]),
    st.integers(1, 1000),
    st.integers(1, 3),
)
order = st.fixed_dictionaries(
    {
        "customer": st.integers(0, CUSTOMERS - 1),
        "at": st.builds(
            lambda day, hour: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=hour),
            st.integers(0, 11),
            st.sampled_from([0, 5, 15, 23]),
        ),
        "amount": st.integers(100, 10_000),
        "refund": st.sampled_from(["none", "part", "full"]),
        "coupon": st.booleans(),
        "items": st.lists(item, max_size=3),
    }
)
hours = st.lists(st.tuples(st.integers(0, CUSTOMERS - 1), st.integers(0, 23), st.integers(1, 3)), max_size=4)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86_400


def _top(counts: Counter[Any]) -> Any:
    if not counts:
        return None
    best = max(counts.values())
    return min(key for key, n in counts.items() if n == best)


def _reference(
    orders: list[dict[str, Any]], activity: list[tuple[int, int, int]]
) -> dict[int, tuple[Any, ...]]:
    expected = {}
    for customer in range(CUSTOMERS):
        counted = sorted(
            (o for o in orders if o["customer"] == customer and o["at"] < END and o["refund"] != "full"),
            key=lambda o: (o["at"], o["id"]),
        )
        times = [o["at"] for o in counted]
        mean_gap = _days(times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None
        last_gap = _days(times[-1] - times[-2]) if len(times) > 1 else None
        lines = [line for o in counted for line in o["items"]]
        categories: Counter[str] = Counter()
        brands: Counter[str] = Counter()
        for category, brand, _, quantity in lines:
            if category:
                categories[category] += quantity
            if brand:
                brands[brand] += quantity
        quantity = sum(line[3] for line in lines)
        price = None
        if lines:
            price = floor(Fraction(sum(line[2] * line[3] for line in lines), quantity) + Fraction(1, 2))
        coupon = sum(o["coupon"] for o in counted) / len(counted) if counted else None
        hour_counts = Counter(o["at"].astimezone(ZONE).hour for o in counted)
        for who, hour, events in activity:
            if who == customer:
                hour_counts[hour] += events
        tops = (_top(categories), _top(brands), price, coupon, _top(hour_counts))
        expected[customer] = (len(counted), mean_gap, last_gap, *tops)
    return expected


async def _example(
    database: Database, orders: list[dict[str, Any]], activity: list[tuple[int, int, int]]
) -> None:
    tenant = uuid.uuid4()
    customers = [uuid.uuid4() for _ in range(CUSTOMERS)]
    for number, o in enumerate(orders):
        o["id"] = f"o{number:03d}"
    async with database.transaction() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, name, timezone, currency, default_region) "
                "VALUES (:t, 'f', 'Asia/Shanghai', 'CNY', 'CN')"
            ),
            {"t": tenant},
        )
        for customer in customers:
            await connection.execute(
                sa.text("INSERT INTO customers (tenant_id, customer_id, created_at) VALUES (:t, :c, :at)"),
                {"t": tenant, "c": customer, "at": datetime(2025, 1, 1, tzinfo=UTC)},
            )
        for o in orders:
            refunded = {"none": 0, "part": o["amount"] // 2, "full": o["amount"]}[o["refund"]]
            values = {"t": tenant, "o": o["id"], "c": customers[o["customer"]], "at": o["at"]}
            await connection.execute(
                sa.text(
                    "INSERT INTO orders (tenant_id, order_id, customer_id, paid_at, currency, amount_minor,"
                    " refunded_minor) VALUES (:t, :o, :c, :at, 'CNY', :amount, :refunded)"
                ),
                {**values, "amount": o["amount"], "refunded": refunded},
            )
            await connection.execute(
                sa.text(
                    "INSERT INTO order_extras (tenant_id, order_id, coupon_used) VALUES (:t, :o, :coupon)"
                ),
                {"t": tenant, "o": o["id"], "coupon": o["coupon"]},
            )
            for line, (category, brand, price, quantity) in enumerate(o["items"]):
                await connection.execute(
                    sa.text(
                        "INSERT INTO order_items (tenant_id, order_id, line, category, brand,"
                        " unit_price_minor, quantity)"
                        " VALUES (:t, :o, :line, :category, :brand, :price, :quantity)"
                    ),
                    {"t": tenant, "o": o["id"], "line": line, "category": category, "brand": brand}
                    | {"price": price, "quantity": quantity},
                )
        for who, hour, events in activity:
            await connection.execute(
                sa.text(
                    "INSERT INTO activity_hours AS h (tenant_id, customer_id, hour, events)"
                    " VALUES (:t, :c, :h, :n) ON CONFLICT (tenant_id, customer_id, hour)"
                    " DO UPDATE SET events = h.events + EXCLUDED.events"
                ),
                {"t": tenant, "c": customers[who], "h": hour, "n": events},
            )
    async with BatchSession.open(database, tenant, AS_OF) as batch:
        await batch.snapshot_features()
        rows = (
            await batch.connection.execute(
                sa.text(
                    "SELECT customer_id, order_count, mean_gap_days, last_gap_days, top_category, top_brand,"
                    " avg_unit_price_minor, coupon_share, active_hour FROM run_features"
                )
            )
        ).all()
    found = {customers.index(row[0]): tuple(row[1:]) for row in rows}
    expected = _reference(orders, activity)

    def close(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(round(v, 9) if isinstance(v, float) else v for v in values)

    assert {k: close(v) for k, v in found.items()} == {k: close(v) for k, v in expected.items()}


async def test_features_equal_the_reference(database_urls: dict[str, str]) -> None:
    database = Database(create_engine(database_urls["scoring"], application_name="scoring-features"))
    loop = asyncio.get_running_loop()

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(orders=st.lists(order, max_size=8), activity=hours)
    def check(orders: list[dict[str, Any]], activity: list[tuple[int, int, int]]) -> None:
        asyncio.run_coroutine_threadsafe(_example(database, orders, activity), loop).result()

    try:
        await asyncio.to_thread(check)
    finally:
        await database.dispose()

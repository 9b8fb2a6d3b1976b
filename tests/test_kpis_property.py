"""Property: for any history written through the gateway — customers, orders in the tenant's currency
and another, partial and full refunds, behaviour and survey answers (valid or not), merges,
erasures, coupons issued and redeemed — every KPI of `GET /v1/kpis` (this period, the previous one,
the daily series) and every cohort of `GET /v1/kpis/retention` equals a plain-Python reading of
docs/kpis.md over that history, in the tenant's time zone.

Real services and the real gateway; each example is a fresh tenant. Examples are kept small (three
customers, at most ten steps) so that the whole property runs in well under a minute.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import create_tenant
from tests.kpi_support import behave, identify, kpis, local_instant, pay, refund, settled, today_in

CUSTOMERS = 3
PERIOD_DAYS = 21
ZONES = ["Asia/Shanghai", "America/New_York", "UTC"]
ANSWERS: list[dict[str, Any]] = [
    {"survey": "nps", "score": 10},
    {"survey": "nps", "score": 8},
    {"survey": "nps", "score": 2},
    {"survey": "csat", "score": 5},
    {"survey": "csat", "score": 3},
    {"survey": "csat", "score": 4.0},
    {"survey": "nps", "score": 12},
    {"survey": "csat", "score": "5"},
    {"score": 9},
]

step = st.one_of(
    st.tuples(
        st.just("order"),
        st.integers(0, CUSTOMERS - 1),
        st.integers(1, 2 * PERIOD_DAYS + 3),
        st.integers(0, 23),
        st.integers(100, 30_000),
        st.sampled_from(["CNY", "CNY", "USD"]),
    ),
    st.tuples(st.just("refund"), st.integers(0, 9), st.booleans()),
    st.tuples(
        st.just("event"),
        st.integers(0, CUSTOMERS - 1),
        st.sampled_from(["view", "survey_response"]),
        st.integers(1, 2 * PERIOD_DAYS + 3),
        st.integers(0, 23),
        st.integers(0, len(ANSWERS) - 1),
    ),
    st.tuples(st.just("merge"), st.integers(0, CUSTOMERS - 1), st.integers(0, CUSTOMERS - 1)),
    st.tuples(st.just("erase"), st.integers(0, CUSTOMERS - 1)),
    st.tuples(st.just("coupon"), st.integers(0, CUSTOMERS - 1), st.booleans()),
)


@dataclass
class Order:
    order_id: str
    owner: str
    day: date
    currency: str
    amount: int
    refunded: int = 0


@dataclass
class History:
    """What was written, as a plain model: who became whom, and every fact with its local day."""

    today: date
    survivor: dict[str, str | None] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    events: list[tuple[str, date, tuple[str, int] | None]] = field(default_factory=list)
    coupons: list[bool] = field(default_factory=list)  # redeemed?
    erased_points: int = 0

    def live(self, customer: str) -> str | None:
        seen: str | None = customer
        while seen is not None and self.survivor.get(seen) != seen:
            seen = self.survivor.get(seen)
        return seen

    def customers(self) -> set[str]:
        return {c for c in self.survivor if self.survivor[c] == c}


def answer_of(properties: dict[str, Any]) -> tuple[str, int] | None:
    """The survey rule of docs/kpis.md, written again in plain Python."""
    survey, score = properties.get("survey"), properties.get("score")
    ranges = {"nps": (0, 10), "csat": (1, 5)}
    if survey not in ranges or isinstance(score, bool) or not isinstance(score, int | float):
        return None
    if score != int(score):
        return None
    low, high = ranges[survey]
    return (survey, int(score)) if low <= score <= high else None


def half_up(total: int, count: int) -> int | None:
    return None if count == 0 else (2 * total + count) // (2 * count)


def expected(history: History, first: date, last: date, currency: str) -> dict[str, Any]:
    """Every figure of one period, from the model alone (docs/kpis.md)."""

    def within(day: date, start: date = first) -> bool:
        return start <= day <= last

    orders = [(o, owner) for o in history.orders if (owner := history.live(o.owner)) is not None]
    counted = [(o, owner) for o, owner in orders if o.refunded < o.amount]
    active: set[tuple[str, date]] = {(owner, o.day) for o, owner in orders}
    answers = []
    for who, day, answer in history.events:
        owner = history.live(who)
        if owner is not None:
            active.add((owner, day))
            if answer is not None and within(day):
                answers.append(answer)
    in_period = [(o, owner) for o, owner in counted if within(o.day)]
    money = [o for o, _ in in_period if o.currency == currency]
    per_buyer: dict[str, int] = {}
    for _, owner in in_period:
        per_buyer[owner] = per_buyer.get(owner, 0) + 1
    firsts: dict[str, date] = {}
    for o, owner in counted:
        firsts[owner] = min(firsts.get(owner, o.day), o.day)
    revenue = sum(o.amount - o.refunded for o in money)
    lifetime = sum(o.amount - o.refunded for o, _ in orders if o.currency == currency and o.day <= last)
    active_customers = {c for c, day in active if within(day)}
    customers = len(history.customers()) if history.today <= last else 0
    nps = [score for survey, score in answers if survey == "nps"]
    csat = [score for survey, score in answers if survey == "csat"]
    promoters, detractors = sum(s >= 9 for s in nps), sum(s <= 6 for s in nps)
    buyers, repeaters = len(per_buyer), sum(n >= 2 for n in per_buyer.values())
    lifetime_buyers = sum(day <= last for day in firsts.values())
    coupons_here = within(history.today)
    issued = len(history.coupons) if coupons_here else 0
    redeemed = sum(history.coupons) if coupons_here else 0
    return {
        "customers": customers,
        "new_customers": customers if within(history.today) else 0,
        "active_customers": len(active_customers),
        "active_share": len(active_customers) / customers if customers else None,
        "dau": sum(within(day) for _, day in active) / ((last - first).days + 1),
        "wau": len({c for c, day in active if within(day, last - timedelta(days=6))}),
        "mau": len({c for c, day in active if within(day, last - timedelta(days=29))}),
        "orders": len(in_period),
        "revenue_minor": revenue,
        "refunds_minor": sum(o.refunded for o, _ in orders if within(o.day) and o.currency == currency),
        "aov_minor": half_up(revenue, len(money)),
        "arpu_minor": half_up(revenue, len(active_customers)),
        "arppu_minor": half_up(revenue, buyers),
        "buyers": buyers,
        "repeat_buyers": repeaters,
        "repurchase_rate": repeaters / buyers if buyers else None,
        "new_buyers": sum(within(day) for day in firsts.values()),
        "ltv_minor": half_up(lifetime, lifetime_buyers),
        "lifetime_buyers": lifetime_buyers,
        "nps": 100 * (promoters - detractors) / len(nps) if nps else None,
        "nps_responses": len(nps),
        "csat": 100 * sum(s >= 4 for s in csat) / len(csat) if csat else None,
        "csat_average": sum(csat) / len(csat) if csat else None,
        "csat_responses": len(csat),
        "coupons_issued": issued,
        "coupons_redeemed": redeemed,
        "coupon_redemption_rate": redeemed / issued if issued else None,
        "coupon_redemptions": redeemed,
        "coupon_discount_minor": 500 * redeemed,
    }


def expected_series(history: History, first: date, last: date, currency: str) -> list[dict[str, Any]]:
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        figures = expected(history, day, day, currency)
        days.append(
            {
                "date": day.isoformat(),
                "active_customers": figures["active_customers"],
                "new_customers": figures["new_customers"],
                "new_buyers": figures["new_buyers"],
                "wau": figures["wau"],
                "mau": figures["mau"],
                "orders": figures["orders"],
                "revenue_minor": figures["revenue_minor"],
                "refunds_minor": figures["refunds_minor"],
            }
        )
    return days


def expected_cohorts(history: History, first: date, last: date) -> list[dict[str, Any]]:
    """Weekly cohorts of first counted orders in first..last, and who ordered again in each later week."""

    def monday(day: date) -> date:
        return day - timedelta(days=day.weekday())

    counted = [(o, history.live(o.owner)) for o in history.orders if o.refunded < o.amount]
    days: dict[str, list[date]] = {}
    for o, owner in counted:
        if owner is not None:
            days.setdefault(owner, []).append(o.day)
    cohorts: dict[date, list[str]] = {}
    for owner, bought in days.items():
        if first <= min(bought) <= last:
            cohorts.setdefault(monday(min(bought)), []).append(owner)
    answer = []
    for start in sorted(cohorts):
        members, periods, week, offset = cohorts[start], [], start + timedelta(days=7), 1
        while week <= last:
            again = sum(any(monday(d) == week and d <= last for d in days[m]) for m in members)
            periods.append(
                {
                    "offset": offset,
                    "start": week.isoformat(),
                    "customers": again,
                    "rate": again / len(members),
                    "complete": week + timedelta(days=6) <= last,
                }
            )
            week, offset = week + timedelta(days=7), offset + 1
        whole = start >= first and start + timedelta(days=6) <= last
        answer.append(
            {"start": start.isoformat(), "customers": len(members), "complete": whole, "periods": periods}
        )
    return answer


async def _write(
    api: httpx.AsyncClient, urls: dict[str, str], zone: str, steps: list[tuple[Any, ...]]
) -> tuple[Any, History]:
    shop = await create_tenant(api, "KPI property", timezone=zone)
    history = History(today=today_in(zone))
    ids = [await identify(api, shop, f"p-{n}") for n in range(CUSTOMERS)]
    history.survivor = {c: c for c in ids}
    template = (
        await api.post(
            "/v1/coupon-templates",
            json={"kind": "no_threshold", "discount_minor": 500, "valid_days": 30, "per_customer_limit": 20},
            headers=shop.headers,
        )
    ).json()["template_id"]
    for n, move in enumerate(steps):
        kind = move[0]
        if kind == "order" and (who := history.live(ids[move[1]])):
            _, _, days, hour, amount, currency = move
            day = history.today - timedelta(days=days)
            order = Order(f"P{n}", who, day, currency, amount)
            await pay(api, shop, who, order.order_id, local_instant(day, hour, zone), amount, currency)
            history.orders.append(order)
        elif kind == "refund" and history.orders:
            order = history.orders[move[1] % len(history.orders)]
            left = order.amount - order.refunded
            if left > 0 and history.live(order.owner):
                amount = left if move[2] else max(1, left // 2)
                await refund(api, shop, order.order_id, f"R{n}", amount)
                order.refunded += amount
        elif kind == "event" and (who := history.live(ids[move[1]])):
            _, _, event_type, days, hour, index = move
            day = history.today - timedelta(days=days)
            properties = ANSWERS[index] if event_type == "survey_response" else None
            await behave(api, shop, who, f"E{n}", event_type, local_instant(day, hour, zone), properties)
            history.events.append((who, day, answer_of(properties) if properties else None))
        elif kind == "merge":
            keep, fold = history.live(ids[move[1]]), history.live(ids[move[2]])
            if keep and fold and keep != fold:
                response = await api.post(
                    f"/v1/customers/{keep}/merge", json={"other_customer_id": fold}, headers=shop.headers
                )
                assert response.status_code == 200, response.text
                history.survivor[fold] = keep
        elif kind == "erase" and (who := history.live(ids[move[1]])):
            await settled(urls, shop.tenant_id)  # its points stay in the liability: read them first
            points = await api.get(f"/v1/customers/{who}/points", headers=shop.headers)
            history.erased_points += points.json()["balance"]
            assert (await api.delete(f"/v1/customers/{who}", headers=shop.headers)).status_code in (
                200,
                202,
                204,
            )
            history.survivor[who] = None
        elif kind == "coupon" and (who := history.live(ids[move[1]])):
            issued = await api.post(
                f"/v1/customers/{who}/coupons", json={"template_id": template}, headers=shop.headers
            )
            assert issued.status_code == 201, issued.text
            if move[2]:
                body = {"order_id": f"C{n}", "amount_minor": 10_000}
                redeemed = await api.post(
                    f"/v1/coupons/{issued.json()['code']}/redeem", json=body, headers=shop.headers
                )
                assert redeemed.status_code == 200, redeemed.text
            history.coupons.append(move[2])
    await settled(urls, shop.tenant_id)
    return shop, history


async def _example(
    api: httpx.AsyncClient, urls: dict[str, str], zone: str, steps: list[tuple[Any, ...]]
) -> None:
    shop, history = await _write(api, urls, zone, steps)
    last = history.today
    first = last - timedelta(days=PERIOD_DAYS - 1)
    answer = await kpis(api, shop, first, last)
    balances = [
        (await api.get(f"/v1/customers/{c}/points", headers=shop.headers)).json()["balance"]
        for c in sorted(history.customers())
    ]
    want = {
        **expected(history, first, last, "CNY"),
        "points_liability": sum(balances) + history.erased_points,
    }
    assert {k: answer[k] for k in want} == want
    before = first - timedelta(days=PERIOD_DAYS)
    want_before = {**expected(history, before, first - timedelta(days=1), "CNY"), "points_liability": 0}
    assert {k: answer["previous"][k] for k in want_before} == want_before
    assert answer["series"] == expected_series(history, first, last, "CNY")
    assert answer["unavailable"] == []
    cohorts_from = last - timedelta(days=2 * PERIOD_DAYS + 3)
    retention = await api.get(
        "/v1/kpis/retention",
        params={"cohort": "week", "from": cohorts_from.isoformat(), "to": last.isoformat()},
        headers=shop.headers,
    )
    assert retention.status_code == 200, retention.text
    assert retention.json()["cohorts"] == expected_cohorts(history, cohorts_from, last)
    # ending before today: orders after the end count in no period, not even the end's own week
    earlier = last - timedelta(days=3)
    retention = await api.get(
        "/v1/kpis/retention",
        params={"cohort": "week", "from": cohorts_from.isoformat(), "to": earlier.isoformat()},
        headers=shop.headers,
    )
    assert retention.status_code == 200, retention.text
    assert retention.json()["cohorts"] == expected_cohorts(history, cohorts_from, earlier)


async def test_every_kpi_equals_a_plain_reading_of_the_history(
    api: httpx.AsyncClient, database_urls: dict[str, str]
) -> None:
    loop = asyncio.get_running_loop()

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @example(
        zone="America/New_York",
        steps=[
            ("order", 0, 2, 23, 5_000, "CNY"),
            ("order", 1, 9, 1, 7_000, "CNY"),
            ("order", 1, 30, 12, 2_000, "USD"),
            ("refund", 0, False),
            ("refund", 1, True),
            ("event", 2, "survey_response", 3, 10, 0),
            ("event", 2, "survey_response", 3, 11, 2),
            ("event", 0, "survey_response", 25, 11, 3),
            ("event", 0, "survey_response", 4, 9, 4),
            ("event", 1, "survey_response", 5, 9, 5),
            ("event", 1, "survey_response", 5, 9, 7),
            ("merge", 0, 2),
            ("coupon", 1, True),
            ("erase", 1),
        ],
    )
    # a cohort member's order after the retention's early end, in the end's own week (on any day but a
    # Wednesday, when two days ago opens a week of its own)
    @example(
        zone="Asia/Shanghai", steps=[("order", 0, 10, 12, 5_000, "CNY"), ("order", 0, 2, 12, 3_000, "CNY")]
    )
    @given(zone=st.sampled_from(ZONES), steps=st.lists(step, min_size=1, max_size=10))
    def check(zone: str, steps: list[tuple[Any, ...]]) -> None:
        asyncio.run_coroutine_threadsafe(_example(api, database_urls, zone, steps), loop).result()

    await asyncio.to_thread(check)

"""The KPI APIs through the gateway on the real services: one known history and every figure of it
(docs/kpis.md), the previous period and the series, the cohorts, the checks of from/to/cohort, a
service that is down, and tenancy."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from gateway.routers.kpis import DEADLINE_SECONDS
from services.scoring.domain.kpis import period_start
from tests.conftest import TenantKey, create_tenant, gateway_client, gateway_settings
from tests.kpi_support import behave, identify, kpis, local_instant, pay, refund, settled, today_in
from tests.support import free_port

ZONE = "America/New_York"

# Every KPI path of the public API (tests/test_profile_tenancy.py checks the census covers all).
WALKED = {("get", "/v1/kpis"), ("get", "/v1/kpis/retention")}


async def _history(api: httpx.AsyncClient, shop: TenantKey, urls: dict[str, str]) -> dict[str, Any]:
    """Four customers: two buyers (one fully refunded order, one in yen), one who answers surveys,
    one who bought before the period; coupons issued to two, one redeemed."""
    d = today_in(ZONE)
    c1, c2, c3, c4 = [await identify(api, shop, f"kpi-{n}") for n in range(1, 5)]
    await pay(api, shop, c1, "O1", local_instant(d - timedelta(days=5), 10, ZONE), 10_000)
    # 23:17 in New York is the next day in UTC: the order counts on its local day
    await pay(api, shop, c1, "O2", local_instant(d - timedelta(days=3), 23, ZONE), 5_000)
    await refund(api, shop, "O2", "R1", 1_000)
    await pay(api, shop, c2, "O3", local_instant(d - timedelta(days=3), 9, ZONE), 20_000)
    await refund(api, shop, "O3", "R2", 20_000)
    await pay(api, shop, c2, "O4", local_instant(d - timedelta(days=2), 9, ZONE), 3_000, currency="JPY")
    await behave(api, shop, c3, "e1", "view", local_instant(d - timedelta(days=4), 8, ZONE))
    answers = [(4, "nps", 9), (2, "nps", 3), (1, "csat", 5), (1, "csat", 2), (1, "nps", 11)]
    for n, (days, survey, score) in enumerate(answers):
        at = local_instant(d - timedelta(days=days), 12, ZONE)
        await behave(api, shop, c3, f"s{n}", "survey_response", at, {"survey": survey, "score": score})
    await pay(api, shop, c4, "O5", local_instant(d - timedelta(days=40), 15, ZONE), 7_000)
    template = await api.post(
        "/v1/coupon-templates",
        json={"kind": "no_threshold", "discount_minor": 500, "valid_days": 30},
        headers=shop.headers,
    )
    assert template.status_code == 201, template.text
    codes = []
    for customer in (c1, c2):
        issued = await api.post(
            f"/v1/customers/{customer}/coupons",
            json={"template_id": template.json()["template_id"]},
            headers=shop.headers,
        )
        assert issued.status_code == 201, issued.text
        codes.append(issued.json()["code"])
    redeemed = await api.post(
        f"/v1/coupons/{codes[0]}/redeem",
        json={"order_id": "O9", "amount_minor": 10_000},
        headers=shop.headers,
    )
    assert redeemed.status_code == 200, redeemed.text
    await settled(urls, shop.tenant_id)
    return {"today": d, "customers": [c1, c2, c3, c4]}


async def test_every_figure_of_a_known_history(api: httpx.AsyncClient, database_urls: dict[str, str]) -> None:
    shop = await create_tenant(api, "KPI shop", timezone=ZONE)
    history = await _history(api, shop, database_urls)
    d: date = history["today"]
    balances = [
        (await api.get(f"/v1/customers/{c}/points", headers=shop.headers)).json()["balance"]
        for c in history["customers"]
    ]
    answer = await kpis(api, shop, d - timedelta(days=6), d)
    figures = {key: value for key, value in answer.items() if key not in ("previous", "series")}
    assert figures == {
        "from": (d - timedelta(days=6)).isoformat(),
        "to": d.isoformat(),
        "timezone": ZONE,
        "currency": "CNY",
        "customers": 4,
        "new_customers": 4,
        "active_customers": 3,
        "active_share": 0.75,
        "dau": 1.0,  # 7 active customer-days over 7 days
        "wau": 3,
        "mau": 3,
        "orders": 3,  # O1, O2, O4 (O3 was refunded in full)
        "revenue_minor": 14_000,  # 10,000 + 5,000 - 1,000; the yen order is not money
        "refunds_minor": 21_000,
        "aov_minor": 7_000,
        "arpu_minor": 4_667,
        "arppu_minor": 7_000,
        "buyers": 2,
        "repeat_buyers": 1,
        "repurchase_rate": 0.5,
        "new_buyers": 2,
        "ltv_minor": 7_000,  # 21,000 over 3 buyers to date
        "lifetime_buyers": 3,
        "nps": 0.0,
        "nps_responses": 2,
        "csat": 50.0,
        "csat_average": 3.5,
        "csat_responses": 2,
        "coupons_issued": 2,
        "coupons_redeemed": 1,
        "coupon_redemption_rate": 0.5,
        "coupon_redemptions": 1,
        "coupon_discount_minor": 500,
        "points_liability": sum(balances),
        "points_liability_value_minor": sum(balances),
        "campaigns": 0,
        "campaign_recipients": 0,
        "campaign_sent": 0,
        "campaign_conversions": 0,
        "campaign_conversion_rate": None,
        "campaign_orders": 0,
        "campaign_revenue_minor": 0,
        "campaign_coupon_cost_minor": 0,
        "campaign_incremental_revenue_minor": None,
        "campaign_roi": None,
        "unavailable": [],
    }
    assert sum(balances) > 0
    previous = answer["previous"]
    assert (previous["from"], previous["to"]) == (
        (d - timedelta(days=13)).isoformat(),
        (d - timedelta(days=7)).isoformat(),
    )
    assert (previous["customers"], previous["orders"], previous["active_customers"], previous["dau"]) == (
        0,
        0,
        0,
        0.0,
    )
    assert (previous["aov_minor"], previous["nps"], previous["repurchase_rate"]) == (None, None, None)
    assert (previous["lifetime_buyers"], previous["ltv_minor"]) == (1, 7_000)
    assert previous["points_liability"] == 0  # every point was booked today
    series = {day["date"]: day for day in answer["series"]}
    assert list(series) == [(d - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    assert series[(d - timedelta(days=3)).isoformat()] == {
        "date": (d - timedelta(days=3)).isoformat(),
        "active_customers": 2,
        "new_customers": 0,
        "new_buyers": 0,
        "wau": 3,
        "mau": 3,
        "orders": 1,
        "revenue_minor": 4_000,
        "refunds_minor": 21_000,
    }
    assert series[d.isoformat()]["new_customers"] == 4
    assert sum(day["new_buyers"] for day in series.values()) == 2
    assert sum(day["active_customers"] for day in series.values()) == 7

    month = await api.get(
        "/v1/kpis/retention",
        params={"cohort": "week", "from": (d - timedelta(days=60)).isoformat(), "to": d.isoformat()},
        headers=shop.headers,
    )
    assert month.status_code == 200, month.text
    cohorts = {c["start"]: c for c in month.json()["cohorts"]}
    first_weeks = {period_start(d - timedelta(days=n), "week") for n in (40, 5, 2)}
    assert set(cohorts) == {w.isoformat() for w in first_weeks}
    c1_week = period_start(d - timedelta(days=5), "week")
    again = period_start(d - timedelta(days=3), "week")
    if again > c1_week:  # c1's second order fell in the next week: half of that cohort (c1, c2) came back
        cohort = cohorts[c1_week.isoformat()]
        assert cohort["periods"][0]["start"] == again.isoformat()
        assert cohort["periods"][0]["customers"] == 1
    c4_cohort = cohorts[period_start(d - timedelta(days=40), "week").isoformat()]
    assert c4_cohort["customers"] == 1
    assert all(p["customers"] == 0 and p["rate"] == 0.0 for p in c4_cohort["periods"])
    assert [p["offset"] for p in c4_cohort["periods"]] == list(range(1, len(c4_cohort["periods"]) + 1))
    assert c4_cohort["periods"][-1]["start"] == period_start(d, "week").isoformat()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-01-31"}, "from"),
        ({"from": "2026-01-01"}, "to"),
        ({"from": "2026-1-1", "to": "2026-01-31"}, "from"),
        ({"from": "2026-01-01", "to": "31.01.2026"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-31"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 366 days is the most: this is 367
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "0001-01-01", "to": "2026-01-02"}, "from"),
        ({"from": "2026-01-01", "to": "9999-12-31"}, "to"),
    ],
)
async def test_a_bad_period_is_422_naming_the_field(
    api: httpx.AsyncClient, tenant: TenantKey, params: dict[str, str], field: str
) -> None:
    for path, extra in (("/v1/kpis", {}), ("/v1/kpis/retention", {"cohort": "month"})):
        response = await api.get(path, params={**params, **extra}, headers=tenant.headers)
        assert response.status_code == 422, response.text[:300]
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field], response.text[:300]
        assert response.json()["errors"][0]["message"] != "is invalid"


async def test_the_longest_period_and_the_cohort_kind(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    leap = await api.get(
        "/v1/kpis", params={"from": "2024-01-01", "to": "2024-12-31"}, headers=tenant.headers
    )
    assert leap.status_code == 200, leap.text  # 366 days
    assert len(leap.json()["series"]) == 366
    assert leap.json()["previous"]["from"] == "2022-12-31"  # 366 days before
    for cohort in ("day", "", "WEEK"):
        response = await api.get(
            "/v1/kpis/retention",
            params={"cohort": cohort, "from": "2026-01-01", "to": "2026-01-31"},
            headers=tenant.headers,
        )
        assert response.status_code == 422, response.text[:300]
        assert [e["field"] for e in response.json()["errors"]] == ["cohort"]
    missing = await api.get(
        "/v1/kpis/retention", params={"from": "2026-01-01", "to": "2026-01-31"}, headers=tenant.headers
    )
    assert [e["field"] for e in missing.json()["errors"]] == ["cohort"]


async def test_a_service_that_is_down_leaves_its_figures_null(
    services: dict[str, Any], tenant: TenantKey
) -> None:
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    addresses["notify"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    async with gateway_client(gateway_settings(addresses)) as api:
        answer = (
            await api.get(
                "/v1/kpis", params={"from": "2026-01-01", "to": "2026-01-07"}, headers=tenant.headers
            )
        ).json()
    assert answer["unavailable"] == [
        {"service": "notify", "period": "current", "code": "UNAVAILABLE"},
        {"service": "notify", "period": "previous", "code": "UNAVAILABLE"},
    ]
    assert answer["campaigns"] is None
    assert answer["previous"]["campaign_recipients"] is None
    assert (answer["orders"], answer["coupons_issued"]) == (0, 0)
    assert DEADLINE_SECONDS["notify"] < DEADLINE_SECONDS["scoring"]


async def test_when_every_service_is_down_the_answer_is_503(
    tenant: TenantKey, services: dict[str, Any]
) -> None:
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    for name in ("scoring", "loyalty", "notify"):
        addresses[name] = f"127.0.0.1:{free_port()}"
    async with gateway_client(gateway_settings(addresses)) as api:
        response = await api.get(
            "/v1/kpis", params={"from": "2026-01-01", "to": "2026-01-07"}, headers=tenant.headers
        )
        assert response.status_code == 503, response.text
        retention = await api.get(
            "/v1/kpis/retention",
            params={"cohort": "week", "from": "2026-01-01", "to": "2026-01-07"},
            headers=tenant.headers,
        )
        assert retention.status_code == 503, retention.text


async def test_another_tenant_sees_none_of_it(
    api: httpx.AsyncClient, database_urls: dict[str, str], other_tenant: TenantKey
) -> None:
    shop = await create_tenant(api, "KPI owner", timezone=ZONE)
    history = await _history(api, shop, database_urls)
    d: date = history["today"]
    mine = await kpis(api, shop, d - timedelta(days=60), d)
    theirs = await kpis(api, other_tenant, d - timedelta(days=60), d)
    assert mine["orders"] == 4
    zero = {k: v for k, v in theirs.items() if isinstance(v, int) and not isinstance(v, bool) and v != 0}
    assert zero == {}, zero
    assert all(day["orders"] == 0 and day["active_customers"] == 0 for day in theirs["series"])
    retention = await api.get(
        "/v1/kpis/retention",
        params={"cohort": "month", "from": (d - timedelta(days=60)).isoformat(), "to": d.isoformat()},
        headers=other_tenant.headers,
    )
    assert retention.json()["cohorts"] == []

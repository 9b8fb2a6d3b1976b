"""Journey triggers and what happens to instances as customers change, through the real services:
property filters, first and any paid order, refunds by reason, re-entry (never / after a duration on
the journeys' clock), goals, merges (the survivor carries on) and erasure (everything stops)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.notify.journey_clock import JourneyClock
from tests.conftest import TenantKey
from tests.journey_support import install_journey, instances, move_clock, query
from tests.test_journey_engine import add_to_cart, pay_now
from tests.test_notify_messages_api import customer, eventually

WAIT_LONG = [{"wait": "P30D"}]


def journey(trigger: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": f"j {uuid.uuid4().hex[:6]}", "trigger": trigger, "steps": WAIT_LONG, **fields}


async def someone(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    return await customer(api, tenant, f"c-{uuid.uuid4().hex[:8]}@shop.example")


async def entered(url: str, journey_id: str, count: int) -> list[dict[str, Any]]:
    return await eventually(lambda: instances(url, journey_id), lambda rows: len(rows) >= count)


async def test_event_filters_first_orders_and_refund_reasons_pick_who_enters(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    url = database_urls["notify"]
    tea = await install_journey(
        url, tenant.tenant_id, journey({"event": "add_to_cart", "where": {"sku": "TEA-1"}})
    )
    first = await install_journey(url, tenant.tenant_id, journey({"order": "paid", "first": True}))
    any_order = await install_journey(url, tenant.tenant_id, journey({"order": "paid"}, reentry="PT1H"))
    wrong_size = await install_journey(url, tenant.tenant_id, journey({"refund": {"reason": "尺寸不符"}}))
    any_refund = await install_journey(url, tenant.tenant_id, journey({"refund": {}}))
    buyer, other = await someone(api, tenant), await someone(api, tenant)
    await add_to_cart(api, tenant, buyer, sku="COFFEE-2")
    await add_to_cart(api, tenant, other, sku="TEA-1")
    order = await pay_now(api, tenant, buyer)
    await pay_now(api, tenant, buyer)
    refund = {"refund_id": "RF-1", "amount_minor": 2_000, "reason": "尺寸不符"}
    assert (await api.post(f"/v1/orders/{order}/refunds", json=refund, headers=tenant.headers)).is_success
    other_order = await pay_now(api, tenant, other)
    refund = {"refund_id": "RF-2", "amount_minor": 100, "reason": "不喜欢"}
    assert (
        await api.post(f"/v1/orders/{other_order}/refunds", json=refund, headers=tenant.headers)
    ).is_success
    # two customers' refunds travel on different partitions: the entries may come in either order
    refunded = sorted(str(r["customer_id"]) for r in await entered(url, any_refund, 2))
    assert refunded == sorted([buyer, other])
    assert [str(r["customer_id"]) for r in await instances(url, tea)] == [other]
    firsts = await instances(url, first)
    assert sorted(str(r["customer_id"]) for r in firsts) == sorted([buyer, other])
    assert firsts[0]["context"]["data"]["order_id"] in (order, other_order)
    assert [str(r["customer_id"]) for r in await instances(url, wrong_size)] == [buyer]
    assert (await instances(url, wrong_size))[0]["context"]["data"]["reason"] == "尺寸不符"
    # "any" order with re-entry after an hour: the second order came while the first run was live
    assert sorted(str(r["customer_id"]) for r in await instances(url, any_order)) == sorted([buyer, other])


async def test_reentry_never_and_after_a_duration_on_the_journeys_clock(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], journey_clock: Path
) -> None:
    url = database_urls["notify"]
    short = [{"wait": "PT1M"}]
    never = await install_journey(url, tenant.tenant_id, {**journey({"event": "view"}), "steps": short})
    hourly = await install_journey(
        url, tenant.tenant_id, {**journey({"event": "view"}), "steps": short, "reentry": "PT1H"}
    )
    shopper = await someone(api, tenant)

    marker = await install_journey(url, tenant.tenant_id, journey({"event": "view", "where": {"step": 3}}))

    async def view(step: int = 0) -> None:
        event = {
            "event_id": uuid.uuid4().hex,
            "customer_id": shopper,
            "type": "view",
            "occurred_at": datetime.now(UTC).isoformat(),
            "properties": {"step": step},
        }
        assert (await api.post("/v1/events", json={"events": [event]}, headers=tenant.headers)).is_success

    await view()
    await entered(url, never, 1)
    await entered(url, hourly, 1)
    await view()  # both live: nobody re-enters
    move_clock(journey_clock, 120)  # the one-minute waits pass: both runs complete
    await eventually(lambda: instances(url, hourly), lambda rows: rows[0]["status"] == "completed")
    await view(3)  # completed, but the hour since entry has not passed
    await entered(url, marker, 1)  # notify has consumed it before the clock moves on
    move_clock(journey_clock, 3600)
    await view()
    rows = await entered(url, hourly, 2)
    assert len(rows) == 2
    assert len(await instances(url, never)) == 1


async def test_goal_converts_merge_follows_the_survivor_erasure_stops(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    url = database_urls["notify"]
    carts = await install_journey(
        url, tenant.tenant_id, {**journey({"event": "add_to_cart"}), "goal": {"order": "paid"}}
    )
    buyer, folded, keeper, both = [await someone(api, tenant) for _ in range(4)]
    for person in (buyer, folded, both, keeper):
        await add_to_cart(api, tenant, person)
    await entered(url, carts, 4)
    await pay_now(api, tenant, buyer, 12_300)
    # folded's run moves to keeper only if keeper has none live: keeper has one, so folded's stops
    merged = await api.post(
        f"/v1/customers/{keeper}/merge", json={"other_customer_id": folded}, headers=tenant.headers
    )
    assert merged.status_code == 200, merged.text
    erased = await api.delete(f"/v1/customers/{both}", headers=tenant.headers)
    assert erased.is_success, erased.text
    rows = await eventually(
        lambda: instances(url, carts),
        lambda rows: sum(r["status"] != "active" for r in rows) == 3,
    )
    state = {
        str(r["customer_id"]): r for r in rows if r["status"] != "stopped" or r["end_reason"] != "merged"
    }
    assert state[buyer]["status"] == "converted"
    assert state[buyer]["revenue_minor"] == 12_300
    assert state[both]["status"] == "stopped"
    assert state[both]["end_reason"] == "erased"
    assert state[both]["context"] == {}
    stopped = [r for r in rows if r["end_reason"] == "merged"]
    assert [str(r["customer_id"]) for r in stopped] == [folded]
    assert state[keeper]["status"] == "active"
    live = await query(
        url,
        "SELECT customer_id FROM journey_entries WHERE journey_id = $1 AND live_instance_id IS NOT NULL",
        uuid.UUID(carts),
    )
    assert [str(r["customer_id"]) for r in live] == [keeper]


async def test_a_merged_customers_run_moves_to_a_survivor_without_one(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    url = database_urls["notify"]
    carts = await install_journey(url, tenant.tenant_id, journey({"event": "add_to_cart"}))
    folded, keeper = await someone(api, tenant), await someone(api, tenant)
    await add_to_cart(api, tenant, folded)
    await entered(url, carts, 1)
    merged = await api.post(
        f"/v1/customers/{keeper}/merge", json={"other_customer_id": folded}, headers=tenant.headers
    )
    assert merged.status_code == 200, merged.text
    rows = await eventually(lambda: instances(url, carts), lambda rows: str(rows[0]["customer_id"]) == keeper)
    assert rows[0]["status"] == "active"
    await add_to_cart(api, tenant, keeper)  # the survivor is inside already: no second run
    await add_to_cart(api, tenant, folded)
    assert len(await instances(url, carts)) == 1


async def test_a_birthday_three_days_away_enters_once_for_that_year(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], journey_clock: Path
) -> None:
    url = database_urls["notify"]
    birthdays = await install_journey(url, tenant.tenant_id, journey({"date": "birthday", "days_before": 3}))
    today = JourneyClock(str(journey_clock)).now()  # other tests moved the journeys' clock on
    soon = (today + timedelta(days=2)).date()
    later = (today + timedelta(days=20)).date()
    people = {}
    for label, day in (("soon", soon), ("later", later)):
        body = {
            "identities": [{"type": "email", "value": f"{label}-{uuid.uuid4().hex[:6]}@shop.example"}],
            "attributes": {"birthday": day.replace(year=1990).isoformat(), "timezone": "UTC"},
        }
        response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        people[label] = response.json()["customer_id"]
    rows = await entered(url, birthdays, 1)
    assert [str(r["customer_id"]) for r in rows] == [people["soon"]]
    assert rows[0]["entry_key"] == f"birthday:{soon.year}"
    assert rows[0]["context"]["data"]["occurrence"] == soon.isoformat()
    await asyncio.sleep(1.5)  # three more sweeps
    assert len(await instances(url, birthdays)) == 1

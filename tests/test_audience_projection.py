"""The audience projection through the real gateway and services: what a segment may test reaches
scoring's tables (attributes incl. the time zone, tags with expiry, consents, behaviour events with
their properties, refund reasons, loyalty's points and tier), merges move it and erasure removes it.

Scoring's database is read directly: the projection has no API of its own yet (segments read it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from tests.conftest import TenantKey
from tests.test_loyalty_api import new_customer, pay
from tests.test_tags import new_group, new_tag

WAIT_SECONDS = 20.0
T = TypeVar("T")


@pytest.fixture
async def scoring_db(database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_urls["scoring"])
    yield connection
    await connection.close()


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """``read()`` once ``done`` holds for it (the consumers apply events asynchronously)."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        seen = await read()
        if done(seen) or asyncio.get_running_loop().time() > deadline:
            return seen
        await asyncio.sleep(0.05)


async def customer_row(db: asyncpg.Connection, customer: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT gender, province, city, birthday, registered_at, timezone, registration_channel, device, "
        "merged_into, erased_at FROM customers WHERE customer_id = $1",
        uuid.UUID(customer),
    )
    return row


async def rows(db: asyncpg.Connection, table: str, customer: str) -> list[asyncpg.Record]:
    records: list[asyncpg.Record] = await db.fetch(
        f"SELECT * FROM {table} WHERE customer_id = $1",  # noqa: S608 - the tests' own table names
        uuid.UUID(customer),
    )
    return records


async def counts(db: asyncpg.Connection, customer: str) -> dict[str, int]:
    tables = ("audience_tags", "audience_consents", "audience_loyalty", "behaviour_events")
    return {table: len(await rows(db, table, customer)) for table in tables}


ATTRIBUTES = {
    "nickname": "Xiao Hong",
    "gender": "female",
    "birthday": "1990-02-28",
    "province": "Zhejiang",
    "city": "Hangzhou",
    "registered_at": "2025-05-01T08:00:00+00:00",
    "registration_channel": "douyin",
    "device": "app",
    "timezone": "Asia/Urumqi",
}


async def test_the_timezone_attribute_is_validated_stored_returned_and_exported(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    body: dict[str, Any] = {
        "identities": [{"type": "external_id", "value": f"tz-{uuid.uuid4().hex}"}],
        "attributes": {"timezone": "Mars/Olympus_Mons"},
    }
    bad = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert bad.status_code == 422, bad.text
    assert "attributes.timezone" in bad.text
    for odd in ("../../etc/passwd", " Asia/Shanghai", "", "/usr/share/zoneinfo/UTC"):
        body["attributes"] = {"timezone": odd}
        response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
        assert response.status_code == 422, (odd, response.text)
    body["attributes"] = {"timezone": "Asia/Shanghai"}
    customer = (await api.post("/v1/customers/identify", json=body, headers=tenant.headers)).json()
    shown = (await api.get(f"/v1/customers/{customer['customer_id']}", headers=tenant.headers)).json()
    assert shown["attributes"]["timezone"] == "Asia/Shanghai"
    export = (await api.get(f"/v1/customers/{customer['customer_id']}/export", headers=tenant.headers)).json()
    assert export["attributes"]["timezone"] == "Asia/Shanghai"  # profile's part
    patch = await api.patch(
        f"/v1/customers/{customer['customer_id']}",
        json={"attributes": {"timezone": "Nowhere/Land"}},
        headers=tenant.headers,
    )
    assert patch.status_code == 422
    assert "attributes.timezone" in patch.text


async def test_segment_attributes_reach_scoring_and_follow_updates(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_db: asyncpg.Connection
) -> None:
    customer = await new_customer(api, tenant, **ATTRIBUTES)
    row = await eventually(lambda: customer_row(scoring_db, customer), lambda r: r is not None)
    assert row is not None
    assert dict(row) == {
        "gender": "female",
        "province": "Zhejiang",
        "city": "Hangzhou",
        "birthday": date(1990, 2, 28),
        "registered_at": datetime(2025, 5, 1, 8, tzinfo=UTC),
        "timezone": "Asia/Urumqi",
        "registration_channel": "douyin",
        "device": "app",
        "merged_into": None,
        "erased_at": None,
    }
    # A PATCH that clears one attribute and sets another: the event carries them all.
    patch = await api.patch(
        f"/v1/customers/{customer}",
        json={"attributes": {"city": None, "timezone": "Asia/Shanghai"}},
        headers=tenant.headers,
    )
    assert patch.status_code == 200, patch.text
    row = await eventually(
        lambda: customer_row(scoring_db, customer),
        lambda r: r is not None and r["timezone"] == "Asia/Shanghai",
    )
    assert row is not None
    assert (row["city"], row["timezone"], row["province"]) == (None, "Asia/Shanghai", "Zhejiang")


async def test_tags_consents_events_and_refund_reasons_reach_scoring(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_db: asyncpg.Connection
) -> None:
    customer = await new_customer(api, tenant)
    group = (await new_group(api, tenant))["group_id"]
    lasting, expiring = await new_tag(api, tenant, group), await new_tag(api, tenant, group)
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    await api.put(f"/v1/customers/{customer}/tags/{lasting['tag_id']}", headers=tenant.headers)
    await api.put(
        f"/v1/customers/{customer}/tags/{expiring['tag_id']}",
        json={"expires_at": expires.isoformat()},
        headers=tenant.headers,
    )
    tags = await eventually(lambda: rows(scoring_db, "audience_tags", customer), lambda r: len(r) == 2)
    assert {(str(r["tag_id"]), r["expires_at"]) for r in tags} == {
        (lasting["tag_id"], None),
        (expiring["tag_id"], expires),
    }
    await api.delete(f"/v1/customers/{customer}/tags/{lasting['tag_id']}", headers=tenant.headers)
    tags = await eventually(lambda: rows(scoring_db, "audience_tags", customer), lambda r: len(r) == 1)
    assert [str(r["tag_id"]) for r in tags] == [expiring["tag_id"]]

    for granted in (True, False):
        body = {"channel": "sms", "purpose": "marketing", "granted": granted}
        assert (
            await api.put(f"/v1/customers/{customer}/consents", json=body, headers=tenant.headers)
        ).is_success
    consents = await eventually(
        lambda: rows(scoring_db, "audience_consents", customer), lambda r: len(r) == 1 and not r[0]["granted"]
    )
    assert [(r["channel"], r["purpose"], r["granted"]) for r in consents] == [("sms", "marketing", False)]

    at = (datetime.now(UTC) - timedelta(minutes=37)).replace(microsecond=123_000)
    event = {
        "event_id": f"cart-{uuid.uuid4().hex}",
        "customer_id": customer,
        "type": "add_to_cart",
        "occurred_at": at.isoformat(),
        "properties": {"sku": "TEA-1", "price_minor": 1999, "gift": True},
    }
    assert (await api.post("/v1/events", json={"events": [event]}, headers=tenant.headers)).is_success
    kept = await eventually(lambda: rows(scoring_db, "behaviour_events", customer), lambda r: len(r) == 1)
    assert (kept[0]["event_id"], kept[0]["event_type"], kept[0]["occurred_at"]) == (
        event["event_id"],
        "add_to_cart",
        at,
    )
    assert json.loads(kept[0]["properties"]) == event["properties"]

    order_id = await pay(api, tenant, customer, 10_000)
    refund = {"refund_id": "RF-1", "amount_minor": 2_000, "reason": "尺寸不符"}
    assert (await api.post(f"/v1/orders/{order_id}/refunds", json=refund, headers=tenant.headers)).is_success

    async def reasons() -> list[Any]:
        return [
            r["reason"]
            for r in await scoring_db.fetch("SELECT reason FROM order_refunds WHERE order_id = $1", order_id)
        ]

    assert await eventually(reasons, lambda r: r == ["尺寸不符"]) == ["尺寸不符"]


async def loyalty_row(db: asyncpg.Connection, customer: str) -> tuple[Any, Any] | None:
    row = await db.fetchrow(
        "SELECT tier, points FROM audience_loyalty WHERE customer_id = $1", uuid.UUID(customer)
    )
    return None if row is None else (row["tier"], row["points"])


async def test_points_and_tier_from_loyalty_reach_scoring(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_db: asyncpg.Connection
) -> None:
    customer = await new_customer(api, tenant)
    await pay(api, tenant, customer, 100_000)  # 1,000 points and the silver tier
    seen = await eventually(lambda: loyalty_row(scoring_db, customer), lambda r: r == ("silver", 1_000))
    assert seen == ("silver", 1_000)
    url = f"/v1/customers/{customer}/points/adjustments"
    assert (
        await api.post(url, json={"points": -250, "reason": "correction"}, headers=tenant.headers)
    ).is_success
    seen = await eventually(lambda: loyalty_row(scoring_db, customer), lambda r: r == ("silver", 750))
    assert seen == ("silver", 750)


async def test_a_merge_moves_every_audience_row_and_erasure_removes_them(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_db: asyncpg.Connection
) -> None:
    survivor = await new_customer(api, tenant, gender="male")
    merged = await new_customer(api, tenant, city="Ningbo", timezone="Asia/Shanghai")
    group = (await new_group(api, tenant))["group_id"]
    tag = await new_tag(api, tenant, group)
    await api.put(f"/v1/customers/{merged}/tags/{tag['tag_id']}", headers=tenant.headers)
    consent = {"channel": "email", "purpose": "marketing", "granted": True}
    await api.put(f"/v1/customers/{merged}/consents", json=consent, headers=tenant.headers)
    event = {
        "event_id": f"view-{uuid.uuid4().hex}",
        "customer_id": merged,
        "type": "view",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    await api.post("/v1/events", json={"events": [event]}, headers=tenant.headers)
    url = f"/v1/customers/{merged}/points/adjustments"
    await api.post(url, json={"points": 40, "reason": "goodwill"}, headers=tenant.headers)
    url = f"/v1/customers/{survivor}/points/adjustments"
    await api.post(url, json={"points": 2, "reason": "goodwill"}, headers=tenant.headers)
    everything = {"audience_tags": 1, "audience_consents": 1, "audience_loyalty": 1, "behaviour_events": 1}
    assert await eventually(lambda: counts(scoring_db, merged), lambda c: c == everything) == everything
    assert await eventually(lambda: loyalty_row(scoring_db, survivor), lambda r: r is not None and r[1] == 2)

    response = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": merged}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert await eventually(lambda: counts(scoring_db, survivor), lambda c: c == everything) == everything
    assert await counts(scoring_db, merged) == dict.fromkeys(everything, 0)
    assert (await loyalty_row(scoring_db, survivor) or (None, None))[1] == 42  # loyalty adds them up too
    row = await customer_row(scoring_db, survivor)
    assert row is not None
    assert (row["gender"], row["city"], row["timezone"]) == ("male", "Ningbo", "Asia/Shanghai")
    gone = await customer_row(scoring_db, merged)
    assert gone is not None
    assert gone["merged_into"] == uuid.UUID(survivor)
    assert gone["city"] is None

    assert (await api.delete(f"/v1/customers/{survivor}", headers=tenant.headers)).status_code == 200
    nothing = dict.fromkeys(everything, 0)
    assert await eventually(lambda: counts(scoring_db, survivor), lambda c: c == nothing) == nothing
    row = await eventually(
        lambda: customer_row(scoring_db, survivor), lambda r: r is not None and r["erased_at"] is not None
    )
    assert row is not None
    assert all(row[name] is None for name in ("gender", "city", "timezone", "province", "birthday"))

"""Saved segments through the real gateway and services: create with the evaluated count, list and
member pages, get, replace with and without a change of the condition (versions), delete (404 from
then on), a customer's segments (a merged-away id answers for its survivor), the daily sizes and
their snapshot, every 422 naming its field, a taken name 409, and another tenant's ids 404.

The customers' facts arrive through the API and are applied by scoring's consumers asynchronously,
so each test first waits for a preview to count them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from patron.events.v1 import envelope_pb2
from services.runtime.database import Database, create_engine
from services.scoring.store.saved_segments import take_size_snapshot
from tests.conftest import TenantKey
from tests.test_audience_projection import eventually
from tests.test_loyalty_api import new_customer
from tests.test_segment_preview_api import HANGZHOU_WOMEN, counted

WOMEN = {"field": "attributes.gender", "op": "eq", "value": "female"}
IN_HANGZHOU = {"field": "attributes.city", "op": "eq", "value": "Hangzhou"}


@pytest.fixture
async def scoring_database(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(create_engine(database_urls["scoring"], application_name="test", pool_size=1))
    yield database
    await database.dispose()


@pytest.fixture
async def scoring_outbox(database_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_urls["scoring"])
    yield connection
    await connection.close()


async def create(
    api: httpx.AsyncClient, tenant: TenantKey, name: str, condition: Any, **extra: Any
) -> httpx.Response:
    body = {"name": name, "condition": condition, **extra}
    return await api.post("/v1/segments", json=body, headers=tenant.headers)


async def created(api: httpx.AsyncClient, tenant: TenantKey, name: str, condition: Any) -> dict[str, Any]:
    response = await create(api, tenant, name, condition)
    assert response.status_code == 201, response.text
    segment: dict[str, Any] = response.json()
    return segment


async def get_json(api: httpx.AsyncClient, tenant: TenantKey, path: str) -> Any:
    response = await api.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def shoppers(api: httpx.AsyncClient, tenant: TenantKey) -> list[str]:
    """Three women of Hangzhou or Ningbo (sorted) among five customers, once scoring counts them."""
    women = [
        await new_customer(api, tenant, gender="female", city="Hangzhou"),
        await new_customer(api, tenant, gender="female", city="Ningbo"),
        await new_customer(api, tenant, gender="female", city="Hangzhou"),
    ]
    await new_customer(api, tenant, gender="male", city="Hangzhou")
    await new_customer(api, tenant, gender="female", city="Shanghai")
    await counted(api, tenant, HANGZHOU_WOMEN, 3)
    await counted(api, tenant, WOMEN, 4)
    return sorted(women)


async def announced(
    db: asyncpg.Connection, tenant: TenantKey, segment_id: str
) -> list[tuple[str, str, int, str]]:
    """The segment's events on scoring's outbox: (type, customer, version, cause), in append order."""
    rows = await db.fetch(
        "SELECT type, customer_id, envelope FROM outbox "
        "WHERE tenant_id = $1 AND type LIKE 'segment.%' ORDER BY id",
        uuid.UUID(tenant.tenant_id),
    )
    found = []
    for row in rows:
        envelope = envelope_pb2.EventEnvelope.FromString(row["envelope"])
        payload = envelope.segment_entered if row["type"] == "segment.entered" else envelope.segment_exited
        if payload.segment_id == segment_id:
            found.append((row["type"], str(row["customer_id"]), payload.version, payload.cause))
    return found


def fields_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["errors"]]


async def test_a_saved_segment_counts_its_members_and_pages_them(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    women = await shoppers(api, tenant)
    response = await create(api, tenant, "  Zhejiang women  ", HANGZHOU_WOMEN, description="for 双11")
    assert response.status_code == 201, response.text
    segment = response.json()
    assert segment["name"] == "Zhejiang women"
    assert segment["description"] == "for 双11"
    assert (segment["version"], segment["count"]) == (1, 3)
    assert segment["condition"] == HANGZHOU_WOMEN
    segment_id = segment["segment_id"]
    assert await get_json(api, tenant, f"/v1/segments/{segment_id}") == segment

    first = await get_json(api, tenant, f"/v1/segments/{segment_id}/members?limit=2")
    assert [m["customer_id"] for m in first["items"]] == women[:2]
    assert first["next_cursor"]
    rest = await get_json(
        api, tenant, f"/v1/segments/{segment_id}/members?limit=2&cursor={first['next_cursor']}"
    )
    assert [m["customer_id"] for m in rest["items"]] == women[2:]
    assert rest["next_cursor"] is None
    entered = [datetime.fromisoformat(m["entered_at"]) for m in first["items"] + rest["items"]]
    assert all(
        abs(moment - datetime.fromisoformat(segment["created_at"])) < timedelta(seconds=5)
        for moment in entered
    )

    mine = await get_json(api, tenant, f"/v1/customers/{women[0]}/segments")
    assert mine["items"] == [
        {"segment_id": segment_id, "name": "Zhejiang women", "entered_at": first["items"][0]["entered_at"]}
    ]
    outsider = await new_customer(api, tenant, gender="male")
    assert await get_json(api, tenant, f"/v1/customers/{outsider}/segments") == {"items": []}

    sizes = await get_json(api, tenant, f"/v1/segments/{segment_id}/sizes")
    assert len(sizes["items"]) == 1
    assert sizes["items"][0]["members"] == 3
    assert abs(date.fromisoformat(sizes["items"][0]["day"]) - datetime.now(UTC).date()) <= timedelta(days=1)


async def test_the_list_pages_live_segments_by_name_with_their_counts(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    await shoppers(api, tenant)
    names = ["b women", "a Hangzhou", "c everyone in Hangzhou"]
    for name, condition in zip(names, (WOMEN, HANGZHOU_WOMEN, IN_HANGZHOU), strict=True):
        await created(api, tenant, name, condition)
    first = await get_json(api, tenant, "/v1/segments?limit=2")
    assert [(s["name"], s["count"]) for s in first["items"]] == [("a Hangzhou", 3), ("b women", 4)]
    rest = await get_json(api, tenant, f"/v1/segments?limit=2&cursor={first['next_cursor']}")
    assert [(s["name"], s["count"]) for s in rest["items"]] == [("c everyone in Hangzhou", 3)]
    assert rest["next_cursor"] is None


async def test_a_replacement_makes_a_version_only_when_the_condition_changes(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_outbox: asyncpg.Connection
) -> None:
    women = await shoppers(api, tenant)
    segment = await created(api, tenant, "Hangzhou women", HANGZHOU_WOMEN)
    path = f"/v1/segments/{segment['segment_id']}"

    renamed = await api.put(
        path,
        json={"name": "Zhejiang women", "condition": HANGZHOU_WOMEN, "description": "d"},
        headers=tenant.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["version"], renamed.json()["count"]) == (
        "Zhejiang women",
        1,
        3,
    )
    assert datetime.fromisoformat(renamed.json()["updated_at"]) > datetime.fromisoformat(
        segment["updated_at"]
    )

    # the same condition written differently is the same canonical condition: no new version
    carts = {"event": "add_to_cart", "within": "P1W"}
    widened = await api.put(path, json={"name": "Women", "condition": WOMEN}, headers=tenant.headers)
    assert (widened.json()["version"], widened.json()["count"], widened.json()["description"]) == (2, 4, None)
    assert widened.json()["condition"] == WOMEN
    to_carts = await api.put(path, json={"name": "Carts", "condition": carts}, headers=tenant.headers)
    assert (to_carts.json()["version"], to_carts.json()["count"]) == (3, 0)
    assert to_carts.json()["condition"] == {"event": "add_to_cart", "within": "P7D"}
    same = {"event": "add_to_cart", "within": "PT168H", "min_count": 1}
    again = await api.put(path, json={"name": "Carts", "condition": same}, headers=tenant.headers)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 3
    assert again.json()["updated_at"] == to_carts.json()["updated_at"]  # nothing changed at all
    assert (await get_json(api, tenant, path))["version"] == 3

    # each change of membership announced once, with the version and the cause; a deletion none
    assert (await api.delete(path, headers=tenant.headers)).status_code == 204
    events = await announced(scoring_outbox, tenant, segment["segment_id"])
    assert sorted(events[:3]) == [("segment.entered", woman, 1, "saved") for woman in women]
    assert [(kind, version) for kind, _, version, _ in events[3:]] == [("segment.entered", 2)] + [
        ("segment.exited", 3)
    ] * 4
    assert events[3][1] not in women
    assert {customer for _, customer, _, _ in events[4:]} == {*women, events[3][1]}


async def test_a_deleted_segment_answers_404_everywhere_and_frees_its_name(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    women = await shoppers(api, tenant)
    segment = await created(api, tenant, "Hangzhou women", HANGZHOU_WOMEN)
    path = f"/v1/segments/{segment['segment_id']}"
    assert (await api.delete(path, headers=tenant.headers)).status_code == 204

    body = {"name": "x", "condition": WOMEN}
    for method, target in (
        ("get", path),
        ("put", path),
        ("delete", path),
        ("get", f"{path}/members"),
        ("get", f"{path}/sizes"),
    ):
        response = await api.request(
            method, target, json=body if method == "put" else None, headers=tenant.headers
        )
        assert response.status_code == 404, (method, target, response.text)
    assert await get_json(api, tenant, f"/v1/customers/{women[0]}/segments") == {"items": []}
    assert (await get_json(api, tenant, "/v1/segments"))["items"] == []

    reused = await created(api, tenant, "Hangzhou women", HANGZHOU_WOMEN)
    assert reused["segment_id"] != segment["segment_id"]
    assert (reused["version"], reused["count"]) == (1, 3)


async def test_a_taken_name_is_409_on_create_and_on_rename(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    await created(api, tenant, "Women", WOMEN)
    other = await created(api, tenant, "Hangzhou", IN_HANGZHOU)
    duplicate = await create(api, tenant, " Women ", HANGZHOU_WOMEN)
    assert duplicate.status_code == 409, duplicate.text
    rename = await api.put(
        f"/v1/segments/{other['segment_id']}",
        json={"name": "Women", "condition": IN_HANGZHOU},
        headers=tenant.headers,
    )
    assert rename.status_code == 409, rename.text
    assert (await get_json(api, tenant, f"/v1/segments/{other['segment_id']}"))["name"] == "Hangzhou"
    assert (await create(api, tenant, "women", WOMEN)).status_code == 201  # names are case-sensitive


async def test_faults_answer_422_naming_each_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    bad_op = {"all": [{"field": "attributes.gender", "op": "sounds_like", "value": "female"}]}
    assert fields_of(await create(api, tenant, "Bad", bad_op)) == ["condition.all[0].op"]
    together = await create(api, tenant, " \t ", bad_op, description="x" * 1001)
    assert sorted(fields_of(together)) == ["condition.all[0].op", "description", "name"]
    assert fields_of(await create(api, tenant, "x" * 101, WOMEN)) == ["name"]
    assert fields_of(await create(api, tenant, "line\nbreak", WOMEN)) == ["name"]
    assert fields_of(await create(api, tenant, "nul\x00", WOMEN)) == ["name"]
    assert fields_of(await create(api, tenant, "ok", {})) == ["condition"]
    assert fields_of(await api.post("/v1/segments", json={"name": "n"}, headers=tenant.headers)) == [
        "condition"
    ]

    segment = await created(api, tenant, "Women", WOMEN)
    path = f"/v1/segments/{segment['segment_id']}"
    put = await api.put(path, json={"name": "Women", "condition": bad_op}, headers=tenant.headers)
    assert fields_of(put) == ["condition.all[0].op"]
    assert (await get_json(api, tenant, path))["version"] == 1
    for query, field in (("limit=0", "limit"), ("limit=501", "limit"), ("cursor=nope", "cursor")):
        assert fields_of(await api.get(f"{path}/members?{query}", headers=tenant.headers)) == [field]
        assert fields_of(await api.get(f"/v1/segments?{query}", headers=tenant.headers)) == [field]
    for days in ("0", "367", "x"):
        assert fields_of(await api.get(f"{path}/sizes?days={days}", headers=tenant.headers)) == ["days"]
    for unknown in ("not-a-uuid", str(uuid.uuid4())):
        response = await api.get(f"/v1/segments/{unknown}", headers=tenant.headers)
        assert response.status_code == 404, response.text
        response = await api.get(f"/v1/customers/{unknown}/segments", headers=tenant.headers)
        assert response.status_code == 404, response.text


async def test_a_merged_away_id_answers_for_its_survivor(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    survivor = await new_customer(api, tenant, gender="female", city="Hangzhou")
    other = await new_customer(api, tenant)
    await counted(api, tenant, HANGZHOU_WOMEN, 1)
    segment = await created(api, tenant, "Hangzhou women", HANGZHOU_WOMEN)
    merged = await api.post(
        f"/v1/customers/{survivor}/merge", json={"other_customer_id": other}, headers=tenant.headers
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["customer_id"] == survivor

    answer = await eventually(
        lambda: get_json(api, tenant, f"/v1/customers/{other}/segments"), lambda seen: bool(seen["items"])
    )
    assert [item["segment_id"] for item in answer["items"]] == [segment["segment_id"]]


async def test_the_snapshot_keeps_one_size_a_day_oldest_first(
    api: httpx.AsyncClient, tenant: TenantKey, scoring_database: Database
) -> None:
    await shoppers(api, tenant)
    segment = await created(api, tenant, "Women", WOMEN)
    path = f"/v1/segments/{segment['segment_id']}/sizes"
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert await take_size_snapshot(scoring_database, yesterday) >= 1
    assert await take_size_snapshot(scoring_database, yesterday) >= 1  # the day keeps its latest
    assert await take_size_snapshot(scoring_database, datetime.now(UTC)) >= 1

    sizes = (await get_json(api, tenant, path))["items"]
    assert [item["members"] for item in sizes] == [4, 4]
    assert sizes[0]["day"] < sizes[1]["day"]
    assert [item["members"] for item in (await get_json(api, tenant, f"{path}?days=1"))["items"]] == [4]


async def test_a_saved_segment_follows_an_attribute_changed_through_the_api(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    women = await shoppers(api, tenant)
    segment = await created(api, tenant, "Hangzhou women", HANGZHOU_WOMEN)
    path = f"/v1/segments/{segment['segment_id']}"
    moved = await api.patch(
        f"/v1/customers/{women[0]}", json={"attributes": {"city": "Shanghai"}}, headers=tenant.headers
    )
    assert moved.status_code == 200, moved.text

    after = await eventually(lambda: get_json(api, tenant, path), lambda seen: seen["count"] == 2)
    assert (after["count"], after["version"]) == (2, 1)
    members = await get_json(api, tenant, f"{path}/members")
    assert [m["customer_id"] for m in members["items"]] == women[1:]
    assert await get_json(api, tenant, f"/v1/customers/{women[0]}/segments") == {"items": []}

    back = await api.patch(
        f"/v1/customers/{women[0]}", json={"attributes": {"city": "Hangzhou"}}, headers=tenant.headers
    )
    assert back.status_code == 200, back.text
    again = await eventually(lambda: get_json(api, tenant, path), lambda seen: seen["count"] == 3)
    assert again["count"] == 3
    mine = await get_json(api, tenant, f"/v1/customers/{women[0]}/segments")
    entered = datetime.fromisoformat(mine["items"][0]["entered_at"])
    assert entered > datetime.fromisoformat(segment["created_at"])  # re-entered, not the first entry


async def test_another_tenants_segment_ids_answer_404(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    women = await shoppers(api, tenant)
    segment = await created(api, tenant, "Hangzhou women", HANGZHOU_WOMEN)
    path = f"/v1/segments/{segment['segment_id']}"
    body = {"name": "mine now", "condition": WOMEN}
    for method, target in (
        ("get", path),
        ("put", path),
        ("delete", path),
        ("get", f"{path}/members"),
        ("get", f"{path}/sizes"),
        ("get", f"/v1/customers/{women[0]}/segments"),
    ):
        response = await api.request(
            method, target, json=body if method == "put" else None, headers=other_tenant.headers
        )
        assert response.status_code == 404, (method, target, response.text)
    assert (await get_json(api, other_tenant, "/v1/segments"))["items"] == []
    theirs = await created(api, other_tenant, "Hangzhou women", HANGZHOU_WOMEN)  # names are per tenant
    assert theirs["count"] == 0
    assert (await get_json(api, tenant, path))["count"] == 3

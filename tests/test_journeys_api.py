"""Journey definitions through the gateway (issue 13): checked against the tenant's own ids with every
fault by its path, versions, the lifecycle, archiving that stops instances, stats with their zeros,
a customer's journeys and the classics' catalogue.

Instances and the step ledger are written by the runner (another part of issue 13); here they are
inserted with SQL, exactly as its tables hold them, to prove what archiving and the stats do."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.notify.journey_clock import JourneyClock
from tests.conftest import TenantKey

Json = dict[str, Any]


async def _created(api: httpx.AsyncClient, tenant: TenantKey, path: str, body: Json) -> Json:
    response = await api.post(path, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


async def notify_template(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {
        "name": f"reminder {uuid.uuid4().hex[:8]}",
        "channel": "email",
        "purpose": "marketing",
        "subject": "Still thinking?",
        "body": "Your code {{ coupon.code }}",
    }
    return str((await _created(api, tenant, "/v1/notify/templates", body))["template_id"])


async def coupon_template(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"name": "5 yuan", "kind": "no_threshold", "discount_minor": 500, "valid_days": 7}
    return str((await _created(api, tenant, "/v1/coupon-templates", body))["template_id"])


async def tag(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    group = await _created(
        api, tenant, "/v1/tag-groups", {"kind": "static", "name": f"g {uuid.uuid4().hex[:8]}"}
    )
    body = {"group_id": group["group_id"], "name": f"t {uuid.uuid4().hex[:8]}"}
    return str((await _created(api, tenant, "/v1/tags", body))["tag_id"])


async def segment(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {
        "name": f"s {uuid.uuid4().hex[:8]}",
        "condition": {"field": "orders.count", "op": "gte", "value": 1},
    }
    return str((await _created(api, tenant, "/v1/segments", body))["segment_id"])


def cart_journey(template_id: str, coupon_id: str, tag_id: str) -> Json:
    return {
        "name": "Abandoned cart",
        "trigger": {"event": "add_to_cart"},
        "steps": [
            {"wait": "PT24H"},
            {
                "if": {"since_trigger": {"order": True}},
                "then": [{"exit": True}],
                "else": [
                    {"issue_coupon": {"template_id": coupon_id}},
                    {"send": {"template_id": template_id}},
                    {
                        "if": {"field": "orders.count", "op": "gte", "value": 1},
                        "then": [{"tag": {"tag_id": tag_id}}],
                    },
                ],
            },
        ],
        "goal": {"order": "paid"},
        "reentry": "P7D",
    }


def simple_journey(template_id: str, name: str = "Thanks") -> Json:
    return {
        "name": name,
        "trigger": {"order": "paid", "first": True},
        "steps": [{"send": {"template_id": template_id}}],
    }


async def journey(api: httpx.AsyncClient, tenant: TenantKey, document: Json) -> Json:
    return await _created(api, tenant, "/v1/journeys", document)


def faults(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.fixture
def later(journey_clock: Path) -> datetime:
    """A day after the session notify's journey clock (other tests move it on): an instance due then
    is never claimed by the running worker while a test looks at it."""
    return JourneyClock(str(journey_clock)).now() + timedelta(days=1)


@pytest.fixture
async def notify_db(database_urls: dict[str, str]) -> Any:
    connection = await asyncpg.connect(database_urls["notify"])
    yield connection
    await connection.close()


async def test_a_journey_with_the_tenants_own_ids_is_created_read_and_listed(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    ids = (
        await notify_template(api, tenant),
        await coupon_template(api, tenant),
        await tag(api, tenant),
        await segment(api, tenant),
    )
    document = cart_journey(*ids[:3])
    created = await journey(api, tenant, document)
    assert created["status"] == "draft"
    assert created["version"] == 1
    assert created["from_template"] is None
    assert created["steps"] == document["steps"]
    assert created["reentry"] == "P7D"
    got = await api.get(f"/v1/journeys/{created['journey_id']}", headers=tenant.headers)
    assert got.json() == created

    second = await journey(api, tenant, {**simple_journey(ids[0]), "trigger": {"segment_entered": ids[3]}})
    assert second["trigger"] == {"segment_entered": ids[3]}
    first_page = await api.get("/v1/journeys", params={"limit": 1}, headers=tenant.headers)
    assert [j["journey_id"] for j in first_page.json()["items"]] == [second["journey_id"]]
    cursor = first_page.json()["next_cursor"]
    rest = await api.get("/v1/journeys", params={"limit": 1, "cursor": cursor}, headers=tenant.headers)
    assert [j["journey_id"] for j in rest.json()["items"]] == [created["journey_id"]]
    assert rest.json()["next_cursor"] is None
    assert (await api.get("/v1/journeys", params={"limit": 101}, headers=tenant.headers)).status_code == 422


async def test_every_foreign_or_unknown_reference_is_named_by_its_path_at_once(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    foreign = (
        await notify_template(api, other_tenant),
        await coupon_template(api, other_tenant),
        await tag(api, other_tenant),
        await segment(api, other_tenant),
    )
    document = cart_journey(*foreign[:3])
    document["trigger"] = {"segment_entered": foreign[3]}
    document["steps"][1]["else"][2]["if"] = {
        "all": [
            {"field": "orders.count", "op": "sideways", "value": 1},
            {"field": "tags", "op": "has", "value": foreign[2]},
        ]
    }
    found = faults(await api.post("/v1/journeys", json=document, headers=tenant.headers))
    assert found["steps[1].else[1].send.template_id"] == "unknown template"
    assert found["steps[1].else[0].issue_coupon.template_id"] == "unknown coupon template"
    assert found["steps[1].else[2].then[0].tag.tag_id"] == "unknown tag"
    assert found["trigger.segment_entered"] == "unknown segment"
    assert any(path.startswith("steps[1].else[2].if.all[0]") for path in found), found

    # The owner's own ids pass; shape faults come from the definition's rules, by path too.
    own = await notify_template(api, other_tenant)
    assert (
        await api.post("/v1/journeys", json=simple_journey(own), headers=other_tenant.headers)
    ).status_code == 201
    shape = simple_journey(own)
    shape["steps"] = [{"wait": "PT30S"}, {"send": {"template_id": "nope"}}]
    assert set(faults(await api.post("/v1/journeys", json=shape, headers=other_tenant.headers))) == {
        "steps[0].wait",
        "steps[1].send.template_id",
    }


async def test_updates_make_versions_and_the_lifecycle_refuses_what_the_status_forbids(
    api: httpx.AsyncClient, tenant: TenantKey, notify_db: asyncpg.Connection
) -> None:
    template_id = await notify_template(api, tenant)
    created = await journey(api, tenant, simple_journey(template_id))
    path = f"/v1/journeys/{created['journey_id']}"
    h = tenant.headers

    changed = cart_journey(template_id, await coupon_template(api, tenant), await tag(api, tenant))
    changed["trigger"] = {"refund": {"reason": "尺寸不符"}}
    updated = await api.put(path, json=changed, headers=h)
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    assert updated.json()["name"] == "Abandoned cart"
    rows = await notify_db.fetch(
        "SELECT version, trigger_kind, trigger_key, has_goal, reentry FROM journey_versions"
        " WHERE journey_id = $1 ORDER BY version",
        uuid.UUID(created["journey_id"]),
    )
    assert [tuple(r) for r in rows] == [
        (1, "order", "first", False, None),
        (2, "refund", "尺寸不符", True, timedelta(days=7)),
    ]

    refused = await api.post(f"{path}/pause", headers=h)
    assert refused.status_code == 409
    assert (refused.json()["reason"], refused.json()["journey_status"]) == ("JOURNEY_STATUS", "draft")
    assert (await api.post(f"{path}/activate", headers=h)).json()["status"] == "active"
    again = await api.post(f"{path}/activate", headers=h)
    assert again.status_code == 409
    assert "active" in again.json()["detail"]
    assert (await api.post(f"{path}/pause", headers=h)).json()["status"] == "paused"
    assert (await api.post(f"{path}/activate", headers=h)).json()["status"] == "active"
    assert (await api.put(path, json=simple_journey(template_id, "v3"), headers=h)).json()["version"] == 3
    assert (await api.post(f"{path}/archive", headers=h)).json()["status"] == "archived"
    for action in ("activate", "pause", "archive"):
        late = await api.post(f"{path}/{action}", headers=h)
        assert late.status_code == 409, late.text
        assert late.json()["journey_status"] == "archived"
    frozen = await api.put(path, json=simple_journey(template_id), headers=h)
    assert frozen.status_code == 409
    assert "archived" in frozen.json()["detail"]
    assert (await api.get(path, headers=h)).json()["version"] == 3
    assert (await api.post(f"/v1/journeys/{uuid.uuid4()}/activate", headers=h)).status_code == 404


async def _instance(
    db: asyncpg.Connection,
    tenant: TenantKey,
    journey_id: str,
    customer_id: uuid.UUID,
    status: str,
    cursor: str | None,
    due_at: datetime | None = None,
    revenue_minor: int | None = None,
) -> uuid.UUID:
    instance_id = uuid.uuid4()
    now = datetime.now(UTC)
    await db.execute(
        """
        INSERT INTO journey_instances (tenant_id, instance_id, journey_id, version, customer_id, status,
            cursor, due_at, entry_key, entered_at, trigger_at, context, lease_token, lease_until,
            ended_at, converted_order_id, revenue_minor)
        VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $9, '{}'::jsonb, $10, $11, $12, $13, $14)
        """,
        uuid.UUID(tenant.tenant_id),
        instance_id,
        uuid.UUID(journey_id),
        customer_id,
        status,
        cursor,
        due_at,
        f"event:{instance_id}",
        now,
        uuid.uuid4() if status == "active" else None,
        now + timedelta(seconds=30) if status == "active" else None,
        None if status == "active" else now,
        "order-9" if status == "converted" else None,
        revenue_minor,
    )
    return instance_id


async def _step(
    db: asyncpg.Connection,
    tenant: TenantKey,
    journey_id: str,
    instance_id: uuid.UUID,
    path: str,
    kind: str,
    outcome: str,
    reason: str | None = None,
    message_id: uuid.UUID | None = None,
) -> None:
    await db.execute(
        """
        INSERT INTO journey_steps (tenant_id, instance_id, path, journey_id, version, kind, outcome, reason,
                                   message_id, at)
        VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, now())
        """,
        uuid.UUID(tenant.tenant_id),
        instance_id,
        path,
        uuid.UUID(journey_id),
        kind,
        outcome,
        reason,
        message_id,
    )


async def test_archiving_stops_the_instances_in_flight_and_nothing_else(
    api: httpx.AsyncClient, tenant: TenantKey, notify_db: asyncpg.Connection, later: datetime
) -> None:
    created = await journey(api, tenant, simple_journey(await notify_template(api, tenant)))
    journey_id = created["journey_id"]
    assert (await api.post(f"/v1/journeys/{journey_id}/activate", headers=tenant.headers)).status_code == 200
    inside, done = uuid.uuid4(), uuid.uuid4()
    live = await _instance(notify_db, tenant, journey_id, inside, "active", "steps[0]", later)
    finished = await _instance(notify_db, tenant, journey_id, done, "completed", None)
    for customer_id, instance_id in ((inside, live), (done, None)):
        await notify_db.execute(
            "INSERT INTO journey_entries (tenant_id, journey_id, customer_id, last_entered_at,"
            " live_instance_id) VALUES ($1, $2, $3, now(), $4)",
            uuid.UUID(tenant.tenant_id),
            uuid.UUID(journey_id),
            customer_id,
            instance_id,
        )
    paused = await api.post(f"/v1/journeys/{journey_id}/pause", headers=tenant.headers)
    assert paused.json()["status"] == "paused"
    held = await notify_db.fetchrow(
        "SELECT status, cursor FROM journey_instances WHERE instance_id = $1", live
    )
    assert tuple(held) == ("active", "steps[0]")  # a pause leaves them to the runner

    assert (await api.post(f"/v1/journeys/{journey_id}/archive", headers=tenant.headers)).status_code == 200
    stopped = await notify_db.fetchrow(
        "SELECT status, end_reason, cursor, ended_at, lease_token, lease_until FROM journey_instances"
        " WHERE instance_id = $1",
        live,
    )
    assert (stopped["status"], stopped["end_reason"], stopped["cursor"]) == ("stopped", "archived", None)
    assert stopped["ended_at"] is not None
    assert stopped["lease_token"] is None
    assert stopped["lease_until"] is None
    untouched = await notify_db.fetchrow(
        "SELECT status, end_reason FROM journey_instances WHERE instance_id = $1", finished
    )
    assert tuple(untouched) == ("completed", None)
    entry = await notify_db.fetchval(
        "SELECT live_instance_id FROM journey_entries WHERE journey_id = $1 AND customer_id = $2",
        uuid.UUID(journey_id),
        inside,
    )
    assert entry is None

    mine = await api.get(f"/v1/customers/{inside}/journeys", headers=tenant.headers)
    (item,) = mine.json()["items"]
    assert item["journey_id"] == journey_id
    assert item["status"] == "stopped"
    assert item["end_reason"] == "archived"
    assert item["cursor"] is None
    assert item["name"] == "Thanks"


async def test_stats_list_every_step_in_document_order_with_zeros_then_count_the_ledger(
    api: httpx.AsyncClient, tenant: TenantKey, notify_db: asyncpg.Connection, later: datetime
) -> None:
    template_id = await notify_template(api, tenant)
    ids = (template_id, await coupon_template(api, tenant), await tag(api, tenant))
    created = await journey(api, tenant, cart_journey(*ids))
    journey_id = created["journey_id"]
    empty = (await api.get(f"/v1/journeys/{journey_id}/stats", headers=tenant.headers)).json()
    assert {k: v for k, v in empty.items() if k not in ("steps", "journey_id")} == {
        "entered": 0,
        "active": 0,
        "waiting": 0,
        "completed": 0,
        "exited": 0,
        "converted": 0,
        "stopped": 0,
        "failed": 0,
        "revenue_minor": 0,
    }
    assert [(s["path"], s["kind"]) for s in empty["steps"]] == [
        ("steps[0]", "wait"),
        ("steps[1]", "if"),
        ("steps[1].then[0]", "exit"),
        ("steps[1].else[0]", "issue_coupon"),
        ("steps[1].else[1]", "send"),
        ("steps[1].else[2]", "if"),
        ("steps[1].else[2].then[0]", "tag"),
    ]
    assert all(s["entered"] == 0 and s["outcomes"] == {} and s["suppressed"] == {} for s in empty["steps"])

    waiting = await _instance(notify_db, tenant, journey_id, uuid.uuid4(), "active", "steps[1]", later)
    converted = await _instance(
        notify_db, tenant, journey_id, uuid.uuid4(), "converted", None, revenue_minor=12_900
    )
    capped = await _instance(notify_db, tenant, journey_id, uuid.uuid4(), "completed", None)
    message_id = uuid.uuid4()
    await notify_db.execute(
        "INSERT INTO messages (message_id, tenant_id, customer_id, template_id, channel, purpose, sender,"
        " status) VALUES ($1, $2, $3, $4, 'email', 'marketing', 'journey', 'delivered')",
        message_id,
        uuid.UUID(tenant.tenant_id),
        uuid.uuid4(),
        uuid.UUID(template_id),
    )
    for instance in (waiting, converted, capped):
        await _step(notify_db, tenant, journey_id, instance, "steps[0]", "wait", "waited")
    for instance in (converted, capped):
        await _step(notify_db, tenant, journey_id, instance, "steps[1]", "if", "else")
        await _step(notify_db, tenant, journey_id, instance, "steps[1].else[0]", "issue_coupon", "issued")
    await _step(
        notify_db, tenant, journey_id, converted, "steps[1].else[1]", "send", "queued", message_id=message_id
    )
    await _step(notify_db, tenant, journey_id, capped, "steps[1].else[1]", "send", "suppressed", "capped")

    stats = (await api.get(f"/v1/journeys/{journey_id}/stats", headers=tenant.headers)).json()
    assert (stats["entered"], stats["active"], stats["waiting"], stats["completed"]) == (3, 1, 1, 1)
    assert (stats["converted"], stats["revenue_minor"]) == (1, 12_900)
    steps = {s["path"]: s for s in stats["steps"]}
    assert steps["steps[0]"]["entered"] == 3
    assert steps["steps[0]"]["outcomes"] == {"waited": 3}
    assert steps["steps[1]"]["waiting"] == 1
    assert steps["steps[1]"]["outcomes"] == {"else": 2}
    send = steps["steps[1].else[1]"]
    assert (send["entered"], send["sent"], send["converted"]) == (2, 1, 1)
    assert send["outcomes"] == {"queued": 1, "suppressed": 1}
    assert send["suppressed"] == {"capped": 1}
    assert steps["steps[1].else[2].then[0]"]["entered"] == 0


async def test_a_customers_journeys_answer_for_a_merged_away_id_and_page(
    api: httpx.AsyncClient, tenant: TenantKey, notify_db: asyncpg.Connection, later: datetime
) -> None:
    template_id = await notify_template(api, tenant)
    first = await journey(api, tenant, simple_journey(template_id, "One"))
    second = await journey(api, tenant, simple_journey(template_id, "Two"))
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    await _instance(notify_db, tenant, first["journey_id"], survivor, "completed", None)
    await _instance(notify_db, tenant, second["journey_id"], survivor, "active", "steps[0]", later)
    await notify_db.execute(
        "INSERT INTO customer_states (tenant_id, customer_id, merged_into) VALUES ($1, $2, $3)",
        uuid.UUID(tenant.tenant_id),
        merged,
        survivor,
    )
    page = (
        await api.get(f"/v1/customers/{merged}/journeys", params={"limit": 1}, headers=tenant.headers)
    ).json()
    assert [i["name"] for i in page["items"]] == ["Two"]
    assert page["items"][0]["cursor"] == "steps[0]"
    assert page["items"][0]["due_at"] is not None
    rest = await api.get(
        f"/v1/customers/{merged}/journeys",
        params={"limit": 1, "cursor": page["next_cursor"]},
        headers=tenant.headers,
    )
    assert [i["name"] for i in rest.json()["items"]] == ["One"]
    assert rest.json()["next_cursor"] is None
    assert (await api.get(f"/v1/customers/{uuid.uuid4()}/journeys", headers=tenant.headers)).json()[
        "items"
    ] == []


async def test_the_catalogue_answers_a_list(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await api.get("/v1/journey-templates", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["items"], list)
    assert all(json.dumps(item) and "name" in item for item in response.json()["items"])


async def test_a_classic_creates_its_missing_content_and_refuses_bad_overrides_by_path(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    catalogue = (await api.get("/v1/journey-templates", headers=tenant.headers)).json()["items"]
    assert {"abandoned_cart", "birthday", "win_back"} <= {item["name"] for item in catalogue}

    created = await journey(api, tenant, {"from_template": "abandoned_cart"})
    assert (created["from_template"], created["status"], created["version"]) == ("abandoned_cart", "draft", 1)
    text = json.dumps(created["steps"])
    assert "slot:" not in text
    templates = (await api.get("/v1/notify/templates", headers=tenant.headers)).json()["items"]
    coupons = (await api.get("/v1/coupon-templates", headers=tenant.headers)).json()["items"]
    assert any(t["template_id"] in text for t in templates)
    assert any(c["template_id"] in text for c in coupons)

    # The merchant's own template fills its slot and is not created again; a bad override names its path.
    own = await notify_template(api, tenant)
    before = len((await api.get("/v1/notify/templates", headers=tenant.headers)).json()["items"])
    mine = await journey(api, tenant, {"from_template": "abandoned_cart", "templates": {"reminder": own}})
    assert own in json.dumps(mine["steps"])
    after = len((await api.get("/v1/notify/templates", headers=tenant.headers)).json()["items"])
    assert after == before
    foreign = await api.post(
        "/v1/journeys",
        json={"from_template": "abandoned_cart", "templates": {"reminder": str(uuid.uuid4())}},
        headers=tenant.headers,
    )
    assert list(faults(foreign).values()) == ["unknown template"]
    unknown = await api.post("/v1/journeys", json={"from_template": "no_such"}, headers=tenant.headers)
    assert set(faults(unknown)) == {"from_template"}
    assert set(
        faults(
            await api.post(
                "/v1/journeys",
                json={"from_template": "abandoned_cart", "parameters": {"wait": "soon"}},
                headers=tenant.headers,
            )
        )
    ) == {"parameters.wait"}
    unchanged = len((await api.get("/v1/notify/templates", headers=tenant.headers)).json()["items"])
    assert unchanged == after

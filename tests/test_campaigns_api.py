"""Campaigns through the gateway (issue 14): defined against the tenant's own saved segment and
marketing templates with every fault named by its path, moved through their statuses (409 for what
the status forbids), listed, their audience paged, cancelled with their unsent messages suppressed.

Sending is the campaign worker's (another part of issue 14): the audience snapshot and the messages a
worker would write are inserted here with SQL, exactly as its tables hold them, to prove what the
progress, the recipients' listing and a cancel do with them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.notify.domain.policy import parse_policy
from services.runtime.errors import InvalidArgument
from tests.conftest import TenantKey, create_tenant
from tests.test_journeys_api import faults, notify_template, segment

Json = dict[str, Any]
ZEROS = {
    "recipients": 0,
    "planned": 0,
    "sent": 0,
    "suppressed": 0,
    "deferred": 0,
    "failed": 0,
    "holdout": 0,
    "global_control": 0,
}


@pytest.fixture
async def notify_db(database_urls: dict[str, str]) -> Any:
    connection = await asyncpg.connect(database_urls["notify"])
    yield connection
    await connection.close()


async def service_template(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"name": f"receipt {uuid.uuid4().hex[:8]}", "channel": "sms", "purpose": "service", "body": "Paid"}
    response = await api.post("/v1/notify/templates", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["template_id"])


async def definition(api: httpx.AsyncClient, tenant: TenantKey, **overrides: Any) -> Json:
    """Two variants of the tenant's own marketing templates to its own saved segment, 10 % held out."""
    return {
        "name": "Double eleven",
        "segment_id": await segment(api, tenant),
        "variants": [
            {"name": "A", "template_id": await notify_template(api, tenant), "weight": 1},
            {"name": "B", "template_id": await notify_template(api, tenant), "weight": 1},
        ],
        "holdout_percent": 10,
        **overrides,
    }


async def created(api: httpx.AsyncClient, tenant: TenantKey, document: Json) -> Json:
    response = await api.post("/v1/campaigns", json=document, headers=tenant.headers)
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def test_a_campaign_to_a_saved_segment_is_saved_as_a_draft_read_and_listed(
    api: httpx.AsyncClient, tenant: TenantKey, notify_db: asyncpg.Connection
) -> None:
    document = await definition(api, tenant, conversion_window="P3D")
    first = await created(api, tenant, document)
    assert first["status"] == "draft"
    assert first["name"] == "Double eleven"
    assert first["definition"] == document
    assert first["progress"] == ZEROS
    for unset in ("started_at", "send_at", "snapshot_at", "segment_version", "completed_at", "cancelled_at"):
        assert first[unset] is None, unset
    assert first["global_control_percent"] == 0
    got = await api.get(f"/v1/campaigns/{first['campaign_id']}", headers=tenant.headers)
    assert got.json() == first

    row = await notify_db.fetchrow(
        "SELECT segment_id, groups, templates, ends, conversion_window, send_at, send_local, send_zone, phase"
        " FROM campaigns WHERE tenant_id = $1 AND campaign_id = $2",
        uuid.UUID(tenant.tenant_id),
        uuid.UUID(first["campaign_id"]),
    )
    assert str(row["segment_id"]) == document["segment_id"]
    assert row["groups"] == ["A", "B"]
    assert [str(t) for t in row["templates"]] == [v["template_id"] for v in document["variants"]]
    assert row["ends"] == [1000, 5500, 10000]  # holdout below 1,000 of 10,000 buckets, then halves
    assert row["conversion_window"] == timedelta(days=3)
    assert (row["send_at"], row["send_local"], row["send_zone"], row["phase"]) == (None, None, "tenant", None)

    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    second = await created(api, tenant, {**document, "name": "Later", "send_at": at.isoformat()})
    assert datetime.fromisoformat(second["send_at"]) == at  # a fixed instant is known before start
    page = await api.get("/v1/campaigns", params={"limit": 1}, headers=tenant.headers)
    assert [c["campaign_id"] for c in page.json()["items"]] == [second["campaign_id"]]
    rest = await api.get(
        "/v1/campaigns", params={"limit": 1, "cursor": page.json()["next_cursor"]}, headers=tenant.headers
    )
    assert [c["campaign_id"] for c in rest.json()["items"]] == [first["campaign_id"]]
    assert rest.json()["next_cursor"] is None
    for limit in (0, 101):
        assert (
            await api.get("/v1/campaigns", params={"limit": limit}, headers=tenant.headers)
        ).status_code == 422
    bad_cursor = await api.get("/v1/campaigns", params={"cursor": "nope"}, headers=tenant.headers)
    assert bad_cursor.status_code == 422


async def test_every_fault_of_a_definition_is_named_by_its_path(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    good = await definition(api, tenant)
    shape = {
        **good,
        "variants": [
            {"name": "A", "template_id": good["variants"][0]["template_id"], "weight": 0},
            {"name": "holdout", "template_id": "nope", "weight": 101},
        ],
        "holdout_percent": 51,
        "send_at": "next tuesday",
        "conversion_window": "PT5M",
    }
    assert set(faults(await api.post("/v1/campaigns", json=shape, headers=tenant.headers))) == {
        "variants[0].weight",
        "variants[1].name",
        "variants[1].template_id",
        "variants[1].weight",
        "holdout_percent",
        "send_at",
        "conversion_window",
    }
    far = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    assert set(
        faults(await api.post("/v1/campaigns", json={**good, "send_at": far}, headers=tenant.headers))
    ) == {"send_at"}
    offset_for_customers = {**good, "send_at": "2030-01-01T10:00:00+08:00", "send_at_zone": "customer"}
    assert "send_at" in faults(
        await api.post("/v1/campaigns", json=offset_for_customers, headers=tenant.headers)
    )
    weights = {**good, "variants": [{**good["variants"][0], "weight": 1.5}]}
    assert set(faults(await api.post("/v1/campaigns", json=weights, headers=tenant.headers))) == {
        "variants[0].weight"
    }
    assert set(
        faults(await api.post("/v1/campaigns", json={**good, "variants": []}, headers=tenant.headers))
    ) == {"variants"}
    # Unknown fields are named, at the top and in a variant.
    extra = {**good, "audience": "all", "variants": [{**good["variants"][0], "colour": "red"}]}
    assert set(faults(await api.post("/v1/campaigns", json=extra, headers=tenant.headers))) == {
        "audience",
        "variants[0].colour",
    }

    # References: unknown, another tenant's, a service template; all at once.
    references = {
        **good,
        "segment_id": await segment(api, other_tenant),
        "variants": [
            {"name": "unknown", "template_id": str(uuid.uuid4()), "weight": 1},
            {"name": "foreign", "template_id": await notify_template(api, other_tenant), "weight": 1},
            {"name": "service", "template_id": await service_template(api, tenant), "weight": 1},
            {"name": "own", "template_id": good["variants"][0]["template_id"], "weight": 1},
        ],
    }
    found = faults(await api.post("/v1/campaigns", json=references, headers=tenant.headers))
    assert set(found) == {
        "segment_id",
        "variants[0].template_id",
        "variants[1].template_id",
        "variants[2].template_id",
    }
    assert "marketing" in found["variants[2].template_id"]
    unknown_segment = {**good, "segment_id": str(uuid.uuid4())}
    assert set(faults(await api.post("/v1/campaigns", json=unknown_segment, headers=tenant.headers))) == {
        "segment_id"
    }
    assert (await api.get("/v1/campaigns", headers=tenant.headers)).json()["items"] == []


async def test_the_statuses_allow_only_their_moves(
    api: httpx.AsyncClient, tenant: TenantKey, notify_db: asyncpg.Connection
) -> None:
    campaign = await created(api, tenant, await definition(api, tenant))
    path, h = f"/v1/campaigns/{campaign['campaign_id']}", tenant.headers
    for action in ("pause", "resume"):
        refused = await api.post(f"{path}/{action}", headers=h)
        assert refused.status_code == 409, refused.text
        assert (refused.json()["reason"], refused.json()["campaign_status"]) == ("CAMPAIGN_STATUS", "draft")

    started = await api.post(f"{path}/start", headers=h)
    assert started.status_code == 200, started.text
    view = started.json()
    assert view["status"] == "running"  # no send time: at once
    assert view["started_at"] is not None
    assert view["send_at"] == view["started_at"]
    again = await api.post(f"{path}/start", headers=h)
    assert again.status_code == 409
    assert "running" in again.json()["detail"]
    row = await notify_db.fetchrow(
        "SELECT phase, wake_at, first_send_at FROM campaigns WHERE campaign_id = $1",
        uuid.UUID(campaign["campaign_id"]),
    )
    assert row["phase"] == "snapshot"
    assert row["wake_at"] == row["first_send_at"] == datetime.fromisoformat(view["started_at"])

    assert (await api.post(f"{path}/pause", headers=h)).json()["status"] == "paused"
    assert (await api.post(f"{path}/pause", headers=h)).json()["campaign_status"] == "paused"
    assert (await api.post(f"{path}/resume", headers=h)).json()["status"] == "running"
    cancelled = (await api.post(f"{path}/cancel", headers=h)).json()
    assert (cancelled["status"], cancelled["cancelled_at"] is not None) == ("cancelled", True)
    for action in ("start", "pause", "resume", "cancel"):
        late = await api.post(f"{path}/{action}", headers=h)
        assert late.status_code == 409, late.text
        assert late.json()["campaign_status"] == "cancelled"
    row = await notify_db.fetchrow(
        "SELECT phase, wake_at FROM campaigns WHERE campaign_id = $1", uuid.UUID(campaign["campaign_id"])
    )
    assert (row["phase"], row["wake_at"]) == (None, None)

    draft = await created(api, tenant, await definition(api, tenant))
    dropped = await api.post(f"/v1/campaigns/{draft['campaign_id']}/cancel", headers=h)
    assert dropped.json()["status"] == "cancelled"
    for action in ("start", "pause", "resume", "cancel"):
        assert (await api.post(f"/v1/campaigns/{uuid.uuid4()}/{action}", headers=h)).status_code == 404
    assert (await api.get(f"/v1/campaigns/{uuid.uuid4()}", headers=h)).status_code == 404


async def test_a_campaign_with_a_send_time_is_scheduled_and_fixes_the_global_control_share_at_start(
    api: httpx.AsyncClient, notify_db: asyncpg.Connection
) -> None:
    tenant = await create_tenant(api, "Urumqi shop", timezone="Asia/Urumqi")
    h = tenant.headers
    policy = await api.put("/v1/notify/policy", json={"global_control_percent": 5.5}, headers=h)
    assert policy.status_code == 200, policy.text
    assert policy.json()["global_control_percent"] == 5.5
    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()

    instant = f"{day}T10:00:00+08:00"
    at_once = await created(api, tenant, await definition(api, tenant, send_at=instant))
    assert at_once["global_control_percent"] == 0  # not fixed before start
    path = f"/v1/campaigns/{at_once['campaign_id']}"
    scheduled = (await api.post(f"{path}/start", headers=h)).json()
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["send_at"]) == datetime.fromisoformat(instant)
    assert scheduled["global_control_percent"] == 5.5
    assert (await api.put("/v1/notify/policy", json={}, headers=h)).json()["global_control_percent"] == 0
    assert (await api.get(path, headers=h)).json()["global_control_percent"] == 5.5  # fixed at start
    assert (await api.post(f"{path}/pause", headers=h)).json()["status"] == "paused"
    resumed = (await api.post(f"{path}/resume", headers=h)).json()
    assert resumed["status"] == "scheduled"  # its time has not come
    wake = await notify_db.fetchval(
        "SELECT wake_at FROM campaigns WHERE campaign_id = $1", uuid.UUID(path[-36:])
    )
    assert wake == datetime.fromisoformat(instant)

    # A wall-clock time: in the tenant's zone, or first on earth (UTC+14) when each customer's own.
    local = await created(api, tenant, await definition(api, tenant, send_at=f"{day}T10:00"))
    tenant_local = (await api.post(f"/v1/campaigns/{local['campaign_id']}/start", headers=h)).json()
    assert datetime.fromisoformat(tenant_local["send_at"]) == datetime.fromisoformat(f"{day}T10:00:00+06:00")
    per_customer = await created(
        api, tenant, await definition(api, tenant, send_at=f"{day}T10:00", send_at_zone="customer")
    )
    customer_local = (await api.post(f"/v1/campaigns/{per_customer['campaign_id']}/start", headers=h)).json()
    assert datetime.fromisoformat(customer_local["send_at"]) == datetime.fromisoformat(
        f"{day}T10:00:00+14:00"
    )
    assert customer_local["status"] == "scheduled"


async def test_the_global_control_share_of_the_policy_is_checked() -> None:
    assert parse_policy({"global_control_percent": 12.5}).global_control_percent == 12.5
    assert parse_policy({}).global_control_percent == 0
    for bad in (20.1, -1, 0.15, "5", True):
        with pytest.raises(InvalidArgument) as caught:
            parse_policy({"global_control_percent": bad})
        assert [v.field for v in caught.value.violations] == ["global_control_percent"]


async def test_the_policy_names_a_bad_global_control_share(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    for bad in (20.5, 0.15, "lots"):
        response = await api.put(
            "/v1/notify/policy", json={"global_control_percent": bad}, headers=tenant.headers
        )
        assert set(faults(response)) == {"global_control_percent"}, bad


async def _message(
    db: asyncpg.Connection,
    tenant: TenantKey,
    campaign_id: str,
    template_id: str,
    status: str,
    in_flight: bool,
) -> uuid.UUID:
    message_id = uuid.uuid4()
    await db.execute(
        """
        INSERT INTO messages (message_id, tenant_id, customer_id, template_id, channel, purpose, sender,
                              sender_ref, status, due_at, in_flight)
        VALUES ($1, $2, $3, $4, 'email', 'marketing', 'campaign', $5, $6, now() + interval '1 day', $7)
        """,
        message_id,
        uuid.UUID(tenant.tenant_id),
        uuid.uuid4(),
        uuid.UUID(template_id),
        campaign_id,
        status,
        in_flight,
    )
    return message_id


async def test_the_audience_is_paged_with_each_message_and_a_cancel_suppresses_what_is_unsent(
    api: httpx.AsyncClient, tenant: TenantKey, notify_db: asyncpg.Connection
) -> None:
    document = await definition(api, tenant)
    campaign = await created(api, tenant, document)
    campaign_id, h = campaign["campaign_id"], tenant.headers
    path = f"/v1/campaigns/{campaign_id}"
    assert (await api.get(f"{path}/recipients", headers=h)).json() == {"items": [], "next_cursor": None}
    assert (await api.post(f"{path}/start", headers=h)).status_code == 200

    template_id = document["variants"][0]["template_id"]
    queued = await _message(notify_db, tenant, campaign_id, template_id, "queued", False)
    deferred = await _message(notify_db, tenant, campaign_id, template_id, "deferred", False)
    flying = await _message(notify_db, tenant, campaign_id, template_id, "queued", True)
    sent = await _message(notify_db, tenant, campaign_id, template_id, "sent", False)
    planned_ahead = uuid.uuid4()  # the id the snapshot assigned; no message row yet
    audience = [("A", queued), ("holdout", None), ("B", deferred), ("A", sent), ("B", planned_ahead)]
    customers = []
    for position, (group, message_id) in enumerate(audience, start=1):
        customer_id = uuid.uuid4()
        customers.append(customer_id)
        await notify_db.execute(
            "INSERT INTO campaign_recipients (tenant_id, campaign_id, position, customer_id, group_name,"
            " due_at, message_id) VALUES ($1, $2, $3, $4, $5, now(), $6)",
            uuid.UUID(tenant.tenant_id),
            uuid.UUID(campaign_id),
            position,
            customer_id,
            group,
            message_id,
        )
    await notify_db.execute(
        "UPDATE campaigns SET recipients = 5, snapshot_at = now(), segment_version = 3,"
        ' group_sizes = \'{"A": 2, "B": 2, "holdout": 1, "global_control": 0}\'::jsonb'
        " WHERE campaign_id = $1",
        uuid.UUID(campaign_id),
    )

    view = (await api.get(path, headers=h)).json()
    assert view["progress"] == {
        **ZEROS,
        "recipients": 5,
        "planned": 4,
        "sent": 1,
        "deferred": 1,
        "holdout": 1,
    }
    assert view["segment_version"] == 3
    first = (await api.get(f"{path}/recipients", params={"limit": 2}, headers=h)).json()
    assert first["items"] == [
        {
            "customer_id": str(customers[0]),
            "group": "A",
            "message_id": str(queued),
            "status": "queued",
            "reason": None,
        },
        {
            "customer_id": str(customers[1]),
            "group": "holdout",
            "message_id": None,
            "status": None,
            "reason": None,
        },
    ]
    rest = (await api.get(f"{path}/recipients", params={"cursor": first["next_cursor"]}, headers=h)).json()
    assert [item["customer_id"] for item in rest["items"]] == [str(c) for c in customers[2:]]
    assert rest["items"][-1]["message_id"] is None  # planned ahead: no message yet
    assert rest["next_cursor"] is None
    only_b = (await api.get(f"{path}/recipients", params={"group": "B"}, headers=h)).json()["items"]
    assert [item["customer_id"] for item in only_b] == [str(customers[2]), str(customers[4])]
    for limit in (0, 1001):
        assert (await api.get(f"{path}/recipients", params={"limit": limit}, headers=h)).status_code == 422

    cancelled = (await api.post(f"{path}/cancel", headers=h)).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["progress"]["suppressed"] == 2
    statuses = {
        row["message_id"]: (row["status"], row["reason"], row["due_at"])
        for row in await notify_db.fetch(
            "SELECT message_id, status, reason, due_at FROM messages WHERE sender_ref = $1", campaign_id
        )
    }
    assert statuses[queued] == statuses[deferred] == ("suppressed", "cancelled", None)
    assert statuses[flying][:2] == ("queued", None)  # with a provider already: it finishes
    assert statuses[sent][:2] == ("sent", None)
    events = await notify_db.fetchval(
        "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND type = 'message.suppressed'",
        uuid.UUID(tenant.tenant_id),
    )
    assert events == 2
    listed = (await api.get(f"{path}/recipients", params={"limit": 1}, headers=h)).json()["items"][0]
    assert (listed["status"], listed["reason"]) == ("suppressed", "cancelled")

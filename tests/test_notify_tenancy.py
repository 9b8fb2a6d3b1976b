"""Tenants are walls for notify too: another tenant's key, walked over every notify route with the
first tenant's ids, sees 404 or only its own (empty or default) data, and changes nothing of the
owner's; a receipt signed with one tenant's secret moves nothing of another's."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx

from services.notify.domain.wechat_receipts import signature as wechat_signature
from services.notify.providers.signing import generate_secret, signed_headers
from tests.conftest import TenantKey
from tests.notify_peers import HttpPeer, serve
from tests.test_notify_messages_api import eventually

# Every notify path of the public API (tests/test_profile_tenancy.py checks the census covers all).
WALKED = {
    ("put", "/v1/notify/channels/{channel}"),
    ("get", "/v1/notify/channels"),
    ("get", "/v1/notify/channels/{channel}"),
    ("get", "/v1/notify/policy"),
    ("put", "/v1/notify/policy"),
    ("post", "/v1/notify/templates"),
    ("get", "/v1/notify/templates"),
    ("get", "/v1/notify/templates/{template_id}"),
    ("post", "/v1/notify/templates/{template_id}/preview"),
    ("post", "/v1/messages"),
    ("get", "/v1/messages/{message_id}"),
    ("get", "/v1/customers/{customer_id}/messages"),
    ("post", "/v1/notify/receipts/{tenant_id}/{channel}"),
    ("get", "/v1/notify/receipts/{tenant_id}/wechat"),
    ("post", "/v1/journeys"),
    ("get", "/v1/journeys"),
    ("get", "/v1/journeys/{journey_id}"),
    ("put", "/v1/journeys/{journey_id}"),
    ("post", "/v1/journeys/{journey_id}/activate"),
    ("post", "/v1/journeys/{journey_id}/pause"),
    ("post", "/v1/journeys/{journey_id}/archive"),
    ("get", "/v1/journeys/{journey_id}/stats"),
    ("get", "/v1/customers/{customer_id}/journeys"),
    ("get", "/v1/journey-templates"),
    ("post", "/v1/campaigns"),
    ("get", "/v1/campaigns"),
    ("get", "/v1/campaigns/{campaign_id}"),
    ("post", "/v1/campaigns/{campaign_id}/start"),
    ("post", "/v1/campaigns/{campaign_id}/pause"),
    ("post", "/v1/campaigns/{campaign_id}/resume"),
    ("post", "/v1/campaigns/{campaign_id}/cancel"),
    ("get", "/v1/campaigns/{campaign_id}/recipients"),
    ("get", "/v1/campaigns/{campaign_id}/report"),
}


async def _http_channel(api: httpx.AsyncClient, key: TenantKey, secret: str, url: str) -> None:
    body = {"provider": "http", "settings": {"url": url, "secret": secret}}
    response = await api.put("/v1/notify/channels/sms", json=body, headers=key.headers)
    assert response.status_code == 200, response.text


async def test_another_tenant_sees_and_changes_nothing_of_the_owners_notify_data(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    owner, intruder = tenant.headers, other_tenant.headers
    secret = generate_secret()
    await _http_channel(api, tenant, secret, "http://127.0.0.1:9/owner")
    policy = {"frequency_caps": [{"max": 3, "per": "P1D"}], "quiet_hours": None}
    assert (await api.put("/v1/notify/policy", json=policy, headers=owner)).status_code == 200
    template = {
        "name": "owner's",
        "channel": "sms",
        "purpose": "service",
        "body": "Hi {{ customer.nickname }}",
    }
    created = await api.post("/v1/notify/templates", json=template, headers=owner)
    assert created.status_code == 201, created.text
    template_id = created.json()["template_id"]
    body = {"identities": [{"type": "phone", "value": "13800009911"}], "attributes": {"nickname": "Ma"}}
    customer_id = (await api.post("/v1/customers/identify", json=body, headers=owner)).json()["customer_id"]
    sent = await api.post(
        "/v1/messages", json={"customer_id": customer_id, "template_id": template_id}, headers=owner
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["message_id"]

    # Reads: 404 or the intruder's own empty/default data.
    assert (await api.get("/v1/notify/channels", headers=intruder)).json() == []
    assert (await api.get("/v1/notify/channels/sms", headers=intruder)).status_code == 404
    assert (await api.get("/v1/notify/policy", headers=intruder)).json()["frequency_caps"] == []
    assert (await api.get("/v1/notify/templates", headers=intruder)).json()["items"] == []
    assert (await api.get(f"/v1/notify/templates/{template_id}", headers=intruder)).status_code == 404
    preview = await api.post(
        f"/v1/notify/templates/{template_id}/preview", json={"customer_id": customer_id}, headers=intruder
    )
    assert preview.status_code == 404
    assert (await api.get(f"/v1/messages/{message_id}", headers=intruder)).status_code == 404
    listed = await api.get(f"/v1/customers/{customer_id}/messages", headers=intruder)
    assert listed.status_code in (200, 404)
    if listed.status_code == 200:
        assert listed.json()["items"] == []
    stolen = await api.post(
        "/v1/messages", json={"customer_id": customer_id, "template_id": template_id}, headers=intruder
    )
    assert stolen.status_code == 404

    # Writes land in the intruder's own tenant only.
    await _http_channel(api, other_tenant, generate_secret(), "http://127.0.0.1:9/intruder")
    assert (
        await api.put("/v1/notify/policy", json={"frequency_caps": []}, headers=intruder)
    ).status_code == 200
    own = await api.post("/v1/notify/templates", json=template, headers=intruder)
    assert own.status_code == 201  # the same name is free in another tenant

    # A receipt signed with the owner's secret, sent to the intruder's path, moves nothing.
    receipt = json.dumps({"message_id": message_id, "status": "delivered"}).encode()
    headers = signed_headers(secret, "rcpt-1", datetime.now(UTC), receipt)
    crossed = await api.post(
        f"/v1/notify/receipts/{other_tenant.tenant_id}/sms", content=receipt, headers=headers
    )
    assert crossed.status_code == 401
    unsigned = await api.post(f"/v1/notify/receipts/{tenant.tenant_id}/sms", content=receipt)
    assert unsigned.status_code == 401

    # WeChat's URL check signed with the owner's Token, on the intruder's path, verifies nothing.
    wechat = {"app_id": "wx-owner", "app_secret": "s", "callback_token": "OwnerToken1"}
    owned = await api.put(
        "/v1/notify/channels/wechat", json={"provider": "wechat", "settings": wechat}, headers=owner
    )
    assert owned.status_code == 200, owned.text
    timestamp = str(int(time.time()))
    check = {
        "signature": wechat_signature("OwnerToken1", timestamp, "n1"),
        "timestamp": timestamp,
        "nonce": "n1",
        "echostr": "e1",
    }
    crossed_check = await api.get(f"/v1/notify/receipts/{other_tenant.tenant_id}/wechat", params=check)
    assert crossed_check.status_code in (401, 404)
    assert (await api.get(f"/v1/notify/receipts/{tenant.tenant_id}/wechat", params=check)).text == "e1"

    # The owner's data is as it was.
    channel = (await api.get("/v1/notify/channels/sms", headers=owner)).json()
    assert channel["settings"]["url"] == "http://127.0.0.1:9/owner"
    assert (await api.get("/v1/notify/policy", headers=owner)).json()["frequency_caps"] == [
        {"max": 3, "per": "P1D"}
    ]
    assert (await api.get(f"/v1/messages/{message_id}", headers=owner)).status_code == 200


async def test_a_receipt_signed_by_the_channel_marks_the_message_delivered(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    secret = generate_secret()
    peer = HttpPeer(secret=secret)
    async with serve(peer.app()) as base_url:
        await _http_channel(api, tenant, secret, f"{base_url}/hook")
        body = {"identities": [{"type": "phone", "value": "13800009922"}]}
        customer_id = (await api.post("/v1/customers/identify", json=body, headers=tenant.headers)).json()[
            "customer_id"
        ]
        template = {"name": "receipt", "channel": "sms", "purpose": "service", "body": "Your parcel left"}
        template_id = (await api.post("/v1/notify/templates", json=template, headers=tenant.headers)).json()[
            "template_id"
        ]
        sent = await api.post(
            "/v1/messages",
            json={"customer_id": customer_id, "template_id": template_id},
            headers=tenant.headers,
        )
        message_id = sent.json()["message_id"]
        status = await eventually(
            lambda: api.get(f"/v1/messages/{message_id}", headers=tenant.headers),
            lambda r: r.json()["status"] == "sent",
        )
        assert status.json()["status"] == "sent"
        assert peer.received[message_id]["to"] == "+8613800009922"

    path = f"/v1/notify/receipts/{tenant.tenant_id}/sms"
    unknown = json.dumps([{"message_id": "not-a-uuid", "status": "delivered"}]).encode()
    bad = await api.post(
        path, content=unknown, headers=signed_headers(secret, "r-1", datetime.now(UTC), unknown)
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "[0].message_id"
    receipt = json.dumps({"message_id": message_id, "status": "delivered"}).encode()
    tampered = await api.post(
        path,
        content=receipt.replace(b"delivered", b"bounced!!"),
        headers=signed_headers(secret, "r-2", datetime.now(UTC), receipt),
    )
    assert tampered.status_code == 401
    applied = await api.post(
        path, content=receipt, headers=signed_headers(secret, "r-3", datetime.now(UTC), receipt)
    )
    assert applied.json() == {"applied": 1}
    again = await api.post(
        path, content=receipt, headers=signed_headers(secret, "r-4", datetime.now(UTC), receipt)
    )
    assert again.json() == {"applied": 0}
    delivered = (await api.get(f"/v1/messages/{message_id}", headers=tenant.headers)).json()
    assert delivered["status"] == "delivered"
    assert delivered["delivered_at"] is not None


async def test_another_tenants_journeys_are_not_found_and_their_instances_never_leak(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    owner, intruder = tenant.headers, other_tenant.headers
    template = {"name": "thanks", "channel": "sms", "purpose": "service", "body": "Thank you"}
    template_id = (await api.post("/v1/notify/templates", json=template, headers=owner)).json()["template_id"]
    document = {
        "name": "Thanks",
        "trigger": {"order": "paid", "first": True},
        "steps": [{"send": {"template_id": template_id}}],
    }
    created = await api.post("/v1/journeys", json=document, headers=owner)
    assert created.status_code == 201, created.text
    journey_id = created.json()["journey_id"]
    customer_id = uuid.uuid4()
    connection = await asyncpg.connect(database_urls["notify"])
    try:
        await connection.execute(
            "INSERT INTO journey_instances (tenant_id, instance_id, journey_id, version, customer_id, status,"
            " cursor, entry_key, entered_at, trigger_at, context)"
            " VALUES ($1, $2, $3, 1, $4, 'active', 'steps[0]', 'k', now(), now(), '{}'::jsonb)",
            uuid.UUID(tenant.tenant_id),
            uuid.uuid4(),
            uuid.UUID(journey_id),
            customer_id,
        )
    finally:
        await connection.close()

    path = f"/v1/journeys/{journey_id}"
    assert (await api.get(path, headers=intruder)).status_code == 404
    assert (await api.get(f"{path}/stats", headers=intruder)).status_code == 404
    for action in ("activate", "pause", "archive"):
        assert (await api.post(f"{path}/{action}", headers=intruder)).status_code == 404
    assert (await api.put(path, json=document, headers=intruder)).status_code in (404, 422)
    assert (await api.get("/v1/journeys", headers=intruder)).json()["items"] == []
    assert (await api.get(f"/v1/customers/{customer_id}/journeys", headers=intruder)).json()["items"] == []
    # The owner's template is not the intruder's to use: 422 at its path, nothing created.
    stolen = await api.post("/v1/journeys", json=document, headers=intruder)
    assert stolen.status_code == 422
    assert stolen.json()["errors"] == [{"field": "steps[0].send.template_id", "message": "unknown template"}]
    catalogue = await api.get("/v1/journey-templates", headers=intruder)
    assert catalogue.status_code == 200

    # The owner's journey is as it was.
    mine = (await api.get(path, headers=owner)).json()
    assert (mine["status"], mine["version"]) == ("draft", 1)
    assert (await api.get(f"/v1/customers/{customer_id}/journeys", headers=owner)).json()["items"][0][
        "journey_id"
    ] == journey_id


async def test_another_tenants_campaigns_are_not_found_and_their_ids_are_not_the_intruders_to_use(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    owner, intruder = tenant.headers, other_tenant.headers
    template = {"name": "sale", "channel": "sms", "purpose": "marketing", "body": "Sale!"}
    template_id = (await api.post("/v1/notify/templates", json=template, headers=owner)).json()["template_id"]
    condition = {"field": "orders.count", "op": "gte", "value": 1}
    segment = await api.post("/v1/segments", json={"name": "buyers", "condition": condition}, headers=owner)
    assert segment.status_code == 201, segment.text
    document = {
        "name": "Sale",
        "segment_id": segment.json()["segment_id"],
        "variants": [{"name": "A", "template_id": template_id, "weight": 1}],
    }
    created = await api.post("/v1/campaigns", json=document, headers=owner)
    assert created.status_code == 201, created.text
    path = f"/v1/campaigns/{created.json()['campaign_id']}"

    assert (await api.get(path, headers=intruder)).status_code == 404
    assert (await api.get(f"{path}/recipients", headers=intruder)).status_code == 404
    assert (await api.get(f"{path}/report", headers=intruder)).status_code == 404
    for action in ("start", "pause", "resume", "cancel"):
        assert (await api.post(f"{path}/{action}", headers=intruder)).status_code == 404
    assert (await api.get("/v1/campaigns", headers=intruder)).json()["items"] == []
    stolen = await api.post("/v1/campaigns", json=document, headers=intruder)
    assert stolen.status_code == 422
    assert {e["field"] for e in stolen.json()["errors"]} == {"segment_id", "variants[0].template_id"}

    # The owner's campaign is as it was.
    assert (await api.get(path, headers=owner)).json()["status"] == "draft"
    assert len((await api.get("/v1/campaigns", headers=owner)).json()["items"]) == 1

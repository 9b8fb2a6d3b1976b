"""Campaigns end to end through the real services: a saved segment's members are snapshotted,
assigned, planned through the policy, rendered and delivered to a real SMTP peer."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx

from services.notify.domain.campaign_assignment import thresholds
from tests.conftest import TenantKey
from tests.notify_peers import SmtpPeer
from tests.test_notify_messages_api import consent, customer, email_channel, eventually, mailbox, template


async def city_segment(api: httpx.AsyncClient, tenant: TenantKey, city: str) -> str:
    body = {"name": f"in {city}", "condition": {"field": "attributes.city", "op": "eq", "value": city}}
    response = await api.post("/v1/segments", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["segment_id"])


async def members(api: httpx.AsyncClient, tenant: TenantKey, segment_id: str) -> int:
    response = await api.get(f"/v1/segments/{segment_id}/members?limit=500", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


async def insert_campaign(
    notify_url: str, tenant_id: str, segment_id: str, variants: list[tuple[str, str, int]], holdout: float
) -> str:
    campaign_id = str(uuid.uuid4())
    connection = await asyncpg.connect(notify_url)
    try:
        await connection.execute(
            """
            INSERT INTO campaigns (tenant_id, campaign_id, name, segment_id, document, status, phase, groups,
              templates, ends, conversion_window, send_zone, created_at, updated_at, started_at, wake_at,
              first_send_at)
            VALUES ($1, $2, 'test', $3, $4, 'running', 'snapshot', $5, $6, $7, interval '7 days', 'tenant',
              now(), now(), now(), now(), now())
            """,
            uuid.UUID(tenant_id),
            uuid.UUID(campaign_id),
            uuid.UUID(segment_id),
            json.dumps({"variants": [{"name": n, "template_id": t, "weight": w} for n, t, w in variants]}),
            [n for n, _, _ in variants],
            [uuid.UUID(t) for _, t, _ in variants],
            thresholds([w for _, _, w in variants], holdout),
        )
    finally:
        await connection.close()
    return campaign_id


async def campaign_view(api: httpx.AsyncClient, tenant: TenantKey, campaign_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/campaigns/{campaign_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def campaign_row(notify_url: str, campaign_id: str) -> dict[str, Any]:
    connection = await asyncpg.connect(notify_url)
    try:
        row = await connection.fetchrow(
            "SELECT * FROM campaigns WHERE campaign_id = $1", uuid.UUID(campaign_id)
        )
        return dict(row) if row else {}
    finally:
        await connection.close()


async def test_a_campaign_reaches_each_consenting_member_once(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    city = f"城{uuid.uuid4().hex[:6]}"
    segment = await city_segment(api, tenant, city)
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        first = await template(api, tenant, subject="A {{ customer.nickname }}", body="A", html=None)
        second = await template(api, tenant, subject="B {{ customer.nickname }}", body="B", html=None)
        people = []
        for index in range(12):
            someone = await customer(api, tenant, f"c{index}-{uuid.uuid4().hex[:6]}@shop.example")
            patched = await api.patch(
                f"/v1/customers/{someone}", json={"attributes": {"city": city}}, headers=tenant.headers
            )
            assert patched.status_code == 200
            if index % 4:
                await consent(api, tenant, someone)
            people.append(someone)
        assert await eventually(lambda: members(api, tenant, segment), lambda n: n == 12) == 12
        body = {
            "name": "双十二预热",
            "segment_id": segment,
            "variants": [
                {"name": "A", "template_id": first, "weight": 1},
                {"name": "B", "template_id": second, "weight": 1},
            ],
            "holdout_percent": 10,
        }
        created = await api.post("/v1/campaigns", json=body, headers=tenant.headers)
        assert created.status_code == 201, created.text
        campaign = created.json()["campaign_id"]
        started = await api.post(f"/v1/campaigns/{campaign}/start", headers=tenant.headers)
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "running"
        done = await eventually(
            lambda: campaign_view(api, tenant, campaign), lambda v: v["status"] == "completed"
        )
        assert done["status"] == "completed", done
        progress = done["progress"]
        assert progress["recipients"] == 12
        assert progress["planned"] == 12 - progress["holdout"]
        assert progress["sent"] + progress["suppressed"] == progress["planned"]
        assert done["snapshot_at"] is not None and done["segment_version"] == 1
        rows = await recipients_and_messages(database_urls["notify"], campaign)
        assert sorted(str(r["customer_id"]) for r in rows) == sorted(people)
        consenting = {p for index, p in enumerate(people) if index % 4}
        for row in rows:
            if row["group_name"] == "holdout":
                assert row["message_id"] is None
                continue
            assert row["message_id"] == row["planned_id"]
            if str(row["customer_id"]) in consenting:
                assert row["status"] == "sent", row
                assert row["subject"] == f"{row['group_name']} Lin"
            else:
                assert (row["status"], row["reason"]) == ("suppressed", "no_consent"), row
        sent = [r for r in rows if r["status"] == "sent"]
        mails = await eventually(lambda: _mails(peer), lambda m: len(m) >= len(sent))
        assert len(mails) == len(sent)
        assert sorted(m["Subject"] for m in mails) == sorted(r["subject"] for r in sent)


async def _mails(peer: SmtpPeer) -> list[Any]:
    return mailbox(peer)


async def recipients_and_messages(notify_url: str, campaign_id: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(notify_url)
    try:
        rows = await connection.fetch(
            """
            SELECT r.position, r.customer_id, r.group_name, r.message_id AS planned_id, m.message_id,
                   m.status, m.reason, m.subject, m.due_at, m.render_at
            FROM campaign_recipients AS r LEFT JOIN messages AS m ON m.message_id = r.message_id
            WHERE r.campaign_id = $1 ORDER BY r.position
            """,
            uuid.UUID(campaign_id),
        )
        return [dict(row) for row in rows]
    finally:
        await connection.close()

"""A customer's life as notify sees it, through the gateway: an erasure suppresses what was waiting
and forgets the texts and contacts, a merge folds one history into the survivor's (the cap counts
both), and a paid order converts the marketing messages sent before it (never a service message,
never one sent after the payment).
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.conftest import TenantKey
from tests.notify_peers import HttpPeer, SmtpPeer, serve
from tests.test_notify_messages_api import (
    consent,
    customer,
    email_channel,
    eventually,
    message,
    notify_export,
    send,
    template,
)

SECRET = "whsec_" + base64.b64encode(b"patron-lifecycle-secret-32-bytes").decode()


async def put_policy(api: httpx.AsyncClient, tenant: TenantKey, document: dict[str, Any]) -> None:
    response = await api.put("/v1/notify/policy", json=document, headers=tenant.headers)
    assert response.status_code == 200, response.text


def quiet_now() -> dict[str, str]:
    """Quiet hours from a minute ago to two hours ahead (UTC): a marketing message is deferred."""
    now = datetime.now(UTC)
    return {
        "start": (now - timedelta(minutes=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }


async def sms_channel(api: httpx.AsyncClient, tenant: TenantKey, base_url: str) -> None:
    body = {"provider": "http", "settings": {"url": f"{base_url}/hook", "secret": SECRET}}
    response = await api.put("/v1/notify/channels/sms", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def sms_template(api: httpx.AsyncClient, tenant: TenantKey, purpose: str = "marketing") -> str:
    body = {
        "name": f"sms {uuid.uuid4().hex[:6]}",
        "channel": "sms",
        "purpose": purpose,
        "body": "Hi {{ data.offer }}",
    }
    response = await api.post("/v1/notify/templates", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["template_id"])


async def sms_customer(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    suffix = uuid.uuid4().int % 100_000_000
    body = {
        "identities": [{"type": "phone", "value": f"+86137{suffix:08d}"}],
        "attributes": {"nickname": "Jun"},
    }
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


async def sent(api: httpx.AsyncClient, tenant: TenantKey, message_id: str) -> dict[str, Any]:
    done = await eventually(lambda: message(api, tenant, message_id), lambda m: m["status"] == "sent")
    assert done["status"] == "sent", done
    return dict(done)


async def pay(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, paid_at: datetime) -> str:
    order_id = f"SO-{uuid.uuid4().hex[:12]}"
    body = {
        "order_id": order_id,
        "customer_id": customer_id,
        "paid_at": paid_at.isoformat(),
        "currency": "CNY",
        "amount_minor": 8_800,
        "items": [{"sku": "TEA-1", "unit_price_minor": 8_800, "quantity": 1}],
    }
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return order_id


async def notify_rows(url: str, customer_id: str) -> list[dict[str, Any]]:
    """What notify's table holds of a customer's messages that could identify or describe them."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT message_id::text, contact_masked, subject, body, html, data::text, "
            "provider_params::text, dedupe_key, error FROM messages WHERE customer_id = $1 "
            "ORDER BY created_at",
            uuid.UUID(customer_id),
        )
    finally:
        await connection.close()
    return [dict(row) for row in rows]


async def notify_consents(url: str, customer_id: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM consents WHERE customer_id = $1", uuid.UUID(customer_id)
        )
    finally:
        await connection.close()
    return int(count)


async def test_erasure_suppresses_waiting_messages_and_forgets_texts_and_contacts(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        customer_id = await customer(api, tenant, "erase.me@example.com", nickname="Mei")
        await consent(api, tenant, customer_id)
        template_id = await template(api, tenant)
        delivered = await send(api, tenant, customer_id, template_id)
        await sent(api, tenant, delivered["message_id"])
        await put_policy(api, tenant, {"frequency_caps": [], "quiet_hours": quiet_now()})
        waiting = await send(api, tenant, customer_id, template_id, dedupe_key="erase-me-1")
        assert waiting["status"] == "deferred", waiting
        before = await notify_export(api, tenant, customer_id)
        assert {m["subject"] for m in before["messages"]} == {"Hi Mei"}

        erased = await api.delete(f"/v1/customers/{customer_id}", headers=tenant.headers)
        assert erased.status_code == 200, erased.text

        suppressed = await eventually(
            lambda: message(api, tenant, waiting["message_id"]), lambda m: m["status"] == "suppressed"
        )
        assert (suppressed["status"], suppressed["reason"]) == ("suppressed", "erased")
        assert suppressed["to"] is None
        first = await message(api, tenant, delivered["message_id"])
        assert (first["status"], first["to"]) == ("sent", None)
        # Profile answers an erased customer's export with 404 (there is no one left to export), so
        # what notify kept is read from its own table: the bare records, without texts or contacts.
        gone = await api.get(f"/v1/customers/{customer_id}/export", headers=tenant.headers)
        assert gone.status_code == 404, gone.text
        rows = await notify_rows(database_urls["notify"], customer_id)
        assert [r["message_id"] for r in rows] == [delivered["message_id"], waiting["message_id"]]
        assert all(set(r.values()) - {r["message_id"]} == {None} for r in rows), rows
        assert await notify_consents(database_urls["notify"], customer_id) == 0

        later = await api.post(
            "/v1/messages",
            json={"customer_id": customer_id, "template_id": template_id, "data": {"offer": "x"}},
            headers=tenant.headers,
        )
        assert later.status_code == 202, later.text
        assert (later.json()["status"], later.json()["reason"]) == ("suppressed", "erased")
        assert len(peer.handler.messages) == 1  # only the message sent before the erasure


async def test_a_merge_moves_messages_and_consents_to_the_survivor_and_the_cap_counts_both(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    peer = HttpPeer(secret=SECRET)
    async with serve(peer.app()) as url:
        await sms_channel(api, tenant, url)
        template_id = await sms_template(api, tenant)
        survivor, other = await sms_customer(api, tenant), await sms_customer(api, tenant)
        await consent(api, tenant, survivor, "sms")
        await consent(api, tenant, other, "sms")
        await consent(api, tenant, other, "push")  # only the merged-away customer gave this one
        await put_policy(api, tenant, {"frequency_caps": [{"max": 2, "per": "P7D"}], "quiet_hours": None})
        mine = await send(api, tenant, survivor, template_id)
        theirs = await send(api, tenant, other, template_id)
        for answer in (mine, theirs):
            await sent(api, tenant, answer["message_id"])

        merged = await api.post(
            f"/v1/customers/{survivor}/merge", json={"other_customer_id": other}, headers=tenant.headers
        )
        assert merged.status_code == 200, merged.text

        async def history() -> dict[str, Any]:
            return await notify_export(api, tenant, survivor)

        # The export gathers the merged ids too: wait for notify itself to have moved the messages.
        part = await eventually(
            history, lambda p: [m["customer_id"] for m in p["messages"]] == [survivor, survivor]
        )
        assert {m["message_id"] for m in part["messages"]} == {mine["message_id"], theirs["message_id"]}
        assert {(c["channel"], c["purpose"], c["granted"]) for c in part["consents"]} == {
            ("sms", "marketing", True),
            ("push", "marketing", True),
        }
        moved = await message(api, tenant, theirs["message_id"])
        assert moved["customer_id"] == survivor
        listed = await api.get(f"/v1/customers/{other}/messages", headers=tenant.headers)
        assert {m["message_id"] for m in listed.json()["items"]} == {mine["message_id"], theirs["message_id"]}

        # Two marketing messages in seven days between them: the cap of two is reached.
        third = await send(api, tenant, survivor, template_id)
        assert (third["status"], third["reason"]) == ("suppressed", "capped")
        via_old_id = await send(api, tenant, other, template_id)
        assert (via_old_id["customer_id"], via_old_id["status"], via_old_id["reason"]) == (
            survivor,
            "suppressed",
            "capped",
        )
        assert sorted(peer.received) == sorted([mine["message_id"], theirs["message_id"]])


async def test_a_paid_order_converts_the_marketing_message_sent_before_it_only(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    peer = HttpPeer(secret=SECRET)
    async with serve(peer.app()) as url:
        await sms_channel(api, tenant, url)
        marketing_template = await sms_template(api, tenant)
        service_template = await sms_template(api, tenant, purpose="service")
        customer_id = await sms_customer(api, tenant)
        await consent(api, tenant, customer_id, "sms")
        marketing = await sent(
            api, tenant, (await send(api, tenant, customer_id, marketing_template))["message_id"]
        )
        service = await sent(
            api, tenant, (await send(api, tenant, customer_id, service_template))["message_id"]
        )
        sent_at = datetime.fromisoformat(marketing["sent_at"])

        # An order paid before the message was sent does not convert it; the later one does. The
        # customer's events arrive in order, so the conversion by the later order also shows that
        # the earlier one was applied without converting anything.
        earlier = await pay(api, tenant, customer_id, sent_at - timedelta(minutes=5))
        later = await pay(api, tenant, customer_id, datetime.now(UTC) + timedelta(seconds=1))

        converted = await eventually(
            lambda: message(api, tenant, marketing["message_id"]), lambda m: m["converted_at"] is not None
        )
        assert converted["conversion_order_id"] == later, (earlier, converted)
        assert converted["converted_at"] is not None
        assert converted["status"] == "sent"
        never = await message(api, tenant, service["message_id"])
        assert (never["converted_at"], never["conversion_order_id"]) == (None, None)


async def test_after_a_chain_of_merges_the_first_id_still_answers_for_the_survivor(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    peer = HttpPeer(secret=SECRET)
    async with serve(peer.app()) as url:
        await sms_channel(api, tenant, url)
        template_id = await sms_template(api, tenant)
        first, middle, last = [await sms_customer(api, tenant) for _ in range(3)]
        await consent(api, tenant, first, "sms")
        message_id = (await send(api, tenant, first, template_id))["message_id"]
        await sent(api, tenant, message_id)

        for survivor, other in ((middle, first), (last, middle)):
            merged = await api.post(
                f"/v1/customers/{survivor}/merge", json={"other_customer_id": other}, headers=tenant.headers
            )
            assert merged.status_code == 200, merged.text

            async def survivor_part(s: str = survivor) -> dict[str, Any]:
                return await notify_export(api, tenant, s)

            # The export gathers the merged ids too, so wait for notify to have moved the message itself.
            def moved(p: dict[str, Any], s: str = survivor) -> bool:
                return [m["customer_id"] for m in p["messages"]] == [s]

            part = await eventually(survivor_part, moved)
            assert [m["message_id"] for m in part["messages"]] == [message_id]

        for asked in (first, middle, last):
            listed = await api.get(f"/v1/customers/{asked}/messages", headers=tenant.headers)
            assert listed.status_code == 200, listed.text
            assert [(m["message_id"], m["customer_id"]) for m in listed.json()["items"]] == [
                (message_id, last)
            ]


async def test_an_erasure_while_the_provider_holds_the_message_records_it_as_sent_only(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """The provider was called before the erasure arrived: the message went, and says so, without
    first being reported suppressed (one status, one event)."""
    peer = HttpPeer(secret=SECRET, latency=4.0)
    async with serve(peer.app()) as url:
        await sms_channel(api, tenant, url)
        template_id = await sms_template(api, tenant)
        customer_id = await sms_customer(api, tenant)
        await consent(api, tenant, customer_id, "sms")
        message_id = (await send(api, tenant, customer_id, template_id))["message_id"]
        claimed = await eventually(lambda: message(api, tenant, message_id), lambda m: m["attempts"] == 1)
        assert (claimed["status"], claimed["attempts"]) == ("queued", 1)

        erased = await api.delete(f"/v1/customers/{customer_id}", headers=tenant.headers)
        assert erased.status_code == 200, erased.text
        # The erasure is applied (the contact is forgotten) while the provider still holds the message.
        forgotten = await eventually(lambda: message(api, tenant, message_id), lambda m: m["to"] is None)
        assert (forgotten["to"], forgotten["sent_at"]) == (None, None), forgotten
        assert (forgotten["status"], forgotten["reason"]) == ("queued", None)

        done = await eventually(lambda: message(api, tenant, message_id), lambda m: m["sent_at"] is not None)
        assert (done["status"], done["reason"], done["to"]) == ("sent", None, None)
        assert list(peer.received) == [message_id]

"""Messages end to end through the gateway: a real SMTP server (aiosmtpd, STARTTLS + AUTH) receives a
templated e-mail with its personal fields and an RFC 8058 unsubscribe header; quiet hours defer a
marketing message until they end; the cap suppresses the next one; an unsubscribe stops the channel.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

from services.notify.providers.signing import generate_secret
from tests.conftest import TenantKey
from tests.notify_peers import HttpPeer, SmtpPeer, serve

T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 20.0) -> T:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def customer(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    email_address: str,
    nickname: str | None = "Lin",
    zone: str = "UTC",
) -> str:
    attributes: dict[str, Any] = {"timezone": zone}
    if nickname is not None:
        attributes["nickname"] = nickname
    body = {"identities": [{"type": "email", "value": email_address}], "attributes": attributes}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


async def notify_export(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer_id}/export", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["notify"])


async def consent(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, channel: str = "email"
) -> None:
    """Grant marketing consent in profile and wait until notify keeps it (its consumer applies it)."""
    body = {"channel": channel, "purpose": "marketing", "granted": True}
    response = await api.put(f"/v1/customers/{customer_id}/consents", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    kept = await eventually(
        lambda: notify_export(api, tenant, customer_id),
        lambda part: any(c["channel"] == channel and c["granted"] for c in part["consents"]),
    )
    assert kept["consents"], "notify never received the consent"


async def email_channel(api: httpx.AsyncClient, tenant: TenantKey, peer: SmtpPeer) -> dict[str, Any]:
    settings = {
        "host": "127.0.0.1",
        "port": peer.port,
        "username": peer.username,
        "password": peer.password,
        "starttls": True,
        "from": "Shop <news@shop.example>",
        "ca_pem": peer.cert.read_text(),
    }
    response = await api.put(
        "/v1/notify/channels/email", json={"provider": "smtp", "settings": settings}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def template(api: httpx.AsyncClient, tenant: TenantKey, **fields: Any) -> str:
    body = {
        "name": f"welcome {uuid.uuid4().hex[:6]}",
        "channel": "email",
        "purpose": "marketing",
        "subject": "Hi {{ customer.nickname }}",
        "body": "Dear {{ customer.nickname }}, {{ data.offer }} awaits.",
        "html": '<p>Dear {{ customer.nickname }}</p><a href="https://shop.example/sale">Sale</a>',
        **fields,
    }
    response = await api.post("/v1/notify/templates", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["template_id"])


async def send(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, template_id: str, **extra: Any
) -> Any:
    body = {"customer_id": customer_id, "template_id": template_id, "data": {"offer": "20% off"}, **extra}
    response = await api.post("/v1/messages", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    return response.json()


async def message(api: httpx.AsyncClient, tenant: TenantKey, message_id: str) -> Any:
    response = await api.get(f"/v1/messages/{message_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def mailbox(peer: SmtpPeer) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(raw, policy=email.policy.default) for _, raw in peer.handler.messages]


async def test_an_email_reaches_the_mailbox_with_its_fields_and_one_click_unsubscribe(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    with SmtpPeer() as peer:
        channel = await email_channel(api, tenant, peer)
        assert channel["secrets_set"] == ["password"]
        assert "password" not in channel["settings"]
        customer_id = await customer(api, tenant, "lin@example.com", nickname="Lin <b>")
        await consent(api, tenant, customer_id)
        template_id = await template(api, tenant)

        queued = await send(api, tenant, customer_id, template_id)
        assert queued["status"] == "queued"
        assert queued["to"] != "lin@example.com"  # masked
        sent = await eventually(
            lambda: message(api, tenant, queued["message_id"]), lambda m: m["status"] == "sent"
        )
        assert sent["status"] == "sent", sent

        (mail,) = mailbox(peer)
        assert mail["Subject"] == "Hi Lin <b>"
        assert mail["To"] == "lin@example.com"
        assert peer.handler.tls_sessions == 1
        assert peer.handler.authenticated
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        raw = peer.handler.messages[0][1]
        assert re.search(rb"\r?\nList-Unsubscribe: <http://[^>\s]+/u/[^>\s]+>\r?\n", raw), raw[:600]
        unsubscribe = re.search(r"<(http[^>]+/u/[^>]+)>", mail["List-Unsubscribe"])
        assert unsubscribe is not None
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "Dear Lin <b>, 20% off awaits." in text
        assert "Dear Lin &lt;b&gt;" in html  # HTML-escaped personal data
        assert "https://shop.example/sale" not in html  # the link goes through the click redirect

        click = re.search(r'href="http[^"]+(/t/c/[^"]+)"', html)
        assert click is not None
        redirect = await api.get(click.group(1), headers={"user-agent": "Mozilla/5.0"})
        assert redirect.status_code == 302
        assert redirect.headers["location"] == "https://shop.example/sale"
        clicked = await message(api, tenant, queued["message_id"])
        assert clicked["status"] == "clicked"
        assert clicked["opened_at"] is not None
        forged = await api.get(click.group(1)[:-3] + "abc")
        assert forged.status_code == 404

        # RFC 8058: a POST of List-Unsubscribe=One-Click to the header's link; the channel stops.
        path = unsubscribe.group(1).split("://", 1)[1].split("/", 1)[1]
        page = await api.get(f"/{path}")
        assert page.status_code == 200
        assert "Unsubscribe" in page.text
        done = await api.post(f"/{path}", content=b"List-Unsubscribe=One-Click")
        assert done.status_code == 200
        after = await send(api, tenant, customer_id, template_id)
        assert (after["status"], after["reason"]) == ("suppressed", "unsubscribed")
        consents = await api.get(f"/v1/customers/{customer_id}/consents", headers=tenant.headers)
        email_marketing = [c for c in consents.json()["items"] if c["channel"] == "email"]
        assert email_marketing
        assert email_marketing[0]["granted"] is False
        assert len(mailbox(peer)) == 1


async def test_quiet_hours_defer_until_they_end_and_the_cap_suppresses(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        customer_id = await customer(api, tenant, "wu@example.com", nickname="Wu", zone="Asia/Shanghai")
        await consent(api, tenant, customer_id)
        template_id = await template(api, tenant)
        first = await send(api, tenant, customer_id, template_id)
        assert first["status"] == "queued"
        await eventually(lambda: message(api, tenant, first["message_id"]), lambda m: m["status"] == "sent")

        # Quiet hours from a minute ago to the next whole minute, in the customer's zone.
        local = datetime.now(UTC).astimezone(zone)
        start = (local - timedelta(minutes=1)).strftime("%H:%M")
        end_at = (local + timedelta(minutes=1)).replace(second=0, microsecond=0)
        policy = {
            "frequency_caps": [{"max": 2, "per": "P7D"}],
            "quiet_hours": {"start": start, "end": end_at.strftime("%H:%M")},
        }
        put = await api.put("/v1/notify/policy", json=policy, headers=tenant.headers)
        assert put.status_code == 200, put.text

        second = await send(api, tenant, customer_id, template_id)
        assert second["status"] == "deferred", second
        assert datetime.fromisoformat(second["due_at"]) == end_at.astimezone(UTC)
        third = await send(api, tenant, customer_id, template_id)
        assert (third["status"], third["reason"]) == ("suppressed", "capped")

        assert len(mailbox(peer)) == 1  # nothing in quiet hours
        arrived = await eventually(
            lambda: message(api, tenant, second["message_id"]), lambda m: m["status"] == "sent", seconds=90
        )
        assert arrived["status"] == "sent"
        assert datetime.fromisoformat(arrived["sent_at"]) >= end_at.astimezone(UTC)
        assert len(mailbox(peer)) == 2
        listed = await api.get(f"/v1/customers/{customer_id}/messages", headers=tenant.headers)
        assert [m["status"] for m in listed.json()["items"]] == ["suppressed", "sent", "sent"]


async def test_missing_personal_data_no_consent_and_unconfigured_channels(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    with SmtpPeer() as peer:
        nameless = await customer(api, tenant, "anon@example.com", nickname=None)
        template_id = await template(api, tenant)
        unconfigured = await api.post(
            "/v1/messages", json={"customer_id": nameless, "template_id": template_id}, headers=tenant.headers
        )
        assert unconfigured.status_code == 409
        await email_channel(api, tenant, peer)
        no_consent = await send(api, tenant, nameless, template_id)
        assert (no_consent["status"], no_consent["reason"]) == ("suppressed", "no_consent")
        await consent(api, tenant, nameless)
        missing = await send(api, tenant, nameless, template_id)
        assert (missing["status"], missing["reason"]) == ("suppressed", "missing_data")
        preview = await api.post(
            f"/v1/notify/templates/{template_id}/preview",
            json={"customer_id": nameless},
            headers=tenant.headers,
        )
        assert preview.status_code == 200
        assert preview.json()["missing"] == ["customer.nickname", "data.offer"]
        assert len(mailbox(peer)) == 0


async def test_templates_and_policies_are_checked_with_paths(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    bad = await api.post(
        "/v1/notify/templates",
        json={"name": "x", "channel": "sms", "purpose": "marketing", "body": "Hi {{ custmer.nickname }"},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body"
    unknown = await api.post(
        "/v1/notify/templates",
        json={"name": "y", "channel": "sms", "purpose": "marketing", "body": "Hi {{ custmer.nickname }}"},
        headers=tenant.headers,
    )
    assert unknown.status_code == 422
    assert "custmer.nickname" in unknown.text
    sms = await api.post(
        "/v1/notify/templates",
        json={
            "name": "z",
            "channel": "sms",
            "purpose": "service",
            "body": "您好 {{ customer.nickname }}" * 10,
        },
        headers=tenant.headers,
    )
    assert sms.status_code == 201
    assert sms.json()["sms"]["encoding"] == "ucs2"
    policy = await api.put(
        "/v1/notify/policy", json={"frequency_caps": [{"max": 2, "per": "P1Y"}]}, headers=tenant.headers
    )
    assert policy.status_code == 422
    assert policy.json()["errors"][0]["field"] == "frequency_caps[0].per"
    channel = await api.put(
        "/v1/notify/channels/email",
        json={"provider": "smtp", "settings": {"port": 0}},
        headers=tenant.headers,
    )
    assert channel.status_code == 422
    assert {e["field"] for e in channel.json()["errors"]} >= {
        "settings.host",
        "settings.port",
        "settings.from",
    }


async def test_message_events_reach_the_merchants_signed_webhook(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    provider, receiver = HttpPeer(secret=generate_secret()), HttpPeer()
    async with serve(provider.app()) as provider_url, serve(receiver.app()) as receiver_url:
        channel = {"provider": "http", "settings": {"url": f"{provider_url}/hook", "secret": provider.secret}}
        assert (
            await api.put("/v1/notify/channels/sms", json=channel, headers=tenant.headers)
        ).status_code == 200
        hook = {"url": f"{receiver_url}/hook", "events": ["message.sent", "message.suppressed"]}
        created = await api.post("/v1/notify/webhooks", json=hook, headers=tenant.headers)
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]  # from now on the receiver verifies every signature
        body = {"identities": [{"type": "phone", "value": "13800009933"}]}
        customer_id = (await api.post("/v1/customers/identify", json=body, headers=tenant.headers)).json()[
            "customer_id"
        ]
        templates = {}
        for purpose in ("service", "marketing"):
            document = {
                "name": f"hook {purpose}",
                "channel": "sms",
                "purpose": purpose,
                "body": "Parcel on its way",
            }
            answer = await api.post("/v1/notify/templates", json=document, headers=tenant.headers)
            templates[purpose] = answer.json()["template_id"]
        service = await send(api, tenant, customer_id, templates["service"])
        marketing = await send(api, tenant, customer_id, templates["marketing"])
        assert marketing["reason"] == "no_consent"

        async def kinds() -> dict[str, str]:
            return {d["data"]["message_id"]: d["type"] for d in receiver.received.values()}

        seen = await eventually(kinds, lambda k: len(k) == 2)
        assert seen == {service["message_id"]: "message.sent", marketing["message_id"]: "message.suppressed"}
        assert receiver.bad_signatures == 0

"""The six classic journeys end to end: created from ``GET /v1/journey-templates`` through the gateway
(their templates and coupon templates made for the tenant), activated, triggered by real events, run
on the journeys' clock (moved on instead of waiting days) and delivered to a real SMTP peer."""

from __future__ import annotations

import email.message
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from services.notify.journey_clock import JourneyClock
from tests.conftest import TenantKey
from tests.journey_support import instances, move_clock
from tests.notify_peers import SmtpPeer
from tests.test_journey_engine import add_to_cart, pay_now
from tests.test_notify_messages_api import customer, email_channel, eventually, mailbox, notify_export


async def start(api: httpx.AsyncClient, tenant: TenantKey, name: str, **overrides: Any) -> str:
    """Create a journey from a classic and activate it."""
    body = {"from_template": name, "name": f"{name} {uuid.uuid4().hex[:6]}", **overrides}
    created = await api.post("/v1/journeys", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    journey_id = str(created.json()["journey_id"])
    activated = await api.post(f"/v1/journeys/{journey_id}/activate", headers=tenant.headers)
    assert activated.status_code == 200, activated.text
    return journey_id


async def consented(api: httpx.AsyncClient, tenant: TenantKey, **attributes: Any) -> str:
    """A customer with e-mail consent for marketing and service, kept by notify."""
    customer_id = await customer(api, tenant, f"c-{uuid.uuid4().hex[:8]}@shop.example")
    if attributes:
        patched = await api.patch(
            f"/v1/customers/{customer_id}", json={"attributes": attributes}, headers=tenant.headers
        )
        assert patched.status_code == 200, patched.text
    for purpose in ("marketing", "service"):
        body = {"channel": "email", "purpose": purpose, "granted": True}
        response = await api.put(f"/v1/customers/{customer_id}/consents", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
    await eventually(
        lambda: notify_export(api, tenant, customer_id),
        lambda part: sum(c["granted"] for c in part["consents"]) == 2,
    )
    return customer_id


def mails_to(peer: SmtpPeer, address_part: str) -> list[email.message.EmailMessage]:
    return [m for m in mailbox(peer) if address_part in str(m["To"])]


async def messages_of(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/customers/{customer_id}/messages", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def coupons_of(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/customers/{customer_id}/coupons", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def sent(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, count: int
) -> list[dict[str, Any]]:
    """The customer's journey messages once ``count`` of them left for the SMTP peer."""
    return await eventually(
        lambda: messages_of(api, tenant, customer_id),
        lambda items: sum(m["status"] in ("sent", "delivered") for m in items) >= count,
        seconds=30,
    )


async def coupon_template_of(api: httpx.AsyncClient, tenant: TenantKey, coupon: dict[str, Any]) -> Any:
    response = await api.get(f"/v1/coupon-templates/{coupon['template_id']}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def body_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def test_abandoned_cart_classic(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], journey_clock: Path
) -> None:
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        journey = await start(api, tenant, "abandoned_cart")
        stays, buys = await consented(api, tenant), await consented(api, tenant)
        await add_to_cart(api, tenant, stays)
        await add_to_cart(api, tenant, buys)
        await eventually(lambda: instances(database_urls["notify"], journey), lambda rows: len(rows) == 2)
        await pay_now(api, tenant, buys)
        await eventually(
            lambda: instances(database_urls["notify"], journey),
            lambda rows: any(r["status"] == "converted" for r in rows),
        )
        move_clock(journey_clock, 25 * 3600)
        items = await sent(api, tenant, stays, 1)
        assert len(items) == 1
        (coupon,) = await coupons_of(api, tenant, stays)
        assert (await coupon_template_of(api, tenant, coupon))["discount_minor"] == 500
        (mail,) = [m for m in mailbox(peer) if coupon["code"] in body_of(m)]
        assert "库存" in str(mail["Subject"]) + body_of(mail)
        assert await messages_of(api, tenant, buys) == []
        assert await coupons_of(api, tenant, buys) == []


async def test_first_order_thanks_classic(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], journey_clock: Path
) -> None:
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        journey = await start(api, tenant, "first_order_thanks")
        buyer = await consented(api, tenant)
        await pay_now(api, tenant, buyer)
        await sent(api, tenant, buyer, 1)  # the thank-you at once
        await pay_now(api, tenant, buyer)  # a second order starts nothing
        move_clock(journey_clock, 8 * 86400)
        items = await sent(api, tenant, buyer, 2)
        assert len(items) == 2
        (coupon,) = await coupons_of(api, tenant, buyer)
        assert any(coupon["code"] in body_of(m) for m in mailbox(peer))
        rows = await instances(database_urls["notify"], journey)
        assert [r["status"] for r in rows] == ["completed"]


async def test_birthday_classic_gives_the_tiers_birthday_coupon(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], journey_clock: Path
) -> None:
    gift = await api.post(
        "/v1/coupon-templates",
        json={"name": "生日8折", "kind": "percent", "percent_off": 20, "valid_days": 14},
        headers=tenant.headers,
    )
    assert gift.status_code == 201, gift.text
    program = (await api.get("/v1/loyalty/program", headers=tenant.headers)).json()
    program.pop("version", None)
    for tier in program["ladder"]["tiers"]:
        tier["benefits"]["birthday_coupon_template_id"] = gift.json()["template_id"]
    assert (await api.put("/v1/loyalty/program", json=program, headers=tenant.headers)).status_code == 200
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        journey = await start(api, tenant, "birthday")
        today = JourneyClock(str(journey_clock)).now()  # other tests moved the journeys' clock on
        soon = (today + timedelta(days=3)).date().replace(year=1992)
        celebrant = await consented(api, tenant, birthday=soon.isoformat())
        far = (today + timedelta(days=40)).date().replace(year=1992)
        await consented(api, tenant, birthday=far.isoformat())
        await sent(api, tenant, celebrant, 1)
        (coupon,) = await coupons_of(api, tenant, celebrant)
        assert coupon["template_id"] == gift.json()["template_id"]
        assert any(coupon["code"] in body_of(m) for m in mailbox(peer))
        rows = await instances(database_urls["notify"], journey)
        assert [str(r["customer_id"]) for r in rows] == [celebrant]


async def test_win_back_classic(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], journey_clock: Path
) -> None:
    city = f"城{uuid.uuid4().hex[:6]}"
    saved = await api.post(
        "/v1/segments",
        json={"name": "30 天未访问", "condition": {"field": "attributes.city", "op": "eq", "value": city}},
        headers=tenant.headers,
    )
    assert saved.status_code == 201, saved.text
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        journey = await start(api, tenant, "win_back", parameters={"segment_id": saved.json()["segment_id"]})
        lapsed, returns = await consented(api, tenant), await consented(api, tenant)
        for person in (lapsed, returns):
            patched = await api.patch(
                f"/v1/customers/{person}", json={"attributes": {"city": city}}, headers=tenant.headers
            )
            assert patched.status_code == 200, patched.text
        await sent(api, tenant, lapsed, 1)  # "we miss you" at once
        await sent(api, tenant, returns, 1)
        await pay_now(api, tenant, returns)
        await eventually(  # the order reached notify before 60 days pass on the journeys' clock
            lambda: instances(database_urls["notify"], journey),
            lambda rows: any(r["status"] == "converted" for r in rows),
        )
        move_clock(journey_clock, 61 * 86400)
        await sent(api, tenant, lapsed, 2)  # day 90: one big coupon, then stop
        (coupon,) = await coupons_of(api, tenant, lapsed)
        assert (await coupon_template_of(api, tenant, coupon))["discount_minor"] == 5000
        rows = {str(r["customer_id"]): r for r in await instances(database_urls["notify"], journey)}
        assert rows[lapsed]["status"] == "completed"
        assert rows[returns]["status"] in ("converted", "exited")
        assert await coupons_of(api, tenant, returns) == []
        assert len(await messages_of(api, tenant, returns)) == 1


async def test_tier_upgraded_classic(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    program = (await api.get("/v1/loyalty/program", headers=tenant.headers)).json()
    silver = program["ladder"]["tiers"][1]
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        await start(api, tenant, "tier_upgraded")
        member = await consented(api, tenant)
        await pay_now(api, tenant, member, amount_minor=int(silver["threshold"]) + 100)
        await sent(api, tenant, member, 1)
        (mail,) = mailbox(peer)
        assert silver["name"] in body_of(mail) + str(mail["Subject"])


async def test_wrong_size_return_classic(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        journey = await start(api, tenant, "wrong_size_return")
        wrong, other = await consented(api, tenant), await consented(api, tenant)
        for person, reason in ((wrong, "尺寸不符"), (other, "不喜欢")):
            order = await pay_now(api, tenant, person)
            refund = {"refund_id": f"RF-{uuid.uuid4().hex[:6]}", "amount_minor": 9900, "reason": reason}
            response = await api.post(f"/v1/orders/{order}/refunds", json=refund, headers=tenant.headers)
            assert response.is_success, response.text
        await sent(api, tenant, wrong, 1)
        (mail,) = mailbox(peer)
        rows = await instances(database_urls["notify"], journey)
        assert [str(r["customer_id"]) for r in rows] == [wrong]
        assert rows[0]["context"]["data"]["order_id"] in body_of(mail)
        assert await messages_of(api, tenant, other) == []

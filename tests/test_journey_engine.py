"""The journey engine end to end through the real services: a trigger from the backbone enters a
customer, a wait passes on the journeys' clock, the runner checks, issues a real coupon from loyalty
and sends one e-mail through a real SMTP peer; a customer who ordered meanwhile converts and gets
nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TenantKey
from tests.journey_support import install_journey, instances, move_clock, steps
from tests.notify_peers import SmtpPeer
from tests.test_notify_messages_api import consent, customer, email_channel, eventually, mailbox, template


async def coupon_template(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"name": "5元无门槛", "kind": "no_threshold", "discount_minor": 500, "valid_days": 7}
    response = await api.post("/v1/coupon-templates", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["template_id"])


async def add_to_cart(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, sku: str = "TEA-1"
) -> None:
    event = {
        "event_id": f"cart-{uuid.uuid4().hex}",
        "customer_id": customer_id,
        "type": "add_to_cart",
        "occurred_at": datetime.now(UTC).isoformat(),
        "properties": {"sku": sku},
    }
    response = await api.post("/v1/events", json={"events": [event]}, headers=tenant.headers)
    assert response.is_success, response.text


async def pay_now(
    api: httpx.AsyncClient, tenant: TenantKey, customer_id: str, amount_minor: int = 9900
) -> str:
    order_id = f"SO-{uuid.uuid4().hex[:12]}"
    body = {
        "order_id": order_id,
        "customer_id": customer_id,
        "paid_at": datetime.now(UTC).isoformat(),
        "currency": "CNY",
        "amount_minor": amount_minor,
        "items": [{"sku": "TEA-1", "unit_price_minor": amount_minor, "quantity": 1}],
    }
    response = await api.post("/v1/orders", json=body, headers=tenant.headers)
    assert response.status_code in (200, 201), response.text
    return order_id


def abandoned_cart(coupon: str, reminder: str) -> dict[str, Any]:
    return {
        "name": "abandoned cart",
        "trigger": {"event": "add_to_cart"},
        "goal": {"order": "paid"},
        "steps": [
            {"wait": "PT24H"},
            {
                "if": {"since_trigger": {"order": True}},
                "then": [{"exit": True}],
                "else": [{"issue_coupon": {"template_id": coupon}}, {"send": {"template_id": reminder}}],
            },
        ],
    }


async def test_abandoned_cart_reminds_the_customer_who_did_not_order_and_no_one_else(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], journey_clock: Path
) -> None:
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        reminder = await template(
            api, tenant, subject="库存紧张", body="{{ customer.nickname }}, 用券 {{ coupon.code }}", html=None
        )
        coupon = await coupon_template(api, tenant)
        journey = await install_journey(
            database_urls["notify"], tenant.tenant_id, abandoned_cart(coupon, reminder)
        )
        stays = await customer(api, tenant, f"stay-{uuid.uuid4().hex[:6]}@shop.example")
        buys = await customer(api, tenant, f"buy-{uuid.uuid4().hex[:6]}@shop.example")
        for someone in (stays, buys):
            await consent(api, tenant, someone)
            await add_to_cart(api, tenant, someone)
        entered = await eventually(
            lambda: instances(database_urls["notify"], journey), lambda rows: len(rows) == 2
        )
        assert {str(r["customer_id"]) for r in entered} == {stays, buys}
        await pay_now(api, tenant, buys)
        await eventually(
            lambda: instances(database_urls["notify"], journey),
            lambda rows: any(r["status"] == "converted" for r in rows),
        )
        move_clock(journey_clock, 25 * 3600)
        done = await eventually(
            lambda: instances(database_urls["notify"], journey),
            lambda rows: all(r["status"] != "active" for r in rows),
        )
        by_customer = {str(r["customer_id"]): r for r in done}
        assert by_customer[buys]["status"] == "converted"
        assert by_customer[buys]["revenue_minor"] == 9900
        assert by_customer[stays]["status"] == "completed", by_customer[stays]
        mails = await eventually(lambda: _mailbox(peer), lambda m: len(m) >= 1)
        assert len(mails) == 1
        ran = await steps(database_urls["notify"], journey)
        outcomes = {
            (str(r["instance_id"]) == str(by_customer[stays]["instance_id"]), r["path"]): r for r in ran
        }
        issued = outcomes[(True, "steps[1].else[0]")]
        assert issued["outcome"] == "issued"
        assert issued["coupon_code"]
        assert issued["coupon_code"] in mails[0].get_body(("plain",)).get_content()
        assert outcomes[(True, "steps[1].else[1]")]["outcome"] == "queued"
        assert not any(own is False and path.startswith("steps[1]") for own, path in outcomes)
        assert by_customer[stays]["context"]["coupon_code"] == issued["coupon_code"]


async def _mailbox(peer: SmtpPeer) -> list[Any]:
    return mailbox(peer)


async def test_two_journeys_sending_to_one_customer_in_one_round_keep_the_cap(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str]
) -> None:
    """Both instances enter from one event and are usually claimed in one batch: the cap of one counts
    the batch's own message as it would an earlier one."""
    policy = {"frequency_caps": [{"max": 1, "per": "P7D"}], "quiet_hours": None}
    assert (await api.put("/v1/notify/policy", json=policy, headers=tenant.headers)).status_code == 200
    with SmtpPeer() as peer:
        await email_channel(api, tenant, peer)
        first = await template(api, tenant, subject="一", body="first", html=None)
        second = await template(api, tenant, subject="二", body="second", html=None)
        url = database_urls["notify"]
        journeys = [
            await install_journey(
                url,
                tenant.tenant_id,
                {
                    "name": f"j{n}",
                    "trigger": {"event": "add_to_cart"},
                    "steps": [{"send": {"template_id": t}}],
                },
            )
            for n, t in enumerate((first, second))
        ]
        shopper = await customer(api, tenant, f"cap-{uuid.uuid4().hex[:6]}@shop.example")
        await consent(api, tenant, shopper)
        await add_to_cart(api, tenant, shopper)
        ran = [
            await eventually(lambda j=j: steps(url, j), lambda rows: len(rows) == 1)  # type: ignore[misc]
            for j in journeys
        ]
        outcomes = sorted((rows[0]["outcome"], rows[0]["reason"]) for rows in ran)
        assert outcomes == [("queued", None), ("suppressed", "capped")]

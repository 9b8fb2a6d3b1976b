"""WeChat's delivery results reach notify through the gateway: a subscribe message sent to a local
WeChat peer is marked delivered (or failed, with WeChat's code) by the ``subscribe_msg_sent_event`` push
signed with the channel's message-push Token; bad signatures and stale timestamps are refused, the URL
check echoes ``echostr``, and other events are acknowledged without effect."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import httpx

from services.notify.domain.wechat_receipts import signature
from tests.conftest import TenantKey
from tests.notify_peers import WeChatPeer, serve
from tests.test_notify_messages_api import eventually

TOKEN = "PatronToken2026"
FIRST_MSGID = 294402298110051942  # WeChatPeer answers this plus the number of sends so far


def _signed(token: str = TOKEN, at: int | None = None, nonce: str = "418625") -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def _sent_event(results: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "ToUserName": "gh_123456789abc",
            "FromUserName": "o-wx-receipt",
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "subscribe_msg_sent_event",
            "SubscribeMsgSentEvent": {"List": results},
        }
    ).encode()


def _result(msgid: int, code: int = 0, status: str = "success") -> dict[str, Any]:
    return {"TemplateId": "tmpl-1", "MsgID": str(msgid), "ErrorCode": str(code), "ErrorStatus": status}


async def _send_two(api: httpx.AsyncClient, tenant: TenantKey, peer: WeChatPeer, base_url: str) -> list[str]:
    """Configures the wechat channel against the peer and sends two messages; their ids once sent."""
    settings = {
        "app_id": peer.app_id,
        "app_secret": peer.app_secret,
        "endpoint": base_url,
        "callback_token": TOKEN,
    }
    channel = await api.put(
        "/v1/notify/channels/wechat",
        json={"provider": "wechat", "settings": settings},
        headers=tenant.headers,
    )
    assert channel.status_code == 200, channel.text
    assert "callback_token" in channel.json()["secrets_set"]
    assert "callback_token" not in channel.json()["settings"]
    identify = {"identities": [{"type": "wechat_openid", "value": "o-wx-receipt"}]}
    customer = await api.post("/v1/customers/identify", json=identify, headers=tenant.headers)
    template = {
        "name": "parcel",
        "channel": "wechat",
        "purpose": "service",
        "body": "Your {{ data.item }} left",
        "provider_template": {"id": "tmpl-1", "params": {"thing1": "{{ data.item }}"}},
    }
    created = await api.post("/v1/notify/templates", json=template, headers=tenant.headers)
    assert created.status_code == 201, created.text
    message_ids = []
    for item in ("parcel", "letter"):
        sent = await api.post(
            "/v1/messages",
            json={
                "customer_id": customer.json()["customer_id"],
                "template_id": created.json()["template_id"],
                "data": {"item": item},
            },
            headers=tenant.headers,
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["message_id"]
        done = await eventually(
            partial(api.get, f"/v1/messages/{message_id}", headers=tenant.headers),
            lambda r: r.json()["status"] == "sent",
        )
        assert done.json()["status"] == "sent", done.text
        message_ids.append(message_id)
    assert [body["data"]["thing1"]["value"] for body in peer.sent] == ["parcel", "letter"]
    return message_ids


async def test_wechat_pushes_mark_subscribe_messages_delivered_or_failed(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    peer = WeChatPeer()
    async with serve(peer.app()) as base_url:
        delivered_id, failed_id = await _send_two(api, tenant, peer, base_url)
    path = f"/v1/notify/receipts/{tenant.tenant_id}/wechat"

    # WeChat's URL check: echostr comes back as text once the signature verifies.
    check = await api.get(path, params={**_signed(), "echostr": "7421873529001"})
    assert check.status_code == 200
    assert check.headers["content-type"].startswith("text/plain")
    assert check.text == "7421873529001"
    forged = await api.get(path, params={**_signed(token="NotTheToken"), "echostr": "1"})
    assert forged.status_code == 401

    first = _sent_event(_result(FIRST_MSGID + 1))
    bad = {**_signed(), "signature": "0" * 40}
    assert (await api.post(path, params=bad, content=first)).status_code == 401
    unsigned = await api.post(path, content=first)
    assert unsigned.status_code == 401
    stale = await api.post(path, params=_signed(at=int(time.time()) - 301), content=first)
    assert stale.status_code == 401
    still = await api.get(f"/v1/messages/{delivered_id}", headers=tenant.headers)
    assert still.json()["status"] == "sent"

    # Other events pushed to the same URL are acknowledged and change nothing.
    popup = json.dumps(
        {"MsgType": "event", "Event": "subscribe_msg_popup_event", "List": [{"TemplateId": "tmpl-1"}]}
    ).encode()
    other = await api.post(path, params=_signed(), content=popup)
    assert (other.status_code, other.text) == (200, "success")

    applied = await api.post(path, params=_signed(), content=first)
    assert (applied.status_code, applied.text) == (200, "success")
    assert applied.headers["content-type"].startswith("text/plain")
    message = (await api.get(f"/v1/messages/{delivered_id}", headers=tenant.headers)).json()
    assert message["status"] == "delivered"
    assert message["delivered_at"] is not None

    refused = _sent_event([_result(FIRST_MSGID + 2, 20004, "fail:user refuse to accept the msg")])
    assert (await api.post(path, params=_signed(nonce="77"), content=refused)).text == "success"
    failed = (await api.get(f"/v1/messages/{failed_id}", headers=tenant.headers)).json()
    assert failed["status"] == "failed"
    assert failed["error"] == "wechat 20004 fail:user refuse to accept the msg"
    # A repeated push (WeChat retries) moves nothing more.
    assert (await api.post(path, params=_signed(), content=first)).text == "success"
    assert (await api.get(f"/v1/messages/{delivered_id}", headers=tenant.headers)).json()["status"] == (
        "delivered"
    )


async def test_a_bad_callback_token_is_refused_and_a_channel_without_one_takes_no_pushes(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    settings = {"app_id": "wx1", "app_secret": "s", "callback_token": "no spaces allowed"}
    response = await api.put(
        "/v1/notify/channels/wechat",
        json={"provider": "wechat", "settings": settings},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "settings.callback_token"
    # A channel without a callback token takes no WeChat pushes.
    assert (
        await api.put(
            "/v1/notify/channels/wechat",
            json={"provider": "wechat", "settings": {"app_id": "wx1", "app_secret": "s"}},
            headers=tenant.headers,
        )
    ).status_code == 200
    path = f"/v1/notify/receipts/{tenant.tenant_id}/wechat"
    assert (await api.get(path, params={**_signed(), "echostr": "1"})).status_code == 404

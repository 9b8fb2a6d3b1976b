"""Each provider against its real local peer: success, signatures checked by the peer, every error class."""

from __future__ import annotations

import asyncio
import email
import time
from collections.abc import AsyncIterator

import pytest

from services.notify.domain.channels import parse_channel
from services.notify.domain.delivery import Accepted, Failed, Outgoing, Refused, Retry
from services.notify.providers.aliyun_sms import AliyunSmsProvider
from services.notify.providers.http_generic import HttpProvider
from services.notify.providers.http_session import SharedSession
from services.notify.providers.jpush import JPushProvider
from services.notify.providers.rate_limit import TokenBucket
from services.notify.providers.registry import build_provider
from services.notify.providers.signing import generate_secret
from services.notify.providers.smtp import SmtpProvider
from services.notify.providers.ssrf import AddressGuard
from services.notify.providers.wechat import WeChatProvider
from tests.notify_peers import AliyunPeer, HttpPeer, JPushPeer, SmtpPeer, WeChatPeer, serve

DEV = AddressGuard(allow_private=True, allowed_hosts=frozenset())
STRICT = AddressGuard(allow_private=False, allowed_hosts=frozenset())


def outgoing(n: int = 1, **extra: object) -> Outgoing:
    fields: dict[str, object] = {
        "message_id": f"msg_{n}",
        "tenant_id": "t1",
        "channel": "sms",
        "to": "+8613800000000",
        "body": "Hello Ann",
        "idempotency_key": f"msg_{n}",
        **extra,
    }
    return Outgoing(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def http() -> AsyncIterator[SharedSession]:
    session = SharedSession(limit=100)
    try:
        yield session
    finally:
        await session.aclose()


async def test_http_provider_signed_deduped_and_classified(http: SharedSession) -> None:
    secret = generate_secret()
    peer = HttpPeer(secret=secret)
    async with serve(peer.app()) as base:
        provider = HttpProvider(url=f"{base}/hook", secret=secret, http=http, guard=DEV, timeout=0.5)
        assert await provider.send(outgoing(1, subject="Hi", data={"k": "v"})) == Accepted("peer-msg_1")
        assert await provider.send(outgoing(1)) == Accepted("peer-msg_1")  # a retry after a crash
        assert len(peer.received) == 1
        assert peer.attempts["msg_1"] == 2
        assert peer.idempotency_keys == ["msg_1", "msg_1"]
        assert peer.received["msg_1"]["data"] == {"k": "v"}
        assert peer.bad_signatures == 0
        peer.script = [(429, {}, {"Retry-After": "7"}), (500, {}, {}), (410, {}, {}), (422, {"e": "x"}, {})]
        assert await provider.send(outgoing(2)) == Retry("HTTP 429: {}", 7.0)
        assert isinstance(await provider.send(outgoing(2)), Retry)
        assert isinstance(await provider.send(outgoing(2)), Refused)
        failed = await provider.send(outgoing(2))
        assert isinstance(failed, Failed)
        assert "422" in failed.error
        peer.script = [1.0]
        timed_out = await provider.send(outgoing(3))
        assert isinstance(timed_out, Retry)
        assert "timeout" in timed_out.error
        wrong = HttpProvider(url=f"{base}/hook", secret=generate_secret(), http=http, guard=DEV)
        assert isinstance(await wrong.send(outgoing(4)), Failed)  # the peer refuses a bad signature (401)
        assert peer.bad_signatures == 1
        guarded = HttpProvider(url=f"{base}/hook", secret=secret, http=http, guard=STRICT)
        refused = await guarded.send(outgoing(5))
        assert isinstance(refused, Failed)
        assert "SSRF" in refused.error
    closed = await provider.send(outgoing(6))
    assert isinstance(closed, Retry)  # connection refused


async def test_aliyun_signature_verified_and_codes(http: SharedSession) -> None:
    peer = AliyunPeer()
    async with serve(peer.app()) as base:
        provider = AliyunSmsProvider(
            access_key_id=peer.access_key_id,
            access_key_secret=peer.secret,
            sign_name="阿里云短信测试",
            endpoint=base,
            http=http,
            guard=DEV,
        )
        message = outgoing(1, provider_template="SMS_154950909", provider_params={"code": "1234 *~"})
        assert await provider.send(message) == Accepted("9006191")
        assert peer.sent[0]["TemplateParam"] == '{"code": "1234 *~"}'
        assert peer.sent[0]["OutId"] == "msg_1"
        cases = [
            ({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"}, Retry),
            ({"Code": "isp.SYSTEM_ERROR"}, Retry),
            ({"Code": "isv.MOBILE_NUMBER_ILLEGAL"}, Failed),
            ({"Code": "isv.SMS_TEMPLATE_ILLEGAL"}, Failed),
            ({"Code": "isv.BLACK_KEY_CONTROL_LIMIT"}, Failed),
        ]
        for content, kind in cases:
            peer.script = [(200, content, {})]
            outcome = await provider.send(message)
            assert isinstance(outcome, kind), (content, outcome)
        peer.script = [(503, {"Code": "ServiceUnavailable"}, {})]
        assert isinstance(await provider.send(message), Retry)
        bad = AliyunSmsProvider(
            access_key_id=peer.access_key_id,
            access_key_secret="wrong",
            sign_name="S",
            endpoint=base,
            http=http,
            guard=DEV,
        )
        mismatch = await bad.send(message)
        assert isinstance(mismatch, Failed)
        assert "SignatureDoesNotMatch" in mismatch.error


async def test_jpush_auth_shape_and_codes(http: SharedSession) -> None:
    peer = JPushPeer()
    async with serve(peer.app()) as base:
        provider = JPushProvider(
            app_key=peer.app_key,
            master_secret=peer.master_secret,
            endpoint=f"{base}/v3/push",
            apns_production=False,
            http=http,
            guard=DEV,
        )
        assert await provider.send(outgoing(1, channel="push", to="1a0018970a", subject="T")) == Accepted(
            "54001"
        )
        assert peer.pushes[0]["audience"] == {"registration_id": ["1a0018970a"]}
        peer.script = [
            (429, {"error": {"code": 2002, "message": "Request times exceed"}}, {"X-Rate-Limit-Reset": "12"}),
            (400, {"error": {"code": 1011, "message": "cannot find user by this audience"}}, {}),
            (502, {}, {}),
        ]
        limited = await provider.send(outgoing(2))
        assert isinstance(limited, Retry)
        assert limited.retry_after_seconds == 12.0
        assert isinstance(await provider.send(outgoing(2)), Refused)
        assert isinstance(await provider.send(outgoing(2)), Retry)
        wrong = JPushProvider(
            app_key=peer.app_key, master_secret="x", endpoint=f"{base}/v3/push", apns_production=True,
            http=http, guard=DEV,
        )  # fmt: skip
        auth = await wrong.send(outgoing(3))
        assert isinstance(auth, Failed)
        assert "1004" in auth.error


async def test_wechat_token_cached_refreshed_on_40001_and_43101(http: SharedSession) -> None:
    peer = WeChatPeer(refused={"o-refused"})
    async with serve(peer.app()) as base:
        provider = WeChatProvider(
            app_id=peer.app_id, app_secret=peer.app_secret, endpoint=base, http=http, guard=DEV,
            page="pages/order", miniprogram_state="formal",
        )  # fmt: skip
        message = outgoing(1, channel="wechat", to="o-ann", provider_template="TPL1",
                           provider_params={"thing1": "Order 42"})  # fmt: skip
        results = await asyncio.gather(*(provider.send(message) for _ in range(5)))
        assert all(isinstance(r, Accepted) for r in results)
        assert peer.token_fetches == 1  # one fetch for five concurrent sends
        assert peer.sent[0]["data"] == {"thing1": {"value": "Order 42"}}
        assert peer.sent[0]["page"] == "pages/order"
        peer.expire_token()  # 40001 on the cached token
        assert isinstance(await provider.send(message), Accepted)
        assert peer.token_fetches == 2
        refused = await provider.send(outgoing(2, channel="wechat", to="o-refused", provider_template="TPL1"))
        assert isinstance(refused, Refused)
        assert "43101" in refused.error
        peer.script = [(200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}, {})]
        assert isinstance(await provider.send(message), Retry)
        bad = await provider.send(outgoing(3, channel="wechat", to="o-ann", provider_template="",
                                           provider_params={"a": "b"}))  # fmt: skip
        assert isinstance(bad, Failed)
        wrong = WeChatProvider(app_id=peer.app_id, app_secret="nope", endpoint=base, http=http, guard=DEV)
        assert isinstance(await wrong.send(message), Failed)


async def test_smtp_starttls_auth_unsubscribe_and_bounces() -> None:
    with SmtpPeer() as peer:
        peer.handler.refuse.add("gone@example.com")
        peer.handler.defer.add("busy@example.com")
        provider = SmtpProvider(
            host="127.0.0.1", port=peer.port, sender="Shop <news@shop.example>",
            username=peer.username, password=peer.password, tls_context=peer.client_context, pool_size=2,
        )  # fmt: skip
        base = {"channel": "email", "subject": "Hello", "html": "<p>Hello Ann</p>",
                "unsubscribe_url": "https://shop.example/u/tok"}  # fmt: skip
        for n in range(6):
            outcome = await provider.send(outgoing(n, to="ann@example.com", **base))
            assert isinstance(outcome, Accepted)
        assert len(peer.handler.messages) == 6
        assert peer.handler.tls_sessions == 6
        assert len(peer.handler.sessions) <= 2  # sessions reused, not one per message
        assert len(peer.handler.authenticated) <= 2
        parsed = email.message_from_bytes(peer.handler.messages[0][1])
        assert parsed["List-Unsubscribe"] == "<https://shop.example/u/tok>"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["Message-ID"] == "<msg_0@shop.example>"
        assert parsed.get_content_type() == "multipart/alternative"
        assert isinstance(await provider.send(outgoing(7, to="gone@example.com", **base)), Refused)
        assert isinstance(await provider.send(outgoing(8, to="busy@example.com", **base)), Retry)
        assert isinstance(await provider.send(outgoing(9, to="ann@example.com", **base)), Accepted)
        wrong = SmtpProvider(host="127.0.0.1", port=peer.port, sender="a@shop.example", username="shop",
                             password="bad", tls_context=peer.client_context)  # fmt: skip
        denied = await wrong.send(outgoing(10, to="ann@example.com", **base))
        assert isinstance(denied, Failed)
        assert "535" in denied.error
        await provider.aclose()
        await wrong.aclose()
    guarded = SmtpProvider(host="127.0.0.1", port=peer.port, sender="a@shop.example", guard=STRICT)
    assert isinstance(await guarded.send(outgoing(12, to="ann@example.com")), Failed)
    down = SmtpProvider(host="127.0.0.1", port=peer.port, sender="a@shop.example", timeout=1)
    assert isinstance(await down.send(outgoing(11, to="ann@example.com")), Retry)


async def test_registry_builds_from_channel_config(http: SharedSession) -> None:
    peer = HttpPeer()
    async with serve(peer.app()) as base:
        config = parse_channel("push", {"provider": "http", "settings": {"url": f"{base}/hook"}})
        provider = build_provider(config, http=http, guard=DEV)
        assert provider.idempotent
        assert isinstance(await provider.send(outgoing(1, channel="push")), Accepted)


async def test_token_bucket_holds_the_rate() -> None:
    bucket = TokenBucket(rate_per_second=50, burst=5)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(30)))
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.5  # 5 at once, then 25 at 50/s = 0.5 s

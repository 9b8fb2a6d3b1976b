"""The SSRF guard and Standard Webhooks signing that the http provider and merchant webhooks share."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from services.notify.providers.signing import BadSignature, generate_secret, signed_headers, verify
from services.notify.providers.ssrf import AddressGuard, UnsafeUrl

STRICT = AddressGuard(allow_private=False, allowed_hosts=frozenset())


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://100.64.0.1/",
        "https://240.0.0.1/",
        "https://localhost:8443/",
    ],
)
async def test_guard_refuses_internal_addresses(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await STRICT.check(url)


async def test_guard_lets_public_addresses_through() -> None:
    await STRICT.check("https://8.8.8.8/hook")
    await STRICT.check("https://[2606:4700:4700::1111]/hook")


async def test_guard_allows_private_in_development_and_listed_hosts() -> None:
    await AddressGuard(allow_private=True, allowed_hosts=frozenset()).check("http://127.0.0.1:8080/x")
    listed = AddressGuard(allow_private=False, allowed_hosts=frozenset({"LocalHost"}))
    await listed.check("https://localhost/hook")
    with pytest.raises(UnsafeUrl):
        await listed.check("https://127.0.0.1/hook")  # only the listed name, not its address


async def test_guard_refuses_unresolvable_hosts() -> None:
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        await STRICT.check("https://no-such-host.invalid/hook")


def test_syntax_checks_at_save_time() -> None:
    assert STRICT.check_syntax("https://example.com/hook") is None
    assert STRICT.check_syntax("http://example.com/hook") == "must be an https URL"
    assert AddressGuard(allow_private=True, allowed_hosts=frozenset()).check_syntax("http://h/x") is None
    assert STRICT.check_syntax("/relative") is not None
    assert STRICT.check_syntax("https:///nohost") == "must name a host"
    assert STRICT.check_syntax("ftp://example.com/") is not None
    assert STRICT.check_syntax("https://u:p@example.com/") == "must not carry credentials"
    assert STRICT.check_syntax("https://example.com:99999/") is not None
    assert STRICT.check_syntax("https://example.com/" + "a" * 2048) is not None
    assert STRICT.check_syntax("") is not None


def test_secret_shape() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
    assert generate_secret() != secret


def test_signed_headers_verify_with_the_reference_library() -> None:
    secret, body = generate_secret(), b'{"type":"message.sent","id":"m1"}'
    headers = signed_headers(secret, "msg_1", datetime.now(UTC), body)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    Webhook(secret).verify(body, headers)  # an independent receiver accepts it
    verify(secret, headers, body)
    verify(secret, {k.title(): v for k, v in headers.items()}, body)  # header case does not matter


def test_verify_refuses_tampering_other_secrets_and_stale_timestamps() -> None:
    secret, body = generate_secret(), b"{}"
    headers = signed_headers(secret, "msg_1", datetime.now(UTC), body)
    with pytest.raises(BadSignature):
        verify(secret, headers, b'{"x":1}')
    with pytest.raises(BadSignature):
        verify(generate_secret(), headers, body)
    with pytest.raises(BadSignature):
        verify(secret, {**headers, "webhook-id": "msg_2"}, body)
    with pytest.raises(BadSignature):
        verify(secret, {"webhook-id": "msg_1"}, body)
    old = signed_headers(secret, "msg_1", datetime.now(UTC) - timedelta(minutes=10), body)
    with pytest.raises(BadSignature):
        verify(secret, old, body)
    with pytest.raises(BadSignature):
        verify("whsec_!!!not-base64", headers, body)

"""Operators' sessions through the real gateway and services: sign in (cookie flags), who is signed in,
CSRF on cookie-authenticated writes, one answer for every failed sign-in, throttling per account and
per address, sign-out and the session's ends (idle, absolute, disabled operator)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid

import asyncpg
import httpx

from gateway.auth import MAX_CACHE_SECONDS
from services.runtime.server import ServiceServer
from services.runtime.settings import RuntimeSettings
from tests.conftest import TenantKey
from tests.operator_support import (
    attempt,
    browser,
    create_operator,
    operator_session,
    replica,
    set_cookies,
    sign_in,
)

GROUP = {"kind": "static", "name": "VIP"}


async def test_sign_in_sets_an_httponly_strict_cookie_and_answers_who(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    owner = await create_operator(api, tenant.tenant_id, "owner", email="Owner@Shop.Example")
    async with replica(services) as app, browser(app) as client:
        response = await attempt(client, tenant.tenant_id, "OWNER@shop.example")
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["operator_id"] == owner["operator_id"]
        assert (body["email"], body["role"], body["tenant_id"]) == (
            "owner@shop.example",
            "owner",
            tenant.tenant_id,
        )
        assert sorted(body["scopes"]) == ["audit", "ingest", "operate", "points", "privacy", "read"]
        cookies = set_cookies(response)
        session, csrf = cookies["patron_session"], cookies["patron_csrf"]
        assert session.value.startswith("pts_")
        assert session.value not in response.text
        assert session["httponly"]
        assert not csrf["httponly"]
        for morsel in (session, csrf):
            assert morsel["samesite"].lower() == "strict"
            assert morsel["path"] == "/"
            assert not morsel["secure"]  # test environment over plain http only
            assert 43_000 < int(morsel["max-age"]) <= 43_200
        assert csrf.value == body["csrf_token"]
        signed = await sign_in(client, tenant.tenant_id, "owner@shop.example")
        who = await signed.get("/v1/session", csrf=False)
        assert who.status_code == 200, who.text
        assert {k: who.json()[k] for k in ("operator_id", "email", "role", "tenant_id", "csrf_token")} == {
            "operator_id": owner["operator_id"],
            "email": "owner@shop.example",
            "role": "owner",
            "tenant_id": tenant.tenant_id,
            "csrf_token": signed.csrf,
        }
        assert (await client.get("/v1/session")).status_code == 401
        # Over https, and in production whatever the scheme, the cookies are Secure.
    async with replica(services) as app, browser(app, base_url="https://gateway") as client:
        assert set_cookies(await attempt(client, tenant.tenant_id, "owner@shop.example"))["patron_session"][
            "secure"
        ]
    # A production gateway refuses the suite's admin token (a development secret) and plaintext gRPC
    # unless acknowledged: its own token, and the acknowledgement.
    production = RuntimeSettings(env="production", grpc_tls_disabled=True)
    own_token: dict[str, object] = {"admin_token": secrets.token_urlsafe(32)}
    async with replica(services, runtime=production, settings=own_token) as app, browser(app) as client:
        cookies = set_cookies(await attempt(client, tenant.tenant_id, "owner@shop.example"))
        assert cookies["patron_session"]["secure"]
        assert cookies["patron_csrf"]["secure"]


async def test_cookie_writes_need_the_csrf_token(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    async with replica(services) as app, browser(app) as client:
        owner = await operator_session(api, client, tenant.tenant_id, "owner")
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": owner.csrf + "x"}):
            refused = await owner.request("POST", "/v1/tag-groups", json=GROUP, csrf=False, headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["reason"] == "CSRF_TOKEN_INVALID"
            assert "CSRF" in refused.json()["detail"]
        # Another session's token is no token of this one.
        other = await operator_session(api, client, tenant.tenant_id, "owner")
        crossed = await owner.request(
            "POST", "/v1/tag-groups", json=GROUP, csrf=False, headers={"X-CSRF-Token": other.csrf}
        )
        assert crossed.status_code == 403
        created = await owner.request("POST", "/v1/tag-groups", json=GROUP)
        assert created.status_code == 201, created.text
        assert (await owner.get("/v1/tag-groups", csrf=False)).status_code == 200
        # A Bearer key works as before, cookie or not, and needs no CSRF token.
        keyed = await client.post(
            "/v1/tag-groups",
            json={**GROUP, "name": "Keyed"},
            headers={**tenant.headers, **owner.headers(csrf=False)},
        )
        assert keyed.status_code == 201, keyed.text


async def test_every_failed_sign_in_answers_alike(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey, other_tenant: TenantKey
) -> None:
    known = await create_operator(api, tenant.tenant_id, "marketer")
    disabled = await create_operator(api, tenant.tenant_id, "analyst")
    owner = await create_operator(api, tenant.tenant_id, "owner")
    async with replica(services) as app, browser(app) as client:
        session = await sign_in(client, tenant.tenant_id, owner["email"])
        off = await session.request(
            "PATCH", f"/v1/operators/{disabled['operator_id']}", json={"disabled": True}
        )
        assert off.status_code == 200, off.text
        answers = []
        for tenant_id, email, password in [
            (tenant.tenant_id, known["email"], "not the password at all"),
            (tenant.tenant_id, "nobody@shop.example", "correct horse battery staple"),
            (other_tenant.tenant_id, known["email"], "correct horse battery staple"),
            ("00000000-0000-4000-8000-000000000000", known["email"], "correct horse battery staple"),
            (tenant.tenant_id, disabled["email"], "correct horse battery staple"),
        ]:
            response = await attempt(client, tenant_id, email, password)
            assert "set-cookie" not in response.headers
            answers.append((response.status_code, response.json()))
        assert all(answer == answers[0] for answer in answers), "\n".join(map(str, answers))
        assert answers[0][0] == 401
        assert answers[0][1]["reason"] == "SIGN_IN_FAILED"


async def test_bad_sign_ins_are_422_naming_the_field(services: dict[str, ServiceServer]) -> None:
    async with replica(services) as app, browser(app) as client:
        for body, field in [
            ({}, "tenant_id"),
            ({"tenant_id": "not-a-uuid", "email": "a@b", "password": "x"}, "tenant_id"),
            ({"tenant_id": "00000000-0000-4000-8000-000000000000", "password": "x"}, "email"),
            (
                {"tenant_id": "00000000-0000-4000-8000-000000000000", "email": "a@b", "password": ""},
                "password",
            ),
            (
                {"tenant_id": "00000000-0000-4000-8000-000000000000", "email": "a@b", "password": "x" * 257},
                "password",
            ),
            (
                {
                    "tenant_id": "00000000-0000-4000-8000-000000000000",
                    "email": "a@b",
                    "password": "x",
                    "role": "owner",
                },
                "role",
            ),
        ]:
            response = await client.post("/v1/session", json=body)
            assert response.status_code == 422, (body, response.text)
            assert field in [error["field"] for error in response.json()["errors"]], (body, response.text)
        # Only a JSON body signs in: a form of another site (text/plain, no preflight) cannot.
        sent = {"tenant_id": "00000000-0000-4000-8000-000000000000", "email": "a@b", "password": "x"}
        form = await client.post(
            "/v1/session", content=json.dumps(sent), headers={"Content-Type": "text/plain"}
        )
        assert form.status_code == 422, form.text


async def test_sign_in_is_throttled_per_account_and_per_address(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    target = await create_operator(api, tenant.tenant_id, "owner")
    bystander = await create_operator(api, tenant.tenant_id, "analyst")
    limits: dict[str, object] = {
        "rate_login_account_burst": 3,
        "rate_login_account_per_second": 0.001,
        "rate_login_address_burst": 6,
        "rate_login_address_per_second": 0.001,
    }
    async with (
        replica(services, settings=limits) as app,
        browser(app, address="10.0.0.1") as first,
        browser(app, address="10.0.0.2") as second,
    ):
        for _ in range(3):
            assert (
                await attempt(first, tenant.tenant_id, target["email"], "wrong password!")
            ).status_code == 401
        # The account has no failure left: refused even with the right password, from anywhere.
        for client in (first, second):
            limited = await attempt(client, tenant.tenant_id, target["email"].upper())
            assert limited.status_code == 429, limited.text
            assert limited.headers["content-type"] == "application/problem+json"
            assert limited.json()["bucket"] == "login_account"
            assert int(limited.headers["retry-after"]) >= 1
        # Another account from the same address still signs in; successes take nothing.
        for _ in range(4):
            await sign_in(first, tenant.tenant_id, bystander["email"])
        # The address: three more failures (on other accounts) and it is refused for every account.
        for email in ("a@shop.example", "b@shop.example", "c@shop.example"):
            assert (await attempt(first, tenant.tenant_id, email, "wrong password!")).status_code == 401
        blocked = await attempt(first, tenant.tenant_id, bystander["email"])
        assert blocked.status_code == 429
        assert blocked.json()["bucket"] == "login_address"
        await sign_in(second, tenant.tenant_id, bystander["email"])


async def test_sign_ins_sent_at_once_get_no_more_guesses_than_the_burst(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    """The attempt is taken before the password is hashed: twelve wrong passwords sent together
    against a burst of three get three answers of 401, not as many as the hash workers finish."""
    target = await create_operator(api, tenant.tenant_id, "owner")
    limits: dict[str, object] = {"rate_login_account_burst": 3, "rate_login_account_per_second": 0.001}
    async with replica(services, settings=limits) as app, browser(app, address="10.0.0.3") as client:
        answers = await asyncio.gather(
            *(attempt(client, tenant.tenant_id, target["email"], "wrong password!") for _ in range(12))
        )
        assert sorted(a.status_code for a in answers) == [401] * 3 + [429] * 9


async def test_sign_out_ends_the_session_everywhere(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    async with (
        replica(services) as app,
        replica(services) as other,
        browser(app) as client,
        browser(other) as elsewhere,
    ):
        session = await operator_session(api, client, tenant.tenant_id, "marketer")
        assert (await session.get("/v1/segments")).status_code == 200
        cookie = session.headers(csrf=False)
        assert (await elsewhere.get("/v1/segments", headers=cookie)).status_code == 200  # cached there now
        unprotected = await session.request("DELETE", "/v1/session", csrf=False)
        assert unprotected.status_code == 403
        out = await session.request("DELETE", "/v1/session")
        assert out.status_code == 204, out.text
        cleared = set_cookies(out)
        assert cleared["patron_session"]["max-age"] == "0"
        assert cleared["patron_csrf"]["max-age"] == "0"
        refused = await session.get("/v1/segments")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        started = time.monotonic()
        while (await elsewhere.get("/v1/segments", headers=cookie)).status_code != 401:
            assert time.monotonic() - started <= MAX_CACHE_SECONDS + 1, "still accepted by the other replica"
            await asyncio.sleep(0.25)
        assert (await client.delete("/v1/session")).status_code == 204  # no session: nothing to end


async def test_an_idle_or_expired_session_is_refused(
    api: httpx.AsyncClient,
    services: dict[str, ServiceServer],
    tenant: TenantKey,
    database_urls: dict[str, str],
) -> None:
    async with replica(services) as app, browser(app) as client:
        idle = await operator_session(api, client, tenant.tenant_id, "analyst")
        old = await operator_session(api, client, tenant.tenant_id, "analyst")
        fresh = await operator_session(api, client, tenant.tenant_id, "analyst")
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        await connection.execute(
            "UPDATE operator_sessions SET last_seen_at = now() - interval '31 minutes' "
            "WHERE operator_id = $1",
            uuid.UUID(idle.body["operator_id"]),
        )
        await connection.execute(
            "UPDATE operator_sessions SET expires_at = now() - interval '1 second' WHERE operator_id = $1",
            uuid.UUID(old.body["operator_id"]),
        )
    finally:
        await connection.close()
    async with replica(services) as app, browser(app) as client:  # a replica that has cached nothing
        for session, status in ((idle, 401), (old, 401), (fresh, 200)):
            response = await client.get("/v1/customers", headers=session.headers(csrf=False))
            assert response.status_code == status, response.text


async def test_a_session_sees_only_its_own_tenant(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey, other_tenant: TenantKey
) -> None:
    body = {"identities": [{"type": "phone", "value": "13800001234"}]}
    theirs = (await api.post("/v1/customers/identify", json=body, headers=other_tenant.headers)).json()[
        "customer_id"
    ]
    shared = "same.person@shop.example"
    await create_operator(api, tenant.tenant_id, "owner", email=shared)
    await create_operator(api, other_tenant.tenant_id, "owner", email=shared)
    async with replica(services) as app, browser(app) as client:
        mine = await sign_in(client, tenant.tenant_id, shared)
        other = await sign_in(client, other_tenant.tenant_id, shared)
        assert mine.body["operator_id"] != other.body["operator_id"]
        assert (await mine.get(f"/v1/customers/{theirs}")).status_code == 404
        assert (await other.get(f"/v1/customers/{theirs}")).status_code == 200
        listed = (await mine.get("/v1/customers")).json()["items"]
        assert theirs not in {item["customer_id"] for item in listed}
        operators = (await mine.get("/v1/operators")).json()["items"]
        assert other.body["operator_id"] not in {item["operator_id"] for item in operators}
        hijack = await mine.request(
            "PATCH", f"/v1/operators/{other.body['operator_id']}", json={"disabled": True}
        )
        assert hijack.status_code == 404
        assert (await other.get("/v1/session")).json()["tenant_id"] == other_tenant.tenant_id

"""Operators through the real gateway and services: created by the admin or by owners, each role held
to what it may do (DOMAIN.md §5), disabling and new passwords ending sessions, the last owner kept,
keys handing on only what they hold, and hashes remade when the Argon2 parameters change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import httpx
from argon2 import PasswordHasher

from gateway.auth import MAX_CACHE_SECONDS
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey
from tests.operator_support import (
    ADMIN,
    PASSWORD,
    Session,
    attempt,
    browser,
    create_operator,
    operator_session,
    replica,
    sign_in,
)

# Every tenant path of the operators API, walked by another tenant in tests/test_sessions.py
# (tests/test_profile_tenancy.py checks that the tenancy walks cover every documented path).
WALKED = {
    ("get", "/v1/operators"),
    ("post", "/v1/operators"),
    ("patch", "/v1/operators/{operator_id}"),
}
GROUP = {"kind": "static", "name": "Role test"}


def forbidden_role(response: httpx.Response, role: str) -> bool:
    problem = response.json() if response.status_code == 403 else {}
    return problem.get("reason") == "ROLE_FORBIDDEN" and problem.get("role") == role


async def customer_of(api: httpx.AsyncClient, tenant: TenantKey) -> str:
    body = {"identities": [{"type": "external_id", "value": uuid.uuid4().hex}]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer: str = response.json()["customer_id"]
    return customer


async def test_the_admin_creates_operators_of_each_role(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    made = {
        role: await create_operator(api, tenant.tenant_id, role)
        for role in ("owner", "marketer", "analyst", "support")
    }
    assert {role: item["role"] for role, item in made.items()} == {role: role for role in made}
    mixed = await create_operator(api, tenant.tenant_id, "analyst", email="Mixed.Case@Shop.Example")
    assert mixed["email"] == "mixed.case@shop.example"
    assert mixed["disabled_at"] is None
    assert mixed["last_sign_in_at"] is None
    assert "password" not in mixed
    body = {"email": "MIXED.case@shop.example", "password": PASSWORD, "role": "owner"}
    taken = await api.post(f"/v1/admin/tenants/{tenant.tenant_id}/operators", json=body, headers=ADMIN)
    assert taken.status_code == 409, taken.text
    # E-mails repeat freely across tenants.
    elsewhere = await api.post(
        f"/v1/admin/tenants/{other_tenant.tenant_id}/operators", json=body, headers=ADMIN
    )
    assert elsewhere.status_code == 201, elsewhere.text
    for tenant_id, headers, status in [
        ("00000000-0000-4000-8000-000000000000", ADMIN, 404),
        ("not-a-tenant", ADMIN, 404),
        (tenant.tenant_id, tenant.headers, 403),
    ]:
        response = await api.post(f"/v1/admin/tenants/{tenant_id}/operators", json=body, headers=headers)
        assert response.status_code == status, response.text


async def test_bad_operators_are_422_naming_the_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    path = f"/v1/admin/tenants/{tenant.tenant_id}/operators"
    good: dict[str, object] = {"email": "someone@shop.example", "password": PASSWORD, "role": "marketer"}
    cases: list[tuple[dict[str, object], str]] = [
        ({"password": "short"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"password": "SOMEONE@shop.example"}, "password"),
        ({"email": "no-at-sign"}, "email"),
        ({"email": "two words@shop.example"}, "email"),
        ({"email": "a@b\n"}, "email"),
        ({"role": "admin"}, "role"),
        ({"scopes": ["read"]}, "scopes"),
    ]
    for change, field in cases:
        response = await api.post(path, json={**good, **change}, headers=ADMIN)
        assert response.status_code == 422, (change, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], (change, response.text)
    operator = await create_operator(api, tenant.tenant_id, "analyst")
    for patch, field in [
        ({"role": "root"}, "role"),
        ({"password": "short"}, "password"),
        ({"disabled": "maybe"}, "disabled"),
    ]:
        response = await api.patch(
            f"/v1/operators/{operator['operator_id']}", json=patch, headers=tenant.headers
        )
        assert response.status_code == 422, (patch, response.text)
        assert response.json()["errors"][0]["field"] == field


async def test_an_owner_manages_operators_and_keys(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    async with replica(services) as app, browser(app) as client:
        owner = await operator_session(api, client, tenant.tenant_id, "owner")
        body = {"email": "new.marketer@shop.example", "password": PASSWORD, "role": "marketer"}
        created = await owner.request("POST", "/v1/operators", json=body)
        assert created.status_code == 201, created.text
        listed = await owner.get("/v1/operators")
        assert created.json()["operator_id"] in {item["operator_id"] for item in listed.json()["items"]}
        promoted = await owner.request(
            "PATCH", f"/v1/operators/{created.json()['operator_id']}", json={"role": "support"}
        )
        assert promoted.json()["role"] == "support"
        issued = await owner.request("POST", "/v1/api-keys", json={"name": "pos", "scopes": ["ingest"]})
        assert issued.status_code == 201, issued.text
        assert issued.json()["api_key"] in issued.text
        keys = (await owner.get("/v1/api-keys")).json()["items"]
        assert issued.json()["key_id"] in {key["key_id"] for key in keys}
        revoked = await owner.request("DELETE", f"/v1/api-keys/{issued.json()['key_id']}")
        assert revoked.status_code == 200, revoked.text
        await sign_in(client, tenant.tenant_id, "new.marketer@shop.example")

        # Every change is in the audit log, by the owner operator (the owner itself by the admin).
        log = await owner.get("/v1/audit", params={"limit": 500})
        assert log.status_code == 200, log.text
        entries = [(e["action"], e["actor"], e["target"], e["outcome"]) for e in log.json()["items"]]
        marketer, key = created.json()["operator_id"], issued.json()["key_id"]
        actor = next(
            a for action, a, target, _ in entries if action == "operator.create" and target == marketer
        )
        assert actor.startswith("operator:")
        assert ("operator.update", actor, marketer, "succeeded") in entries
        assert ("api_key.issue", actor, key, "succeeded") in entries
        assert ("api_key.revoke", actor, key, "succeeded") in entries
        assert ("operator.create", "admin", actor.removeprefix("operator:"), "succeeded") in entries
        assert "new.marketer" not in log.text


async def test_a_marketer_operates_but_manages_no_keys_nor_operators(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    async with replica(services) as app, browser(app) as client:
        marketer = await operator_session(api, client, tenant.tenant_id, "marketer")
        assert (await marketer.request("POST", "/v1/tag-groups", json=GROUP)).status_code == 201
        assert (await marketer.get("/v1/segments")).status_code == 200
        for method, path, body in [
            ("GET", "/v1/api-keys", None),
            ("POST", "/v1/api-keys", {"name": "mine", "scopes": ["read"]}),
            ("GET", "/v1/operators", None),
            ("POST", "/v1/operators", {"email": "x@shop.example", "password": PASSWORD, "role": "owner"}),
        ]:
            refused = await marketer.request(method, path, json=body)
            assert forbidden_role(refused, "marketer"), (method, path, refused.text)
        customer = await customer_of(api, tenant)
        refused = await marketer.get(f"/v1/customers/{customer}/export")
        assert forbidden_role(refused, "marketer")
        assert refused.json()["scope"] == "privacy"


async def test_an_analyst_only_reads(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    customer = await customer_of(api, tenant)
    async with replica(services) as app, browser(app) as client:
        analyst = await operator_session(api, client, tenant.tenant_id, "analyst")
        for path in (
            "/v1/customers",
            f"/v1/customers/{customer}",
            "/v1/loyalty/reports/liability",
            "/v1/tag-groups",
        ):
            assert (await analyst.get(path)).status_code == 200, path
        for method, path, body in [
            ("POST", "/v1/tag-groups", GROUP),
            ("POST", "/v1/customers/identify", {"identities": [{"type": "external_id", "value": "a"}]}),
            ("PATCH", f"/v1/customers/{customer}", {"attributes": {"city": "Hangzhou"}}),
        ]:
            refused = await analyst.request(method, path, json=body)
            assert forbidden_role(refused, "analyst"), (method, path, refused.text)
            assert "analyst" in refused.json()["detail"]


async def test_support_reads_adjusts_points_and_records_consent(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    customer = await customer_of(api, tenant)
    async with replica(services) as app, browser(app) as client:
        support = await operator_session(api, client, tenant.tenant_id, "support")
        assert (await support.get(f"/v1/customers/{customer}")).status_code == 200
        consent = {"channel": "sms", "purpose": "marketing", "granted": False, "source": "support call"}
        recorded = await support.request("PUT", f"/v1/customers/{customer}/consents", json=consent)
        assert recorded.status_code == 200, recorded.text
        adjust = {"points": 50, "reason": "goodwill"}
        for _ in range(50):  # loyalty learns of the new customer from profile's events
            adjusted = await support.request(
                "POST", f"/v1/customers/{customer}/points/adjustments", json=adjust
            )
            if adjusted.status_code != 404:
                break
            await asyncio.sleep(0.1)
        assert adjusted.status_code == 201, adjusted.text
        for method, path, body, scope in [
            (
                "POST",
                "/v1/customers/identify",
                {"identities": [{"type": "external_id", "value": "b"}]},
                "ingest",
            ),
            ("GET", "/v1/segments", None, "operate"),
            ("DELETE", f"/v1/customers/{customer}", None, "privacy"),
        ]:
            refused = await support.request(method, path, json=body)
            assert forbidden_role(refused, "support"), (method, path, refused.text)
            assert refused.json()["scope"] == scope


async def refused_within(session: Session, bound: float) -> None:
    """Wait until the session's cookie is refused (401), at most ``bound`` seconds."""
    for _ in range(int(bound / 0.25) + 1):
        response = await session.get("/v1/customers")
        if response.status_code == 401:
            return
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.25)
    raise AssertionError(f"the session was still accepted after {bound} s")


async def test_disabling_or_a_new_password_ends_the_sessions(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    async with (
        replica(services) as app,
        replica(services) as other,
        browser(app) as client,
        browser(other) as elsewhere,
    ):
        owner = await operator_session(api, client, tenant.tenant_id, "owner")
        marketer = await create_operator(api, tenant.tenant_id, "marketer")
        here = await sign_in(client, tenant.tenant_id, marketer["email"])
        there = await sign_in(elsewhere, tenant.tenant_id, marketer["email"])
        assert (await there.get("/v1/customers")).status_code == 200  # cached on the other replica
        path = f"/v1/operators/{marketer['operator_id']}"
        disabled = await owner.request("PATCH", path, json={"disabled": True})
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["disabled_at"] is not None
        assert (await here.get("/v1/customers")).status_code == 401  # at once on this replica
        await refused_within(there, MAX_CACHE_SECONDS + 1)
        assert (await attempt(client, tenant.tenant_id, marketer["email"])).status_code == 401
        assert (await owner.request("PATCH", path, json={"disabled": False})).json()["disabled_at"] is None
        again = await sign_in(client, tenant.tenant_id, marketer["email"])
        changed = await owner.request("PATCH", path, json={"password": "a brand new passphrase"})
        assert changed.status_code == 200, changed.text
        assert (await again.get("/v1/customers")).status_code == 401
        assert (await attempt(client, tenant.tenant_id, marketer["email"])).status_code == 401
        await sign_in(client, tenant.tenant_id, marketer["email"], "a brand new passphrase")


async def test_the_last_owner_cannot_be_demoted_nor_disabled(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    async with replica(services) as app, browser(app) as client:
        owner = await operator_session(api, client, tenant.tenant_id, "owner")
        path = f"/v1/operators/{owner.body['operator_id']}"
        for change in ({"role": "marketer"}, {"disabled": True}):
            refused = await owner.request("PATCH", path, json=change)
            assert refused.status_code == 409, refused.text
            assert refused.json()["reason"] == "LAST_OWNER"
        second = await create_operator(api, tenant.tenant_id, "owner")
        demoted = await owner.request("PATCH", path, json={"role": "analyst"})
        assert demoted.status_code == 200, demoted.text
        # Demoted, the session acts with the new role at once on this replica.
        assert forbidden_role(await owner.get("/v1/operators"), "analyst")
        last = await api.patch(
            f"/v1/operators/{second['operator_id']}", json={"disabled": True}, headers=tenant.headers
        )
        assert last.status_code == 409


async def test_a_key_hands_on_only_the_roles_it_holds(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    narrow = await api.post(
        "/v1/api-keys", json={"name": "ops", "scopes": ["operate", "read"]}, headers=tenant.headers
    )
    headers = {"Authorization": f"Bearer {narrow.json()['api_key']}"}
    body = {"email": f"m-{uuid.uuid4().hex[:6]}@shop.example", "password": PASSWORD, "role": "marketer"}
    created = await api.post("/v1/operators", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert (await api.get("/v1/operators", headers=headers)).status_code == 200
    owner = await api.post(
        "/v1/operators", json={**body, "email": "o@shop.example", "role": "owner"}, headers=headers
    )
    assert owner.status_code == 403
    assert owner.json()["scope"] == "audit"  # the first (in order) of the owner scopes the key lacks
    support = await create_operator(api, tenant.tenant_id, "support")
    refusals = (
        ({"role": "owner"}, "audit"),
        ({"password": "another fine passphrase"}, "points"),
        ({"disabled": True}, "points"),
        ({"role": "analyst"}, "points"),  # a demotion needs the present role's scopes too
    )
    for change, scope in refusals:
        refused = await api.patch(f"/v1/operators/{support['operator_id']}", json=change, headers=headers)
        assert refused.status_code == 403, (change, refused.text)
        assert refused.json()["scope"] == scope
    demoted = await api.patch(
        f"/v1/operators/{created.json()['operator_id']}", json={"role": "analyst"}, headers=headers
    )
    assert demoted.status_code == 200, demoted.text


async def test_another_spelling_of_an_id_passes_no_scope_check(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """The checks compare with the listing's canonical ids; the services accept any UUID spelling, so
    the gateway must canonicalise first (upper case, no hyphens, braces, urn:uuid:)."""
    narrow = await api.post(
        "/v1/api-keys", json={"name": "ops", "scopes": ["operate", "read"]}, headers=tenant.headers
    )
    headers = {"Authorization": f"Bearer {narrow.json()['api_key']}"}
    owner = await create_operator(api, tenant.tenant_id, "owner")
    wide = await api.post(
        "/v1/api-keys", json={"name": "wide", "scopes": ["operate", "privacy"]}, headers=tenant.headers
    )
    spellings: list[Callable[[str], str]] = [
        str.upper,
        lambda i: i.replace("-", ""),
        lambda i: "{" + i + "}",
        lambda i: "urn:uuid:" + i,
    ]
    for spelling in spellings:
        target = spelling(str(owner["operator_id"]))
        for change in ({"password": "a takeover passphrase"}, {"disabled": True}):
            refused = await api.patch(f"/v1/operators/{target}", json=change, headers=headers)
            assert refused.status_code == 403, (target, change, refused.text)
        key = spelling(str(wide.json()["key_id"]))
        rolled = await api.post(f"/v1/api-keys/{key}/roll", json={}, headers=headers)
        assert (rolled.status_code, rolled.json().get("scope")) == (403, "privacy"), rolled.text
        revoked = await api.delete(f"/v1/api-keys/{key}", headers=headers)
        assert (revoked.status_code, revoked.json().get("scope")) == (403, "privacy"), revoked.text


async def test_a_hash_of_old_parameters_is_remade_at_sign_in(
    api: httpx.AsyncClient,
    services: dict[str, ServiceServer],
    tenant: TenantKey,
    database_urls: dict[str, str],
) -> None:
    operator = await create_operator(api, tenant.tenant_id, "analyst")
    older = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=2).hash(PASSWORD)
    key = uuid.UUID(operator["operator_id"])
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        await connection.execute("UPDATE operators SET password_hash = $1 WHERE operator_id = $2", older, key)
        async with replica(services) as app, browser(app) as client:
            await sign_in(client, tenant.tenant_id, operator["email"])
        stored = await connection.fetchval("SELECT password_hash FROM operators WHERE operator_id = $1", key)
    finally:
        await connection.close()
    assert stored != older
    assert stored.startswith("$argon2id$")
    assert "m=8192,t=1,p=1" in stored  # the suite's profile service parameters (tests/support.py)

"""Verified identities and merge suggestions, through the gateway and the real services.

Two existing customers merge only through identities verified in the call or of the tenant's
auto-merge types; any other collision keeps them apart and records one open suggestion per pair,
which an operator accepts (merged once, however many accept at once) or dismisses. Merges and
erasure close suggestions by themselves; another tenant sees none of it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from services.runtime.server import ServiceServer
from tests.conftest import TenantKey, gateway_client, gateway_settings

# The tenancy census (tests/test_profile_tenancy.py) requires every path walked by some test.
WALKED = {
    ("get", "/v1/identity-resolution"),
    ("put", "/v1/identity-resolution"),
    ("get", "/v1/merge-suggestions"),
    ("post", "/v1/merge-suggestions/{suggestion_id}/accept"),
    ("post", "/v1/merge-suggestions/{suggestion_id}/dismiss"),
}


def phone(n: int, verified: bool = False) -> dict[str, Any]:
    return {"type": "phone", "value": f"139{n:08d}", "verified": verified}


def email(name: str, verified: bool = False) -> dict[str, Any]:
    return {"type": "email", "value": f"{name}@example.com", "verified": verified}


def ident(kind: str, value: str, verified: bool = False) -> dict[str, Any]:
    return {"type": kind, "value": value, "verified": verified}


async def identify(api: httpx.AsyncClient, tenant: TenantKey, *identities: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(
        "/v1/customers/identify", json={"identities": list(identities)}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def customer(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def suggestions(api: httpx.AsyncClient, tenant: TenantKey, status: str | None = None) -> list[Any]:
    params = {"status": status} if status else {}
    response = await api.get("/v1/merge-suggestions", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def decide(api: httpx.AsyncClient, tenant: TenantKey, suggestion_id: str, what: str) -> httpx.Response:
    return await api.post(f"/v1/merge-suggestions/{suggestion_id}/{what}", headers=tenant.headers)


async def resolution(api: httpx.AsyncClient, tenant: TenantKey, types: list[str]) -> dict[str, Any]:
    response = await api.put(
        "/v1/identity-resolution", json={"auto_merge_types": types}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def two_customers(api: httpx.AsyncClient, tenant: TenantKey, n: int) -> tuple[str, str]:
    """An older customer by phone and a younger one by e-mail."""
    older = (await identify(api, tenant, phone(n)))["customer_id"]
    younger = (await identify(api, tenant, email(f"p{n}")))["customer_id"]
    return older, younger


async def test_an_unverified_collision_merges_nothing_and_suggests_once(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    older, younger = await two_customers(api, tenant, 1)
    joined = await identify(api, tenant, phone(1), email("p1"))
    # Neither link is trusted: the call goes to the holder of the stronger identity (a phone).
    assert joined == {
        "customer_id": older,
        "created": False,
        "merged_customer_ids": [],
        "unmerged_customer_ids": [younger],
    }
    assert (await customer(api, tenant, younger))["merged_into"] is None
    # Again, and the other way round: still one open suggestion for the pair, counted.
    await identify(api, tenant, email("p1"), phone(1))
    await identify(api, tenant, phone(1), email("p1"), ident("platform_nick", "nick-1"))
    [suggestion] = await suggestions(api, tenant)
    assert suggestion["status"] == "open"
    assert (suggestion["customer_id"], suggestion["other_customer_id"]) == (older, younger)
    assert (suggestion["identity_type"], suggestion["identity_value"]) == ("email", "p***@example.com")
    assert suggestion["occurrences"] == 3
    assert suggestion["decided_at"] is suggestion["decided_by"] is suggestion["survivor_id"] is None
    # The new identity went to the customer the call attached to; the e-mail stayed where it was.
    assert {i["type"] for i in (await customer(api, tenant, older))["identities"]} == {
        "phone",
        "platform_nick",
    }
    assert [i["type"] for i in (await customer(api, tenant, younger))["identities"]] == ["email"]

    # One verified link is not enough: the link to each customer must be trusted.
    half = await identify(api, tenant, phone(1), email("p1", verified=True))
    assert (half["customer_id"], half["merged_customer_ids"], half["unmerged_customer_ids"]) == (
        younger,
        [],
        [older],
    )
    assert len(await suggestions(api, tenant, "open")) == 1


async def test_verified_identities_merge_and_stay_verified(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    older, younger = await two_customers(api, tenant, 2)
    joined = await identify(api, tenant, phone(2, verified=True), email("p2", verified=True))
    assert (joined["customer_id"], joined["merged_customer_ids"], joined["unmerged_customer_ids"]) == (
        older,
        [younger],
        [],
    )
    merged = await customer(api, tenant, younger)
    assert merged["merged_into"] == older
    assert {(i["type"], i["verified"]) for i in merged["identities"]} == {("phone", True), ("email", True)}
    # A later unverified mention never downgrades; a new identity arrives unverified.
    await identify(api, tenant, phone(2), ident("app_user_id", "u-2"))
    shown = {i["type"]: i["verified"] for i in (await customer(api, tenant, older))["identities"]}
    assert shown == {"phone": True, "email": True, "app_user_id": False}
    listed = await api.get(
        "/v1/customers",
        params={"identity_type": "phone", "identity_value": "13900000002"},
        headers=tenant.headers,
    )
    assert [i["verified"] for i in listed.json()["items"][0]["identities"]] == [True, True, False]
    exported = (await api.get(f"/v1/customers/{older}/export", headers=tenant.headers)).json()
    assert {i["type"]: i["verified"] for i in exported["identities"]} == shown
    assert await suggestions(api, tenant) == []


async def test_the_tenants_auto_merge_types_merge_without_verification(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    defaults = (await api.get("/v1/identity-resolution", headers=tenant.headers)).json()
    assert defaults == {
        "auto_merge_types": ["external_id", "app_user_id", "wechat_openid", "wechat_unionid"],
        "updated_at": None,
    }
    a = (await identify(api, tenant, ident("external_id", "x-3")))["customer_id"]
    b = (await identify(api, tenant, ident("app_user_id", "u-3")))["customer_id"]
    joined = await identify(api, tenant, ident("app_user_id", "u-3"), ident("external_id", "x-3"))
    assert (joined["customer_id"], joined["merged_customer_ids"]) == (a, [b])

    # The tenant trusts phones and e-mails instead (in strength order, repeats once).
    saved = await resolution(api, tenant, ["email", "phone", "email"])
    assert saved["auto_merge_types"] == ["phone", "email"]
    assert saved["updated_at"] is not None
    assert (await api.get("/v1/identity-resolution", headers=tenant.headers)).json() == saved
    _older, younger = await two_customers(api, tenant, 3)
    assert (await identify(api, tenant, phone(3), email("p3")))["merged_customer_ids"] == [younger]
    c = (await identify(api, tenant, ident("app_user_id", "u-33")))["customer_id"]
    d = (await identify(api, tenant, ident("wechat_openid", "o-33")))["customer_id"]
    kept = await identify(api, tenant, ident("app_user_id", "u-33"), ident("wechat_openid", "o-33"))
    assert (kept["customer_id"], kept["unmerged_customer_ids"]) == (c, [d])

    # Nothing trusted but verification: a phone verified earlier needs proof in this call too; the
    # call goes to the customer holding it verified (stronger than an external id held unverified).
    await resolution(api, tenant, [])
    e = (await identify(api, tenant, phone(33, verified=True)))["customer_id"]
    f = (await identify(api, tenant, ident("external_id", "x-33")))["customer_id"]
    apart = await identify(api, tenant, phone(33), ident("external_id", "x-33"))
    assert (apart["customer_id"], apart["unmerged_customer_ids"]) == (e, [f])
    pairs = {(s["customer_id"], s["other_customer_id"]) for s in await suggestions(api, tenant, "open")}
    assert pairs == {(c, d), (e, f)}


async def test_accepting_merges_once_however_many_accept_at_once(
    api: httpx.AsyncClient,
    tenant: TenantKey,
    database_urls: dict[str, str],
    services: dict[str, ServiceServer],
) -> None:
    older = (await identify(api, tenant, phone(4)))["customer_id"]
    younger = (await identify(api, tenant, email("p4"), ident("app_user_id", "u-4")))["customer_id"]
    # The call goes to the younger customer (its app user id is trusted), the older one stays apart.
    await identify(api, tenant, ident("app_user_id", "u-4"), phone(4))
    [suggestion] = await suggestions(api, tenant)
    assert (suggestion["customer_id"], suggestion["other_customer_id"]) == (younger, older)

    # All at once through a gateway with a roomy deadline: the accepts queue on the pair's locks, and
    # on a loaded machine the last may wait longer than the suite's 2 s (an answer, not a timeout, is
    # what this test is about).
    addresses = {name: f"127.0.0.1:{server.bound_port}" for name, server in services.items()}
    async with gateway_client(gateway_settings(addresses, rpc_timeout_seconds=20.0)) as roomy:
        answers = await asyncio.gather(
            *(decide(roomy, tenant, suggestion["suggestion_id"], "accept") for _ in range(6))
        )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5, [a.text for a in answers]
    accepted = next(a.json() for a in answers if a.status_code == 200)
    assert accepted["status"] == "accepted"
    assert accepted["survivor_id"] == older
    assert accepted["decided_by"].startswith("key:")
    assert accepted["decided_at"] is not None
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {(r["reason"], r["suggestion_status"]) for r in refused} == {
        ("MERGE_SUGGESTION_DECIDED", "accepted")
    }
    assert all(
        a.headers["content-type"] == "application/problem+json" for a in answers if a.status_code == 409
    )
    assert (await customer(api, tenant, younger))["merged_into"] == older
    assert {i["type"] for i in (await customer(api, tenant, older))["identities"]} == {
        "phone",
        "email",
        "app_user_id",
    }
    assert (await decide(api, tenant, suggestion["suggestion_id"], "dismiss")).status_code == 409
    # Each decision is in the audit log: one accept succeeded, the other five and the dismiss failed.
    log = await api.get(
        "/v1/audit", params={"target": suggestion["suggestion_id"], "limit": 50}, headers=tenant.headers
    )
    assert log.status_code == 200, log.text
    outcomes = sorted((e["action"], e["outcome"]) for e in log.json()["items"])
    assert outcomes == sorted(
        [("merge_suggestion.accept", "succeeded")]
        + [("merge_suggestion.accept", "failed")] * 5
        + [("merge_suggestion.dismiss", "failed")]
    )

    connection = await asyncpg.connect(database_urls["profile"])
    try:
        merges = await connection.fetch(
            "SELECT merged_id, survivor_id, reason FROM customer_merges WHERE tenant_id = $1",
            uuid.UUID(tenant.tenant_id),
        )
        events = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND type = 'customer.merged'",
            uuid.UUID(tenant.tenant_id),
        )
    finally:
        await connection.close()
    assert [(str(m["merged_id"]), str(m["survivor_id"]), m["reason"]) for m in merges] == [
        (younger, older, "suggestion")
    ]
    assert events == 1


async def test_a_dismissed_pair_is_not_suggested_again(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    _older, younger = await two_customers(api, tenant, 5)
    await identify(api, tenant, phone(5), email("p5"))
    [suggestion] = await suggestions(api, tenant)
    dismissed = await decide(api, tenant, suggestion["suggestion_id"], "dismiss")
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["status"] == "dismissed"
    assert dismissed.json()["decided_by"].startswith("key:")
    again = await decide(api, tenant, suggestion["suggestion_id"], "dismiss")
    assert (again.status_code, again.json()["reason"]) == (409, "MERGE_SUGGESTION_DECIDED")
    assert (await decide(api, tenant, suggestion["suggestion_id"], "accept")).status_code == 409
    # The same collision: still apart, no new suggestion; verified, it merges all the same.
    assert (await identify(api, tenant, phone(5), email("p5")))["unmerged_customer_ids"] == [younger]
    assert await suggestions(api, tenant, "open") == []
    assert [s["status"] for s in await suggestions(api, tenant)] == ["dismissed"]
    verified = await identify(api, tenant, phone(5, verified=True), email("p5", verified=True))
    assert verified["merged_customer_ids"] == [younger]


async def test_erasure_and_merges_close_or_move_suggestions(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    _older, younger = await two_customers(api, tenant, 6)
    await identify(api, tenant, phone(6), email("p6"))
    [erased_pair] = await suggestions(api, tenant)
    assert (await api.delete(f"/v1/customers/{younger}", headers=tenant.headers)).status_code == 200
    [closed] = await suggestions(api, tenant)
    assert (closed["status"], closed["close_reason"], closed["identity_value"]) == (
        "closed",
        "customer_erased",
        None,
    )
    refused = await decide(api, tenant, erased_pair["suggestion_id"], "accept")
    assert refused.status_code == 409
    assert (refused.json()["reason"], refused.json()["close_reason"]) == (
        "MERGE_SUGGESTION_CLOSED",
        "customer_erased",
    )

    # Three customers: keep (phone), a (e-mail) and b (platform nick); suggestions keep-a and keep-b.
    keep = (await identify(api, tenant, phone(7)))["customer_id"]
    a = (await identify(api, tenant, email("a7")))["customer_id"]
    b = (await identify(api, tenant, ident("platform_nick", "b7")))["customer_id"]
    await identify(api, tenant, phone(7), email("a7"))
    await identify(api, tenant, phone(7), ident("platform_nick", "b7"))
    c = (await identify(api, tenant, ident("platform_nick", "c7")))["customer_id"]
    await identify(api, tenant, email("a7"), ident("platform_nick", "c7"))  # a-c, a stronger
    # b folded into a by hand: keep-b becomes keep-a, a second open suggestion of that pair (closed);
    # a-c stays a-c.
    merged = await api.post(f"/v1/customers/{a}/merge", json={"other_customer_id": b}, headers=tenant.headers)
    assert merged.status_code == 200, merged.text
    by_pair = {
        (s["customer_id"], s["other_customer_id"]): (s["status"], s["close_reason"])
        for s in await suggestions(api, tenant)
        if s["suggestion_id"] != erased_pair["suggestion_id"]
    }
    assert by_pair == {
        (keep, a): ("open", None),
        (keep, b): ("closed", "duplicate"),
        (a, c): ("open", None),
    }
    # c folded into keep by hand: a-c becomes a-keep, the pair of keep-a, so it closes as a duplicate;
    # then verified identities merge keep and a, which closes keep-a as merged.
    await api.post(f"/v1/customers/{keep}/merge", json={"other_customer_id": c}, headers=tenant.headers)
    await identify(api, tenant, phone(7, verified=True), email("a7", verified=True))
    states = {s["suggestion_id"]: s for s in await suggestions(api, tenant)}
    open_now = [s for s in states.values() if s["status"] == "open"]
    assert open_now == []
    assert sorted(s["close_reason"] for s in states.values()) == [
        "customer_erased",
        "duplicate",
        "duplicate",
        "merged",
    ]
    assert next(s for s in states.values() if s["close_reason"] == "merged")["survivor_id"] == keep


async def test_listing_pages_and_filters(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    for n in range(10, 13):
        await two_customers(api, tenant, n)
        await identify(api, tenant, phone(n), email(f"p{n}"))
    first = await api.get("/v1/merge-suggestions", params={"limit": 2}, headers=tenant.headers)
    body = first.json()
    assert len(body["items"]) == 2
    assert body["next_cursor"]
    rest = await api.get(
        "/v1/merge-suggestions", params={"limit": 2, "cursor": body["next_cursor"]}, headers=tenant.headers
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    ids = [s["suggestion_id"] for s in body["items"] + rest.json()["items"]]
    assert len(set(ids)) == 3
    await decide(api, tenant, ids[0], "dismiss")
    assert [s["suggestion_id"] for s in await suggestions(api, tenant, "dismissed")] == [ids[0]]
    assert [s["suggestion_id"] for s in await suggestions(api, tenant, "open")] == ids[1:]


async def test_bad_input_is_422_naming_the_field(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None, set[str]]] = [
        (
            "put",
            "/v1/identity-resolution",
            {"auto_merge_types": ["phone", "bogus"]},
            None,
            {"auto_merge_types[1]"},
        ),
        ("put", "/v1/identity-resolution", {}, None, {"auto_merge_types"}),
        ("put", "/v1/identity-resolution", {"auto_merge_types": "phone"}, None, {"auto_merge_types"}),
        (
            "post",
            "/v1/customers/identify",
            {"identities": [{"type": "phone", "value": "13900000099", "verified": "yes"}]},
            None,
            {"identities[0].verified"},
        ),
        (
            "post",
            "/v1/orders/batch",
            {
                "orders": [
                    {"order_id": "V-1", "identities": [{"type": "email", "value": "v@x.cn", "verified": 1}]}
                ]
            },
            None,
            set(),
        ),
        ("get", "/v1/merge-suggestions", None, {"status": "pending"}, {"status"}),
        ("get", "/v1/merge-suggestions", None, {"cursor": "bm90LW91cnM"}, {"cursor"}),
        ("get", "/v1/merge-suggestions", None, {"limit": "0"}, {"limit"}),
    ]
    for method, path, body, params, fields in cases:
        response = await api.request(method, path, json=body, params=params, headers=tenant.headers)
        if path == "/v1/orders/batch":  # judged item by item: the item is rejected naming the field
            assert response.status_code == 200, response.text
            errors = response.json()["rejected"][0]["errors"]
            assert "orders[0].identities[0].verified" in {e["field"] for e in errors}, errors
            continue
        assert response.status_code == 422, (path, body, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert {e["field"] for e in response.json()["errors"]} == fields, response.json()
    for what in ("accept", "dismiss"):
        for suggestion_id in (str(uuid.uuid4()), "not-an-id"):
            assert (await decide(api, tenant, suggestion_id, what)).status_code == 404


async def test_another_tenant_sees_and_decides_nothing(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    await two_customers(api, tenant, 20)
    await identify(api, tenant, phone(20), email("p20"))
    await resolution(api, tenant, ["phone"])
    [theirs] = await suggestions(api, tenant)
    assert await suggestions(api, other_tenant) == []
    for what in ("accept", "dismiss"):
        assert (await decide(api, other_tenant, theirs["suggestion_id"], what)).status_code == 404
    assert (await api.get("/v1/identity-resolution", headers=other_tenant.headers)).json()[
        "updated_at"
    ] is None
    # The same identities in the other tenant are its own customers: nothing crosses.
    await two_customers(api, other_tenant, 20)
    joined = await identify(api, other_tenant, phone(20), email("p20"))
    assert joined["merged_customer_ids"] == []
    assert len(joined["unmerged_customer_ids"]) == 1
    [mine] = await suggestions(api, other_tenant)
    assert mine["suggestion_id"] != theirs["suggestion_id"]
    assert (await suggestions(api, tenant))[0]["status"] == "open"

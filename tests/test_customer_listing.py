"""Listing customers: filters, masking, cursor pagination, limits, tenancy."""

import httpx

from tests.conftest import TenantKey


async def test_listing_filters_paginates_and_masks(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    created = []
    for n in range(7):
        body = {
            "identities": [{"type": "phone", "value": f"1370000{n:04d}"}],
            "attributes": {"nickname": f"Name{n}", "city": "Hangzhou" if n % 2 else "Shanghai"},
        }
        response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
        created.append(response.json()["customer_id"])

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/customers", params=params, headers=tenant.headers)).json()
        seen.extend(item["customer_id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))

    hangzhou = (await api.get("/v1/customers", params={"city": "Hangzhou"}, headers=tenant.headers)).json()
    assert {i["customer_id"] for i in hangzhou["items"]} == {created[n] for n in (1, 3, 5)}
    assert all(i["attributes"]["nickname"].endswith("**") for i in hangzhou["items"])

    by_phone = (
        await api.get(
            "/v1/customers",
            params={"identity_type": "phone", "identity_value": "+86 137 0000 0004"},
            headers=tenant.headers,
        )
    ).json()
    assert [i["customer_id"] for i in by_phone["items"]] == [created[4]]
    assert by_phone["items"][0]["identities"] == [
        {"type": "phone", "value": "+86 137****0004", "verified": False}
    ]

    theirs = (await api.get("/v1/customers", headers=other_tenant.headers)).json()
    assert not set(created) & {i["customer_id"] for i in theirs["items"]}


async def test_listing_rejects_bad_parameters(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"identity_type": "phone"}, "identity_value"),
        ({"identity_type": "phone", "identity_value": "12"}, "identity_value"),
        ({"identity_type": "fax", "identity_value": "1"}, "identity_type"),
        ({"tag_id": "nope"}, "tag_id"),
    ]
    for params, field in cases:
        response = await api.get("/v1/customers", params=params, headers=tenant.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["field"] == field


async def test_listing_by_tag(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    group = (
        await api.post("/v1/tag-groups", json={"kind": "static", "name": "List"}, headers=tenant.headers)
    ).json()
    tag = (
        await api.post(
            "/v1/tags", json={"group_id": group["group_id"], "name": "Gold"}, headers=tenant.headers
        )
    ).json()
    tagged, plain = [
        (
            await api.post(
                "/v1/customers/identify",
                json={"identities": [{"type": "external_id", "value": name}]},
                headers=tenant.headers,
            )
        ).json()["customer_id"]
        for name in ("tagged", "plain")
    ]
    assert (
        await api.put(f"/v1/customers/{tagged}/tags/{tag['tag_id']}", json={}, headers=tenant.headers)
    ).status_code == 200
    listed = (await api.get("/v1/customers", params={"tag_id": tag["tag_id"]}, headers=tenant.headers)).json()
    assert [item["customer_id"] for item in listed["items"]] == [tagged]
    assert plain not in {item["customer_id"] for item in listed["items"]}

"""The gateway through the real services: auth, tenancy, validation, errors, operations endpoints."""

import asyncpg
import httpx
import pytest

from gateway.app import create_app
from gateway.routers.operations import operations_app
from gateway.settings import GatewaySettings
from tests.conftest import ADMIN_TOKEN, TenantKey, create_tenant
from tests.support import TEST_RUNTIME

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PHONE = {"type": "phone", "value": "13700001111"}


async def identify(api: httpx.AsyncClient, tenant: TenantKey, *identities: dict[str, str]) -> httpx.Response:
    return await api.post(
        "/v1/customers/identify", json={"identities": list(identities)}, headers=tenant.headers
    )


def fields_of(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


# --- operations -------------------------------------------------------------------------------


async def test_health_readiness_openapi_docs_metrics(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["services"].values()) == {"SERVING"}
    spec = (await api.get("/openapi.json")).json()
    assert "/v1/customers/identify" in spec["paths"]
    assert (await api.get("/docs")).status_code == 200
    metrics = await api.get("/metrics")
    assert "patron_http_requests_total" in metrics.text


# --- admin ------------------------------------------------------------------------------------


async def test_tenant_creation_needs_the_admin_token(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    body = {"name": "x"}
    assert (await api.post("/v1/admin/tenants", json=body)).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await api.post("/v1/admin/tenants", json=body, headers=wrong)).status_code == 401
    assert (await api.post("/v1/admin/tenants", json=body, headers=tenant.headers)).status_code == 403


async def test_tenant_creation_validates_settings(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/admin/tenants",
        json={"name": "Bad", "timezone": "Mars/Olympus", "currency": "QQQ"},
        headers=ADMIN,
    )
    assert response.status_code == 422
    assert set(fields_of(response)) == {"timezone", "currency"}


async def test_new_tenant_defaults(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/admin/tenants", json={"name": "Defaults"}, headers=ADMIN)
    body = response.json()
    assert response.status_code == 201
    assert (body["timezone"], body["currency"], body["default_region"]) == ("Asia/Shanghai", "CNY", "CN")
    assert body["api_key"].startswith("ptk_")


# --- authentication and tenancy ---------------------------------------------------------------


async def test_customer_calls_need_a_valid_key(api: httpx.AsyncClient) -> None:
    missing = await api.post("/v1/customers/identify", json={"identities": [PHONE]})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = await api.post(
        "/v1/customers/identify", json={"identities": [PHONE]}, headers={"Authorization": "Bearer ptk_nope"}
    )
    assert bad.status_code == 401
    admin = await api.post("/v1/customers/identify", json={"identities": [PHONE]}, headers=ADMIN)
    assert admin.status_code == 403


async def test_identify_then_read_with_masked_identities(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    created = await api.post(
        "/v1/customers/identify",
        json={
            "identities": [PHONE, {"type": "email", "value": "Bob@Example.com"}],
            "attributes": {"nickname": "Bob", "gender": "male", "birthday": "1991-02-03", "custom": {"n": 1}},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 200
    assert created.json()["created"] is True
    customer_id = created.json()["customer_id"]

    again = await identify(api, tenant, {"type": "phone", "value": "+86 137 0000 1111"})
    assert again.json() == {
        "customer_id": customer_id,
        "created": False,
        "merged_customer_ids": [],
        "unmerged_customer_ids": [],
    }

    read = await api.get(f"/v1/customers/{customer_id}", headers=tenant.headers)
    body = read.json()
    assert read.status_code == 200
    assert body["attributes"]["nickname"] == "Bob"
    assert body["attributes"]["birthday"] == "1991-02-03"
    assert body["attributes"]["custom"] == {"n": 1}
    assert {(i["type"], i["value"]) for i in body["identities"]} == {
        ("phone", "+86 137****1111"),
        ("email", "b***@example.com"),
    }
    assert body["merged_into"] is None


async def test_another_tenant_sees_404(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    customer_id = (await identify(api, tenant, PHONE)).json()["customer_id"]
    assert (await api.get(f"/v1/customers/{customer_id}", headers=tenant.headers)).status_code == 200
    foreign = await api.get(f"/v1/customers/{customer_id}", headers=other_tenant.headers)
    assert foreign.status_code == 404
    assert foreign.json()["title"] == "Not found"
    # The same phone in the other tenant is another customer.
    theirs = await identify(api, other_tenant, PHONE)
    assert theirs.json()["created"] is True
    assert theirs.json()["customer_id"] != customer_id


@pytest.mark.parametrize("customer_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
async def test_unknown_customer_is_404(api: httpx.AsyncClient, tenant: TenantKey, customer_id: str) -> None:
    assert (await api.get(f"/v1/customers/{customer_id}", headers=tenant.headers)).status_code == 404


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"identities": []}, ["identities"]),
        ({}, ["identities"]),
        ({"identities": [{"type": "fax", "value": "1"}]}, ["identities[0].type"]),
        ({"identities": [{"type": "phone", "value": "12"}]}, ["identities[0].value"]),
        ({"identities": [PHONE, {"type": "email", "value": "nope@"}]}, ["identities[1].value"]),
        ({"identities": [{"type": "phone", "value": 13700001111}]}, ["identities[0].value"]),
        ({"identities": "13700001111"}, ["identities"]),
        ({"identities": [PHONE], "attributes": {"shoe_size": 42}}, ["attributes.shoe_size"]),
        ({"identities": [PHONE], "attributes": {"gender": "robot"}}, ["attributes.gender"]),
        ({"identities": [PHONE], "attributes": {"birthday": "2999-01-01"}}, ["attributes.birthday"]),
        ({"identities": [PHONE], "attributes": {"birthday": "yesterday"}}, ["attributes.birthday"]),
        (
            {"identities": [PHONE], "attributes": {"registered_at": "2024-01-01T00:00:00"}},
            ["attributes.registered_at"],
        ),
        ({"identities": [PHONE], "extra": 1}, ["extra"]),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    api: httpx.AsyncClient, tenant: TenantKey, database_urls: dict[str, str], body: object, fields: list[str]
) -> None:
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert fields_of(response) == fields
    connection = await asyncpg.connect(database_urls["profile"])
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM customers WHERE tenant_id = $1::uuid", tenant.tenant_id
        )
    finally:
        await connection.close()
    assert count == 0


async def test_a_body_that_is_not_json_is_422(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    response = await api.post(
        "/v1/customers/identify",
        content=b'{"identities": [',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert fields_of(response) == ["body"]
    assert "JSON" in response.json()["errors"][0]["message"]


async def test_a_body_over_the_limit_is_413(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    huge = {"identities": [PHONE], "attributes": {"custom": {"blob": "x" * 2_000_000}}}
    response = await api.post("/v1/customers/identify", json=huge, headers=tenant.headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_tenants_are_isolated_for_the_same_identity(api: httpx.AsyncClient) -> None:
    first, second = await create_tenant(api, "One"), await create_tenant(api, "Two")
    a = (await identify(api, first, {"type": "external_id", "value": "shared-42"})).json()
    b = (await identify(api, second, {"type": "external_id", "value": "shared-42"})).json()
    assert a["created"]
    assert b["created"]
    assert a["customer_id"] != b["customer_id"]


async def test_text_that_is_not_unicode_is_422_not_500(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    raw = b'{"identities": [{"type": "app_user_id", "value": "\\ud800"}]}'
    response = await api.post(
        "/v1/customers/identify", content=raw, headers={**tenant.headers, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_no_answer_under_v1_may_be_stored_by_a_cache(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    """A new tenant's key, an export and a plain read all say no-store; operations pages do not."""
    created = await api.post("/v1/admin/tenants", json={"name": "Cache shop"}, headers=ADMIN)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    answer = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "email", "value": "cache@shop.example"}]},
        headers=tenant.headers,
    )
    customer = answer.json()["customer_id"]
    for path in (f"/v1/customers/{customer}", f"/v1/customers/{customer}/export"):
        read = await api.get(path, headers=tenant.headers)
        assert read.status_code == 200, read.text
        assert read.headers["cache-control"] == "no-store"
    refused = await api.get(f"/v1/customers/{customer}")  # problems too: they may name ids
    assert refused.headers["cache-control"] == "no-store"
    assert "no-store" not in (await api.get("/healthz")).headers.get("cache-control", "")


async def test_an_operations_port_takes_the_metrics_and_documents_off_the_api_port() -> None:
    """With PATRON_GATEWAY_OPERATIONS_PORT set, /metrics, /docs and /openapi.json answer only on the
    operations app; the probes stay on both."""
    settings = GatewaySettings.model_validate({"admin_token": ADMIN_TOKEN, "operations_port": 9464})
    api_app = create_app(settings, TEST_RUNTIME)
    operations = operations_app(api_app)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://api") as api,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=operations), base_url="http://ops") as ops,
    ):
        for path in ("/metrics", "/docs", "/openapi.json", "/redoc"):
            assert (await api.get(path)).status_code == 404, path
        assert (await api.get("/healthz")).status_code == 200
        assert (await ops.get("/healthz")).status_code == 200
        assert (await ops.get("/metrics")).status_code == 200
        assert "swagger" in (await ops.get("/docs")).text.lower()
        document = (await ops.get("/openapi.json")).json()
        assert "/v1/customers/identify" in document["paths"]


async def test_the_swagger_page_loads_its_assets_from_the_gateway_not_a_cdn(api: httpx.AsyncClient) -> None:
    page = await api.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert asset in page.text
        served = await api.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 10_000

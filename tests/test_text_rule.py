"""Issue 18 items 1, 6 and 8: the text rule everywhere, strict single-pass validation, one rule for ids.

The NUL sweep is derived from the app's OpenAPI: every string parameter and every string in a body
(keys and values of free JSON included) of every operation gets a NUL, one at a time, and the answer
must be a 422 naming the field, never a 5xx. A new operation is covered without touching this file.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import ADMIN_TOKEN, TenantKey

NUL = "a\u0000b"
Path = tuple[str | int, ...]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def example(document: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A value of ``schema`` with every property present (strings plain, so that a NUL stands out)."""
    schema = _resolve(document, schema)
    if depth > 8:
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        # A schema with a type of its own uses these for rules beside it (coupon kinds, no NUL).
        if key in schema and "type" not in schema:
            options = [s for s in schema[key] if _resolve(document, s).get("type") != "null"]
            return example(document, options[0], depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if not properties:
            return {"key": "value"}
        return {name: example(document, sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [example(document, schema.get("items", {}), depth + 1)]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date":
        return "2024-01-02"
    if schema.get("format") == "date-time":
        return "2024-01-02T03:04:05+00:00"
    return "x"


def string_paths(value: Any, path: Path = ()) -> Iterator[tuple[Path, bool]]:
    """Where strings are in ``value``: (path, is_a_key)."""
    if isinstance(value, str):
        yield path, False
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and not any(isinstance(v, dict) for v in item.values()):
                yield (*path, key), True  # free JSON: a key of it
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_paths(item, (*path, index))


def with_nul(value: Any, path: Path, as_key: bool) -> Any:
    if not path:
        return NUL
    head, *rest = path
    if isinstance(value, list):
        copy_list = list(value)
        copy_list[int(head)] = with_nul(value[int(head)], tuple(rest), as_key)
        return copy_list
    copy = dict(value)
    if as_key and not rest:
        copy[NUL] = {"k": "v"}
        return copy
    copy[head] = with_nul(value[head], tuple(rest), as_key)
    return copy


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


async def test_a_nul_anywhere_is_422_naming_the_field_never_500(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    document = (await api.get("/openapi.json")).json()
    tried = 0
    for template, method, operation in operations(document):
        token = ADMIN_TOKEN if template.startswith("/v1/admin") else tenant.api_key
        headers = {"Authorization": f"Bearer {token}"}
        parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
        values = {p["name"]: str(example(document, p["schema"])) for p in parameters}
        body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        body = example(document, body_schema["schema"]) if body_schema else None

        def url(
            overrides: dict[str, str],
            template: str = template,
            parameters: list[dict[str, Any]] = parameters,
            values: dict[str, str] = values,
        ) -> str:
            path = template
            for p in parameters:
                if p["in"] == "path":
                    path = path.replace(
                        "{" + p["name"] + "}", quote(overrides.get(p["name"], values[p["name"]]))
                    )
            return path

        for p in parameters:
            params = {q["name"]: values[q["name"]] for q in parameters if q["in"] == "query"}
            if p["in"] == "query":
                params[p["name"]] = NUL
            target = url({p["name"]: NUL} if p["in"] == "path" else {})
            response = await api.request(method, target, params=params, json=body, headers=headers)
            tried += 1
            assert response.status_code == 422, (method, template, p["name"], response.text)
            assert p["name"] in {e["field"] for e in response.json()["errors"]}, (method, template)
        if body is None:
            continue
        for path, as_key in string_paths(body):
            response = await api.request(method, url({}), json=with_nul(body, path, as_key), headers=headers)
            tried += 1
            assert response.status_code < 500, (method, template, path, response.text)
            if response.status_code == 200 and "rejected" in response.json():  # a batch: that item alone
                assert response.json()["rejected"], (method, template, path)
                continue
            assert response.status_code == 422, (method, template, path, response.text)
            named = str(next(p for p in path if isinstance(p, str)))
            fields = [e["field"] for e in response.json()["errors"]]
            assert any(named in f or f == "body" or NUL in f for f in fields), (template, path, fields)
    assert tried > 100


async def test_nul_in_a_batch_rejects_that_item_alone(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    customer = str(uuid.uuid4())
    identities = [{"type": "external_id", "value": customer}]
    good = {
        "event_id": "e-1",
        "type": "view",
        "occurred_at": "2024-01-02T03:04:05+00:00",
        "identities": identities,
    }
    bad = {**good, "event_id": "e-2", "properties": {"page": {"title": NUL}}}
    response = await api.post("/v1/events", json={"events": [good, bad]}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["results"] == ["accepted", "rejected"]
    assert answer["rejected"][0]["errors"][0]["field"] == "events[1].properties"
    assert "page.title" in answer["rejected"][0]["errors"][0]["message"]


async def test_nul_in_query_custom_and_tenant_name(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    listing = await api.get("/v1/customers", params={"city": NUL}, headers=tenant.headers)
    assert listing.status_code == 422
    assert listing.json()["errors"][0]["field"] == "city"
    redeem = await api.post(
        "/v1/coupons/a%00b/redeem", json={"order_id": "o1", "amount_minor": 1}, headers=tenant.headers
    )
    assert redeem.status_code == 422
    assert redeem.json()["errors"][0]["field"] == "code"
    body = {"identities": [{"type": "external_id", "value": "n1"}], "attributes": {"custom": {"a": [NUL]}}}
    identify = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert identify.status_code == 422
    assert identify.json()["errors"] == [
        {"field": "attributes.custom", "message": "must not contain the NUL character (U+0000) (at a[0])"}
    ]
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = await api.post("/v1/admin/tenants", json={"name": NUL}, headers=admin)
    assert created.status_code == 422
    assert created.json()["errors"][0]["field"] == "name"


async def test_numbers_are_not_dates(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    identities = [{"type": "external_id", "value": "dates"}]
    cases = [
        ("/v1/scoring/runs", {"as_of": 0}, "as_of", "must be a date written YYYY-MM-DD"),
        (
            "/v1/customers/identify",
            {"identities": identities, "attributes": {"registered_at": 0}},
            "attributes.registered_at",
            "must be an RFC 3339 time with an offset, e.g. 2024-05-01T12:00:00+08:00",
        ),
        (
            "/v1/customers/identify",
            {"identities": identities, "attributes": {"birthday": 1700000000}},
            "attributes.birthday",
            "must be a date written YYYY-MM-DD",
        ),
        (
            "/v1/customers/identify",
            {"identities": identities, "attributes": {"birthday": "1700000000"}},
            "attributes.birthday",
            "must be a date written YYYY-MM-DD",
        ),
    ]
    for path, body, field, message in cases:
        response = await api.post(path, json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert problem["reason"] == "INVALID_ARGUMENT"
        assert problem["errors"] == [{"field": field, "message": message}]
    daily = await api.get(
        "/v1/loyalty/reports/daily", params={"from": "0", "to": "1"}, headers=tenant.headers
    )
    assert daily.status_code == 422
    assert {e["field"] for e in daily.json()["errors"]} == {"from", "to"}


async def test_every_422_has_one_shape_and_lists_every_fault(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    body = {"identities": [{"type": "fax", "value": "1"}, {"type": "phone", "value": "12"}]}
    response = await api.post("/v1/customers/identify", json=body, headers=tenant.headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["reason"] == "INVALID_ARGUMENT"
    assert {e["field"] for e in problem["errors"]} == {"identities[0].type", "identities[1].value"}
    schema_fault = await api.post("/v1/customers/identify", json={"identities": 1}, headers=tenant.headers)
    assert schema_fault.json()["reason"] == "INVALID_ARGUMENT"
    assert schema_fault.json()["errors"] == [{"field": "identities", "message": "must be a list"}]
    not_utf8 = await api.post(
        "/v1/customers/identify",
        content=b'{"identities": "\xff"}',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert not_utf8.status_code == 422
    assert not_utf8.json()["errors"][0]["field"] == "body"


async def test_unknown_ids_path_404_body_422(api: httpx.AsyncClient, tenant: TenantKey) -> None:
    unknown = str(uuid.uuid4())
    assert (await api.get(f"/v1/customers/{unknown}", headers=tenant.headers)).status_code == 404
    merge = await api.post(
        f"/v1/customers/{unknown}/merge",
        json={"other_customer_id": str(uuid.uuid4())},
        headers=tenant.headers,
    )
    assert merge.status_code == 404  # the path's id first
    order = {
        "order_id": "ids-1",
        "customer_id": unknown,
        "paid_at": "2024-01-02T03:04:05+00:00",
        "currency": "CNY",
        "amount_minor": 100,
        "items": [{"sku": "A", "unit_price_minor": 100, "quantity": 1}],
    }
    recorded = await api.post("/v1/orders", json=order, headers=tenant.headers)
    assert recorded.status_code == 422
    assert recorded.json()["errors"][0]["field"] == "customer_id"


async def test_export_times_are_rfc3339_and_problem_numbers_are_numbers(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    identified = await api.post(
        "/v1/customers/identify",
        json={"identities": [{"type": "external_id", "value": "export-1"}]},
        headers=tenant.headers,
    )
    customer = identified.json()["customer_id"]
    order = {
        "order_id": "exp-1",
        "customer_id": customer,
        "paid_at": "2024-01-02T03:04:05+00:00",
        "currency": "CNY",
        "amount_minor": 100,
        "items": [{"sku": "A", "unit_price_minor": 100, "quantity": 1}],
    }
    assert (await api.post("/v1/orders", json=order, headers=tenant.headers)).status_code == 201
    exported = (await api.get(f"/v1/customers/{customer}/export", headers=tenant.headers)).text
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:", exported), exported
    assert re.search(r'"created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"', exported), exported
    refund = await api.post(
        "/v1/orders/exp-1/refunds", json={"refund_id": "r1", "amount_minor": 1000}, headers=tenant.headers
    )
    assert refund.status_code == 409
    assert refund.json()["remaining_minor"] == 100

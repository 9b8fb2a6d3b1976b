"""Every tenant route declares its scope, and a key lacking it is refused: the census walks every
operation of the OpenAPI (a new route fails here until it declares ``**scoped(...)``), and calls each
with a key holding every scope but the declared one: 403 problem+json naming the scope."""

from __future__ import annotations

import re
import uuid

import httpx

from gateway.auth import SCOPES
from tests.conftest import ADMIN_TOKEN, TenantKey

# Routes with their own authentication: the admin token, providers' signed delivery receipts
# (gateway/routers/links.py; the signed links /t/ and /u/ are not in the OpenAPI at all), and the
# operator's own session (sign in, who, sign out: gateway/routers/session.py; no key, no scope).
_EXEMPT_PREFIXES = ("/v1/admin/", "/v1/notify/receipts/", "/v1/session")
_PARAMETER = re.compile(r"\{([^}]+)\}")
_SAMPLE_VALUES = {"channel": "sms", "code": "CODE1234"}


async def restricted_key(api: httpx.AsyncClient, tenant_id: str, scopes: list[str]) -> str:
    """A key of the tenant holding only ``scopes``, issued by the admin."""
    response = await api.post(
        f"/v1/admin/tenants/{tenant_id}/api-keys",
        json={"name": "census", "scopes": scopes},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


def tenant_operations(document: dict[str, object]) -> list[tuple[str, str, dict[str, object]]]:
    """Every (method, path, operation) that a tenant's key authenticates."""
    found = []
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        if not path.startswith("/v1/") or path.startswith(_EXEMPT_PREFIXES):
            continue
        for method, operation in operations.items():
            if operation.get("security") == []:
                continue
            found.append((method, path, operation))
    return found


def concrete(path: str) -> str:
    return _PARAMETER.sub(lambda m: _SAMPLE_VALUES.get(m.group(1), str(uuid.uuid4())), path)


async def test_every_tenant_route_declares_a_known_scope(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    operations = tenant_operations(document)
    assert len(operations) > 100
    undeclared = [f"{m.upper()} {p}" for m, p, op in operations if op.get("x-scope") not in SCOPES]
    assert not undeclared, f"routes without a declared scope (add **scoped(...)): {undeclared}"


async def test_a_key_lacking_the_routes_scope_is_refused_naming_it(
    api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    document = (await api.get("/openapi.json")).json()
    keys = {
        scope: await restricted_key(api, tenant.tenant_id, [s for s in SCOPES if s != scope])
        for scope in SCOPES
    }
    wrong = []
    for method, path, operation in tenant_operations(document):
        scope = str(operation["x-scope"])
        headers = {"Authorization": f"Bearer {keys[scope]}"}
        body: dict[str, object] | None = {} if method in {"post", "put", "patch"} else None
        response = await api.request(method.upper(), concrete(path), json=body, headers=headers)
        problem = (
            response.json() if response.headers.get("content-type", "").startswith("application/") else {}
        )
        if response.status_code != 403 or problem.get("scope") != scope:
            wrong.append(f"{method.upper()} {path}: {response.status_code} {response.text[:120]}")
        elif response.headers["content-type"] != "application/problem+json":
            wrong.append(f"{method.upper()} {path}: {response.headers['content-type']}")
    assert not wrong, wrong

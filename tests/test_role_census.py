"""Every role is held to its routes, over the whole OpenAPI (like the scope census for keys): each
tenant operation is called with the session of every role that may not call it — an analyst on any
write, a role lacking the route's scope (unless the route names the role in ``x-roles``), anyone but
an owner on an ``x-owner-only`` route — and must answer 403 problem+json naming the role. A new route
is covered without touching this file."""

from __future__ import annotations

import httpx

from gateway.sessions_roles import READ_ONLY_ROLES, ROLE_SCOPES, SAFE_METHODS
from services.runtime.server import ServiceServer
from tests.conftest import TenantKey
from tests.operator_support import browser, operator_session, replica
from tests.test_scope_census import concrete, tenant_operations


def may_not(role: str, method: str, operation: dict[str, object]) -> bool:
    """Whether an operator of ``role`` is refused the operation (gateway.sessions_roles.check_role)."""
    roles = operation.get("x-roles", [])
    assert isinstance(roles, list)
    return (
        bool(operation.get("x-owner-only"))
        or (role in READ_ONLY_ROLES and method.upper() not in SAFE_METHODS)
        or (operation["x-scope"] not in ROLE_SCOPES[role] and role not in roles)
    )


async def test_each_role_is_refused_what_it_may_not_do(
    api: httpx.AsyncClient, services: dict[str, ServiceServer], tenant: TenantKey
) -> None:
    document = (await api.get("/openapi.json")).json()
    operations = tenant_operations(document)
    owner_only = {f"{m.upper()} {p}" for m, p, op in operations if op.get("x-owner-only")}
    assert {"GET /v1/api-keys", "POST /v1/operators", "PATCH /v1/operators/{operator_id}"} <= owner_only
    wrong: list[str] = []
    called = 0
    async with replica(services) as app, browser(app) as client:
        for role in ("marketer", "analyst", "support"):
            session = await operator_session(api, client, tenant.tenant_id, role)
            for method, path, operation in operations:
                if not may_not(role, method, operation):
                    continue
                body: dict[str, object] | None = {} if method in {"post", "put", "patch"} else None
                response = await session.request(method.upper(), concrete(path), json=body)
                called += 1
                problem = response.json() if response.status_code == 403 else {}
                if problem.get("role") != role or problem.get("reason") != "ROLE_FORBIDDEN":
                    wrong.append(
                        f"{role}: {method.upper()} {path}: {response.status_code} {response.text[:120]}"
                    )
                elif response.headers["content-type"] != "application/problem+json":
                    wrong.append(f"{role}: {method.upper()} {path}: {response.headers['content-type']}")
    assert called > 100
    assert not wrong, "\n".join(wrong)

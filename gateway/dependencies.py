"""What every router needs: the calling tenant, the services bound to it, and the error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from gateway.auth import TenantContext, require_tenant
from gateway.bound_stubs import AdminClient, LoyaltyClient, NotifyClient, ProfileClient, ScoringClient
from gateway.clients import ServiceClients
from gateway.gathered_calls import GatheredCalls
from gateway.schemas import Problem
from gateway.validation import text_fault


async def storable_parameters(request: Request) -> None:
    """Every route's path and query parameters pass the text rule (gateway.validation) before any
    handler runs, so no route — a new one included — can hand a NUL to a service (422 naming it)."""
    faults = [
        {"type": "value_error", "loc": (where, name), "msg": fault, "input": value, "ctx": {"error": fault}}
        for where, items in (
            ("path", request.path_params.items()),
            ("query", request.query_params.multi_items()),
        )
        for name, value in items
        if isinstance(value, str) and (fault := text_fault(name) or text_fault(value))
    ]
    if faults:
        raise RequestValidationError(faults)


async def service_clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


async def gathered_calls(request: Request) -> GatheredCalls:
    gathered: GatheredCalls = request.app.state.gathered
    return gathered


Tenant = Annotated[TenantContext, Depends(require_tenant)]
Clients = Annotated[ServiceClients, Depends(service_clients)]
Gathered = Annotated[GatheredCalls, Depends(gathered_calls)]


async def profile_client(tenant: Tenant, clients: Clients) -> ProfileClient:
    """The profile service bound to the calling tenant (authenticating it first)."""
    return ProfileClient(clients, tenant.tenant_id)


async def scoring_client(tenant: Tenant, clients: Clients) -> ScoringClient:
    """The scoring service bound to the calling tenant (authenticating it first)."""
    return ScoringClient(clients, tenant.tenant_id)


async def loyalty_client(tenant: Tenant, clients: Clients) -> LoyaltyClient:
    """The loyalty service bound to the calling tenant (authenticating it first)."""
    return LoyaltyClient(clients, tenant.tenant_id)


async def notify_client(tenant: Tenant, clients: Clients) -> NotifyClient:
    """The notify service bound to the calling tenant (authenticating it first)."""
    return NotifyClient(clients, tenant.tenant_id)


async def admin_client(clients: Clients) -> AdminClient:
    """The services for tenant-less administration (the admin router checks the admin token)."""
    return AdminClient(clients)


Profile = Annotated[ProfileClient, Depends(profile_client)]
Scoring = Annotated[ScoringClient, Depends(scoring_client)]
Loyalty = Annotated[LoyaltyClient, Depends(loyalty_client)]
Notify = Annotated[NotifyClient, Depends(notify_client)]
Admin = Annotated[AdminClient, Depends(admin_client)]


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting each status as application/problem+json."""
    return {status: {"model": Problem} for status in statuses}


# What a tenant's call may answer besides success.
ERRORS = problem_responses(401, 403, 404, 409, 413, 422, 429, 503, 504)

"""What every router needs: the calling tenant, the service clients, and the documented error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from gateway.auth import TenantContext, require_tenant
from gateway.clients import ServiceClients
from gateway.schemas import Problem


async def service_clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


Tenant = Annotated[TenantContext, Depends(require_tenant)]
Clients = Annotated[ServiceClients, Depends(service_clients)]


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting each status as application/problem+json."""
    return {status: {"model": Problem} for status in statuses}


# What a tenant's call may answer besides success.
ERRORS = problem_responses(401, 404, 409, 413, 422, 429, 503, 504)

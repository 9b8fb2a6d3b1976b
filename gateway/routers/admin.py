"""Tenant administration (admin token)."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Depends

from gateway.auth import new_api_key, require_admin
from gateway.dependencies import Admin, problem_responses
from gateway.schemas import TenantCreate, TenantCreated
from patron.common.v1 import tenancy_pb2
from patron.profile.v1 import profile_pb2
from services.runtime.proto_convert import from_timestamp

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

ERRORS = problem_responses(401, 403, 422, 503, 504)


@router.post("/tenants", status_code=201, response_model=TenantCreated, responses=ERRORS)
async def create_tenant(body: TenantCreate, admin: Admin) -> TenantCreated:
    """Create a tenant and its first API key (shown once).

    The other services are told of the tenant first (idempotently, with retries); the key is issued
    by the profile service last, so a failure part-way leaves no usable tenant behind.
    """
    spec = tenancy_pb2.TenantSpec(
        tenant_id=str(uuid.uuid4()),
        name=body.name,
        timezone=body.timezone,
        currency=body.currency.upper(),
        default_region=body.default_region.upper(),
    )
    provision = tenancy_pb2.ProvisionTenantRequest(tenant=spec)
    await asyncio.gather(*(stub.ProvisionTenant.retried(provision) for stub in admin.provisioning.values()))
    api_key, digest, prefix = new_api_key()
    created = await admin.tenants.CreateTenant(
        profile_pb2.CreateTenantRequest(tenant=spec, api_key_sha256=digest, api_key_prefix=prefix)
    )
    tenant = created.tenant
    return TenantCreated(
        tenant_id=tenant.tenant_id,
        api_key=api_key,
        name=tenant.name,
        timezone=tenant.timezone,
        currency=tenant.currency,
        default_region=tenant.default_region,
        created_at=from_timestamp(created.created_at),
    )

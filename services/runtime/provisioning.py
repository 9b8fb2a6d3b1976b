"""gRPC servicer of ``patron.common.v1.TenantProvisioning``, served by every service with a tenants table."""

from __future__ import annotations

import sqlalchemy as sa
from grpc import aio

from patron.common.v1 import tenancy_pb2, tenancy_pb2_grpc
from services.runtime.database import Database
from services.runtime.server import Registration
from services.runtime.tenancy import validate_tenant
from services.runtime.tenant_store import upsert_tenant

PROVISION_METHOD = "/patron.common.v1.TenantProvisioning/ProvisionTenant"


class TenantProvisioningServicer(tenancy_pb2_grpc.TenantProvisioningServicer):
    """Records a tenant's settings in this service's own database (idempotent)."""

    def __init__(self, database: Database, tenants: sa.Table) -> None:
        self._database = database
        self._tenants = tenants

    async def ProvisionTenant(
        self, request: tenancy_pb2.ProvisionTenantRequest, context: aio.ServicerContext
    ) -> tenancy_pb2.ProvisionTenantResponse:
        spec = request.tenant
        tenant = validate_tenant(spec.tenant_id, spec.name, spec.timezone, spec.currency, spec.default_region)
        async with self._database.transaction() as connection:
            created = await upsert_tenant(connection, self._tenants, tenant)
        return tenancy_pb2.ProvisionTenantResponse(created=created)


def provisioning_registration(database: Database, tenants: sa.Table) -> Registration:
    """The registration a service adds to serve tenant provisioning."""
    return Registration(
        tenancy_pb2_grpc.add_TenantProvisioningServicer_to_server,
        TenantProvisioningServicer(database, tenants),
        "patron.common.v1.TenantProvisioning",
    )

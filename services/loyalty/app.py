"""Assembly of the loyalty service: what it serves and how its process starts."""

from __future__ import annotations

from services.loyalty.store.tables import tenants
from services.runtime.database import Database
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The loyalty service's registrations."""
    return ServiceParts(
        registrations=[provisioning_registration(database, tenants)],
        tenant_exempt_methods=frozenset({PROVISION_METHOD}),
    )


def main() -> None:
    run_service("loyalty", build)

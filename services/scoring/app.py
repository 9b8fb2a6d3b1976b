"""Assembly of the scoring service: what it serves and how its process starts."""

from __future__ import annotations

from services.runtime.database import Database
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings
from services.scoring.store.tables import tenants


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The scoring service's registrations."""
    return ServiceParts(
        registrations=[provisioning_registration(database, tenants)],
        tenant_exempt_methods=frozenset({PROVISION_METHOD}),
    )


def main() -> None:
    run_service("scoring", build)

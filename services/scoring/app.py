"""Assembly of the scoring service: what it serves, what it consumes, and how its process starts."""

from __future__ import annotations

from services.runtime.database import Database
from services.runtime.events.wiring import make_consumers
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings
from services.scoring.store.projection import customers_consumer
from services.scoring.store.tables import consumer_members, consumer_parked, consumer_positions, tenants
from services.scoring.transport.models_servicer import models_registration


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The scoring service's registrations and its consumer of profile's customer events."""
    registrations, background, exempt = make_consumers(
        database,
        settings,
        (consumer_positions, consumer_members, consumer_parked),
        [customers_consumer(settings.consumer_lease_seconds)],
    )
    return ServiceParts(
        registrations=[
            provisioning_registration(database, tenants),
            models_registration(database),
            *registrations,
        ],
        tenant_exempt_methods=frozenset({PROVISION_METHOD}) | exempt,
        background=background,
    )


def main() -> None:
    run_service("scoring", build)

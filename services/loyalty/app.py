"""Assembly of the loyalty service: what it serves, what it consumes, and how its process starts."""

from __future__ import annotations

from services.loyalty.store.tables import outbox, tenants
from services.runtime.database import Database
from services.runtime.events.wiring import make_producer
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The loyalty service's registrations: it produces points/tier/coupon events."""
    producer = make_producer("loyalty", database, settings, outbox)
    return ServiceParts(
        registrations=[provisioning_registration(database, tenants), *producer.registrations],
        tenant_exempt_methods=frozenset({PROVISION_METHOD}) | producer.tenant_exempt_methods,
        background=[*producer.background],
    )


def main() -> None:
    run_service("loyalty", build)

"""Assembly of the notify service: what it serves and how its process starts."""

from __future__ import annotations

from services.notify.settings import NotifySettings
from services.notify.store.tables import tenants
from services.notify.webhook_parts import webhook_parts
from services.runtime.database import Database
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The notify service's registrations."""
    assert isinstance(settings, NotifySettings)
    webhook_registrations, webhook_workers = webhook_parts(database, settings, runtime)
    return ServiceParts(
        registrations=[provisioning_registration(database, tenants), *webhook_registrations],
        tenant_exempt_methods=frozenset({PROVISION_METHOD}),
        background=[*webhook_workers],
    )


def main() -> None:
    run_service("notify", build)

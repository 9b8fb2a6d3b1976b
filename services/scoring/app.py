"""Assembly of the scoring service: what it serves, what it consumes, and how its process starts."""

from __future__ import annotations

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.runtime.database import Database
from services.runtime.events.wiring import make_consumers, make_producer
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings
from services.scoring.runs import RunExecutor
from services.scoring.store.feature_tables import outbox
from services.scoring.store.projection import scoring_consumer
from services.scoring.store.tables import consumer_members, consumer_parked, consumer_positions, tenants
from services.scoring.transport.models_servicer import models_registration
from services.scoring.transport.profile_tags import ProfileTags
from services.scoring.transport.servicer import scoring_registration


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The scoring service: its RPCs, its consumer of profile's events, its lifecycle event stream,
    the batch runs and their daily schedule."""
    producer = make_producer("scoring", database, settings, outbox)
    registrations, background, exempt = make_consumers(
        database,
        settings,
        (consumer_positions, consumer_members, consumer_parked),
        [scoring_consumer(settings.consumer_lease_seconds, producer.outbox)],
    )
    profile_channel = grpc.aio.insecure_channel(
        settings.address_of("profile"), interceptors=aio_client_interceptors()
    )
    executor = RunExecutor(database, producer.outbox, ProfileTags(profile_channel))

    return ServiceParts(
        registrations=[
            provisioning_registration(database, tenants),
            scoring_registration(database, executor),
            models_registration(database),
            *producer.registrations,
            *registrations,
        ],
        tenant_exempt_methods=frozenset({PROVISION_METHOD}) | exempt | producer.tenant_exempt_methods,
        background=[*producer.background, *background, executor.schedule],
    )


def main() -> None:
    run_service("scoring", build)

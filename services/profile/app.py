"""Assembly of the profile service: stores, domain, servicers, and how its process starts."""

from __future__ import annotations

from datetime import timedelta

from patron.profile.v1 import profile_pb2_grpc
from services.profile.domain.api_keys import ApiKeys
from services.profile.domain.batch_identities import BatchIdentityResolver
from services.profile.domain.customer_360 import Customer360Reads
from services.profile.domain.directory import CustomerDirectory, TenantRegistry
from services.profile.domain.idempotency import IdempotencyKeys
from services.profile.domain.identify_many import IdentifyBatch
from services.profile.domain.operators import Operators
from services.profile.domain.passwords import Passwords
from services.profile.domain.privacy import CustomerPrivacy
from services.profile.domain.sessions import Sessions
from services.profile.domain.timeline import Timeline
from services.profile.settings import ProfileSettings
from services.profile.store.api_keys import SqlApiKeyStore
from services.profile.store.batch_identities import SqlBatchIdentityStore
from services.profile.store.customer_360_reads import SqlCustomer360Store
from services.profile.store.customers import SqlCustomerStore
from services.profile.store.idempotency import IdempotencyPurge, SqlIdempotencyStore
from services.profile.store.operators import SqlOperatorStore
from services.profile.store.privacy import SqlPrivacyStore
from services.profile.store.sessions import SqlSessionStore
from services.profile.store.tables import outbox
from services.profile.store.tenants import SqlTenantStore
from services.profile.store.timeline import SqlTimelineStore
from services.profile.transport.api_keys_servicer import api_key_registration
from services.profile.transport.audit_servicer import audit_registration
from services.profile.transport.behaviour_servicer import behaviour_registration
from services.profile.transport.contacts_servicer import contacts_registration
from services.profile.transport.customer_360_servicer import customer_360_registration
from services.profile.transport.idempotency_servicer import idempotency_registration
from services.profile.transport.merge_suggestions_servicer import merge_suggestion_registrations
from services.profile.transport.operators_servicer import TENANT_EXEMPT as OPERATOR_EXEMPT
from services.profile.transport.operators_servicer import operator_registrations
from services.profile.transport.orders_servicer import orders_registration
from services.profile.transport.servicers import (
    CUSTOMER_SERVICE,
    TENANT_SERVICE,
    CustomerServicer,
    TenantServicer,
)
from services.profile.transport.tags_servicer import tags_and_consent_registrations
from services.runtime.database import Database
from services.runtime.events.wiring import make_producer
from services.runtime.hot_pool import HotConnections
from services.runtime.privacy_servicer import privacy_registration
from services.runtime.server import Registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The profile service's registrations; raises ValueError on unusable PII keys."""
    assert isinstance(settings, ProfileSettings)
    cipher = settings.pii_cipher(runtime)
    producer = make_producer("profile", database, settings, outbox)
    keys = ApiKeys(SqlApiKeyStore(database))
    registry = TenantRegistry(SqlTenantStore(database), keys)
    customer_store = SqlCustomerStore(database, cipher, producer.outbox)
    hot = HotConnections(database, "profile", size=settings.db_hot_pool_size)
    directory = CustomerDirectory(customer_store, registry)
    passwords = Passwords(settings.hash_parameters())
    timeline = Timeline(SqlTimelineStore(database))
    purge = IdempotencyPurge(database, timedelta(seconds=settings.idempotency_purge_every_seconds))
    registrations = [
        *producer.registrations,
        Registration(
            profile_pb2_grpc.add_TenantServiceServicer_to_server, TenantServicer(registry), TENANT_SERVICE
        ),
        Registration(
            profile_pb2_grpc.add_CustomerServiceServicer_to_server,
            CustomerServicer(
                directory,
                CustomerPrivacy(SqlPrivacyStore(database, cipher, producer.outbox)),
                timeline,
                IdentifyBatch(
                    BatchIdentityResolver(
                        SqlBatchIdentityStore(database, cipher, producer.outbox), customer_store
                    ),
                    customer_store,
                    registry,
                ),
            ),
            CUSTOMER_SERVICE,
        ),
        customer_360_registration(Customer360Reads(SqlCustomer360Store(database, customer_store, hot))),
        behaviour_registration(database, cipher, producer.outbox, registry),
        orders_registration(database, cipher, producer.outbox, directory, registry),
        *tags_and_consent_registrations(database, producer.outbox),
        contacts_registration(database, cipher),
        idempotency_registration(
            IdempotencyKeys(
                SqlIdempotencyStore(database), timedelta(seconds=settings.idempotency_lease_seconds)
            )
        ),
        api_key_registration(keys),
        *operator_registrations(
            Operators(SqlOperatorStore(database), passwords),
            Sessions(SqlSessionStore(database), passwords, settings.session_policy()),
        ),
        audit_registration(database),
        *merge_suggestion_registrations(database, producer.outbox),
        privacy_registration(CustomerPrivacy(SqlPrivacyStore(database, cipher, producer.outbox))),
    ]
    return ServiceParts(
        registrations=registrations,
        tenant_exempt_methods=frozenset(
            {f"/{TENANT_SERVICE}/CreateTenant", f"/{TENANT_SERVICE}/ResolveApiKey"}
        )
        | producer.tenant_exempt_methods
        | OPERATOR_EXEMPT,
        background=[*producer.background, purge.run, hot.hold],
    )


def main() -> None:
    run_service("profile", build)

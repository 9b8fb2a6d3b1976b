"""Assembly of the notify service: stores, domain, providers, what it consumes and produces, and how
its process starts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import grpc

from services.notify.campaign_parts import campaign_parts
from services.notify.clients.campaign_references import CampaignReferenceDirectory
from services.notify.clients.directory import LoyaltyClient, ProfileConsents, ProfileRecipients
from services.notify.clients.journey_effects import JourneyEffectsClient
from services.notify.clients.journey_references import GrpcReferenceDirectory
from services.notify.consumers.journey_triggers import JourneyTriggers, journey_consumers
from services.notify.consumers.profile_events import notify_consumer
from services.notify.delivery_worker import DeliveryWorker, ProviderPool
from services.notify.domain.campaigns import CampaignDesk
from services.notify.domain.channels import ChannelConfig
from services.notify.domain.delivery import Provider
from services.notify.domain.journey_runner import JourneyRunner, RunnerLimits
from services.notify.domain.journeys import JourneyDesk
from services.notify.domain.kpis import CampaignKpis
from services.notify.domain.link_desk import LinkDesk
from services.notify.domain.links import LinkSigner
from services.notify.domain.message_batches import BatchPreparer
from services.notify.domain.messages import MessageDesk
from services.notify.domain.receipts import ReceiptDesk
from services.notify.domain.setup_desk import SetupDesk
from services.notify.domain.wechat_receipts import WeChatReceiptDesk
from services.notify.fault_injection import after_coupon_fault, before_record_fault
from services.notify.journey_clock import JourneyClock
from services.notify.journey_worker import JourneyWorker
from services.notify.providers.http_session import SharedSession
from services.notify.providers.registry import build_provider, rate_per_second
from services.notify.providers.signing import verify
from services.notify.providers.ssrf import AddressGuard
from services.notify.settings import NotifySettings
from services.notify.store.campaigns import SqlCampaignStore
from services.notify.store.channels import SqlChannelStore
from services.notify.store.customer_export import SqlCustomerExport, notify_privacy
from services.notify.store.delivery_queue import DeliveryQueue
from services.notify.store.journey_birthdays import BirthdaySweep
from services.notify.store.journey_instances import SqlInstanceStore
from services.notify.store.journeys import SqlJourneyStore
from services.notify.store.kpis import SqlCampaignKpiStore
from services.notify.store.link_events import SqlLinkStore
from services.notify.store.messages import SqlMessageStore
from services.notify.store.receipts import SqlReceiptStore
from services.notify.store.sealing import Sealer
from services.notify.store.tables import (
    consumer_members,
    consumer_parked,
    consumer_positions,
    outbox,
    tenants,
)
from services.notify.store.templates import SqlTemplateStore
from services.notify.transport.campaigns_servicer import campaigns_registration
from services.notify.transport.journeys_servicer import journeys_registration
from services.notify.transport.kpis_servicer import kpis_registration
from services.notify.transport.link_servicer import LinkServicer, link_registration
from services.notify.transport.notify_servicer import NotifyServicer, notify_registration
from services.notify.webhook_parts import webhook_parts
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.events.wiring import make_consumers, make_producer
from services.runtime.grpc_tls import peer_channel
from services.runtime.hot_pool import HotConnections
from services.runtime.privacy_servicer import privacy_registration
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.server import ServiceServer
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings

PROVIDER_CONNECTIONS = 1_000
"""Connections the shared HTTP session keeps to providers: enough for every send in flight."""


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The notify service: it produces message events, consumes profile's events
    (``notify.events``), serves NotifyService and LinkService and runs the delivery worker."""
    assert isinstance(settings, NotifySettings)
    producer = make_producer("notify", database, settings, outbox)
    profile = peer_channel(settings, "profile", runtime)
    loyalty = peer_channel(settings, "loyalty", runtime)
    recipients, loyalty_facts = ProfileRecipients(profile), LoyaltyClient(loyalty)
    sealer = Sealer(settings.sealing_key(runtime))
    signer = LinkSigner(settings.signing_key(runtime))
    channels = SqlChannelStore(database, sealer)
    templates = SqlTemplateStore(database)
    hot = HotConnections(database, "notify", size=settings.db_hot_pool_size)
    messages = SqlMessageStore(database, producer.outbox, hot)
    guard = AddressGuard(
        allow_private=runtime.allows_development_secrets, allowed_hosts=settings.allowed_hosts()
    )
    http = SharedSession(limit=PROVIDER_CONNECTIONS)  # opened by the first send, in the running loop

    def provider_of(config: ChannelConfig) -> Provider:
        return build_provider(config, http=http, guard=guard)

    worker = DeliveryWorker(
        DeliveryQueue(database, producer.outbox),
        recipients,
        ProviderPool(channels, provider_of, rate_per_second),
        signer,
        settings,
        before_record=before_record_fault(runtime.allows_development_secrets),
    )
    scoring = peer_channel(settings, "scoring", runtime)
    desk = MessageDesk(messages, recipients, loyalty_facts)
    preparer = BatchPreparer(messages, recipients, loyalty_facts)
    journeys = journey_parts(
        settings, runtime, database, producer.outbox, preparer, profile, loyalty, scoring
    )
    campaigns = campaign_parts(settings, runtime, database, producer.outbox, preparer, scoring, worker.wake)
    triggers = JourneyTriggers(journeys.clock.now, journeys.worker.wake)
    consumer_registrations, consumer_tasks, consumer_exempt = make_consumers(
        database,
        settings,
        (consumer_positions, consumer_members, consumer_parked),
        [
            notify_consumer(producer.outbox, triggers, settings.consumer_lease_seconds),
            *journey_consumers(triggers, settings.consumer_lease_seconds),
        ],
        runtime,
    )
    setup = SetupDesk(channels, messages, templates, recipients, loyalty_facts)
    links = LinkDesk(signer, SqlLinkStore(database, producer.outbox), ProfileConsents(profile))
    receipt_store = SqlReceiptStore(database, producer.outbox, channels)
    receipts = ReceiptDesk(receipt_store, verify)
    wechat_receipts = WeChatReceiptDesk(receipt_store)
    journey_desk = JourneyDesk(
        SqlJourneyStore(database),
        GrpcReferenceDirectory(profile, scoring, loyalty),
        templates,
        clock=journeys.clock.now,
    )
    campaign_desk = CampaignDesk(
        SqlCampaignStore(database, producer.outbox),
        CampaignReferenceDirectory(messages, GrpcReferenceDirectory(profile, scoring, loyalty), channels),
        wake=campaigns.wake,
    )
    webhook_registrations, webhook_tasks = webhook_parts(database, settings, guard, sealer)

    async def run_journeys(_: ServiceServer) -> None:
        await journeys.worker.run()

    async def deliver(_: ServiceServer) -> None:
        try:
            await worker.run()
        finally:
            await http.aclose()

    return ServiceParts(
        registrations=[
            provisioning_registration(database, tenants),
            *producer.registrations,
            *consumer_registrations,
            notify_registration(
                NotifyServicer(
                    setup,
                    desk,
                    SqlCustomerExport(database),
                    on_committed=worker.wake,
                )
            ),
            link_registration(LinkServicer(links, receipts, wechat_receipts)),
            journeys_registration(journey_desk),
            campaigns_registration(campaign_desk),
            kpis_registration(CampaignKpis(SqlCampaignKpiStore(database))),
            *webhook_registrations,
            privacy_registration(notify_privacy(database)),
        ],
        tenant_exempt_methods=frozenset({PROVISION_METHOD})
        | producer.tenant_exempt_methods
        | consumer_exempt,
        background=[
            *producer.background,
            *consumer_tasks,
            deliver,
            run_journeys,
            *webhook_tasks,
            *campaigns.background,
            hot.hold,
        ],
    )


@dataclass(frozen=True)
class JourneyParts:
    """What the rest of the process needs of journeys: their clock (the consumers enter by it) and the
    worker (woken when an entry commits)."""

    clock: JourneyClock
    worker: JourneyWorker


def journey_parts(
    settings: NotifySettings,
    runtime: RuntimeSettings,
    database: Database,
    outbox: Outbox,
    preparer: BatchPreparer,
    profile: grpc.aio.Channel,
    loyalty: grpc.aio.Channel,
    scoring: grpc.aio.Channel,
) -> JourneyParts:
    """The journeys' clock, runner and worker (the consumers enter customers; the worker runs them)."""
    if settings.journey_clock_file and not runtime.allows_development_secrets:
        raise ValueError("PATRON_NOTIFY_JOURNEY_CLOCK_FILE is for development and tests only")
    clock = JourneyClock(settings.journey_clock_file or None)
    limits = RunnerLimits(
        batch=settings.journey_batch,
        concurrency=settings.journey_concurrency,
        lease=timedelta(seconds=settings.journey_lease_seconds),
        max_attempts=settings.journey_max_attempts,
        retry_base=timedelta(seconds=settings.journey_retry_base_seconds),
    )
    runner = JourneyRunner(
        SqlInstanceStore(database, outbox),
        JourneyEffectsClient(profile, loyalty, scoring),
        preparer,
        clock.now,
        limits,
        after_coupon=after_coupon_fault(runtime.allows_development_secrets),
    )
    sweep = BirthdaySweep(database, lambda: worker.wake())
    worker = JourneyWorker(
        runner,
        sweep,
        clock.now,
        batch=settings.journey_batch,
        idle_seconds=settings.journey_idle_seconds,
        sweep_seconds=settings.journey_sweep_seconds,
        loops=settings.journey_loops,
    )
    return JourneyParts(clock, worker)


def main() -> None:
    run_service("notify", build)

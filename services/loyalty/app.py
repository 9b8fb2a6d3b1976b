"""Assembly of the loyalty service: stores, domain, servicers, what it consumes, and how its process
starts."""

from __future__ import annotations

from patron.profile.v1 import profile_pb2_grpc
from services.loyalty.clients.profile_customers import ProfileCustomers
from services.loyalty.consumers.profile_events import loyalty_consumer
from services.loyalty.domain.coupon_desk import CouponDesk
from services.loyalty.domain.customer_360 import Customer360Desk
from services.loyalty.domain.jobs import expire_points_forever, review_tiers_forever
from services.loyalty.domain.kpis import LoyaltyKpis
from services.loyalty.domain.membership_desk import MembershipDesk
from services.loyalty.domain.points_desk import PointsDesk
from services.loyalty.domain.program_desk import ProgramDesk
from services.loyalty.domain.reports import ReportsDesk
from services.loyalty.fault_injection import after_earn_fault
from services.loyalty.store.coupons import SqlCouponStore
from services.loyalty.store.customer_360_at_once import LoyaltyPartAtOnce
from services.loyalty.store.customer_360_reads import SqlMemberReads
from services.loyalty.store.customer_directory import CustomerDirectory
from services.loyalty.store.customer_export import loyalty_privacy
from services.loyalty.store.expiry import SqlExpiryStore
from services.loyalty.store.kpis import SqlLoyaltyKpiStore
from services.loyalty.store.membership_reads import SqlMembershipStore
from services.loyalty.store.points import SqlPointsStore
from services.loyalty.store.programs import ProgramCache, SqlProgramStore
from services.loyalty.store.reports import SqlReportsStore
from services.loyalty.store.tables import (
    consumer_members,
    consumer_parked,
    consumer_positions,
    outbox,
    tenants,
)
from services.loyalty.store.tier_reviews import SqlTierReviewStore
from services.loyalty.transport.coupons_servicer import coupons_registration
from services.loyalty.transport.customer_360_servicer import customer_360_registration
from services.loyalty.transport.kpis_servicer import kpis_registration
from services.loyalty.transport.membership_servicer import membership_registration
from services.loyalty.transport.points_servicer import points_registration
from services.loyalty.transport.program_servicer import program_registration
from services.loyalty.transport.reports_servicer import reports_registration
from services.runtime.database import Database
from services.runtime.events.wiring import make_consumers, make_producer
from services.runtime.grpc_tls import peer_channel
from services.runtime.hot_pool import HotConnections
from services.runtime.privacy_servicer import privacy_registration
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.server import ServiceServer
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The loyalty service: it produces points / tier / coupon events, consumes profile's events
    (``loyalty.events``), serves the points RPCs and runs the points expiry job.

    The crash test's fault (a SIGKILL after an order's points are written) is wired in only where
    the runtime allows development settings and the environment asks for it."""
    producer = make_producer("loyalty", database, settings, outbox)
    profile_channel = peer_channel(settings, "profile", runtime)
    directory = CustomerDirectory(ProfileCustomers(profile_pb2_grpc.CustomerServiceStub(profile_channel)))
    programs = ProgramCache()
    hot = HotConnections(database, "loyalty", size=settings.db_hot_pool_size)
    consumer_registrations, consumer_tasks, consumer_exempt = make_consumers(
        database,
        settings,
        (consumer_positions, consumer_members, consumer_parked),
        [
            loyalty_consumer(
                producer.outbox,
                directory,
                settings.consumer_lease_seconds,
                after_earn=after_earn_fault(runtime.allows_development_secrets),
            )
        ],
        runtime,
    )
    points = SqlPointsStore(database, hot, producer.outbox, directory, programs)
    points_desk = PointsDesk(points)
    membership_desk = MembershipDesk(SqlMembershipStore(database, directory))
    coupon_desk = CouponDesk(SqlCouponStore(database, producer.outbox, directory))

    async def expire_points(_: ServiceServer) -> None:
        await expire_points_forever(SqlExpiryStore(database, producer.outbox))

    async def review_tiers(_: ServiceServer) -> None:
        await review_tiers_forever(SqlTierReviewStore(database, producer.outbox))

    return ServiceParts(
        registrations=[
            provisioning_registration(database, tenants),
            *producer.registrations,
            *consumer_registrations,
            program_registration(ProgramDesk(SqlProgramStore(database, programs))),
            points_registration(points_desk),
            reports_registration(ReportsDesk(SqlReportsStore(database))),
            kpis_registration(LoyaltyKpis(SqlLoyaltyKpiStore(database))),
            membership_registration(membership_desk),
            coupons_registration(coupon_desk),
            customer_360_registration(
                Customer360Desk(
                    points_desk,
                    SqlMemberReads(database, directory),
                    LoyaltyPartAtOnce(database, hot, programs),
                )
            ),
            privacy_registration(loyalty_privacy(database)),
        ],
        tenant_exempt_methods=frozenset({PROVISION_METHOD})
        | producer.tenant_exempt_methods
        | consumer_exempt,
        background=[
            *producer.background,
            *consumer_tasks,
            expire_points,
            review_tiers,
            hot.hold,
        ],
    )


def main() -> None:
    run_service("loyalty", build)

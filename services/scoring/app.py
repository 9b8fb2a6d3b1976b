"""Assembly of the scoring service: what it serves, what it consumes, and how its process starts."""

from __future__ import annotations

from services.runtime.database import Database, create_engine
from services.runtime.events.wiring import make_consumers, make_producer
from services.runtime.grpc_tls import peer_channel
from services.runtime.hot_pool import HotConnections
from services.runtime.privacy_servicer import privacy_registration
from services.runtime.provisioning import PROVISION_METHOD, provisioning_registration
from services.runtime.service_main import ServiceParts, run_service
from services.runtime.settings import RuntimeSettings, ServiceSettings
from services.scoring.background import (
    dispatch_task,
    prune_task,
    rescore_task,
    schedule_task,
    segment_due_task,
    size_snapshot_task,
)
from services.scoring.background_exports import export_tasks
from services.scoring.clients.profile_contacts import ProfileContacts
from services.scoring.clients.profile_tags import ProfileTags
from services.scoring.consumers.loyalty_events import loyalty_consumer
from services.scoring.consumers.profile_events import scoring_consumer
from services.scoring.domain.batch_runs import BatchRuns
from services.scoring.domain.computed_tags import ComputedTagSync
from services.scoring.domain.config_book import ConfigBook
from services.scoring.domain.customer_360 import Customer360Queries
from services.scoring.domain.fitted_models import FittedModels
from services.scoring.domain.kpis import KpiDesk
from services.scoring.domain.run_schedule import DailySchedule
from services.scoring.domain.scores import ScoreQueries
from services.scoring.domain.segments.audience import SegmentAudience
from services.scoring.domain.segments.export_worker import ExportWorker
from services.scoring.domain.segments.exports import SegmentExports
from services.scoring.domain.segments.preview import SegmentPreview
from services.scoring.domain.segments.saved import SavedSegments
from services.scoring.settings import ScoringSettings
from services.scoring.store.customer_360_reads import SqlCustomer360Reader
from services.scoring.store.customer_export import scoring_privacy
from services.scoring.store.feature_tables import outbox
from services.scoring.store.kpi_reads import SqlKpiStore
from services.scoring.store.prediction_models import SqlModelStore
from services.scoring.store.reads import SqlScoreReader
from services.scoring.store.run_phases import SqlRunPhases
from services.scoring.store.runs import SqlRunStore
from services.scoring.store.saved_segments import SqlSavedSegmentStore
from services.scoring.store.segment_audience import SqlAudienceStore
from services.scoring.store.segment_export_jobs import SqlExportJobs
from services.scoring.store.segment_exports import SqlSegmentExports
from services.scoring.store.segment_live import MembershipAfterEvents
from services.scoring.store.segment_preview import SqlSegmentStore
from services.scoring.store.tables import consumer_members, consumer_parked, consumer_positions, tenants
from services.scoring.store.tagging import SqlTagSync
from services.scoring.store.tenant_settings import SqlTenantSettings
from services.scoring.transport.customer_360_servicer import customer_360_registration
from services.scoring.transport.kpis_servicer import kpis_registration
from services.scoring.transport.models_servicer import models_registration
from services.scoring.transport.segment_exports_servicer import segment_exports_registration
from services.scoring.transport.segments_servicer import segments_registration
from services.scoring.transport.servicer import scoring_registration


def build(settings: ServiceSettings, runtime: RuntimeSettings, database: Database) -> ServiceParts:
    """The scoring service: its RPCs, its consumers of profile's and loyalty's events, its
    lifecycle and segment event stream, the batch runs and their daily schedule, the behaviour prune,
    the segment due worker, the segments' daily size snapshot."""
    assert isinstance(settings, ScoringSettings)
    producer = make_producer("scoring", database, settings, outbox)
    membership = MembershipAfterEvents(producer.outbox)
    registrations, background, exempt = make_consumers(
        database,
        settings,
        (consumer_positions, consumer_members, consumer_parked),
        [
            scoring_consumer(settings.consumer_lease_seconds, producer.outbox, membership),
            loyalty_consumer(settings.consumer_lease_seconds, membership),
        ],
        runtime,
    )
    profile_channel = peer_channel(settings, "profile", runtime)
    profile_tags = ProfileTags(profile_channel)
    tenant_settings = SqlTenantSettings(database)
    run_store = SqlRunStore(database, settings.run_max_concurrent, settings.run_cooldown_seconds)
    # The runs' heavy statements use a pool of their own: a run never takes the API's connections.
    runs_database = Database(
        create_engine(
            settings.database_url,
            application_name="patron-scoring-runs",
            pool_size=settings.run_db_pool_size,
            max_overflow=0,
        )
    )
    tag_sync = ComputedTagSync(SqlTagSync(runs_database), profile_tags, run_store.progress)
    runs = BatchRuns(run_store, tenant_settings, SqlRunPhases(runs_database, producer.outbox), tag_sync)

    async def close() -> None:
        await profile_tags.close()
        await runs_database.dispose()

    schedule = DailySchedule(tenant_settings, runs)
    score_queries = ScoreQueries(SqlScoreReader(database))
    saved = SavedSegments(SqlSavedSegmentStore(database, producer.outbox))
    contacts = ProfileContacts(profile_channel)

    hot = HotConnections(database, "scoring", size=settings.db_hot_pool_size)
    return ServiceParts(
        registrations=[
            provisioning_registration(database, tenants),
            scoring_registration(score_queries, ConfigBook(tenant_settings), runs),
            models_registration(FittedModels(SqlModelStore(database))),
            segments_registration(
                SegmentPreview(SqlSegmentStore(database)), saved, SegmentAudience(SqlAudienceStore(database))
            ),
            customer_360_registration(Customer360Queries(SqlCustomer360Reader(database, hot))),
            segment_exports_registration(SegmentExports(SqlSegmentExports(database))),
            kpis_registration(KpiDesk(SqlKpiStore(database))),
            *producer.registrations,
            *registrations,
            privacy_registration(scoring_privacy(database)),
        ],
        tenant_exempt_methods=frozenset({PROVISION_METHOD}) | exempt | producer.tenant_exempt_methods,
        background=[
            *producer.background,
            *background,
            schedule_task(schedule, runs, close),
            dispatch_task(runs, settings.run_dispatch_every_seconds),
            prune_task(database),
            segment_due_task(database, producer.outbox, settings.segment_due_every_seconds),
            rescore_task(database, producer.outbox, settings.rescore_every_seconds),
            size_snapshot_task(database),
            *export_tasks(lambda: ExportWorker(SqlExportJobs(database), contacts)),
            hot.hold,
        ],
    )


def main() -> None:
    run_service("scoring", build)

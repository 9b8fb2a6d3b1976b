"""Assembly of the campaign worker and renderer, for ``app.py``.

One planning loop per process (a campaign is leased whole, so more loops would only contend for the
same rows) and ``campaign_render_loops`` render loops. Every replica runs them; leases and
``SKIP LOCKED`` share the work.

In development and tests only, ``PATRON_NOTIFY_FAULT_KILL_BEFORE_PLANNED=N`` (``fault_injection.py``)
SIGKILLs the process inside its N-th planning transaction, before the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc

from services.notify.clients.campaign_audience import ScoringAudience
from services.notify.domain.campaign_rendering import CampaignRenderer
from services.notify.domain.campaign_worker import CampaignWorker, WorkerLimits
from services.notify.domain.message_batches import BatchPreparer
from services.notify.fault_injection import before_planned_fault
from services.notify.settings import NotifySettings
from services.notify.store.campaign_planning import SqlCampaignPlanning
from services.notify.store.campaign_render import SqlRenderQueue
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.runtime.server import BackgroundTask, ServiceServer
from services.runtime.settings import RuntimeSettings


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CampaignParts:
    worker: CampaignWorker
    renderer: CampaignRenderer
    background: list[BackgroundTask]

    def wake(self) -> None:
        """Look for campaign work now (one was started or resumed)."""
        self.worker.wake()
        self.renderer.wake()


def campaign_parts(
    settings: NotifySettings,
    runtime: RuntimeSettings,
    database: Database,
    outbox: Outbox,
    preparer: BatchPreparer,
    scoring: grpc.aio.Channel,
    on_rendered: Callable[[], None],
) -> CampaignParts:
    """The campaign worker (snapshot, planning, completion) and the renderer loops."""
    renderer = CampaignRenderer(
        SqlRenderQueue(database, outbox),
        preparer,
        batch=settings.campaign_render_batch,
        lease=timedelta(seconds=settings.campaign_render_lease_seconds),
        idle_seconds=settings.campaign_idle_seconds,
        on_rendered=on_rendered,
    )
    worker = CampaignWorker(
        SqlCampaignPlanning(
            database,
            outbox,
            settings.assignment_key(runtime),
            before_commit=before_planned_fault(runtime.allows_development_secrets),
        ),
        ScoringAudience(scoring),
        _now,
        WorkerLimits(
            batch=settings.campaign_batch,
            lease=timedelta(seconds=settings.campaign_lease_seconds),
            slice_seconds=settings.campaign_slice_seconds,
            idle_seconds=settings.campaign_idle_seconds,
        ),
        on_planned=renderer.wake,
    )

    async def plan(_: ServiceServer) -> None:
        await worker.run()

    async def render(_: ServiceServer) -> None:
        await renderer.run()

    loops: list[BackgroundTask] = [plan, *[render] * settings.campaign_render_loops]
    return CampaignParts(worker, renderer, loops)

"""The daily schedule: start each tenant's run once a day, at its configured local hour and its own
minute past it (a stable hash of its id, ``domain.runs.schedule_minute``: starts spread over the hour).

``DailySchedule.round`` is one look at every tenant; a runner (``services.scoring.background``)
calls it every minute. A tenant is due when its local time has reached its hour, it existed before that hour,
and the schedule has not started a run for that local day yet (``domain.runs.is_due``): a tenant
created after the hour gets its first scheduled run the next day, not at creation.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from services.scoring.domain.batch_runs import BatchRuns
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.runs import is_due, schedule_minute

TenantSchedule = tuple[uuid.UUID, str, ScoringConfig, datetime]  # tenant, time zone, configuration, created


class ScheduleStore(Protocol):
    async def schedules(self) -> list[TenantSchedule]: ...


class DailySchedule:
    """Starts the due runs; a tenant whose start fails is simply tried again next round."""

    def __init__(self, tenants: ScheduleStore, runs: BatchRuns) -> None:
        self._tenants = tenants
        self._runs = runs

    async def round(self) -> None:
        """Start the run of every tenant that is due now."""
        last = await self._runs.last_scheduled()
        now = datetime.now(UTC)
        for tenant, zone, config, created_at in await self._tenants.schedules():
            local = now.astimezone(ZoneInfo(zone))
            minute = schedule_minute(tenant)
            enabled = config.schedule_enabled
            if is_due(local, config.run_local_hour, enabled, last.get(tenant), created_at, minute):
                with contextlib.suppress(Exception):
                    await self._runs.start(tenant, local.date().isoformat(), trigger="schedule")

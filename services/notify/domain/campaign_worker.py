"""The campaign worker: takes each started campaign's audience, plans it batch by batch, renders each
message when it is due, and marks the campaign completed when every message is final.

Work is leased per campaign (``PlanningStore.claim``): any notify replica may take a campaign whose
lease lapsed, so a worker SIGKILLed mid-campaign is replaced within one lease. A claim runs for a
slice (``slice_seconds``) and gives the campaign back, so one huge campaign never starves the rest.

Phases: ``snapshot`` — the segment's members at one moment, recorded whole with each recipient's
group; ``planning`` — batches of ``batch`` positions, each planned and committed with the cursor
(the store applies the policy set-based); ``sending`` — the last messages are on their way; the
campaign completes when none is queued or deferred. Rendering is a second loop
(``CampaignRenderer``): messages are committed unrendered and rendered when due, with the customer's
data of that moment, by the same code as every batch send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.runtime.errors import NotFound

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A campaign leased to this worker for one phase."""

    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    segment_id: uuid.UUID
    phase: str
    token: uuid.UUID
    attempts: int = 0


@dataclass(frozen=True)
class AudienceBatch:
    """A batch of a segment's members at one moment (scoring's member snapshot stream)."""

    customer_ids: Sequence[uuid.UUID]
    timezones: Sequence[str | None]
    version: int
    as_of: datetime


@dataclass(frozen=True)
class PlanOutcome:
    """What one planning batch did: messages committed, positions passed, and whether that was the
    last; ``next_due`` when nothing was due yet; ``lost`` when the lease is no longer ours."""

    planned: int = 0
    positions: int = 0
    finished: bool = False
    next_due: datetime | None = None
    lost: bool = False


class PlanningStore(Protocol):
    async def claim(self, lease: timedelta) -> Claim | None: ...

    async def take_snapshot(self, claim: Claim, members: AsyncIterator[AudienceBatch]) -> int | None: ...

    async def plan_batch(self, claim: Claim, limit: int, lease: timedelta, now: datetime) -> PlanOutcome: ...

    async def complete(self, claim: Claim) -> bool: ...

    async def release(
        self, claim: Claim, wake_at: datetime, *, failed: bool = False, error: str | None = None
    ) -> None: ...

    async def abandon(self, claim: Claim, error: str) -> None: ...


class Audience(Protocol):
    def members(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> AsyncIterator[AudienceBatch]:
        """The saved segment's members at one moment; NotFound when the segment is gone."""
        ...


@dataclass(frozen=True)
class WorkerLimits:
    batch: int = 1_000
    lease: timedelta = timedelta(seconds=30)
    slice_seconds: float = 5.0
    idle_seconds: float = 1.0
    sending_recheck: timedelta = timedelta(seconds=5)
    retry_base: timedelta = timedelta(seconds=5)
    retry_cap: timedelta = timedelta(minutes=5)


class CampaignWorker:
    """Claims campaigns and works their phases until cancelled."""

    def __init__(
        self,
        store: PlanningStore,
        audience: Audience,
        clock: Callable[[], datetime],
        limits: WorkerLimits,
        *,
        wake: asyncio.Event | None = None,
        on_planned: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._audience = audience
        self._clock = clock
        self._limits = limits
        self._wake = wake or asyncio.Event()
        self._on_planned = on_planned

    def wake(self) -> None:
        """Look for work now (a campaign was started or resumed)."""
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled; an idle worker waits for a wake-up or ``idle_seconds``."""
        while True:
            try:
                worked = await self.work_once()
            except Exception:
                logger.exception("a campaign round failed; retrying")
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._limits.idle_seconds)

    async def work_once(self) -> bool:
        """Claim one campaign and work it for a slice; False when nothing was due."""
        claim = await self._store.claim(self._limits.lease)
        if claim is None:
            return False
        try:
            wake_at = await self._work(claim)
        except NotFound as error:
            await self._store.abandon(claim, f"cancelled: {error}")
            return True
        except Exception as error:
            logger.exception("campaign %s failed in phase %s", claim.campaign_id, claim.phase)
            delay = min(self._limits.retry_base * 2**claim.attempts, self._limits.retry_cap)
            await self._store.release(
                claim, self._clock() + delay, failed=True, error=f"{type(error).__name__}: {error}"[:500]
            )
            return True
        await self._store.release(claim, wake_at)
        return True

    async def _work(self, claim: Claim) -> datetime:
        """Do the phase's work; when to look again. Releasing is fenced by the lease token, so after a
        snapshot or a completion (which end the lease) or a lost lease the release changes nothing."""
        if claim.phase == "snapshot":
            members = self._audience.members(claim.tenant_id, claim.segment_id)
            taken = await self._store.take_snapshot(claim, members)
            if taken is not None:
                logger.info("campaign %s: audience of %d taken", claim.campaign_id, taken)
            return self._clock()
        if claim.phase == "planning":
            return await self._plan(claim)
        if await self._store.complete(claim):
            logger.info("campaign %s completed", claim.campaign_id)
        return self._clock() + self._limits.sending_recheck

    async def _plan(self, claim: Claim) -> datetime:
        """Plan batches until the slice is used, nothing is due yet, or the audience is done."""
        deadline = time.monotonic() + self._limits.slice_seconds
        while True:
            outcome = await self._store.plan_batch(
                claim, self._limits.batch, self._limits.lease, self._clock()
            )
            if outcome.lost:
                return self._clock()
            if outcome.planned:
                self._on_planned()
            if outcome.next_due is not None:
                return outcome.next_due
            if outcome.finished or time.monotonic() >= deadline:
                return self._clock()

"""Loyalty's background jobs: points expiry at each tenant's local midnight, and tier reviews.

Each round's work is set-based in the stores (``services.loyalty.store.expiry`` and
``services.loyalty.store.tier_reviews`` implement the protocols); these loops only say when a
round runs and keep the job alive when one fails (the next round retries).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from services.runtime.cancellation import raise_if_cancelled

logger = logging.getLogger(__name__)

EXPIRY_CHECK_SECONDS = 30.0
TIER_REVIEW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ExpiryOutcome:
    """How many lots and points one expiry run took."""

    lots: int
    points: int


class ExpiryStore(Protocol):
    async def tenants_due(self, now: datetime) -> list[tuple[uuid.UUID, str]]:
        """Tenants (with their time zones) whose expiry has not run on their local day yet."""
        ...

    async def expire_tenant(self, tenant_id: uuid.UUID, timezone: str, now: datetime) -> ExpiryOutcome | None:
        """Expire everything due for one tenant; None when another replica is running it."""
        ...


class TierReviewStore(Protocol):
    async def run_due_reviews(self, now: datetime) -> int:
        """Decide every review due at ``now``; returns how many were decided."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


async def expire_points_forever(store: ExpiryStore, interval_seconds: float = EXPIRY_CHECK_SECONDS) -> None:
    """Each tenant's expiry once per local day, at (or just after) local midnight."""
    while True:
        try:
            now = _now()
            for tenant_id, timezone in await store.tenants_due(now):
                await _expire_one(store, tenant_id, timezone, now)
        except Exception as error:  # keep the job alive; the next round retries
            raise_if_cancelled(error)
            logger.warning("points expiry round failed: %s", error)
        await asyncio.sleep(interval_seconds)


async def _expire_one(store: ExpiryStore, tenant_id: uuid.UUID, timezone: str, now: datetime) -> None:
    """One tenant's expiry. Its failure is logged and leaves the others' to run: one tenant's
    unreadable programme stopped every tenant after it in the round, round after round."""
    try:
        outcome = await store.expire_tenant(tenant_id, timezone, now)
    except Exception as error:
        raise_if_cancelled(error)
        logger.warning("points expiry of tenant %s failed: %s", tenant_id, error)
        return
    if outcome is not None and outcome.lots:
        logger.info("expired %d points in %d lots of tenant %s", outcome.points, outcome.lots, tenant_id)


async def review_tiers_forever(
    store: TierReviewStore,
    interval_seconds: float = TIER_REVIEW_SECONDS,
    clock: Callable[[], datetime] = _now,
) -> None:
    """Run the due tier reviews every ``interval_seconds``."""
    while True:
        try:
            decided = await store.run_due_reviews(clock())
            if decided:
                logger.info("tier reviews decided: %d", decided)
        except Exception as error:  # a failed run is retried at the next interval
            raise_if_cancelled(error)
            logger.warning("tier review run failed: %s", error)
        await asyncio.sleep(interval_seconds)

"""Batch runs: what a run is, its phases, and the rules for starting one.

A run recomputes a tenant's scores as of one local day: features → RFM thresholds and scores →
lifecycle (stage changes announced) → engagement (with the scores) → predictions → tags. At most
one run per tenant is active (queued or running); a second start meanwhile is refused (409) and names
the active run, so a client can follow it instead of stacking work. A run waits ``queued`` while
the global bound of running runs (every tenant, every replica) is reached. A run whose process died
(no heartbeat for ``STALE_AFTER``) is marked failed by the next claim, so neither a tenant nor a slot
is ever stuck.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.runtime.errors import Conflict, InvalidArgument, RateLimited

PHASES = ("features", "rfm", "lifecycle", "predictions", "tags", "segments", "done")
STATUSES = ("queued", "running", "succeeded", "failed")
STALE_AFTER = timedelta(minutes=2)
EARLIEST_AS_OF = date(1970, 1, 1)  # as profile's orders (CDNOW is 1997; S2)
MAX_FUTURE_DAYS = 1


@dataclass(frozen=True, slots=True)
class Run:
    """One batch run as stored: its status, current phase and progress within that phase."""

    run_id: uuid.UUID
    tenant_id: uuid.UUID
    as_of: date
    trigger: str
    status: str
    phase: str
    done: int
    total: int
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class RunAlreadyRunning(Conflict):
    """The tenant has an active (queued or running) run; its id travels in the error metadata."""

    reason = "RUN_ALREADY_RUNNING"

    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(
            f"run {run_id} is still queued or running for this tenant", metadata={"run_id": str(run_id)}
        )


class RunCooldown(RateLimited):
    """The tenant's last manual run started less than the cooldown ago (429 with Retry-After)."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            f"a manual run may start {retry_after_seconds} s from now (cooldown between manual runs)",
            retry_after_seconds=retry_after_seconds,
        )


def parse_as_of(text: str, today: date) -> date:
    """The run's as-of day: the tenant's today when empty, else an ISO date not after tomorrow."""
    if not text:
        return today
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument.single("as_of", "must be an ISO date (YYYY-MM-DD)") from None
    if value < EARLIEST_AS_OF or value > today + timedelta(days=MAX_FUTURE_DAYS):
        raise InvalidArgument.single("as_of", f"must be between {EARLIEST_AS_OF} and tomorrow")
    return value


def schedule_minute(tenant_id: uuid.UUID) -> int:
    """The minute past its run hour at which a tenant's scheduled run starts (0-59): a stable hash of
    its id, so the tenants whose hour is the same do not all queue at :00."""
    return int.from_bytes(hashlib.sha256(tenant_id.bytes).digest()[:4], "big") % 60


def is_due(
    local_now: datetime,
    run_hour: int,
    enabled: bool,
    last_scheduled: date | None,
    created_at: datetime,
    minute: int = 0,
) -> bool:
    """Whether the daily schedule should start today's run now (at or after the hour and the tenant's
    ``minute``, see ``schedule_minute``; once a day).

    A tenant created after today's run hour waits for tomorrow's: a run started at creation would
    hold the tenant's one running slot just when its operator starts the first run by hand (409).
    """
    run_moment = local_now.replace(hour=run_hour, minute=minute, second=0, microsecond=0)
    return (
        enabled and local_now >= run_moment and created_at < run_moment and last_scheduled != local_now.date()
    )


def is_backdated(as_of: date, today: date) -> bool:
    """Whether a run as of ``as_of`` looks at the past: it then writes a snapshot, never live scores."""
    return as_of < today

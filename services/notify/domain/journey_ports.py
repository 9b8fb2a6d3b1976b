"""What the journey runner works with: the instances it claims, the steps it records, and the ports
through which it claims and commits (the store), acts outside notify (loyalty, profile, scoring) and
prepares messages — kept apart from the runner's algorithm (``journey_runner.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.notify.domain.journey_plan import Plan
from services.notify.domain.message_batches import NotPrepared
from services.notify.domain.messages import MessageDraft, MessageView, SendCommand


@dataclass(frozen=True)
class CouponOutcome:
    """A coupon issued (``code``) or refused for good (``reason``)."""

    code: str | None
    reason: str | None


@dataclass(frozen=True)
class CouponRequest:
    """One coupon a step asks of loyalty, under the step's key."""

    customer_id: uuid.UUID
    template_id: uuid.UUID
    key: str


@dataclass(frozen=True)
class ClaimedInstance:
    """A due instance leased to this runner."""

    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    journey_id: uuid.UUID
    version: int
    customer_id: uuid.UUID
    cursor: str | None
    trigger_kind: str
    trigger_at: datetime
    context: dict[str, Any]
    lease_token: uuid.UUID
    attempts: int
    last_order_at: datetime | None
    due_at: datetime  # when it became due: its entry, the end of its wait, or a retry's time


@dataclass(frozen=True)
class StepRecord:
    """One step run, as the ledger keeps it; a ``send`` is ``pending`` until its message commits."""

    path: str
    kind: str
    outcome: str
    reason: str | None = None
    message_id: uuid.UUID | None = None
    coupon_code: str | None = None


@dataclass(frozen=True)
class Advance:
    """Where the instance stands after the recorded steps."""

    cursor: str | None
    due_at: datetime | None
    status: str  # active, completed, exited, failed
    context: dict[str, Any] = field(default_factory=dict)
    end_reason: str | None = None
    keep_lease: bool = False


@dataclass(frozen=True)
class StepCommit:
    """What one instance commits in a round: its steps, the message of its send (if any), its advance."""

    instance: ClaimedInstance
    records: tuple[StepRecord, ...]
    advance: Advance
    draft: MessageDraft | None = None


class InstanceStore(Protocol):
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedInstance]:
        """Lease up to ``limit`` due instances of active journeys, oldest due first, skipping those
        another runner holds."""
        ...

    async def plan_of(self, tenant_id: uuid.UUID, journey_id: uuid.UUID, version: int) -> Plan:
        """The version's steps by path (versions never change, so this may be cached)."""
        ...

    async def commit_many(self, commits: Sequence[StepCommit], now: datetime) -> set[uuid.UUID]:
        """Record the steps, commit the messages and advance, all in one transaction; answers the
        instances committed — one no longer ours or no longer active gets nothing written."""
        ...

    async def release(
        self, instance: ClaimedInstance, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """Give the instance back, due at ``retry_at``; ``None`` fails it for good."""
        ...


class StepEffects(Protocol):
    async def issue_coupons(
        self, tenant_id: uuid.UUID, requests: Sequence[CouponRequest]
    ) -> list[CouponOutcome]: ...

    async def membership(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def tag(self, tenant_id: uuid.UUID, customer_id: uuid.UUID, tag_id: uuid.UUID) -> str | None: ...

    async def evaluate(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID, condition: dict[str, Any]
    ) -> bool: ...


class MessagePreparer(Protocol):
    async def prepare_many(
        self, tenant_id: uuid.UUID, commands: Sequence[SendCommand]
    ) -> list[MessageDraft | NotPrepared]:
        """A draft per command (judged and rendered), or why there is none."""
        ...


def with_status(record: StepRecord, message: MessageView) -> StepRecord:
    """A pending send's record once its message committed."""
    outcome = message.status if message.status in ("queued", "deferred", "suppressed") else "queued"
    return replace(record, outcome=outcome, reason=message.reason, message_id=message.message_id)

"""The webhook worker: claims due deliveries, POSTs them, and records each attempt in the log.

Any replica may run workers. A round claims up to ``batch`` pending deliveries whose time has come,
of enabled webhooks (``FOR UPDATE SKIP LOCKED`` in the store, so two workers never take the same
one), and leases them by moving their ``next_attempt_at`` to the end of the lease; the claim commits
before any request is made, so no transaction is open while receivers answer. The batch is sent
concurrently (the sender's timeout bounds each request), then one transaction records every
attempt: 2xx delivers, anything else schedules the next attempt (``RETRY_SCHEDULE``) or, with none
left, fails the delivery and counts it against its webhook, which is disabled at ``disable_after``
exhausted deliveries in a row. Each write is guarded by the attempt number the claim took, so a
worker that stalled past its lease writes nothing.

At-least-once: a worker that dies after a receiver answered and before the record commits leaves
the delivery to be sent again when the lease ends, with the same ``webhook-id``, which receivers
use to deduplicate (Standard Webhooks).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.runtime.cancellation import raise_if_cancelled

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery as a worker holds it: where to, signed with what, and which attempt this is."""

    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    url: str
    secret: str | None  # None: the sealed secret did not open (a key not configured any more)
    body: str
    attempt: int


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one request gave: the status code, or the error when there was no answer."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        """Only a 2xx answer delivers (Standard Webhooks)."""
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """An attempt and what follows: ``next_attempt_at`` None means delivered, or exhausted."""

    delivery: DueDelivery
    attempted_at: datetime
    result: SendResult
    next_attempt_at: datetime | None

    @property
    def exhausted(self) -> bool:
        return not self.result.delivered and self.next_attempt_at is None


class DeliveryQueue(Protocol):
    """The worker's side of the delivery tables."""

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[DueDelivery]:
        """Lease up to ``limit`` due deliveries of enabled webhooks, each's attempt count raised by one."""
        ...

    async def record(self, outcomes: Sequence[AttemptOutcome], now: datetime, disable_after: int) -> None:
        """Log the attempts and move each delivery on (delivered, next attempt, failed); count
        exhausted deliveries against their webhooks and disable those at ``disable_after``."""
        ...


class WebhookSender(Protocol):
    """POSTs a delivery, signed, to its URL; never raises for the receiver's faults."""

    async def send(self, delivery: DueDelivery, attempted_at: datetime) -> SendResult: ...


def next_attempt_at(attempt: int, attempted_at: datetime, schedule: Sequence[float]) -> datetime | None:
    """When attempt ``attempt + 1`` is due after attempt ``attempt`` failed; None when none is left."""
    if attempt >= len(schedule):
        return None
    return attempted_at + timedelta(seconds=schedule[attempt])


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookWorker:
    """``work_once`` is one round: claim, send, record; the number of deliveries attempted."""

    def __init__(
        self,
        queue: DeliveryQueue,
        sender: WebhookSender,
        schedule: Sequence[float],
        disable_after: int,
        *,
        batch: int,
        lease: timedelta,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._queue = queue
        self._sender = sender
        self._schedule = tuple(schedule)
        self._disable_after = disable_after
        self._batch = batch
        self._lease = lease
        self._clock = clock

    async def _attempt(self, delivery: DueDelivery) -> AttemptOutcome:
        attempted_at = self._clock()
        try:
            if delivery.secret is None:
                result = SendResult(None, "the webhook's secret cannot be opened with the configured key", 0)
            else:
                result = await self._sender.send(delivery, attempted_at)
        except Exception as error:  # a fault of ours must not lose the batch's other records
            raise_if_cancelled(error)
            logger.exception("webhook delivery %s: sending failed", delivery.delivery_id)
            result = SendResult(None, f"internal error: {type(error).__name__}", 0)
        later = None if result.delivered else next_attempt_at(delivery.attempt, attempted_at, self._schedule)
        return AttemptOutcome(delivery, attempted_at, result, later)

    async def work_once(self) -> int:
        """Claim a batch, send it concurrently, record every attempt in one transaction."""
        now = self._clock()
        due = await self._queue.claim(now, now + self._lease, self._batch)
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        await self._queue.record(outcomes, self._clock(), self._disable_after)
        return len(due)

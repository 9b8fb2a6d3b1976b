"""What notify asks of segments: does this customer meet a segment (or a condition) now, and who are
a segment's members at one consistent moment.

Journeys ask ``evaluate`` at an ``if`` step — with a saved segment, or with a condition of their own
— and need the answer *now*, computed from the facts, not the stored membership (which the
consumers may not have moved yet for an event that just arrived). Campaigns take ``snapshot`` once
at their start: the members of one version at one instant, streamed in id order, so an audience of a
million never sits in one message or one list.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from services.runtime.errors import InvalidArgument
from services.scoring.domain.scores import known_id
from services.scoring.domain.segments.parse import parse_condition
from services.scoring.domain.segments.tree import Condition

DEFAULT_SNAPSHOT_BATCH = 5_000
MAX_SNAPSHOT_BATCH = 10_000
"""Ids per streamed message: 10,000 ids are ~370 KB of protobuf, well under gRPC's 4 MB message cap."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The answer for one customer: the customer evaluated (a merged id's survivor), and the version
    of the saved segment evaluated (0 for a condition)."""

    customer_id: uuid.UUID
    member: bool
    version: int
    evaluated_at: datetime


@dataclass(frozen=True, slots=True)
class SnapshotBatch:
    customer_ids: tuple[uuid.UUID, ...]
    version: int
    as_of: datetime
    total: int
    timezones: tuple[str, ...] = ()  # parallel to customer_ids; "" when unknown


class AudienceStore(Protocol):
    async def evaluate(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        target: uuid.UUID | Condition,
        now: datetime,
    ) -> tuple[uuid.UUID, bool, int]:
        """(customer evaluated, member, version); NotFound for an unknown customer or segment."""
        ...

    def snapshot(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, batch_size: int
    ) -> AsyncIterator[SnapshotBatch]:
        """The saved segment's members in one snapshot, in id order; NotFound before the first batch."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SegmentAudience:
    """The use cases behind ``SegmentService.Evaluate`` and ``StreamMembers``."""

    def __init__(self, store: AudienceStore, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def evaluate(
        self, tenant_id: uuid.UUID, customer_id: str, segment_id: str | None, condition: Any
    ) -> Evaluation:
        """Whether the customer meets the saved segment (``segment_id``) or the ``condition`` now.

        Exactly one of the two is given (else INVALID_ARGUMENT naming ``segment_id``); a malformed
        customer or segment id is simply not found; a bad condition names its ``condition.…`` paths.
        """
        if (segment_id is None) == (condition is None):
            raise InvalidArgument.single("segment_id", "give either a segment id or a condition")
        target: uuid.UUID | Condition = (
            known_id(segment_id, "segment") if segment_id is not None else parse_condition(condition)
        )
        who = known_id(customer_id, "customer")
        now = self._clock()
        evaluated, member, version = await self._store.evaluate(tenant_id, who, target, now)
        return Evaluation(evaluated, member, version, now)

    def snapshot(
        self, tenant_id: uuid.UUID, segment_id: str, batch_size: int
    ) -> AsyncIterator[SnapshotBatch]:
        """The saved segment's members at one moment, ``batch_size`` ids a batch (0: the default)."""
        size = batch_size or DEFAULT_SNAPSHOT_BATCH
        if isinstance(batch_size, bool) or not 1 <= size <= MAX_SNAPSHOT_BATCH:
            raise InvalidArgument.single("batch_size", f"must be between 1 and {MAX_SNAPSHOT_BATCH}")
        return self._store.snapshot(tenant_id, known_id(segment_id, "segment"), size)

"""Preview a segment: how many customers meet a condition right now, and a few of them.

The operator writes a condition and sees its exact size before saving it (``POST
/v1/segments/preview``). The use case validates the document (every fault named by its path), bounds
the sample, fixes the moment of evaluation from its clock and asks its store port; the store answers
with one statement under a time limit (``services/scoring/store/segment_preview.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from services.runtime.errors import InvalidArgument
from services.scoring.domain.segments.parse import parse_condition
from services.scoring.domain.segments.tree import Condition

MAX_SAMPLE = 20
"""The most customer ids a preview returns: enough to spot-check a segment, never a member list
(members are paged through saved segments)."""


@dataclass(frozen=True, slots=True)
class PreviewAnswer:
    """The exact number of matching live customers at ``as_of`` and up to ``MAX_SAMPLE`` of them."""

    count: int
    sample: tuple[uuid.UUID, ...]
    as_of: datetime


class SegmentPreviewStore(Protocol):
    """Counts and samples the tenant's live customers meeting a condition at a moment."""

    async def preview(
        self, tenant_id: uuid.UUID, condition: Condition, now: datetime, sample_size: int
    ) -> tuple[int, tuple[uuid.UUID, ...]]:
        """(count, the first ``sample_size`` ids in id order); NotFound for an unknown tenant."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SegmentPreview:
    """The preview use case: validate, bound, evaluate at the clock's now."""

    def __init__(self, store: SegmentPreviewStore, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def preview(
        self, tenant_id: uuid.UUID, document: Any, sample_size: int = MAX_SAMPLE
    ) -> PreviewAnswer:
        """Answer the count and a sample for a condition document (JSON data, never code).

        Raises InvalidArgument naming ``condition.…`` paths for a bad condition and ``sample_size``
        for a sample outside 0..MAX_SAMPLE.
        """
        if isinstance(sample_size, bool) or not 0 <= sample_size <= MAX_SAMPLE:
            raise InvalidArgument.single("sample_size", f"must be between 0 and {MAX_SAMPLE}")
        condition = parse_condition(document)
        now = self._clock()
        count, sample = await self._store.preview(tenant_id, condition, now, sample_size)
        return PreviewAnswer(count, sample, now)

"""The saved-segment use case without a database: the field rules, when a replacement is a new
version, the optimistic retry, and that every moment comes from the injected clock."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from services.runtime.errors import Conflict, InvalidArgument, NotFound
from services.runtime.paging import Page
from services.scoring.domain.segments.saved import UPDATE_ATTEMPTS, SavedSegments, SegmentKey
from services.scoring.domain.segments.saved_rules import (
    MAX_LIVE_SEGMENTS,
    CustomerSegment,
    DailySize,
    SavedSegment,
    SegmentDraft,
    SegmentMember,
    draft_of,
    size_days,
)

WOMEN = {"field": "attributes.gender", "op": "eq", "value": "female"}
CARTS = {"event": "add_to_cart", "within": "P1W"}
NOW = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
TENANT = uuid.uuid4()


class FakeStore:
    """Remembers one segment and every call; ``lose_races`` replacements find the version moved."""

    def __init__(self, lose_races: int = 0) -> None:
        self.segment: SavedSegment | None = None
        self.calls: list[tuple[str, Any]] = []
        self.lose_races = lose_races

    async def create(
        self, tenant_id: uuid.UUID, draft: SegmentDraft, now: datetime, max_live: int
    ) -> SavedSegment:
        self.calls.append(("create", (now, max_live)))
        self.segment = SavedSegment(
            uuid.uuid4(), draft.name, draft.description, draft.document, 1, 0, now, now
        )
        return self.segment

    async def get(self, tenant_id: uuid.UUID, segment_id: uuid.UUID) -> SavedSegment | None:
        return self.segment if self.segment and self.segment.segment_id == segment_id else None

    async def list_segments(
        self, tenant_id: uuid.UUID, limit: int, after: SegmentKey | None
    ) -> Page[SavedSegment]:
        return Page([], None)

    async def update(
        self,
        tenant_id: uuid.UUID,
        segment_id: uuid.UUID,
        draft: SegmentDraft,
        expected_version: int,
        new_version: int,
        now: datetime,
    ) -> SavedSegment | None:
        self.calls.append(("update", (expected_version, new_version, now)))
        if self.lose_races:
            self.lose_races -= 1
            return None
        assert self.segment is not None
        self.segment = replace(self.segment, name=draft.name, condition=draft.document, version=new_version)
        return self.segment

    async def delete(self, tenant_id: uuid.UUID, segment_id: uuid.UUID, now: datetime) -> bool:
        self.calls.append(("delete", now))
        return False

    async def members(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, limit: int, after: uuid.UUID | None
    ) -> Page[SegmentMember] | None:
        return None

    async def customer_segments(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> list[CustomerSegment]:
        return []

    async def sizes(
        self, tenant_id: uuid.UUID, segment_id: uuid.UUID, days: int, now: datetime
    ) -> list[DailySize] | None:
        self.calls.append(("sizes", (days, now)))
        return []


def faults(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [violation.field for violation in error.value.violations]


def test_names_are_trimmed_and_measured_as_written() -> None:
    draft = draft_of("  重要保持 Zhejiang  ", "  \n ", WOMEN)
    assert (draft.name, draft.description) == ("重要保持 Zhejiang", None)
    assert draft_of("x" * 100, "d" * 1000, WOMEN).name == "x" * 100
    for name in ("", " \t ", "x" * 100 + " ", "tab\there", "nul\x00", "bell\x07"):
        with pytest.raises(InvalidArgument) as error:
            draft_of(name, "", WOMEN)
        assert faults(error) == ["name"], repr(name)


def test_every_fault_of_the_three_fields_is_reported_together() -> None:
    bad = {"all": [WOMEN, {"field": "attributes.gender", "op": "like", "value": "f"}]}
    with pytest.raises(InvalidArgument) as error:
        draft_of("", "d" * 1001, bad)
    assert faults(error) == ["name", "description", "condition.all[1].op"]
    with pytest.raises(InvalidArgument) as error:
        draft_of("ok", "nul\x00", WOMEN)
    assert faults(error) == ["description"]


def test_size_days_default_and_bounds() -> None:
    assert (size_days(0), size_days(1), size_days(366)) == (90, 1, 366)
    for days in (-1, 367):
        with pytest.raises(InvalidArgument):
            size_days(days)


async def test_a_replacement_is_a_version_only_for_a_different_canonical_condition() -> None:
    store = FakeStore()
    saved = SavedSegments(store, clock=lambda: NOW)
    segment = await saved.create(TENANT, "Carts", "", CARTS)
    assert store.calls == [("create", (NOW, MAX_LIVE_SEGMENTS))]
    assert segment.condition == {"event": "add_to_cart", "within": "P7D"}
    same = {"event": "add_to_cart", "within": "PT168H", "min_count": 1}
    assert (await saved.update(TENANT, str(segment.segment_id), "Renamed", "", same)).version == 1
    assert (await saved.update(TENANT, str(segment.segment_id), "Women", "", WOMEN)).version == 2
    assert [call for kind, call in store.calls if kind == "update"] == [(1, 1, NOW), (1, 2, NOW)]


async def test_a_replacement_retries_a_lost_race_then_gives_up_with_409() -> None:
    store = FakeStore(lose_races=1)
    saved = SavedSegments(store, clock=lambda: NOW)
    segment = await saved.create(TENANT, "Carts", "", CARTS)
    assert (await saved.update(TENANT, str(segment.segment_id), "Women", "", WOMEN)).version == 2
    store.lose_races = UPDATE_ATTEMPTS
    with pytest.raises(Conflict):
        await saved.update(TENANT, str(segment.segment_id), "Carts", "", CARTS)


async def test_unknown_ids_are_not_found_and_the_clock_dates_every_call() -> None:
    store = FakeStore()
    saved = SavedSegments(store, clock=lambda: NOW)
    for call in (
        saved.get(TENANT, "nope"),
        saved.get(TENANT, str(uuid.uuid4())),
        saved.update(TENANT, str(uuid.uuid4()), "n", "", WOMEN),
        saved.delete(TENANT, str(uuid.uuid4())),
        saved.members(TENANT, str(uuid.uuid4()), 0, ""),
        saved.customer_segments(TENANT, "nope"),
    ):
        with pytest.raises(NotFound):
            await call
    assert await saved.sizes(TENANT, str(uuid.uuid4()), 0) == []
    assert ("delete", NOW) in store.calls
    assert ("sizes", (90, NOW)) in store.calls

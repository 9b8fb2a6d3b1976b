"""The rules of a saved segment's fields, and the values a saved segment is read as.

A saved segment is a name an operator picks, an optional description and a condition of the segment
language. What is checked here (every fault of a request reported together, each by its REST field):

- ``name``: at most ``MAX_NAME_LENGTH`` characters as written, not blank, no control character
  (a line break in a name breaks every list it appears in); stored trimmed. Unique among the
  tenant's live segments, exactly as trimmed (the store answers AlreadyExists, a 409);
- ``description``: at most ``MAX_DESCRIPTION_LENGTH`` characters, no NUL; stored trimmed, blank
  means none;
- ``condition``: ``parse_condition`` names every fault from ``condition`` (``condition.all[0].op``);
  stored in its canonical form (``dump_condition``), which is what "the condition changed" compares.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.runtime.errors import InvalidArgument, NotFound, ViolationCollector
from services.scoring.domain.segments.dump import dump_condition
from services.scoring.domain.segments.parse import parse_condition
from services.scoring.domain.segments.tree import Condition

MAX_NAME_LENGTH = 100
"""Characters of a segment's name: long enough for "重要保持 customers in Zhejiang holding gold"."""

MAX_DESCRIPTION_LENGTH = 1_000
"""Characters of a segment's description: a paragraph for the next operator, not a document."""

MAX_LIVE_SEGMENTS = 500
"""Live saved segments per tenant: every one is re-evaluated for each customer an event touches,
so the number bounds the cost of live membership (a deleted segment frees its place)."""

DEFAULT_SIZE_DAYS = 90
MAX_SIZE_DAYS = 366
"""How far back ``sizes`` reaches: a year of daily snapshots (one row per segment and day)."""


@dataclass(frozen=True, slots=True)
class SegmentDraft:
    """A checked segment as written: trimmed name and description, the tree and its canonical JSON."""

    name: str
    description: str | None
    condition: Condition
    document: Any


@dataclass(frozen=True, slots=True)
class SavedSegment:
    """A live saved segment as the API shows it; ``count`` is its members now."""

    segment_id: uuid.UUID
    name: str
    description: str | None
    condition: Any
    version: int
    count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SegmentMember:
    """A member of a segment, since when, and under which version it entered."""

    customer_id: uuid.UUID
    entered_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class CustomerSegment:
    """A live segment a customer is in, and since when."""

    segment_id: uuid.UUID
    name: str
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class DailySize:
    """A segment's member count at the last snapshot of a day (the tenant's calendar)."""

    day: date
    members: int


def _has_control(value: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in value)


def clean_name(value: str, errors: ViolationCollector) -> str:
    """The trimmed name; its faults added to ``errors`` (the length counts the name as written, so
    the schema's ``maxLength`` and this rule agree on every input)."""
    name = value.strip()
    if not name:
        errors.add("name", "must not be blank")
    elif len(value) > MAX_NAME_LENGTH:
        errors.add("name", f"must be at most {MAX_NAME_LENGTH} characters")
    elif _has_control(value):
        errors.add("name", "must not contain control characters (line breaks, tabs, NUL)")
    return name


def clean_description(value: str, errors: ViolationCollector) -> str | None:
    """The trimmed description, None when blank; its faults added to ``errors``."""
    if len(value) > MAX_DESCRIPTION_LENGTH:
        errors.add("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
    elif "\x00" in value:
        errors.add("description", "must not contain the NUL character (U+0000)")
    return value.strip() or None


def draft_of(name: str, description: str, document: Any) -> SegmentDraft:
    """A checked draft, or InvalidArgument naming every fault of the three fields at once."""
    errors = ViolationCollector()
    clean = clean_name(name, errors)
    text = clean_description(description, errors)
    condition: Condition | None = None
    try:
        condition = parse_condition(document)
    except InvalidArgument as faults:
        errors.violations.extend(faults.violations)
    errors.raise_if_any()
    assert condition is not None  # no fault means the condition parsed
    return SegmentDraft(clean, text, condition, dump_condition(condition))


def segment_id_of(value: str) -> uuid.UUID:
    """A segment id from a path: malformed, unknown, deleted and another tenant's are all NotFound."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("segment not found") from None


def size_days(days: int) -> int:
    """How many days of sizes to answer: 0 (not given) is the default, else 1..MAX_SIZE_DAYS."""
    if days == 0:
        return DEFAULT_SIZE_DAYS
    if isinstance(days, bool) or not 1 <= days <= MAX_SIZE_DAYS:
        raise InvalidArgument.single("days", f"must be between 1 and {MAX_SIZE_DAYS}")
    return days

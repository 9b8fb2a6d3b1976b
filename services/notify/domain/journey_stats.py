"""Journey stats and a customer's journeys: the shapes the store counts and how they add up.

The store counts in two set-based statements — the instances grouped by their next step (``cursor``),
and the step ledger grouped by path, outcome and reason (joined to the messages a send produced and
to the instance's end) — and the rules here add them up: the journey's totals are the sum over every
cursor; each step of the current document is listed in document order (a step, its ``then``, its
``else``), zeros included, and paths that only older versions ran follow. Outcomes are the runner's
(wait "waited"; if "then"/"else"; send "queued"/"deferred"/"suppressed"/"failed"; issue_coupon and tag
"issued"/"tagged"/"failed"; exit "exited"); a step is *completed* by any outcome but "failed", and
*waiting* counts the active instances whose next step it is and that are not yet due.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notify.domain.journey_definitions import STEP_KINDS


@dataclass(frozen=True)
class InstanceTotals:
    entered: int = 0
    active: int = 0
    waiting: int = 0
    completed: int = 0
    exited: int = 0
    converted: int = 0
    stopped: int = 0
    failed: int = 0
    revenue_minor: int = 0


@dataclass(frozen=True)
class CursorGroup:
    """The instances whose next step is ``cursor`` (None: ended), counted by the store."""

    cursor: str | None
    totals: InstanceTotals


@dataclass(frozen=True)
class StepGroup:
    """Ledger rows of one path with one outcome (and reason), counted by the store."""

    path: str
    kind: str
    outcome: str
    reason: str | None
    count: int
    sent: int
    converted: int


@dataclass
class StepStats:
    path: str
    kind: str
    entered: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    converted: int = 0
    completed: int = 0
    waiting: int = 0


@dataclass(frozen=True)
class JourneyStats:
    journey_id: uuid.UUID
    totals: InstanceTotals
    steps: list[StepStats]


@dataclass(frozen=True)
class CustomerJourney:
    instance_id: uuid.UUID
    journey_id: uuid.UUID
    name: str
    version: int
    status: str
    cursor: str | None
    due_at: datetime | None
    entered_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    converted_order_id: str | None


def document_steps(steps: Any, out: list[tuple[str, str]], path: str = "steps") -> list[tuple[str, str]]:
    """Every (path, kind) of a stored document in document order: a step, its then, its else."""
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        where = f"{path}[{index}]"
        kind = next((k for k in STEP_KINDS if isinstance(step, dict) and k in step), None)
        if kind is None:
            continue
        out.append((where, kind))
        if kind == "if":
            document_steps(step.get("then"), out, f"{where}.then")
            document_steps(step.get("else"), out, f"{where}.else")
    return out


def journey_totals(groups: Sequence[CursorGroup]) -> InstanceTotals:
    """The journey's totals: the sum over every cursor."""
    names = InstanceTotals.__dataclass_fields__
    return InstanceTotals(**{name: sum(getattr(g.totals, name) for g in groups) for name in names})


def step_stats(
    document: dict[str, Any], groups: Sequence[StepGroup], cursors: Sequence[CursorGroup] = ()
) -> list[StepStats]:
    """Each step of the document (zeros included), then paths only older versions ran."""
    by_path = {
        (path, kind): StepStats(path, kind) for path, kind in document_steps(document.get("steps"), [])
    }
    waiting = {group.cursor: group.totals.waiting for group in cursors if group.cursor is not None}
    for stats in by_path.values():
        stats.waiting = waiting.get(stats.path, 0)
    for group in groups:
        stats = by_path.setdefault((group.path, group.kind), StepStats(group.path, group.kind))
        stats.entered += group.count
        stats.outcomes[group.outcome] = stats.outcomes.get(group.outcome, 0) + group.count
        if group.outcome == "suppressed":
            reason = group.reason or "unknown"
            stats.suppressed[reason] = stats.suppressed.get(reason, 0) + group.count
        stats.sent += group.sent
        stats.converted += group.converted
        if group.outcome != "failed":
            stats.completed += group.count
    return list(by_path.values())

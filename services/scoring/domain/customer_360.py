"""Scoring's part of the customer 360: the scores and the live segments, read together.

The 360 asks every service for its part at once, so each part should cost one connection and as few
round trips as it can: the two reads share one snapshot and resolve the customer once, where the
separate endpoints' use cases (``scores``, ``segments.saved``) each open their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.runtime.errors import NotFound
from services.scoring.domain.scores import known_id
from services.scoring.domain.segments.saved_rules import CustomerSegment


@dataclass(frozen=True)
class ScoringPart:
    """What scoring knows of a customer: the score row and latest prediction (None: not scored
    yet, or not known to scoring), and the live segments it is in."""

    scores: tuple[dict[str, Any], dict[str, Any] | None] | None = None
    segments: list[CustomerSegment] = field(default_factory=list)


class Customer360Reader(Protocol):
    async def part(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> ScoringPart:
        """The part of ``customer_id`` (or of its survivor); NotFound when scoring does not know
        the customer in this tenant, or it was erased."""
        ...


class Customer360Queries:
    """Scoring's 360 part for the calling tenant."""

    def __init__(self, reader: Customer360Reader) -> None:
        self._reader = reader

    async def part(self, tenant_id: uuid.UUID, customer_id: str) -> ScoringPart:
        """The customer's part. Scoring not knowing the customer (not scored yet, or its projection
        has not seen it) is an empty part, not an error: profile is the one that says who exists."""
        try:
            return await self._reader.part(tenant_id, known_id(customer_id, "customer"))
        except NotFound:
            return ScoringPart()

"""Reading a tenant's scores: one customer's, the RFM grid and groups, the lifecycle counts.

The reader is a protocol so that these use cases never see SQL; ``store.reads`` implements it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from services.runtime.errors import NotFound


@dataclass(frozen=True, slots=True)
class RfmCell:
    """One occupied cell of the tenant's R, F, M grid."""

    r: int
    f: int
    m: int
    customers: int


@dataclass(frozen=True, slots=True)
class RfmSummary:
    """The occupied grid cells, each group's (customers, spend) (None: without RFM) and the thresholds
    of the last batch run (None before the first)."""

    cells: list[RfmCell]
    groups: dict[str | None, tuple[int, int]]
    baseline: dict[str, Any] | None


class ScoreReader(Protocol):
    async def customer(
        self, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[dict[str, Any], dict[str, Any] | None]: ...
    async def rfm_summary(self, tenant_id: uuid.UUID) -> RfmSummary: ...
    async def stage_counts(self, tenant_id: uuid.UUID) -> dict[str, int]: ...


def known_id(value: str, what: str) -> uuid.UUID:
    """The id of a customer or run; a malformed one can never exist, so it is not found (404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value!r} not found") from None


class ScoreQueries:
    """What the scoring API answers about scores, for the calling tenant."""

    def __init__(self, reader: ScoreReader) -> None:
        self._reader = reader

    async def customer(
        self, tenant_id: uuid.UUID, customer_id: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The customer's (or its survivor's) score row and latest prediction; NotFound when scoring
        does not know the customer in this tenant or has not scored it yet."""
        return await self._reader.customer(tenant_id, known_id(customer_id, "customer"))

    async def rfm_summary(self, tenant_id: uuid.UUID) -> RfmSummary:
        """The tenant's RFM grid, groups and thresholds."""
        return await self._reader.rfm_summary(tenant_id)

    async def stage_counts(self, tenant_id: uuid.UUID) -> dict[str, int]:
        """Customers per lifecycle stage (stages nobody is in are absent)."""
        return await self._reader.stage_counts(tenant_id)

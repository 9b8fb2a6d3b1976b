"""The points ledger's vocabulary and its input rules (no storage here).

Entries are immutable. Every movement is one entry of a type; credits (earn, positive adjust)
open a lot, debits (redeem, reverse, expire, negative adjust) consume lots oldest-expiring first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.runtime.errors import ViolationCollector

EntryType = Literal["earn", "redeem", "expire", "reverse", "adjust"]

MAX_POINTS_PER_ENTRY = 1_000_000_000
MAX_REASON = 200
MAX_IDEMPOTENCY_KEY = 255

# Entry ids are derived from (tenant, idempotency key): a replay computes the same id.
_ENTRY_NAMESPACE = uuid.UUID("6f1d8c52-6a44-4d4e-9a1e-2b8a3f7c9d01")


def entry_id_for(tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """The id of the entry booked under ``idempotency_key`` (the same id every time)."""
    return uuid.uuid5(_ENTRY_NAMESPACE, f"{tenant_id}:{idempotency_key}")


@dataclass(frozen=True, slots=True)
class LedgerResult:
    """What a movement did: its entry, the balance after it, and whether it was a replay."""

    entry_id: uuid.UUID
    balance: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class Movement:
    """Who, what and why of one ledger movement (the amount travels beside it)."""

    tenant_id: uuid.UUID
    customer_id: uuid.UUID
    entry_type: EntryType
    reason: str
    source: str
    idempotency_key: str
    program_version: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Clawback:
    """What a take-back did: points taken now, and the shortfall recorded as debt."""

    taken: int
    owed: int
    result: LedgerResult | None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """An entry as the ledger listing shows it."""

    entry_id: uuid.UUID
    customer_id: uuid.UUID
    type: str
    delta: int
    balance_after: int
    reason: str
    source: str
    program_version: int
    occurred_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Balance:
    """A customer's points now and how many of them expire in the coming days."""

    balance: int
    expiring: int
    debt: int


def validate_movement(
    points: int, reason: str, *, points_field: str = "points", signed: bool = False
) -> None:
    """A REST movement's amount and reason; ``signed`` allows negative amounts (adjustments)."""
    errors = ViolationCollector()
    magnitude = abs(points) if signed else points
    if points == 0 or not 1 <= magnitude <= MAX_POINTS_PER_ENTRY:
        errors.add(
            points_field,
            f"must be {'a non-zero integer of magnitude' if signed else 'an integer'} "
            f"between 1 and {MAX_POINTS_PER_ENTRY}",
        )
    if not reason.strip() or len(reason) > MAX_REASON:
        errors.add("reason", f"must be 1-{MAX_REASON} characters")
    errors.raise_if_any()


def validate_idempotency_key(key: str) -> None:
    """A ledger idempotency key: 1-255 characters."""
    errors = ViolationCollector()
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        errors.add("idempotency_key", f"must be 1-{MAX_IDEMPOTENCY_KEY} characters")
    errors.raise_if_any()

"""Errors of the loyalty domain beyond the shared ones in ``services.runtime.errors``."""

from __future__ import annotations

from services.runtime.errors import Conflict


class InsufficientPoints(Conflict):
    """The balance does not cover a spend; ``balance`` travels in the error's metadata (and so in
    the gateway's 409 problem) so a client can show what is there."""

    reason = "INSUFFICIENT_POINTS"

    def __init__(self, *, balance: int, requested: int) -> None:
        super().__init__(
            f"the balance of {balance} points does not cover {requested}",
            metadata={"balance": str(balance), "requested_points": str(requested)},
        )
        self.balance = balance
        self.requested = requested


class IdempotencyRace(Conflict):
    """Another transaction booked the same idempotency key at the same moment; retrying the
    whole transaction answers its result."""

    reason = "IDEMPOTENCY_RACE"


class IdempotencyKeyReused(Conflict):
    """An idempotency key already moved points for another customer, kind or amount: the ledger
    keeps every key for good, so this answers 409 however long ago the key was first used, and
    nothing moves. The key (as the client sent it) travels in the metadata."""

    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str) -> None:
        shown = key.removeprefix("api:")
        super().__init__(
            f"the idempotency key {shown!r} already moved points for another customer, kind or amount",
            metadata={"idempotency_key": shown},
        )
        self.key = shown

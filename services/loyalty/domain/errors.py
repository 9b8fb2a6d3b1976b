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

"""One points movement in one database round trip: the call of ``loyalty_move_points``.

The stored function (migration loyalty_0004) does a credit's or a debit's whole work — replay of
the key, guarded balance change, lots, entry and the ``points.changed`` outbox row — in one
statement, so a hot account's row lock is held for that statement's execution only, not across
several round trips. What it answers (``Moved.status``):

- ``ok`` / ``replayed``: booked now / booked before under the same key;
- ``mismatch``: the key booked another customer, kind or amount before (nothing changed); the
  callers never see it: ``move_points`` and ``fast_moves`` raise :class:`IdempotencyKeyReused`;
- ``insufficient``: a debit the balance does not cover (nothing changed; ``balance`` is it);
- ``debt``: a credit to an account that owes points; nothing changed, the caller takes the
  repayment path (two entries), holding the row lock the function took;
- with ``resolve``: ``unknown`` (not in loyalty's customer projection), ``erased``, ``merged``
  (``survivor`` is the live customer); with ``check_version``: ``stale`` (the tenant stored a newer
  programme than the one the caller used). Nothing changed in any of these.

A concurrent booking of the same key makes the function raise (SQLSTATE ``LY409``), undoing the
statement; it surfaces as :class:`IdempotencyRace`, and retrying answers the winner's result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import envelope_pb2, loyalty_events_pb2
from services.loyalty.domain.errors import IdempotencyKeyReused, IdempotencyRace
from services.loyalty.domain.ledger import (
    LedgerResult,
    Movement,
    entry_id_for,
    validate_idempotency_key,
)
from services.runtime.events.outbox import Outbox, partition_of
from services.runtime.proto_convert import set_time

CONCURRENT_BOOKING_SQLSTATE = "LY409"

MoveStatus = Literal[
    "ok", "replayed", "mismatch", "insufficient", "debt", "unknown", "erased", "merged", "stale"
]


@dataclass(frozen=True, slots=True)
class Moved:
    """What ``loyalty_move_points`` answered (see the module docstring for each status)."""

    status: MoveStatus
    entry_id: uuid.UUID | None
    balance: int | None
    survivor: uuid.UUID | None

    def result(self) -> LedgerResult:
        """The ledger's answer for a movement booked now (``ok``) or before (``replayed``)."""
        if self.entry_id is None or self.balance is None:
            raise RuntimeError(f"no entry for a movement answered {self.status!r}")
        return LedgerResult(self.entry_id, self.balance, replayed=self.status == "replayed")


_PARAMETERS = (
    "tenant_id", "customer_id", "delta", "type", "reason", "source", "key", "entry_id", "version",
    "check_version", "resolve", "occurred_at", "expires_at", "event_id", "partition", "event_at",
    "envelope", "notify",
)  # fmt: skip
_CALL = """
    SELECT status, entry_id, balance, survivor FROM loyalty_move_points(
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, CAST({} AS smallint), {}, {}, {}
    )
"""
_MOVE = sa.text(_CALL.format(*(f":{name}" for name in _PARAMETERS)))
# The same call for a raw asyncpg connection (positional parameters, prepared once per connection).
MOVE_SQL = _CALL.format(*(f"${n}" for n in range(1, len(_PARAMETERS) + 1)))


def _points_changed(
    outbox: Outbox, movement: Movement, entry_id: uuid.UUID, delta: int
) -> tuple[uuid.UUID, datetime, bytes]:
    """The ``points.changed`` outbox envelope (without the balance: the function appends it),
    built in one go: event id, event time and the serialised envelope."""
    event_id = uuid.uuid4()
    event_at = datetime.now(UTC)
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(event_id),
        tenant_id=str(movement.tenant_id),
        type="points.changed",
        customer_id=str(movement.customer_id),
        producer=outbox.producer,
        points_changed=loyalty_events_pb2.PointsChanged(
            entry_id=str(entry_id),
            entry_type=movement.entry_type,
            delta=delta,
            reason=movement.reason,
            source=movement.source,
        ),
    )
    set_time(envelope, "occurred_at", event_at)
    return event_id, event_at, envelope.SerializeToString()


def move_arguments(
    outbox: Outbox,
    movement: Movement,
    delta: int,
    expires_at: datetime | None,
    *,
    resolve: bool,
    check_version: bool,
) -> tuple[object, ...]:
    """The arguments of ``loyalty_move_points`` for a movement, in the function's order."""
    validate_idempotency_key(movement.idempotency_key)
    entry_id = entry_id_for(movement.tenant_id, movement.idempotency_key)
    event_id, event_at, envelope = _points_changed(outbox, movement, entry_id, delta)
    return (
        movement.tenant_id,
        movement.customer_id,
        delta,
        movement.entry_type,
        movement.reason,
        movement.source,
        movement.idempotency_key,
        entry_id,
        movement.program_version,
        check_version,
        resolve,
        movement.occurred_at,
        expires_at,
        event_id,
        partition_of(movement.customer_id, outbox.partitions),
        event_at,
        envelope,
        outbox.statement_channel(),
    )


def moved_from(
    key: str, status: str, entry_id: uuid.UUID | None, balance: int | None, survivor: uuid.UUID | None
) -> Moved:
    """What the function answered, typed; IdempotencyKeyReused when the key moved something else."""
    if status == "mismatch":
        raise IdempotencyKeyReused(key)
    return Moved(
        status=cast(MoveStatus, status),
        entry_id=entry_id,
        balance=None if balance is None else int(balance),
        survivor=survivor,
    )


def is_concurrent_booking(error: BaseException | None) -> bool:
    """Whether a database error is the function's LY409 (the key was booked concurrently)."""
    return getattr(error, "sqlstate", None) == CONCURRENT_BOOKING_SQLSTATE


async def move_points(
    connection: AsyncConnection,
    outbox: Outbox,
    movement: Movement,
    delta: int,
    expires_at: datetime | None = None,
    *,
    resolve: bool = False,
    check_version: bool = False,
) -> Moved:
    """Book ``delta`` points (> 0 a credit opening a lot expiring at ``expires_at``, < 0 a debit)
    in one statement of the caller's transaction; the sequencer is woken when it commits."""
    arguments = move_arguments(
        outbox, movement, delta, expires_at, resolve=resolve, check_version=check_version
    )
    try:
        row = (await connection.execute(_MOVE, dict(zip(_PARAMETERS, arguments, strict=True)))).one()
    except sa_exc.DBAPIError as error:
        if is_concurrent_booking(error.orig):
            raise IdempotencyRace(
                f"idempotency key {movement.idempotency_key!r} was booked concurrently"
            ) from None
        raise
    moved = moved_from(movement.idempotency_key, row.status, row.entry_id, row.balance, row.survivor)
    if moved.status == "ok":
        outbox.wake_after(connection)
    return moved

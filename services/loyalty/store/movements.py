"""One points movement in one database round trip: the call of ``loyalty_move_points``.

The stored function (migration loyalty_0004) does a credit's or a debit's whole work — replay of
the key, guarded balance change, lots, entry and the ``points.changed`` outbox row — in one
statement, so a hot account's row lock is held for that statement's execution only, not across
several round trips. What it answers (``Moved.status``):

- ``ok`` / ``replayed``: booked now / booked before under the same key;
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

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.ledger import EntryType, LedgerResult, entry_id_for, validate_idempotency_key
from services.runtime.errors import Conflict
from services.runtime.events.outbox import NewEvent, Outbox, partition_of

CONCURRENT_BOOKING_SQLSTATE = "LY409"

MoveStatus = Literal["ok", "replayed", "insufficient", "debt", "unknown", "erased", "merged", "stale"]


class IdempotencyRace(Conflict):
    """Another transaction booked the same idempotency key at the same moment; retrying the
    whole transaction answers its result."""

    reason = "IDEMPOTENCY_RACE"


@dataclass(frozen=True, slots=True)
class Movement:
    """Who, what and why of one ledger movement."""

    tenant_id: uuid.UUID
    customer_id: uuid.UUID
    entry_type: EntryType
    reason: str
    source: str
    idempotency_key: str
    program_version: int
    occurred_at: datetime


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


_MOVE = sa.text(
    """
    SELECT status, entry_id, balance, survivor FROM loyalty_move_points(
        :tenant_id, :customer_id, :delta, :type, :reason, :source, :key, :entry_id, :version,
        :check_version, :resolve, :occurred_at, :expires_at, :event_id,
        CAST(:partition AS smallint), :event_at, :envelope, :notify
    )
    """
)


async def move_points(
    connection: AsyncConnection,
    outbox: Outbox,
    movement: Movement,
    delta: int,
    expires_at: datetime | None = None,
    *,
    resolve: bool = False,
    check_version: bool = False,
    autocommit: bool = False,
) -> Moved:
    """Book ``delta`` points (> 0 a credit opening a lot expiring at ``expires_at``, < 0 a debit)
    in one statement. In the caller's transaction the sequencer is woken when it commits; with
    ``autocommit`` (the connection commits each statement on its own) at once."""
    validate_idempotency_key(movement.idempotency_key)
    entry_id = entry_id_for(movement.tenant_id, movement.idempotency_key)
    event_at = datetime.now(UTC)
    payload = loyalty_events_pb2.PointsChanged(
        entry_id=str(entry_id),
        entry_type=movement.entry_type,
        delta=delta,
        reason=movement.reason,
        source=movement.source,
    )  # ``balance`` is appended by the function, which alone knows it
    event = NewEvent(
        movement.tenant_id, "points.changed", movement.customer_id, payload, occurred_at=event_at
    )
    try:
        row = (
            await connection.execute(
                _MOVE,
                {
                    "tenant_id": movement.tenant_id,
                    "customer_id": movement.customer_id,
                    "delta": delta,
                    "type": movement.entry_type,
                    "reason": movement.reason,
                    "source": movement.source,
                    "key": movement.idempotency_key,
                    "entry_id": entry_id,
                    "version": movement.program_version,
                    "check_version": check_version,
                    "resolve": resolve,
                    "occurred_at": movement.occurred_at,
                    "expires_at": expires_at,
                    "event_id": event.event_id,
                    "partition": partition_of(movement.customer_id, outbox.partitions),
                    "event_at": event_at,
                    "envelope": outbox.envelope(event).SerializeToString(),
                    "notify": outbox.statement_channel(),
                },
            )
        ).one()
    except sa_exc.DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == CONCURRENT_BOOKING_SQLSTATE:
            raise IdempotencyRace(
                f"idempotency key {movement.idempotency_key!r} was booked concurrently"
            ) from None
        raise
    moved = Moved(
        status=cast(MoveStatus, row.status),
        entry_id=row.entry_id,
        balance=None if row.balance is None else int(row.balance),
        survivor=row.survivor,
    )
    if moved.status == "ok":
        outbox.wake_after(None if autocommit else connection)
    return moved

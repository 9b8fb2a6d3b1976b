"""Moving points: every credit and debit, in the caller's transaction, with its event.

How the three ledger tables stay in agreement:
- the account row is the guard. A debit is one conditional ``UPDATE ... WHERE balance >= n``: it
  takes the row lock and checks the balance in the same statement, so concurrent debits serialise
  on the row and none can overdraw; ``CHECK (balance >= 0)`` is the last line behind it;
- lots are changed only while that row lock is held, so consuming them oldest-expiring first is a
  plain ``UPDATE`` over a running sum, read after the lock was taken;
- every movement writes one immutable entry under an idempotency key unique per tenant; the same
  key again answers the entry already booked (``replayed``), and its id is derived from the key;
  the same key for another customer, kind or amount is IdempotencyKeyReused (409), for good.

Credits and debits are one round trip each (``movements.move_points``, the stored function
``loyalty_move_points``); only a credit to an account in debt and a refund's take-back run the
statements below one by one, under the same row lock.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.errors import IdempotencyKeyReused, IdempotencyRace, InsufficientPoints
from services.loyalty.domain.ledger import Clawback, LedgerResult, Movement, entry_id_for
from services.loyalty.store.movements import move_points
from services.loyalty.store.programs import current_program
from services.runtime.events.outbox import NewEvent, Outbox

__all__ = [
    "Clawback",
    "Movement",
    "credit",
    "current_balance",
    "debit",
    "spend_points",
    "take_back",
]

# The entry booked under a key, and whether it moved what this request asks (customer, kind,
# amount): compared in the statement that finds it.
_PRIOR = sa.text(
    "SELECT entry_id, balance_after, "
    "(customer_id = :customer_id AND type = :type AND delta = :delta) AS same FROM point_entries "
    "WHERE tenant_id = :tenant_id AND idempotency_key = :key"
)

_CREDIT_ACCOUNT = sa.text(
    """
    INSERT INTO point_accounts (tenant_id, customer_id, balance)
    SELECT :tenant_id, :customer_id, :points
    WHERE NOT EXISTS (
        SELECT 1 FROM point_entries WHERE tenant_id = :tenant_id AND idempotency_key = :key
    )
    ON CONFLICT (tenant_id, customer_id)
    DO UPDATE SET balance = point_accounts.balance + EXCLUDED.balance, updated_at = now()
    RETURNING balance, debt
    """
)

_ENTRY_COLUMNS = """
    INSERT INTO point_entries (tenant_id, entry_id, customer_id, type, delta, balance_after, reason,
                               source, idempotency_key, program_version, occurred_at)
    VALUES (:tenant_id, :entry_id, :customer_id, :type, :delta, :balance_after, :reason, :source,
            :key, :program_version, :occurred_at)
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING entry_id
"""

_CREDIT_ENTRY_AND_LOT = sa.text(
    """
    WITH entry AS (
        INSERT INTO point_entries (tenant_id, entry_id, customer_id, type, delta, balance_after,
                                   reason, source, idempotency_key, program_version, occurred_at)
        VALUES (:tenant_id, :entry_id, :customer_id, :type, :delta, :balance_after, :reason, :source,
                :key, :program_version, :occurred_at)
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
        RETURNING entry_id
    )
    INSERT INTO point_lots (tenant_id, lot_id, customer_id, earned, remaining, earned_at, expires_at)
    SELECT :tenant_id, entry_id, :customer_id, :delta, :delta, :occurred_at, :expires_at FROM entry
    RETURNING lot_id
    """
)

_DEBIT_ENTRY = sa.text(_ENTRY_COLUMNS)

# Take ``points`` from the customer's live lots, oldest-expiring first (never-expiring last), or
# from ``prefer`` first when given. Each lot holds at least one point, so at most ``points`` lots
# are read. Runs only under the account's row lock. MATERIALIZED: inlined into the join, the lot
# selection could be re-run once per lot of the tenant (loyalty_0009).
_CONSUME_LOTS = """
    WITH live AS MATERIALIZED (
        SELECT lot_id, remaining,
               sum(remaining) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) - remaining AS before
        FROM (
            SELECT lot_id, remaining, expires_at, earned_at FROM point_lots
            WHERE tenant_id = :tenant_id AND customer_id = :customer_id AND remaining > 0
            ORDER BY {order} LIMIT :points
        ) AS candidates
    )
    UPDATE point_lots AS lot SET remaining = lot.remaining - LEAST(lot.remaining, :points - live.before)
    FROM live
    WHERE lot.tenant_id = :tenant_id AND lot.lot_id = live.lot_id AND live.before < :points
"""
_FIFO = "expires_at ASC NULLS LAST, earned_at, lot_id"
_CONSUME_FIFO = sa.text(_CONSUME_LOTS.format(order=_FIFO))
_CONSUME_PREFERRING = sa.text(_CONSUME_LOTS.format(order=f"(lot_id = :prefer) DESC, {_FIFO}"))


def _now() -> datetime:
    return datetime.now(UTC)


async def _prior(connection: AsyncConnection, movement: Movement, delta: int) -> LedgerResult | None:
    params = {
        "tenant_id": movement.tenant_id,
        "key": movement.idempotency_key,
        "customer_id": movement.customer_id,
        "type": movement.entry_type,
        "delta": delta,
    }
    row = (await connection.execute(_PRIOR, params)).first()
    if row is None:
        return None
    if not row.same:
        raise IdempotencyKeyReused(movement.idempotency_key)
    return LedgerResult(entry_id=row.entry_id, balance=int(row.balance_after), replayed=True)


async def _book(
    connection: AsyncConnection,
    outbox: Outbox,
    movement: Movement,
    delta: int,
    balance_after: int,
    statement: sa.TextClause,
    extra: dict[str, object] | None = None,
) -> uuid.UUID:
    entry_id = entry_id_for(movement.tenant_id, movement.idempotency_key)
    booked = (
        await connection.execute(
            statement,
            {
                "tenant_id": movement.tenant_id,
                "entry_id": entry_id,
                "customer_id": movement.customer_id,
                "type": movement.entry_type,
                "delta": delta,
                "balance_after": balance_after,
                "reason": movement.reason,
                "source": movement.source,
                "key": movement.idempotency_key,
                "program_version": movement.program_version,
                "occurred_at": movement.occurred_at,
                **(extra or {}),
            },
        )
    ).first()
    if booked is None:
        raise IdempotencyRace(f"idempotency key {movement.idempotency_key!r} was booked concurrently")
    payload = loyalty_events_pb2.PointsChanged(
        entry_id=str(entry_id),
        entry_type=movement.entry_type,
        delta=delta,
        balance=balance_after,
        reason=movement.reason,
        source=movement.source,
    )
    await outbox.append(
        connection,
        [NewEvent(movement.tenant_id, "points.changed", movement.customer_id, payload, occurred_at=_now())],
    )
    return entry_id


async def _consume(
    connection: AsyncConnection, movement: Movement, points: int, prefer: uuid.UUID | None = None
) -> None:
    params: dict[str, object] = {
        "tenant_id": movement.tenant_id,
        "customer_id": movement.customer_id,
        "points": points,
    }
    if prefer is None:
        await connection.execute(_CONSUME_FIFO, params)
    else:
        await connection.execute(_CONSUME_PREFERRING, {**params, "prefer": prefer})


async def current_balance(connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
    """The balance as committed now (0 for a customer without an account)."""
    balance = (
        await connection.execute(
            sa.text(
                "SELECT balance FROM point_accounts "
                "WHERE tenant_id = :tenant_id AND customer_id = :customer_id"
            ),
            {"tenant_id": tenant_id, "customer_id": customer_id},
        )
    ).scalar_one_or_none()
    return int(balance or 0)


async def credit(
    connection: AsyncConnection,
    outbox: Outbox,
    movement: Movement,
    points: int,
    expires_at: datetime | None,
) -> LedgerResult:
    """Add ``points`` as a new lot expiring at ``expires_at`` (earn, or a positive adjustment).

    A customer who owes points (refunds of points already spent) repays the debt from this credit
    at once, as a ``reverse`` entry, so entries, lots and balance keep agreeing.
    """
    moved = await move_points(connection, outbox, movement, points, expires_at)
    if moved.status in ("ok", "replayed"):
        return moved.result()
    # "debt": the account owes points; the function left it unchanged and locked.
    params = {
        "tenant_id": movement.tenant_id,
        "customer_id": movement.customer_id,
        "points": points,
        "key": movement.idempotency_key,
    }
    row = (await connection.execute(_CREDIT_ACCOUNT, params)).first()
    if row is None:
        prior = await _prior(connection, movement, points)
        if prior is None:  # the key's entry was rolled back between the two statements
            raise IdempotencyRace(f"idempotency key {movement.idempotency_key!r} was booked concurrently")
        return prior
    balance, debt = int(row.balance), int(row.debt)
    entry_id = await _book(
        connection, outbox, movement, points, balance, _CREDIT_ENTRY_AND_LOT, {"expires_at": expires_at}
    )
    if debt > 0:
        balance = await _repay_debt(connection, outbox, movement, entry_id, min(debt, points))
    return LedgerResult(entry_id=entry_id, balance=balance, replayed=False)


async def _repay_debt(
    connection: AsyncConnection, outbox: Outbox, credited: Movement, lot_id: uuid.UUID, points: int
) -> int:
    balance = (
        await connection.execute(
            sa.text(
                "UPDATE point_accounts SET balance = balance - :points, debt = debt - :points, "
                "updated_at = now() WHERE tenant_id = :tenant_id AND customer_id = :customer_id "
                "RETURNING balance"
            ),
            {"tenant_id": credited.tenant_id, "customer_id": credited.customer_id, "points": points},
        )
    ).scalar_one()
    movement = Movement(
        tenant_id=credited.tenant_id,
        customer_id=credited.customer_id,
        entry_type="reverse",
        reason="repays points owed after a refund",
        source=credited.source,
        idempotency_key=f"{credited.idempotency_key}:repay",
        program_version=credited.program_version,
        occurred_at=credited.occurred_at,
    )
    await _consume(connection, movement, points, prefer=lot_id)
    await _book(connection, outbox, movement, -points, int(balance), _DEBIT_ENTRY)
    return int(balance)


async def debit(connection: AsyncConnection, outbox: Outbox, movement: Movement, points: int) -> LedgerResult:
    """Take exactly ``points`` or nothing: InsufficientPoints (with the balance) when they are not
    there. The same idempotency key again answers the first result."""
    moved = await move_points(connection, outbox, movement, -points)
    if moved.status == "insufficient":
        raise InsufficientPoints(balance=moved.balance or 0, requested=points)
    return moved.result()


async def take_back(
    connection: AsyncConnection,
    outbox: Outbox,
    movement: Movement,
    points: int,
    prefer: uuid.UUID | None,
) -> Clawback:
    """Take back up to ``points`` (a refund's reversal): what the balance holds is taken (from
    ``prefer``'s lot first), the rest becomes debt that later credits repay. Never negative."""
    row = (
        await connection.execute(
            sa.text(
                "SELECT balance FROM point_accounts WHERE tenant_id = :tenant_id "
                "AND customer_id = :customer_id FOR UPDATE"
            ),
            {"tenant_id": movement.tenant_id, "customer_id": movement.customer_id},
        )
    ).first()
    available = int(row.balance) if row is not None else 0
    taken = min(points, available)
    owed = points - taken
    if row is None:
        await connection.execute(
            sa.text(
                "INSERT INTO point_accounts (tenant_id, customer_id, balance, debt) "
                "VALUES (:tenant_id, :customer_id, 0, :owed)"
            ),
            {"tenant_id": movement.tenant_id, "customer_id": movement.customer_id, "owed": owed},
        )
        return Clawback(0, owed, None)
    balance = (
        await connection.execute(
            sa.text(
                "UPDATE point_accounts SET balance = balance - :taken, debt = debt + :owed, "
                "updated_at = now() WHERE tenant_id = :tenant_id AND customer_id = :customer_id "
                "RETURNING balance"
            ),
            {
                "tenant_id": movement.tenant_id,
                "customer_id": movement.customer_id,
                "taken": taken,
                "owed": owed,
            },
        )
    ).scalar_one()
    if taken == 0:
        return Clawback(0, owed, None)
    await _consume(connection, movement, taken, prefer=prefer)
    entry_id = await _book(connection, outbox, movement, -taken, int(balance), _DEBIT_ENTRY)
    return Clawback(taken, owed, LedgerResult(entry_id, int(balance), replayed=False))


async def spend_points(
    connection: AsyncConnection,
    outbox: Outbox,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    points: int,
    reason: str,
    source: str,
    idempotency_key: str,
    program_version: int | None = None,
) -> LedgerResult:
    """Redeem ``points`` (oldest-expiring lots first) in the caller's transaction; never overdraws.

    Raises InsufficientPoints (a Conflict carrying ``balance``) when the balance does not cover it;
    the same idempotency key again returns the original result with ``replayed=True``. Emits
    ``points.changed``. ``program_version`` defaults to the tenant's current programme.
    """
    if program_version is None:
        program_version = (await current_program(connection, tenant_id)).version
    movement = Movement(
        tenant_id=tenant_id,
        customer_id=customer_id,
        entry_type="redeem",
        reason=reason,
        source=source,
        idempotency_key=idempotency_key,
        program_version=program_version,
        occurred_at=_now(),
    )
    return await debit(connection, outbox, movement, points)

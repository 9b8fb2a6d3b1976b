"""REST redemptions, adjustments and balances in one round trip: the hot paths of the points API.

The movement runs on a raw asyncpg connection outside any transaction (``hot_pool``), so the one
call of ``loyalty_move_points`` is the whole transaction: the customer is resolved, the programme
version checked, the balance guarded, lots, entry and outbox row written, and the hot account's
row lock released, all in one round trip. The programme comes from the in-process cache (its
version is checked by that statement). The statements are prepared once per connection and
bypass SQLAlchemy, whose per-call machinery was a tenth of the process's CPU on this path.

Anything unusual answers None and the caller takes the transactional path, which handles it: a
customer loyalty's projection has not seen (asked of profile), a merged-away id, a credit to an
account in debt, a programme changed since it was cached, a concurrent booking of the same key,
or the hot pool closed because the service is stopping.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.loyalty.domain.errors import InsufficientPoints
from services.loyalty.domain.expiry import expires_at
from services.loyalty.domain.ledger import Balance, EntryType, LedgerResult, Movement
from services.loyalty.store.movements import (
    MOVE_SQL,
    is_concurrent_booking,
    move_arguments,
    moved_from,
)
from services.loyalty.store.programs import ProgramCache
from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.runtime.events.outbox import Outbox
from services.runtime.hot_pool import HotConnections, HotPathClosed


async def move_at_once(
    database: Database,
    hot: HotConnections,
    outbox: Outbox,
    programs: ProgramCache,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    points: int,
    entry_type: EntryType,
    reason: str,
    source: str,
    idempotency_key: str,
) -> LedgerResult | None:
    """Credit (``points`` > 0, a lot expiring per the programme) or debit (< 0) the customer in
    one statement; None when the transactional path must decide (see the module docstring).

    Raises InsufficientPoints for a debit the balance does not cover, NotFound for an erased
    customer, IdempotencyKeyReused when the key moved another customer, kind or amount before.
    """
    context = await programs.get(database, tenant_id)
    now = datetime.now(UTC)
    movement = Movement(
        tenant_id=tenant_id,
        customer_id=customer_id,
        entry_type=entry_type,
        reason=reason,
        source=source,
        idempotency_key=idempotency_key,
        program_version=context.program.version,
        occurred_at=now,
    )
    expiry = expires_at(context.program.expiry, now, context.tenant.timezone) if points > 0 else None
    arguments = move_arguments(outbox, movement, points, expiry, resolve=True, check_version=True)
    try:
        async with hot.acquire() as connection:
            row = await connection.fetchrow(MOVE_SQL, *arguments)
    except HotPathClosed:
        return None
    except asyncpg.PostgresError as error:
        if is_concurrent_booking(error):
            return None
        raise
    moved = moved_from(idempotency_key, row["status"], row["entry_id"], row["balance"], row["survivor"])
    if moved.status == "ok":
        outbox.wake_after(None)
    if moved.status in ("ok", "replayed"):
        return moved.result()
    if moved.status == "insufficient":
        raise InsufficientPoints(balance=moved.balance or 0, requested=-points)
    if moved.status == "erased":
        raise NotFound("customer not found")
    if moved.status == "stale":
        programs.invalidate(tenant_id)
    return None


# The balance read in two pieces, which the customer 360's statement extends: $1 tenant, $2 the
# customer asked for, $3 the end of the "expiring" window. ``c`` is the survivor, ``a`` its account.
BALANCE_COLUMNS = """
    c.survivor, c.erased_at, coalesce(a.balance, 0) AS balance, coalesce(a.debt, 0) AS debt,
    coalesce((
        SELECT sum(l.remaining) FROM point_lots AS l
        WHERE l.tenant_id = $1 AND l.customer_id = c.survivor AND l.remaining > 0
          AND l.expires_at IS NOT NULL AND l.expires_at <= $3
    ), 0) AS expiring
"""
BALANCE_FROM = """
    (
        SELECT coalesce(merged_into, customer_id) AS survivor, erased_at FROM loyalty_customers
        WHERE tenant_id = $1 AND customer_id = $2
    ) AS c
    LEFT JOIN point_accounts AS a ON a.tenant_id = $1 AND a.customer_id = c.survivor
"""
_BALANCE_AT_ONCE = f"SELECT {BALANCE_COLUMNS} FROM {BALANCE_FROM}"  # noqa: S608 - constant fragments


def survivor_balance(row: Any) -> tuple[uuid.UUID, Balance]:
    """The survivor and balance of a row with ``BALANCE_COLUMNS``; NotFound for an erased customer."""
    if row["erased_at"] is not None:
        raise NotFound("customer not found")
    balance = Balance(balance=int(row["balance"]), expiring=int(row["expiring"]), debt=int(row["debt"]))
    return row["survivor"], balance


async def balance_at_once(
    hot: HotConnections, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, days: int
) -> tuple[uuid.UUID, Balance] | None:
    """The survivor and its balance (expiring within ``days``) in one statement, one snapshot;
    None for a customer loyalty's projection has not seen (the caller asks profile) or when the
    hot pool is closed, NotFound for an erased one."""
    try:
        row = await hot.fetchrow(_BALANCE_AT_ONCE, tenant_id, customer_id, now + timedelta(days=days))
    except HotPathClosed:
        return None
    return None if row is None else survivor_balance(row)

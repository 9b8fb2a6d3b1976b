"""REST redemptions and adjustments in one round trip: the hot path of the points API.

The movement runs on a connection in autocommit mode, so the one statement of
``movements.move_points`` is the whole transaction: the customer is resolved, the programme version
checked, the balance guarded, lots, entry and outbox row written, and the hot account's row lock
released, all in one round trip. The programme comes from the in-process cache (its version is
checked by that statement).

Anything unusual answers None and the caller takes the transactional path, which handles it: a
customer loyalty's projection has not seen (asked of profile), a merged-away id, a credit to an
account in debt, a programme changed since it was cached, or a concurrent booking of the same key.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.loyalty.domain.errors import InsufficientPoints
from services.loyalty.domain.expiry import expires_at
from services.loyalty.domain.ledger import EntryType, LedgerResult
from services.loyalty.store.movements import IdempotencyRace, Movement, move_points
from services.loyalty.store.programs import ProgramCache
from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.runtime.events.outbox import Outbox


async def move_at_once(
    database: Database,
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
    customer.
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
    try:
        async with database.read() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            moved = await move_points(
                connection,
                outbox,
                movement,
                points,
                expiry,
                resolve=True,
                check_version=True,
                autocommit=True,
            )
    except IdempotencyRace:
        return None
    if moved.status in ("ok", "replayed"):
        return moved.result()
    if moved.status == "insufficient":
        raise InsufficientPoints(balance=moved.balance or 0, requested=-points)
    if moved.status == "erased":
        raise NotFound("customer not found")
    if moved.status == "stale":
        programs.invalidate(tenant_id)
    return None

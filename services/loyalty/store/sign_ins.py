"""Daily sign-in: once per customer and tenant-local day, with streaks and their bonuses.

The day's row is the lock: ``INSERT ... ON CONFLICT DO NOTHING`` on (tenant, customer, local day)
lets exactly one of any number of concurrent sign-ins of that day through; the others wait for it
to commit and then answer its streak and award as ``awarded_today``, awarding nothing themselves
(``points_awarded`` 0, ``already_signed_in``). The REST call and the ``sign_in`` event
share this one path, so they share the once-a-day rule too.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.earning import SignInResult, streak_points
from services.loyalty.domain.expiry import expires_at, local_date
from services.loyalty.domain.program import TenantProgram
from services.loyalty.store.ledger import Movement, credit
from services.runtime.events.outbox import Outbox

_TODAY = sa.text(
    "SELECT streak, points_awarded FROM sign_ins "
    "WHERE tenant_id = :tenant_id AND customer_id = :customer_id AND local_date = :day"
)
_CLAIM = sa.text(
    """
    INSERT INTO sign_ins (tenant_id, customer_id, local_date, streak, points_awarded)
    SELECT :tenant_id, :customer_id, :day,
           coalesce((SELECT streak FROM sign_ins WHERE tenant_id = :tenant_id
                     AND customer_id = :customer_id AND local_date = :yesterday), 0) + 1,
           0
    ON CONFLICT (tenant_id, customer_id, local_date) DO NOTHING
    RETURNING streak
    """
)
_RECORD_POINTS = sa.text(
    "UPDATE sign_ins SET points_awarded = :points "
    "WHERE tenant_id = :tenant_id AND customer_id = :customer_id AND local_date = :day"
)


async def sign_in(
    connection: AsyncConnection,
    outbox: Outbox,
    context: TenantProgram,
    customer_id: uuid.UUID,
    moment: datetime,
) -> SignInResult:
    """Sign the customer in for the local day of ``moment``; a repeat that day awards nothing and
    answers ``already_signed_in`` with the first sign-in's streak and award (``awarded_today``)."""
    tenant_id = context.tenant.tenant_id
    day = local_date(moment, context.tenant.timezone)
    params = {"tenant_id": tenant_id, "customer_id": customer_id, "day": day}
    streak = (
        await connection.execute(_CLAIM, {**params, "yesterday": day - timedelta(days=1)})
    ).scalar_one_or_none()
    if streak is None:
        earlier = (await connection.execute(_TODAY, params)).one()
        return SignInResult(
            0, int(earlier.streak), day, already_signed_in=True, awarded_today=int(earlier.points_awarded)
        )
    program = context.program
    points = streak_points(program.earn, int(streak))
    if points > 0:
        movement = Movement(
            tenant_id=tenant_id,
            customer_id=customer_id,
            entry_type="earn",
            reason=f"daily sign-in, day {streak} of the streak",
            source=f"sign_in:{day.isoformat()}",
            idempotency_key=f"sign_in:{customer_id}:{day.isoformat()}",
            program_version=program.version,
            occurred_at=moment,
        )
        await credit(
            connection, outbox, movement, points, expires_at(program.expiry, moment, context.tenant.timezone)
        )
        await connection.execute(_RECORD_POINTS, {**params, "points": points})
    return SignInResult(points, int(streak), day, already_signed_in=False, awarded_today=points)

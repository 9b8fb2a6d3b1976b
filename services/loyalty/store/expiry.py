"""Expiring points at each tenant's local midnight, and who has points about to expire.

The job takes, for every lot due (``expires_at <= now``), exactly what is left of it: one
``expire`` entry per lot keyed ``expire:<lot>:<local date>``, the lot emptied, the account
lowered, one ``points.changed`` per entry — set-based, a batch of customers per transaction with
their accounts locked in id order (the same lock a redemption takes, so neither sees half of the
other). Running it twice expires nothing more: an emptied lot is no longer due, and the key is
unique. An advisory lock per tenant keeps two replicas from running the same tenant at once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from patron.events.v1 import loyalty_events_pb2
from services.loyalty.domain.expiry import local_date
from services.loyalty.domain.jobs import ExpiryOutcome
from services.loyalty.store.programs import current_program
from services.loyalty.store.tables import tenants
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.paging import Page, decode_cursor, encode_cursor

CUSTOMERS_PER_BATCH = 2_000

_TRY_TENANT_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(hashtext('loyalty.expiry:' || :tenant_id))")

_LOCK_DUE_ACCOUNTS = sa.text(
    """
    SELECT customer_id FROM point_accounts
    WHERE tenant_id = :tenant_id AND customer_id IN (
        SELECT DISTINCT customer_id FROM point_lots
        WHERE tenant_id = :tenant_id AND remaining > 0 AND expires_at <= :now
        ORDER BY customer_id LIMIT :batch
    )
    ORDER BY customer_id FOR UPDATE
    """
)

_EXPIRE = sa.text(
    """
    WITH due AS (
        SELECT lot_id, customer_id, remaining, expires_at FROM point_lots
        WHERE tenant_id = :tenant_id AND customer_id = ANY(:customers)
          AND remaining > 0 AND expires_at <= :now
    ), emptied AS (
        UPDATE point_lots AS lot SET remaining = 0 FROM due
        WHERE lot.tenant_id = :tenant_id AND lot.lot_id = due.lot_id
    ), per_customer AS (
        SELECT customer_id, sum(remaining) AS total FROM due GROUP BY customer_id
    ), accounts AS (
        UPDATE point_accounts AS a SET balance = a.balance - p.total, updated_at = now()
        FROM per_customer AS p
        WHERE a.tenant_id = :tenant_id AND a.customer_id = p.customer_id
        RETURNING a.customer_id, a.balance
    )
    INSERT INTO point_entries (tenant_id, entry_id, customer_id, type, delta, balance_after, reason,
                               source, idempotency_key, program_version, occurred_at)
    SELECT :tenant_id, gen_random_uuid(), due.customer_id, 'expire', -due.remaining,
           accounts.balance + coalesce(sum(due.remaining) OVER (
               PARTITION BY due.customer_id ORDER BY due.expires_at DESC, due.lot_id DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ), 0),
           'points expired', 'expiry:' || :day, 'expire:' || due.lot_id::text || ':' || :day,
           :program_version, :now
    FROM due JOIN accounts USING (customer_id)
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING entry_id, customer_id, delta, balance_after
    """
)


async def expire_batch(
    connection: AsyncConnection,
    outbox: Outbox,
    *,
    tenant_id: uuid.UUID,
    day: date,
    now: datetime,
    program_version: int,
) -> ExpiryOutcome:
    """Expire the due lots of up to CUSTOMERS_PER_BATCH customers; (0, 0) when nothing is due."""
    params = {"tenant_id": tenant_id, "now": now, "batch": CUSTOMERS_PER_BATCH}
    customers = [r.customer_id for r in (await connection.execute(_LOCK_DUE_ACCOUNTS, params)).all()]
    if not customers:
        return ExpiryOutcome(0, 0)
    rows = (
        await connection.execute(
            _EXPIRE,
            {**params, "customers": customers, "day": day.isoformat(), "program_version": program_version},
        )
    ).all()
    await outbox.append(
        connection,
        [
            NewEvent(
                tenant_id,
                "points.changed",
                r.customer_id,
                loyalty_events_pb2.PointsChanged(
                    entry_id=str(r.entry_id),
                    entry_type="expire",
                    delta=int(r.delta),
                    balance=int(r.balance_after),
                    reason="points expired",
                    source=f"expiry:{day.isoformat()}",
                ),
                occurred_at=now,
            )
            for r in rows
        ],
    )
    return ExpiryOutcome(len(rows), -sum(int(r.delta) for r in rows))


async def run_tenant_expiry(
    database: Database, outbox: Outbox, tenant_id: uuid.UUID, timezone: str, now: datetime
) -> ExpiryOutcome | None:
    """Expire everything due for one tenant, batch by batch, and record the local day's run.
    None when another replica holds the tenant's expiry right now."""
    day = local_date(now, timezone)
    lots = points = 0
    while True:
        async with database.transaction() as connection:
            if not (await connection.execute(_TRY_TENANT_LOCK, {"tenant_id": str(tenant_id)})).scalar_one():
                return None
            version = (await current_program(connection, tenant_id)).version
            outcome = await expire_batch(
                connection, outbox, tenant_id=tenant_id, day=day, now=now, program_version=version
            )
            lots, points = lots + outcome.lots, points + outcome.points
            if outcome.lots == 0:
                await connection.execute(
                    sa.text(
                        "INSERT INTO expiry_runs (tenant_id, local_date, lots_expired, points_expired) "
                        "VALUES (:tenant_id, :day, :lots, :points) ON CONFLICT (tenant_id, local_date) "
                        "DO UPDATE SET lots_expired = expiry_runs.lots_expired + EXCLUDED.lots_expired, "
                        "points_expired = expiry_runs.points_expired + EXCLUDED.points_expired, "
                        "ran_at = now()"
                    ),
                    {"tenant_id": tenant_id, "day": day, "lots": lots, "points": points},
                )
                return ExpiryOutcome(lots, points)


async def tenants_due(database: Database, now: datetime) -> list[tuple[uuid.UUID, str]]:
    """Tenants whose expiry has not run yet on their current local day."""
    async with database.read() as connection:
        rows = (await connection.execute(sa.select(tenants.c.tenant_id, tenants.c.timezone))).all()
        done = {
            (r.tenant_id, r.local_date)
            for r in (
                await connection.execute(
                    sa.text("SELECT tenant_id, local_date FROM expiry_runs WHERE local_date >= :since"),
                    {"since": (now - timedelta(days=2)).date()},
                )
            ).all()
        }
    return [(r.tenant_id, r.timezone) for r in rows if (r.tenant_id, local_date(now, r.timezone)) not in done]


async def expiring_page(
    connection: AsyncConnection, tenant_id: uuid.UUID, until: datetime, limit: int, cursor: str
) -> Page[tuple[uuid.UUID, int, datetime]]:
    """Customers with points expiring before ``until``: (customer, points, first expiry), by id."""
    after = decode_cursor(cursor, [uuid.UUID])
    rows = (
        await connection.execute(
            sa.text(
                "SELECT customer_id, sum(remaining) AS points, min(expires_at) AS first_expires_at "
                "FROM point_lots WHERE tenant_id = :tenant_id AND remaining > 0 AND expires_at <= :until "
                "AND (CAST(:after AS uuid) IS NULL OR customer_id > CAST(:after AS uuid)) "
                "GROUP BY customer_id ORDER BY customer_id LIMIT :limit"
            ),
            {
                "tenant_id": tenant_id,
                "until": until,
                "after": after[0] if after else None,
                "limit": limit + 1,
            },
        )
    ).all()
    items = [(r.customer_id, int(r.points), r.first_expires_at) for r in rows[:limit]]
    next_cursor = encode_cursor([rows[limit - 1].customer_id]) if len(rows) > limit else None
    return Page(items, next_cursor)


class SqlExpiryStore:
    """Implements ``services.loyalty.domain.jobs.ExpiryStore`` on the loyalty database."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def tenants_due(self, now: datetime) -> list[tuple[uuid.UUID, str]]:
        return await tenants_due(self._database, now)

    async def expire_tenant(self, tenant_id: uuid.UUID, timezone: str, now: datetime) -> ExpiryOutcome | None:
        return await run_tenant_expiry(self._database, self._outbox, tenant_id, timezone, now)

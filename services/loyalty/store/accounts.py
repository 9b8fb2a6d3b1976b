"""Reading a customer's points, and what merges and erasures do to the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.domain.ledger import Balance, LedgerEntry
from services.loyalty.store.ledger_tables import point_entries
from services.runtime.paging import Page, decode_cursor, encode_cursor

_BALANCE = sa.text(
    """
    SELECT coalesce(a.balance, 0) AS balance, coalesce(a.debt, 0) AS debt,
           coalesce((
               SELECT sum(remaining) FROM point_lots
               WHERE tenant_id = :tenant_id AND customer_id = :customer_id AND remaining > 0
                 AND expires_at IS NOT NULL AND expires_at <= :until
           ), 0) AS expiring
    FROM (SELECT 1) AS one
    LEFT JOIN point_accounts AS a ON a.tenant_id = :tenant_id AND a.customer_id = :customer_id
    """
)


async def balance_of(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime, days: int
) -> Balance:
    """The balance, the part of it expiring within ``days``, and any debt (zeros without an account)."""
    row = (
        await connection.execute(
            _BALANCE,
            {"tenant_id": tenant_id, "customer_id": customer_id, "until": now + timedelta(days=days)},
        )
    ).one()
    return Balance(balance=int(row.balance), expiring=int(row.expiring), debt=int(row.debt))


async def ledger_page(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int, cursor: str
) -> Page[LedgerEntry]:
    """The customer's entries newest first, keyset-paged on the entry sequence."""
    after = decode_cursor(cursor, [int])
    query = (
        sa.select(point_entries)
        .where(point_entries.c.tenant_id == tenant_id, point_entries.c.customer_id == customer_id)
        .order_by(point_entries.c.seq.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(point_entries.c.seq < after[0])
    rows = (await connection.execute(query)).all()
    entries = [
        LedgerEntry(
            entry_id=r.entry_id,
            customer_id=r.customer_id,
            type=r.type,
            delta=int(r.delta),
            balance_after=int(r.balance_after),
            reason=r.reason,
            source=r.source,
            program_version=r.program_version,
            occurred_at=r.occurred_at,
            created_at=r.created_at,
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor([rows[limit - 1].seq]) if len(rows) > limit else None
    return Page(entries, next_cursor)


_LOCK_ACCOUNTS = sa.text(
    "SELECT customer_id, balance, debt FROM point_accounts "
    "WHERE tenant_id = :tenant_id AND customer_id = ANY(:everyone) ORDER BY customer_id FOR UPDATE"
)
_EMPTY_MERGED = sa.text(
    "UPDATE point_accounts SET balance = 0, debt = 0, merged_into = :survivor, updated_at = now() "
    "WHERE tenant_id = :tenant_id AND customer_id = ANY(:merged)"
)
_ADD_TO_SURVIVOR = sa.text(
    """
    INSERT INTO point_accounts (tenant_id, customer_id, balance, debt)
    VALUES (:tenant_id, :survivor, :balance, :debt)
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
    SET balance = point_accounts.balance + EXCLUDED.balance, debt = point_accounts.debt + EXCLUDED.debt,
        updated_at = now()
    """
)

_REPOINT = [
    "UPDATE point_lots SET customer_id = :survivor "
    "WHERE tenant_id = :tenant_id AND customer_id = ANY(:merged)",
    "UPDATE point_entries SET customer_id = :survivor "
    "WHERE tenant_id = :tenant_id AND customer_id = ANY(:merged)",
    "UPDATE order_points SET customer_id = :survivor "
    "WHERE tenant_id = :tenant_id AND customer_id = ANY(:merged)",
    # A day both signed in stays the survivor's; the merged customer's other days join its streaks.
    "DELETE FROM sign_ins AS m WHERE m.tenant_id = :tenant_id AND m.customer_id = ANY(:merged) AND EXISTS "
    "(SELECT 1 FROM sign_ins s WHERE s.tenant_id = m.tenant_id AND s.customer_id = :survivor "
    "AND s.local_date = m.local_date)",
    "DELETE FROM sign_ins AS m WHERE m.tenant_id = :tenant_id AND m.customer_id = ANY(:merged) AND EXISTS "
    "(SELECT 1 FROM sign_ins o WHERE o.tenant_id = m.tenant_id AND o.customer_id = ANY(:merged) "
    "AND o.local_date = m.local_date AND o.customer_id < m.customer_id)",
    "UPDATE sign_ins SET customer_id = :survivor WHERE tenant_id = :tenant_id AND customer_id = ANY(:merged)",
    "DELETE FROM daily_awards WHERE tenant_id = :tenant_id AND customer_id = ANY(:merged)",
]


async def merge_accounts(
    connection: AsyncConnection, tenant_id: uuid.UUID, survivor_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
) -> None:
    """Fold the merged customers' points into the survivor: balances and debts add up, lots and
    the ledger history are re-pointed (so the survivor's entries still sum to its balance), the
    merged accounts stay as empty rows marked ``merged_into``. Accounts are locked in id order."""
    merged = sorted({m for m in merged_ids if m != survivor_id})
    if not merged:
        return
    params = {
        "tenant_id": tenant_id,
        "survivor": survivor_id,
        "merged": merged,
        "everyone": sorted([survivor_id, *merged]),
    }
    rows = (await connection.execute(_LOCK_ACCOUNTS, params)).all()
    moved = [r for r in rows if r.customer_id != survivor_id]
    await connection.execute(_EMPTY_MERGED, params)
    await connection.execute(
        _ADD_TO_SURVIVOR,
        {**params, "balance": sum(int(r.balance) for r in moved), "debt": sum(int(r.debt) for r in moved)},
    )
    for statement in _REPOINT:
        await connection.execute(sa.text(statement), params)


async def erase_account(connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """Anonymise what the ledger holds about an erased customer: free-text reasons are blanked,
    keys a client chose are replaced, sign-in days and daily counters are deleted. Amounts stay,
    so the liability and the daily figures remain true."""
    params = {"tenant_id": tenant_id, "customer_id": customer_id}
    await connection.execute(
        sa.text(
            "UPDATE point_entries SET reason = CASE WHEN type IN ('adjust', 'redeem') THEN 'erased' "
            "ELSE reason END, idempotency_key = CASE WHEN idempotency_key LIKE 'api:%' "
            "THEN 'erased:' || entry_id::text ELSE idempotency_key END "
            "WHERE tenant_id = :tenant_id AND customer_id = :customer_id"
        ),
        params,
    )
    for table in ("sign_ins", "daily_awards"):
        await connection.execute(
            sa.text(f"DELETE FROM {table} WHERE tenant_id = :tenant_id AND customer_id = :customer_id"),  # noqa: S608
            params,
        )

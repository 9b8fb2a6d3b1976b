"""Re-sealing personal data with the current PII key (the second step of a key rotation).

It walks every sealed column in batches, opening with whichever configured key sealed a value and
sealing again with the current one; the service keeps serving throughout, because both keys read.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from services.profile.store.pii import PiiCipher
from services.runtime.database import Database

logger = logging.getLogger(__name__)

# (table, key columns, sealed column, the kind bound into the ciphertext: a column name or a constant)
_SEALED = (
    ("identities", ("tenant_id", "type", "value_hash"), "value_enc", "type"),
    ("customers", ("tenant_id", "customer_id"), "nickname_enc", "'nickname'"),
)


async def rotate(database: Database, cipher: PiiCipher, batch: int = 1000) -> dict[str, int]:
    """Re-seal every value not sealed with the current key; returns how many per table."""
    counts: dict[str, int] = {}
    for table, keys, column, kind in _SEALED:
        key_list = ", ".join(keys)
        select = sa.text(
            f"SELECT {key_list}, {kind} AS kind, {column} AS sealed FROM {table} "  # noqa: S608 - constants
            f"WHERE {column} IS NOT NULL AND get_byte({column}, 1) <> :current "
            f"LIMIT :batch FOR UPDATE SKIP LOCKED"
        )
        where = " AND ".join(f"{k} = :{k}" for k in keys)
        update = sa.text(f"UPDATE {table} SET {column} = :sealed WHERE {where}")  # noqa: S608 - constants
        total = 0
        while True:
            async with database.transaction() as connection:
                rows = (await connection.execute(select, {"current": cipher.key_id, "batch": batch})).all()
                if not rows:
                    break
                params = [
                    {
                        **{k: getattr(row, k) for k in keys},
                        "sealed": cipher.encrypt(
                            row.tenant_id, row.kind, cipher.decrypt(row.tenant_id, row.kind, row.sealed)
                        ),
                    }
                    for row in rows
                ]
                await connection.execute(update, params)
            total += len(rows)
            logger.info("re-sealed %d values of %s.%s", total, table, column)
        counts[f"{table}.{column}"] = total
    return counts

"""Re-scoring after behaviour, coalesced: each touched customer re-scored once per round, not per batch.

Re-scoring is a full recomputation of a customer's features and scores from the facts. Done in every
batch of behaviour events, it was the largest statement of the consumers' work under ingest: a
customer active during a second was re-scored once per batch (docs/performance.md, ninth round).
So the consumer only **marks** the customers a run of behaviour events touched (``mark``, in its
transaction: the mark commits with the facts and the stream position), and the re-scorer
(``rescore_marked``, every ``rescore_every_seconds``) re-scores each marked customer once, announces
the stage changes, re-evaluates the segments that read scores for them, and removes the marks it
served, all in one transaction: a crash leaves the marks for the next round, and nothing is announced
twice. Orders, refunds, sign-ups and merges still re-score in the consumer's transaction.

A round re-scores only the customers whose scores lock it can take at once: a consumer re-scoring an
order of the customer, or forgetting an erased or merged customer, holds it, and the round leaves
that customer marked for a later round instead of writing a result computed before the consumer's.
A mark holds the id of the transaction that last set it. A round removes only the marks it read,
and none that a consumer is setting again: a consumer that marked a customer again while the round
re-scored it (with facts the round may not have seen) leaves a mark with another id, or a mark the
round skipped, which the next round serves. A round never waits for a consumer's locks or marks.
One round runs at a time across replicas (a try-lock), so two rounds never write the same scores in
different orders.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.database import Database
from services.runtime.events.outbox import Outbox
from services.scoring.domain.segments import reads
from services.scoring.store.rescoring import SCORES_LOCK_CLASS, customer_key, rescore
from services.scoring.store.segment_live import refresh_touched

ROUND_LIMIT = 2_000
"""Customers re-scored per round (per transaction); a round that took this many is followed at once."""

_ROUND_LOCK = 0x5E6D_0DE0_0000_0002  # one re-scoring round at a time across replicas

_MARK = sa.text(
    """
    INSERT INTO rescore_marks AS m (tenant_id, customer_id, mark, marked_at)
    SELECT :t, u.customer_id, CAST(CAST(pg_current_xact_id() AS text) AS bigint), now()
    FROM (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS customer_id) u
    ORDER BY u.customer_id
    ON CONFLICT (tenant_id, customer_id) DO UPDATE SET mark = EXCLUDED.mark
    WHERE m.mark IS DISTINCT FROM EXCLUDED.mark
    """
)

_TAKE = sa.text(
    """
    SELECT tenant_id, customer_id, mark FROM rescore_marks
    ORDER BY marked_at, tenant_id, customer_id LIMIT :limit
    """
)

# A mark a consumer is setting again (its row locked by a transaction still open) is skipped, not
# waited for: it stays in any case, and a round that waited for a consumer while holding the scores
# rows it wrote could deadlock with that consumer re-scoring an order of the same customer.
_SERVED = sa.text(
    """
    DELETE FROM rescore_marks WHERE ctid = ANY(ARRAY(
        SELECT m.ctid FROM rescore_marks m
        JOIN unnest(CAST(:tenants AS uuid[]), CAST(:customers AS uuid[]), CAST(:marks AS bigint[]))
             AS u(tenant_id, customer_id, mark)
          ON m.tenant_id = u.tenant_id AND m.customer_id = u.customer_id AND m.mark = u.mark
        FOR UPDATE OF m SKIP LOCKED))
    """
)

# In key order, each key once: a key this transaction holds is taken again at once.
_TRY_LOCKS = sa.text(
    "SELECT k, pg_try_advisory_xact_lock(:lock_class, k) "
    "FROM (SELECT DISTINCT unnest(CAST(:keys AS int[])) AS k ORDER BY 1) AS u"
)

_PENDING = sa.text("SELECT count(*), extract(epoch FROM now() - min(marked_at)) FROM rescore_marks")


def _now() -> datetime:
    return datetime.now(UTC)


async def mark(connection: AsyncConnection, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]) -> None:
    """Mark the customers for the next re-scoring round, in the caller's transaction (the
    consumer's: the mark commits with the facts that made it)."""
    if customer_ids:
        await connection.execute(_MARK, {"t": tenant_id, "ids": list(customer_ids)})


async def rescore_marked(
    database: Database, outbox: Outbox, limit: int = ROUND_LIMIT, clock: Callable[[], datetime] = _now
) -> int:
    """One round: re-score up to ``limit`` marked customers (oldest marks first), announce their
    stage changes, re-evaluate the tenant's segments that read scores for them, and remove the
    marks served; the number of customers re-scored (0 when another replica holds the round)."""
    async with database.transaction() as connection:
        free = await connection.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _ROUND_LOCK}
        )
        if not free.scalar_one():
            return 0
        taken = await _lockable(connection, sorted((await connection.execute(_TAKE, {"limit": limit})).all()))
        if not taken:
            return 0
        by_tenant = {
            tenant: [row.customer_id for row in rows]
            for tenant, rows in groupby(taken, key=lambda r: r.tenant_id)
        }
        for tenant_id, customer_ids in by_tenant.items():
            await rescore(connection, outbox, tenant_id, customer_ids)
        await connection.execute(
            _SERVED,
            {
                "tenants": [row.tenant_id for row in taken],
                "customers": [row.customer_id for row in taken],
                "marks": [row.mark for row in taken],
            },
        )
        # the consumer's own re-evaluation after the behaviour saw the scores before this round
        touched = {tenant: {reads.SCORES: set(ids)} for tenant, ids in by_tenant.items()}
        await refresh_touched(connection, outbox, touched, clock())
    return len(taken)


async def _lockable(connection: AsyncConnection, marks: Sequence[sa.Row[Any]]) -> list[sa.Row[Any]]:
    """The marks whose customers' scores lock (``rescoring.SCORES_LOCK_CLASS``) this round could take
    at once; the others are being re-scored or forgotten by a consumer, stay marked and wait for a
    later round. A round never waits for a consumer, so the two cannot deadlock."""
    if not marks:
        return []
    keys = [customer_key(row.customer_id) for row in marks]
    free = await connection.execute(_TRY_LOCKS, {"lock_class": SCORES_LOCK_CLASS, "keys": keys})
    locked = {key for key, taken in free if taken}
    return [row for row, key in zip(marks, keys, strict=True) if key in locked]


async def pending(database: Database) -> tuple[int, float]:
    """How many customers wait for re-scoring, and the age in seconds of the oldest mark (0 when
    none): the re-scorer's backlog, which ``patron status`` shows and a benchmark waits for."""
    async with database.read() as connection:
        count, age = (await connection.execute(_PENDING)).one()
    return int(count), float(age or 0.0)

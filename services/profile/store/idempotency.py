"""Idempotency-Key records on the profile database.

A record is claimed when new, expired, or pending past its lease (``created_at`` is when the lease
began: a claim resets it), all in the one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` that also
tells a live record from a claimable one, so two retries racing for a released key cannot both win.
Expired records are deleted by ``IdempotencyPurge``, a background task of the profile service, in
set-based batches over the ``expires_at`` index.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.domain.idempotency import Outcome, StoredAnswer
from services.profile.store.tables import idempotency_keys
from services.runtime.database import Database
from services.runtime.server import ServiceServer

k = idempotency_keys.c
logger = logging.getLogger(__name__)

PURGE_BATCH = 5_000


def _interval(span: timedelta) -> sa.ColumnElement[object]:
    return sa.func.make_interval(0, 0, 0, 0, 0, 0, span.total_seconds())


class SqlIdempotencyStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def begin(
        self, tenant_id: uuid.UUID, key: str, request_sha256: str, lifetime: timedelta, lease: timedelta
    ) -> tuple[Outcome, StoredAnswer | None]:
        """Claim the key (a new or expired one, or one pending past its lease: its request died)
        or report the existing record, atomically."""
        expires = sa.func.now() + _interval(lifetime)
        async with self._database.transaction() as connection:
            claim = pg.insert(idempotency_keys).values(
                tenant_id=tenant_id,
                key=key,
                request_sha256=request_sha256,
                state="pending",
                expires_at=expires,
            )
            claimed = await connection.execute(
                claim.on_conflict_do_update(
                    index_elements=[k.tenant_id, k.key],
                    set_={
                        "request_sha256": claim.excluded.request_sha256,
                        "state": "pending",
                        "status_code": None,
                        "body": None,
                        "content_type": None,
                        "created_at": sa.func.now(),
                        "expires_at": claim.excluded.expires_at,
                    },
                    where=(k.expires_at <= sa.func.now())
                    | ((k.state == "pending") & (k.created_at <= sa.func.now() - _interval(lease))),
                ).returning(k.key)
            )
            if claimed.first() is not None:
                return Outcome.NEW, None
            row = (
                await connection.execute(
                    sa.select(idempotency_keys).where(k.tenant_id == tenant_id, k.key == key)
                )
            ).one()
        if row.request_sha256 != request_sha256:
            return Outcome.MISMATCH, None
        if row.state == "pending":
            return Outcome.IN_PROGRESS, None
        return Outcome.REPLAY, StoredAnswer(row.status_code, row.body, row.content_type)

    async def complete(self, tenant_id: uuid.UUID, key: str, answer: StoredAnswer) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.update(idempotency_keys)
                .where(k.tenant_id == tenant_id, k.key == key, k.state == "pending")
                .values(
                    state="done",
                    status_code=answer.status_code,
                    body=answer.body,
                    content_type=answer.content_type,
                )
            )

    async def abandon(self, tenant_id: uuid.UUID, key: str) -> None:
        async with self._database.transaction() as connection:
            await connection.execute(
                sa.delete(idempotency_keys).where(
                    k.tenant_id == tenant_id, k.key == key, k.state == "pending"
                )
            )


_PURGE = sa.text(
    """
    DELETE FROM idempotency_keys AS d
    USING (
        SELECT tenant_id, key FROM idempotency_keys WHERE expires_at <= now()
        LIMIT :batch FOR UPDATE SKIP LOCKED
    ) AS expired
    WHERE d.tenant_id = expired.tenant_id AND d.key = expired.key
    """
)


class IdempotencyPurge:
    """Deletes expired Idempotency-Key records of every tenant (a maintenance task, the one query
    here without a tenant: expiry is the same rule for all), ``batch`` rows a statement so that no
    statement holds many locks or a long transaction, until none is left, then every ``every``."""

    def __init__(self, database: Database, every: timedelta, batch: int = PURGE_BATCH) -> None:
        self._database = database
        self._every = every
        self._batch = batch

    async def purge_once(self) -> int:
        """Delete every record expired now, batch by batch; returns how many were deleted."""
        deleted = 0
        while True:
            async with self._database.transaction() as connection:
                result = await connection.execute(_PURGE, {"batch": self._batch})
            count = int(result.rowcount or 0)
            deleted += count
            if count < self._batch:
                return deleted

    async def run(self, _: ServiceServer) -> None:
        """Background task of the profile service: purge, then wait, for the service's life."""
        while True:
            deleted = await self.purge_once()
            if deleted:
                logger.info("purged %d expired Idempotency-Key records", deleted)
            await asyncio.sleep(self._every.total_seconds())

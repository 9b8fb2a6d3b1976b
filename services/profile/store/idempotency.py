"""Idempotency-Key records on the profile database."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.domain.idempotency import Outcome, StoredAnswer
from services.profile.store.tables import idempotency_keys
from services.runtime.database import Database

k = idempotency_keys.c


class SqlIdempotencyStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def begin(
        self, tenant_id: uuid.UUID, key: str, request_sha256: str, lifetime: timedelta
    ) -> tuple[Outcome, StoredAnswer | None]:
        """Claim the key (a new or expired one) or report the existing record, atomically."""
        expires = sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, lifetime.total_seconds())
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
                    where=k.expires_at <= sa.func.now(),
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

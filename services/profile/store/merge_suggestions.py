"""Merge suggestions and identity-resolution settings on the profile database.

Lock order, the same everywhere so that nothing deadlocks: identities' advisory locks, then customer
rows, then suggestion rows. ``identify`` records its suggestions last; accepting one locks the pair's
customers before the suggestion; a merge or an erasure (customers locked) updates suggestions through
the statements registered at the end of this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.profile.domain.identity_resolution import Apart, ResolutionSettings
from services.profile.domain.merge_suggestions import Decision, MergeSuggestion
from services.profile.store import merges, privacy
from services.profile.store.merges import merge_pair, resolve_survivors
from services.profile.store.tables import (
    customers,
    identities,
    identity_resolution_settings,
    merge_suggestions,
)
from services.runtime.database import Database
from services.runtime.events.outbox import Outbox

_SUGGEST = sa.text(
    """
    INSERT INTO merge_suggestions
           (tenant_id, suggestion_id, customer_id, other_customer_id, identity_type, identity_masked)
    SELECT CAST(:tenant AS uuid), CAST(:suggestion AS uuid), CAST(:customer AS uuid),
           CAST(:other AS uuid), :type, :masked
     WHERE NOT EXISTS (
           SELECT 1 FROM merge_suggestions d
            WHERE d.tenant_id = CAST(:tenant AS uuid) AND d.status = 'dismissed'
              AND least(d.customer_id, d.other_customer_id)
                  = least(CAST(:customer AS uuid), CAST(:other AS uuid))
              AND greatest(d.customer_id, d.other_customer_id)
                  = greatest(CAST(:customer AS uuid), CAST(:other AS uuid)))
        ON CONFLICT (tenant_id, least(customer_id, other_customer_id),
                     greatest(customer_id, other_customer_id))
           WHERE status = 'open'
        DO UPDATE SET occurrences = merge_suggestions.occurrences + 1, last_seen_at = now()
    """
)


async def read_settings(connection: AsyncConnection, tenant_id: uuid.UUID) -> ResolutionSettings:
    """The tenant's settings as this transaction sees them (the defaults when never set)."""
    row = (
        await connection.execute(
            sa.select(identity_resolution_settings).where(
                identity_resolution_settings.c.tenant_id == tenant_id
            )
        )
    ).first()
    if row is None:
        return ResolutionSettings()
    return ResolutionSettings(tuple(row.auto_merge_types), row.updated_at)


async def mark_verified(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    keys: Sequence[tuple[str, bytes]],
) -> None:
    """Record that the customer's identities ``(type, value_hash)`` are verified (first time only:
    ``verified_at`` keeps the first proof, and nothing ever unsets it)."""
    if not keys:
        return
    await connection.execute(
        sa.update(identities)
        .where(
            identities.c.tenant_id == tenant_id,
            identities.c.customer_id == customer_id,
            sa.tuple_(identities.c.type, identities.c.value_hash).in_(list(keys)),
            identities.c.verified_at.is_(None),
        )
        .values(verified_at=sa.func.now())
    )


async def record_apart(
    connection: AsyncConnection, tenant_id: uuid.UUID, customer_id: uuid.UUID, apart: Sequence[Apart]
) -> None:
    """A suggestion for each customer left apart from ``customer_id``: a new open one, or one more
    occurrence of the pair's open one; none for a pair an operator dismissed.

    The customers left apart are not locked (a merge of one of them must not wait for this call);
    they are followed to their survivors just before the insert, so that a merge committed since the
    call read them is seen (one erased meanwhile is dropped). A merge committing in the instant
    between leaves a suggestion naming a merged-away id, which accepting resolves or closes.
    """
    if not apart:
        return
    live = await resolve_survivors(connection, tenant_id, [a.customer_id for a in apart])
    pairs: dict[uuid.UUID, Apart] = {}
    for a in apart:
        other = live.get(a.customer_id)
        if other is not None and other != customer_id:
            pairs.setdefault(other, a)
    if not pairs:
        return
    await connection.execute(
        _SUGGEST,
        [
            {
                "tenant": tenant_id,
                "suggestion": uuid.uuid4(),
                "customer": customer_id,
                "other": other,
                "type": a.identity_type,
                "masked": a.identity_masked,
            }
            # In the order of the pair's index key: two calls upserting the same pairs cannot deadlock.
            for other, a in sorted(pairs.items(), key=lambda item: sorted((customer_id, item[0])))
        ],
    )


def _suggestion(row: sa.Row[Any]) -> MergeSuggestion:
    return MergeSuggestion(
        suggestion_id=row.suggestion_id,
        status=row.status,
        customer_id=row.customer_id,
        other_customer_id=row.other_customer_id,
        identity_type=row.identity_type,
        identity_masked=row.identity_masked,
        occurrences=row.occurrences,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        close_reason=row.close_reason,
        survivor_id=row.survivor_id,
    )


class SqlResolutionSettingsStore:
    """Implements ``ResolutionSettingsStore``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, tenant_id: uuid.UUID) -> ResolutionSettings:
        async with self._database.read() as connection:
            return await read_settings(connection, tenant_id)

    async def put(self, tenant_id: uuid.UUID, auto_merge_types: Sequence[str]) -> ResolutionSettings:
        insert = pg.insert(identity_resolution_settings).values(
            tenant_id=tenant_id, auto_merge_types=list(auto_merge_types)
        )
        statement = insert.on_conflict_do_update(
            index_elements=[identity_resolution_settings.c.tenant_id],
            set_={"auto_merge_types": insert.excluded.auto_merge_types, "updated_at": sa.func.now()},
        ).returning(identity_resolution_settings.c.updated_at)
        async with self._database.transaction() as connection:
            updated_at: datetime = (await connection.execute(statement)).scalar_one()
        return ResolutionSettings(tuple(auto_merge_types), updated_at)


class SqlMergeSuggestionStore:
    """Implements ``MergeSuggestionStore``."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def page(
        self, tenant_id: uuid.UUID, status: str | None, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[MergeSuggestion]:
        m = merge_suggestions.c
        query = sa.select(merge_suggestions).where(m.tenant_id == tenant_id)
        if status is not None:
            query = query.where(m.status == status)
        if after is not None:
            query = query.where(sa.tuple_(m.created_at, m.suggestion_id) < sa.tuple_(*after))
        query = query.order_by(m.created_at.desc(), m.suggestion_id.desc()).limit(limit)
        async with self._database.read() as connection:
            return [_suggestion(row) for row in await connection.execute(query)]

    @staticmethod
    async def _locked(
        connection: AsyncConnection, tenant_id: uuid.UUID, suggestion_id: uuid.UUID
    ) -> sa.Row[Any] | None:
        return (
            await connection.execute(
                sa.select(merge_suggestions)
                .where(
                    merge_suggestions.c.tenant_id == tenant_id,
                    merge_suggestions.c.suggestion_id == suggestion_id,
                )
                .with_for_update()
            )
        ).first()

    @staticmethod
    async def _set(
        connection: AsyncConnection, tenant_id: uuid.UUID, suggestion_id: uuid.UUID, **values: Any
    ) -> MergeSuggestion:
        row = (
            await connection.execute(
                sa.update(merge_suggestions)
                .where(
                    merge_suggestions.c.tenant_id == tenant_id,
                    merge_suggestions.c.suggestion_id == suggestion_id,
                )
                .values(**values, decided_at=sa.func.now())
                .returning(merge_suggestions)
            )
        ).one()
        return _suggestion(row)

    async def accept(self, tenant_id: uuid.UUID, suggestion_id: uuid.UUID, actor: str) -> Decision | None:
        """Merge the pair into the older customer and mark the suggestion accepted, in one
        transaction. Customers are locked before the suggestion (this module's lock order); a second
        accept waits for the first and then finds the suggestion accepted."""
        async with self._database.transaction() as connection:
            first = (
                await connection.execute(
                    sa.select(merge_suggestions.c.customer_id, merge_suggestions.c.other_customer_id).where(
                        merge_suggestions.c.tenant_id == tenant_id,
                        merge_suggestions.c.suggestion_id == suggestion_id,
                    )
                )
            ).first()
            if first is None:
                return None
            live = await resolve_survivors(
                connection, tenant_id, [first.customer_id, first.other_customer_id], lock="update"
            )
            row = await self._locked(connection, tenant_id, suggestion_id)
            if row is None:  # never deleted, but nothing is taken for granted
                return None
            if row.status != "open":
                return Decision(_suggestion(row), applied=False)
            one, other = live.get(first.customer_id), live.get(first.other_customer_id)
            if one is None or other is None:
                closed = await self._set(
                    connection, tenant_id, suggestion_id, status="closed", close_reason="customer_erased"
                )
                return Decision(closed, applied=False)
            if one == other:
                closed = await self._set(
                    connection,
                    tenant_id,
                    suggestion_id,
                    status="closed",
                    close_reason="merged",
                    survivor_id=one,
                )
                return Decision(closed, applied=False)
            survivor, folded = await _older_first(connection, tenant_id, one, other)
            await merge_pair(connection, self._outbox, tenant_id, survivor, folded, "suggestion")
            accepted = await self._set(
                connection,
                tenant_id,
                suggestion_id,
                status="accepted",
                close_reason=None,
                decided_by=actor,
                survivor_id=survivor,
            )
            return Decision(accepted, applied=True)

    async def dismiss(self, tenant_id: uuid.UUID, suggestion_id: uuid.UUID, actor: str) -> Decision | None:
        """Mark an open suggestion dismissed (no customer is touched, so only its row is locked)."""
        async with self._database.transaction() as connection:
            row = await self._locked(connection, tenant_id, suggestion_id)
            if row is None:
                return None
            if row.status != "open":
                return Decision(_suggestion(row), applied=False)
            dismissed = await self._set(
                connection, tenant_id, suggestion_id, status="dismissed", decided_by=actor
            )
            return Decision(dismissed, applied=True)


async def _older_first(
    connection: AsyncConnection, tenant_id: uuid.UUID, one: uuid.UUID, other: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """The pair ordered as identify orders its survivors: earliest created_at, then smallest id."""
    rows = await connection.execute(
        sa.select(customers.c.customer_id)
        .where(customers.c.tenant_id == tenant_id, customers.c.customer_id.in_([one, other]))
        .order_by(customers.c.created_at, customers.c.customer_id)
    )
    survivor, folded = rows.scalars().all()
    return survivor, folded


# ---- merge, erasure, export (run by services.profile.store.merges / .privacy) ----------------------

# A merge first closes the open suggestions it settles (both customers now one), then the ones that
# would become a second open suggestion of the same pair, then re-points the rest to the survivor.
merges.REPOINT_STATEMENTS.extend(
    [
        sa.text(
            "UPDATE merge_suggestions SET status = 'closed', close_reason = 'merged', "
            "survivor_id = CAST(:survivor AS uuid), decided_at = now() "
            "WHERE tenant_id = :tenant AND status = 'open' "
            "AND (customer_id = :survivor OR customer_id = ANY(:merged)) "
            "AND (other_customer_id = :survivor OR other_customer_id = ANY(:merged))"
        ),
        sa.text(
            """
            WITH touched AS (
                SELECT suggestion_id, created_at,
                       CASE WHEN customer_id = ANY(:merged) THEN CAST(:survivor AS uuid)
                            ELSE customer_id END AS a,
                       CASE WHEN other_customer_id = ANY(:merged) THEN CAST(:survivor AS uuid)
                            ELSE other_customer_id END AS b
                  FROM merge_suggestions
                 WHERE tenant_id = :tenant AND status = 'open'
                   AND (customer_id = ANY(:merged) OR other_customer_id = ANY(:merged)
                        OR customer_id = :survivor OR other_customer_id = :survivor)
            ), ranked AS (
                SELECT suggestion_id,
                       row_number() OVER (PARTITION BY least(a, b), greatest(a, b)
                                          ORDER BY created_at, suggestion_id) AS n
                  FROM touched
            )
            UPDATE merge_suggestions s SET status = 'closed', close_reason = 'duplicate', decided_at = now()
              FROM ranked r
             WHERE s.tenant_id = :tenant AND s.suggestion_id = r.suggestion_id AND r.n > 1
            """
        ),
        sa.text(
            "UPDATE merge_suggestions SET "
            "customer_id = CASE WHEN customer_id = ANY(:merged) THEN CAST(:survivor AS uuid) "
            "ELSE customer_id END, "
            "other_customer_id = CASE WHEN other_customer_id = ANY(:merged) THEN CAST(:survivor AS uuid) "
            "ELSE other_customer_id END "
            "WHERE tenant_id = :tenant AND status = 'open' "
            "AND (customer_id = ANY(:merged) OR other_customer_id = ANY(:merged))"
        ),
    ]
)
# Erasure closes the person's open suggestions and blanks the masked identity of all of them.
privacy.ERASE_STATEMENTS.append(
    sa.text(
        "UPDATE merge_suggestions SET "
        "close_reason = CASE WHEN status = 'open' THEN 'customer_erased' ELSE close_reason END, "
        "decided_at = CASE WHEN status = 'open' THEN now() ELSE decided_at END, "
        "status = CASE WHEN status = 'open' THEN 'closed' ELSE status END, "
        "identity_masked = NULL "
        "WHERE tenant_id = :tenant AND (customer_id = ANY(:customers) OR other_customer_id = ANY(:customers))"
    )
)
privacy.EXPORT_QUERIES["merge_suggestions"] = sa.text(
    "SELECT suggestion_id, customer_id, other_customer_id, identity_type, identity_masked, status, "
    "created_at, decided_at, close_reason FROM merge_suggestions "
    "WHERE tenant_id = :tenant AND (customer_id = ANY(:customers) OR other_customer_id = ANY(:customers)) "
    "ORDER BY created_at, suggestion_id"
)

"""Consent state and history on the profile database, with consent.changed in the same transaction.

The current state is one row per customer x channel x purpose; each change also appends a history
row. The upsert only overwrites a row whose ``granted`` differs, so a repeated or raced call that
changes nothing writes no history and emits no event.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from patron.events.v1 import profile_events_pb2
from services.profile.domain.consent import ConsentChange, ConsentState
from services.profile.store import merges, privacy
from services.profile.store.customer_locks import hold_customer, resolve_customer, translated_integrity_errors
from services.profile.store.tag_tables import consent_history, consents
from services.runtime.database import Database
from services.runtime.events.outbox import NewEvent, Outbox
from services.runtime.paging import Page, page_from_rows


class SqlConsentStore:
    """Implements ``ConsentStore``."""

    def __init__(self, database: Database, outbox: Outbox) -> None:
        self._database = database
        self._outbox = outbox

    async def set(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        channel: str,
        purpose: str,
        granted: bool,
        source: str,
    ) -> tuple[ConsentState, bool]:
        """Record the state; a real change appends history and consent.changed, nothing else does."""
        async with (
            translated_integrity_errors("consent already recorded"),
            self._database.transaction() as connection,
        ):
            customer = await hold_customer(connection, tenant_id, customer_id)
            insert = pg.insert(consents).values(
                tenant_id=tenant_id,
                customer_id=customer,
                channel=channel,
                purpose=purpose,
                granted=granted,
                source=source,
                changed_at=sa.func.clock_timestamp(),
            )
            statement = insert.on_conflict_do_update(
                index_elements=[
                    consents.c.tenant_id,
                    consents.c.customer_id,
                    consents.c.channel,
                    consents.c.purpose,
                ],
                set_={
                    "granted": insert.excluded.granted,
                    "source": insert.excluded.source,
                    "changed_at": sa.func.clock_timestamp(),
                },
                where=consents.c.granted != insert.excluded.granted,
            ).returning(consents.c.granted, consents.c.source, consents.c.changed_at)
            written = (await connection.execute(statement)).first()
            if written is None:
                current = (
                    await connection.execute(
                        sa.select(consents.c.granted, consents.c.source, consents.c.changed_at).where(
                            consents.c.tenant_id == tenant_id,
                            consents.c.customer_id == customer,
                            consents.c.channel == channel,
                            consents.c.purpose == purpose,
                        )
                    )
                ).one()
                state = ConsentState(channel, purpose, current.granted, current.source, current.changed_at)
                return state, False
            await connection.execute(
                sa.insert(consent_history).values(
                    tenant_id=tenant_id,
                    customer_id=customer,
                    channel=channel,
                    purpose=purpose,
                    granted=granted,
                    source=source,
                    changed_at=written.changed_at,
                )
            )
            payload = profile_events_pb2.ConsentChanged(
                channel=channel, purpose=purpose, granted=granted, source=source
            )
            await self._outbox.append(connection, [NewEvent(tenant_id, "consent.changed", customer, payload)])
        return ConsentState(channel, purpose, granted, source, written.changed_at), True

    async def current(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> list[ConsentState]:
        """The recorded states of the customer (the domain fills in the unrecorded ones)."""
        async with self._database.read() as connection:
            customer = await resolve_customer(connection, tenant_id, customer_id)
            rows = await connection.execute(
                sa.select(
                    consents.c.channel,
                    consents.c.purpose,
                    consents.c.granted,
                    consents.c.source,
                    consents.c.changed_at,
                ).where(consents.c.tenant_id == tenant_id, consents.c.customer_id == customer)
            )
            return [ConsentState(r.channel, r.purpose, r.granted, r.source, r.changed_at) for r in rows]

    async def history(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        channel: str | None,
        purpose: str | None,
        limit: int,
        before: int | None,
    ) -> Page[ConsentChange]:
        """Changes newest first; the cursor is the last change id seen."""
        async with self._database.read() as connection:
            customer = await resolve_customer(connection, tenant_id, customer_id)
            query = sa.select(consent_history).where(
                consent_history.c.tenant_id == tenant_id, consent_history.c.customer_id == customer
            )
            if channel is not None:
                query = query.where(consent_history.c.channel == channel)
            if purpose is not None:
                query = query.where(consent_history.c.purpose == purpose)
            if before is not None:
                query = query.where(consent_history.c.change_id < before)
            query = query.order_by(consent_history.c.change_id.desc()).limit(limit + 1)
            rows = (await connection.execute(query)).all()
        return page_from_rows(
            rows,
            limit,
            lambda r: ConsentChange(r.change_id, r.channel, r.purpose, r.granted, r.source, r.changed_at),
            lambda r: (r.change_id,),
        )


# ---- merge, erasure, export (run by services.profile.store.merges / .privacy) ----------------------

# On a merge the most recent statement of the person wins per channel x purpose, and the history of
# every merged customer joins the survivor's.
merges.REPOINT_STATEMENTS.extend(
    [
        sa.text(
            """
            WITH moved AS (
                DELETE FROM consents WHERE tenant_id = :tenant AND customer_id = ANY(:merged)
                RETURNING channel, purpose, granted, source, changed_at
            )
            INSERT INTO consents (tenant_id, customer_id, channel, purpose, granted, source, changed_at)
            SELECT DISTINCT ON (channel, purpose) CAST(:tenant AS uuid), CAST(:survivor AS uuid), channel,
                   purpose, granted, source, changed_at
              FROM moved ORDER BY channel, purpose, changed_at DESC
            ON CONFLICT (tenant_id, customer_id, channel, purpose) DO UPDATE
               SET granted = excluded.granted, source = excluded.source, changed_at = excluded.changed_at
             WHERE consents.changed_at < excluded.changed_at
            """
        ),
        sa.text(
            "UPDATE consent_history SET customer_id = CAST(:survivor AS uuid) "
            "WHERE tenant_id = :tenant AND customer_id = ANY(:merged)"
        ),
    ]
)
privacy.ERASE_STATEMENTS.extend(
    [
        sa.text("DELETE FROM consent_history WHERE tenant_id = :tenant AND customer_id = ANY(:customers)"),
        sa.text("DELETE FROM consents WHERE tenant_id = :tenant AND customer_id = ANY(:customers)"),
    ]
)
privacy.EXPORT_QUERIES["consents"] = sa.text(
    "SELECT channel, purpose, granted, source, changed_at FROM consents "
    "WHERE tenant_id = :tenant AND customer_id = ANY(:customers) ORDER BY channel, purpose"
)
privacy.EXPORT_QUERIES["consent_history"] = sa.text(
    "SELECT channel, purpose, granted, source, changed_at FROM consent_history "
    "WHERE tenant_id = :tenant AND customer_id = ANY(:customers) ORDER BY change_id"
)

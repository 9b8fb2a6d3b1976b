"""The customer listing query: live customers of a tenant, newest first, keyset-paginated."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from services.profile.domain.customers import Customer
from services.profile.domain.identities import NormalizedIdentity
from services.profile.domain.listing import Cursor, CustomerQuery
from services.profile.store.customer_rows import customer_from_row
from services.profile.store.pii import PiiCipher
from services.profile.store.tables import customers, identities
from services.runtime.database import Database

# Carries an unexpired tag (customer_tags belongs to the tags capability).
_HAS_TAG = sa.text(
    "EXISTS (SELECT 1 FROM customer_tags ct WHERE ct.tenant_id = customers.tenant_id "
    "AND ct.customer_id = customers.customer_id AND ct.tag_id = :tag_id "
    "AND (ct.expires_at IS NULL OR ct.expires_at > now()))"
)


def _mask_name(name: str) -> str:
    return name[:1] + "**" if name else name


async def list_customers(
    database: Database, cipher: PiiCipher, tenant_id: uuid.UUID, query: CustomerQuery
) -> tuple[list[Customer], Cursor | None]:
    """One page of customers matching ``query``; names and identities come masked."""
    c = customers.c
    statement = sa.select(customers).where(
        c.tenant_id == tenant_id, c.merged_into.is_(None), c.erased_at.is_(None)
    )
    for name, value in query.attributes.items():
        statement = statement.where(c[name] == value)
    if query.identity is not None:
        value_hash = cipher.blind_index(tenant_id, query.identity.type, query.identity.value)
        statement = statement.where(
            sa.exists().where(
                identities.c.tenant_id == c.tenant_id,
                identities.c.customer_id == c.customer_id,
                identities.c.type == query.identity.type,
                identities.c.value_hash == value_hash,
            )
        )
    if query.tag_id is not None:
        statement = statement.where(_HAS_TAG.bindparams(tag_id=query.tag_id))
    if query.after is not None:
        statement = statement.where(
            sa.tuple_(c.created_at, c.customer_id) < (query.after.created_at, query.after.customer_id)
        )
    statement = statement.order_by(c.created_at.desc(), c.customer_id.desc()).limit(query.limit + 1)
    async with database.read() as connection:
        rows = (await connection.execute(statement)).all()
        page, more = rows[: query.limit], len(rows) > query.limit
        held: dict[uuid.UUID, list[NormalizedIdentity]] = {row.customer_id: [] for row in page}
        if page:
            for identity in await connection.execute(
                sa.select(
                    identities.c.customer_id,
                    identities.c.type,
                    identities.c.value_masked,
                    identities.c.verified_at,
                )
                .where(identities.c.tenant_id == tenant_id, identities.c.customer_id.in_(list(held)))
                .order_by(identities.c.created_at, identities.c.type)
            ):
                held[identity.customer_id].append(
                    NormalizedIdentity(
                        identity.type,
                        identity.value_masked,
                        identity.value_masked,
                        identity.verified_at is not None,
                    )
                )
    items = [_listed(cipher, tenant_id, row, held[row.customer_id]) for row in page]
    next_cursor = Cursor(page[-1].created_at, page[-1].customer_id) if more else None
    return items, next_cursor


def _listed(
    cipher: PiiCipher, tenant_id: uuid.UUID, row: sa.Row[Any], held: list[NormalizedIdentity]
) -> Customer:
    nickname = cipher.decrypt(tenant_id, "nickname", row.nickname_enc) if row.nickname_enc else None
    return customer_from_row(row, _mask_name(nickname) if nickname else None, held, None)

"""The ``tenants`` table every service keeps: the merchant's name, time zone, currency and region."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.tenancy import Tenant


def tenants_table(metadata: sa.MetaData) -> sa.Table:
    """Declare the tenants table in a service's metadata."""
    return sa.Table(
        "tenants",
        metadata,
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("default_region", sa.CHAR(2), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def create_tenants_table_v1() -> None:
    """Migration step shared by every service's first revision. Frozen: a change needs a new step."""
    op.create_table(
        "tenants",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("default_region", sa.CHAR(2), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    )


async def upsert_tenant(connection: AsyncConnection, table: sa.Table, tenant: Tenant) -> bool:
    """Insert the tenant or update its settings; True when it was inserted."""
    values = {
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "default_region": tenant.default_region,
    }
    insert = pg.insert(table).values(values)
    statement: Any = insert.on_conflict_do_update(
        index_elements=[table.c.tenant_id],
        set_={**{k: insert.excluded[k] for k in values if k != "tenant_id"}, "updated_at": sa.func.now()},
    ).returning(sa.literal_column("(xmax = 0)").label("inserted"))
    inserted = (await connection.execute(statement)).scalar_one()
    return bool(inserted)


async def load_tenant(connection: AsyncConnection, table: sa.Table, tenant_id: uuid.UUID) -> Tenant | None:
    """The tenant's settings, or None when this service has never been told of it."""
    row = (await connection.execute(sa.select(table).where(table.c.tenant_id == tenant_id))).first()
    return None if row is None else tenant_from_row(row)


def tenant_from_row(row: sa.Row[Any]) -> Tenant:
    """A Tenant from a row that has the tenants table's columns."""
    return Tenant(row.tenant_id, row.name, row.timezone, row.currency.strip(), row.default_region.strip())

"""Tenants, API keys, customers and their identities.

Revision ID: profile_0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from services.runtime.tenant_store import create_tenants_table_v1

revision = "profile_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_tenants_table_v1()
    op.create_table(
        "api_keys",
        sa.Column("key_sha256", sa.LargeBinary, primary_key=True),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), sa.ForeignKey("tenants.tenant_id"), nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("scopes", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.TIMESTAMP(timezone=True)),
        sa.CheckConstraint("octet_length(key_sha256) = 32", name="ck_api_keys_sha256_length"),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id"])
    op.create_table(
        "customers",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("nickname_enc", sa.LargeBinary),
        sa.Column("gender", sa.Text),
        sa.Column("birthday", sa.Date),
        sa.Column("province", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("registered_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("registration_channel", sa.Text),
        sa.Column("device", sa.Text),
        sa.Column("custom", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("merged_into", pg.UUID(as_uuid=True)),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    )
    op.create_table(
        "identities",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("value_hash", sa.LargeBinary, primary_key=True),
        sa.Column("value_enc", sa.LargeBinary, nullable=False),
        sa.Column("value_masked", sa.Text, nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.customer_id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_identities_customer", "identities", ["tenant_id", "customer_id"])


def downgrade() -> None:
    op.drop_table("identities")
    op.drop_table("customers")
    op.drop_table("api_keys")
    op.drop_table("tenants")

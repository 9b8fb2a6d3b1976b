"""Customer merges, erasure and the suppression list.

Revision ID: profile_0006
Revises: profile_0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0006"
down_revision = "profile_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("erased_at", sa.TIMESTAMP(timezone=True)))
    op.create_index("ix_customers_listing", "customers", ["tenant_id", "created_at", "customer_id"])
    op.create_table(
        "customer_merges",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("merged_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("survivor_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("merged_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "customer_tag_history",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("change_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tag_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tag_name", sa.Text, nullable=False),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "ix_customer_tag_history_customer", "customer_tag_history", ["tenant_id", "customer_id", "changed_at"]
    )
    op.create_table(
        "suppressed_identities",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("value_hash", sa.LargeBinary, primary_key=True),
        sa.Column("erased_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("suppressed_identities")
    op.drop_table("customer_tag_history")
    op.drop_table("customer_merges")
    op.drop_index("ix_customers_listing", table_name="customers")
    op.drop_column("customers", "erased_at")

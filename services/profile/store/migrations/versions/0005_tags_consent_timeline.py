"""Tag taxonomy, manual and computed tags, consent history.

Revision ID: profile_0005
Revises: profile_0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0005"
down_revision = "profile_0004"
branch_labels = None
depends_on = None


def _customer_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.customer_id"], ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "tag_groups",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("group_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_key", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("deleted_at", sa.TIMESTAMP(timezone=True)),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
        sa.CheckConstraint(
            "kind IN ('static', 'dynamic', 'preference', 'predictive')", name="ck_tag_groups_kind"
        ),
    )
    op.create_index(
        "ux_tag_groups_live_name",
        "tag_groups",
        ["tenant_id", "kind", "name_key"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "tags",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tag_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("group_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_key", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("deleted_at", sa.TIMESTAMP(timezone=True)),
        sa.ForeignKeyConstraint(["tenant_id", "group_id"], ["tag_groups.tenant_id", "tag_groups.group_id"]),
    )
    op.create_index(
        "ux_tags_live_name",
        "tags",
        ["tenant_id", "group_id", "name_key"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "customer_tags",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tag_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("applied_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        _customer_fk(),
        sa.ForeignKeyConstraint(["tenant_id", "tag_id"], ["tags.tenant_id", "tags.tag_id"]),
    )
    op.create_index("ix_customer_tags_tag", "customer_tags", ["tenant_id", "tag_id"])
    op.create_table(
        "consents",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, primary_key=True),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        _customer_fk(),
        sa.CheckConstraint("channel IN ('sms', 'email', 'push', 'wechat')", name="ck_consents_channel"),
        sa.CheckConstraint("purpose IN ('marketing', 'service')", name="ck_consents_purpose"),
    )
    op.create_table(
        "consent_history",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("change_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        _customer_fk(),
    )
    op.create_index(
        "ix_consent_history_customer", "consent_history", ["tenant_id", "customer_id", "change_id"]
    )


def downgrade() -> None:
    op.drop_table("consent_history")
    op.drop_table("consents")
    op.drop_table("customer_tags")
    op.drop_table("tags")
    op.drop_table("tag_groups")

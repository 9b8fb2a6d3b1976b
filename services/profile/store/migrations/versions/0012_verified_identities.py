"""Verified identities and merge suggestions: an identity records when a call said the person proved
it; a tenant chooses which identity types merge customers on their own; collisions that may not merge
are kept as suggestions for an operator. Identities recorded before stay unverified.

Revision ID: profile_0012
Revises: profile_0009
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0012"
down_revision = "profile_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("identities", sa.Column("verified_at", sa.TIMESTAMP(timezone=True)))
    op.create_table(
        "identity_resolution_settings",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), sa.ForeignKey("tenants.tenant_id"), primary_key=True),
        sa.Column("auto_merge_types", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "merge_suggestions",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("suggestion_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("other_customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("identity_type", sa.Text, nullable=False),
        sa.Column("identity_masked", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_seen_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("decided_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("decided_by", sa.Text),
        sa.Column("close_reason", sa.Text),
        sa.Column("survivor_id", pg.UUID(as_uuid=True)),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'dismissed', 'closed')", name="ck_merge_suggestions_status"
        ),
        sa.CheckConstraint("customer_id <> other_customer_id", name="ck_merge_suggestions_pair"),
    )
    op.create_index(
        "ix_merge_suggestions_listing", "merge_suggestions", ["tenant_id", "created_at", "suggestion_id"]
    )
    op.create_index(
        "ix_merge_suggestions_status",
        "merge_suggestions",
        ["tenant_id", "status", "created_at", "suggestion_id"],
    )
    op.create_index("ix_merge_suggestions_customer", "merge_suggestions", ["tenant_id", "customer_id"])
    op.create_index("ix_merge_suggestions_other", "merge_suggestions", ["tenant_id", "other_customer_id"])
    op.execute(
        "CREATE UNIQUE INDEX ux_merge_suggestions_open_pair ON merge_suggestions "
        "(tenant_id, least(customer_id, other_customer_id), greatest(customer_id, other_customer_id)) "
        "WHERE status = 'open'"
    )


def downgrade() -> None:
    op.drop_table("merge_suggestions")
    op.drop_table("identity_resolution_settings")
    op.drop_column("identities", "verified_at")

"""Operators of a tenant (e-mail, Argon2id password hash, role) and their sessions (SHA-256 only).

Revision ID: profile_0010
Revises: profile_0009
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0010"
down_revision = "profile_0009"
branch_labels = None
depends_on = None

_NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), sa.ForeignKey("tenants.tenant_id"), primary_key=True),
        sa.Column("operator_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("disabled_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("last_sign_in_at", sa.TIMESTAMP(timezone=True)),
        sa.CheckConstraint("role IN ('owner', 'marketer', 'analyst', 'support')", name="ck_operators_role"),
        sa.CheckConstraint("email = lower(email)", name="ck_operators_email_lower"),
        sa.UniqueConstraint("tenant_id", "email", name="ux_operators_email"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("session_sha256", sa.LargeBinary, primary_key=True),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("operator_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("expires_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("revoked_at", sa.TIMESTAMP(timezone=True)),
        sa.CheckConstraint("octet_length(session_sha256) = 32", name="ck_operator_sessions_sha256_length"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "operator_id"],
            ["operators.tenant_id", "operators.operator_id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_operator_sessions_operator", "operator_sessions", ["tenant_id", "operator_id"])


def downgrade() -> None:
    op.drop_table("operator_sessions")
    op.drop_table("operators")

"""Tables of the operators who sign in to the dashboard, and of their sessions (on the shared metadata).

An operator's e-mail is unique per tenant in its normalised (lower-case) form. A session is kept only
as the SHA-256 of its token, so a copy of the table signs no one in; it goes with its operator.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.store.tables import metadata

_NOW = sa.func.now()

operators = sa.Table(
    "operators",
    metadata,
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

operator_sessions = sa.Table(
    "operator_sessions",
    metadata,
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
    sa.Index("ix_operator_sessions_operator", "tenant_id", "operator_id"),
)

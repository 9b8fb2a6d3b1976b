"""The audit log: an append-only table of who did what (export, erasure, merge, points adjustment,
key and operator changes). A statement-level trigger refuses every UPDATE, DELETE and TRUNCATE of
it, whoever asks. Keys keep their scopes: the new ``audit`` scope is held by the first key of a
tenant created from now on and by keys issued with it; no existing key gains it.

Revision ID: profile_0011
Revises: profile_0009
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0011"
down_revision = "profile_0010"
branch_labels = None
depends_on = None

_REFUSE = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "entry_id", pg.UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("request_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column(
            "occurred_at",
            sa.TIMESTAMP(timezone=True),
            nullable=False,
            server_default=sa.text("clock_timestamp()"),
        ),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("client_address", sa.Text, nullable=False, server_default=""),
        sa.Column("outcome", sa.Text),
        sa.Column("status", sa.Integer),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
        sa.CheckConstraint(
            "(phase = 'requested' AND outcome IS NULL AND status IS NULL) OR "
            "(phase = 'outcome' AND outcome IN ('succeeded', 'failed') AND status BETWEEN 100 AND 599)",
            name="ck_audit_log_phase",
        ),
    )
    op.create_index("ux_audit_log_request", "audit_log", ["tenant_id", "request_id", "phase"], unique=True)
    op.create_index("ix_audit_log_time", "audit_log", ["tenant_id", "occurred_at", "entry_id"])
    op.create_index("ix_audit_log_target", "audit_log", ["tenant_id", "target", "occurred_at"])
    op.execute(_REFUSE)
    # Statement level: it fires even when no row matches, so no UPDATE or DELETE gets through quietly.
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.execute("UPDATE api_keys SET scopes = array_remove(scopes, 'audit')")

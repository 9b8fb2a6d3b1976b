"""The audit log's table (declared on the profile service's shared metadata).

Append-only: migration profile_0011 adds a statement-level trigger that raises on every UPDATE,
DELETE and TRUNCATE of it (docs/security.md "Audit log"). One row per entry: a ``requested`` row
before an action and at most one ``outcome`` row after it, linked by ``request_id``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.store.tables import metadata

audit_log = sa.Table(
    "audit_log",
    metadata,
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
    # One requested and at most one outcome entry per action; also how a reader joins them.
    sa.Index("ux_audit_log_request", "tenant_id", "request_id", "phase", unique=True),
    # Newest first (scanned backwards), and by target ("what happened to this customer").
    sa.Index("ix_audit_log_time", "tenant_id", "occurred_at", "entry_id"),
    sa.Index("ix_audit_log_target", "tenant_id", "target", "occurred_at"),
)

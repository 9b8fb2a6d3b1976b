"""Scoring runs queue: a run is ``queued`` until a slot of the global bound frees.

At most one run per tenant is active (queued or running), so the unique index on the running run
becomes one on the active run; ``ux_scoring_runs_queue`` reads the queue in order.

Revision ID: scoring_0009
Revises: scoring_0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "scoring_0009"
down_revision = "scoring_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ux_scoring_runs_running", table_name="scoring_runs")
    op.create_index(
        "ux_scoring_runs_active",
        "scoring_runs",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index(
        "ix_scoring_runs_queue",
        "scoring_runs",
        ["started_at", "run_id"],
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_scoring_runs_queue", table_name="scoring_runs")
    op.drop_index("ux_scoring_runs_active", table_name="scoring_runs")
    op.create_index(
        "ux_scoring_runs_running",
        "scoring_runs",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )

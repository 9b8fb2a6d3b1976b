"""Re-scoring after behaviour coalesced: ``rescore_marks``, the customers waiting for the re-scorer
(``store.rescore_marks``; docs/performance.md, ninth round).

Revision ID: scoring_0016
Revises: scoring_0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "scoring_0016"
down_revision = "scoring_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``rescore_marks``, empty: scores written before it are up to date with their facts."""
    op.create_table(
        "rescore_marks",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("mark", sa.BigInteger, nullable=False),
        sa.Column("marked_at", sa.TIMESTAMP(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``rescore_marks`` (the customers it held are re-scored by the next batch run)."""
    op.drop_table("rescore_marks")

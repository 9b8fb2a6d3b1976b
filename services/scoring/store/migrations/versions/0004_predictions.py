"""Fitted BG/NBD and Gamma-Gamma models and per-customer predictions.

Revision ID: scoring_0004
Revises: scoring_0003
Create Date: 2026-11-23
"""

revision = "scoring_0004"
down_revision = "scoring_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

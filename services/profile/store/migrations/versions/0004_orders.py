"""Orders and refunds.

Revision ID: profile_0004
Revises: profile_0003
Create Date: 2026-11-22
"""

revision = "profile_0004"
down_revision = "profile_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

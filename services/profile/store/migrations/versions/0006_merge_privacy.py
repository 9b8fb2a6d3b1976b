"""Customer merges, erasure and the suppression list.

Revision ID: profile_0006
Revises: profile_0005
Create Date: 2026-11-22
"""

revision = "profile_0006"
down_revision = "profile_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

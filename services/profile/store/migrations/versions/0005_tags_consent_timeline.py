"""Tag taxonomy, manual and computed tags, consent history.

Revision ID: profile_0005
Revises: profile_0004
Create Date: 2026-11-22
"""

revision = "profile_0005"
down_revision = "profile_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""Behaviour events (POST /v1/events).

Revision ID: profile_0003
Revises: profile_0002
Create Date: 2026-11-22
"""

revision = "profile_0003"
down_revision = "profile_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""Member tiers and coupons.

Revision ID: loyalty_0003
Revises: loyalty_0002
Create Date: 2026-11-23
"""

revision = "loyalty_0003"
down_revision = "loyalty_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""The points programme and ledger.

Revision ID: loyalty_0002
Revises: loyalty_0001
Create Date: 2026-11-23
"""

revision = "loyalty_0002"
down_revision = "loyalty_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""The customer's own time zone (an IANA name), an attribute segments use for local calendars.

Revision ID: profile_0008
Revises: profile_0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0008"
down_revision = "profile_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("timezone", sa.Text))


def downgrade() -> None:
    op.drop_column("customers", "timezone")

"""The profile service's outbox: the events it produces, and their positions per partition.

Revision ID: profile_0002
Revises: profile_0001
Create Date: 2026-11-22
"""

from services.runtime.events.tables import create_producer_tables_v1, drop_producer_tables_v1

revision = "profile_0002"
down_revision = "profile_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_producer_tables_v1()


def downgrade() -> None:
    drop_producer_tables_v1()

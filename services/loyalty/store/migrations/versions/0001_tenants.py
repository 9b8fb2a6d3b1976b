"""The loyalty service's first tables: the tenants it serves.

Revision ID: loyalty_0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

from services.runtime.tenant_store import create_tenants_table_v1

revision = "loyalty_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_tenants_table_v1()


def downgrade() -> None:
    op.drop_table("tenants")

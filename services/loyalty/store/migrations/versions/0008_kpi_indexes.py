"""Indexes for the KPIs (docs/kpis.md): coupons by issue time (with their status) and redeemed
coupons by redemption time (with their discount), so a period's coupon figures are index-only
range reads instead of a scan of the tenant's coupons.

Revision ID: loyalty_0008
Revises: loyalty_0006
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "loyalty_0008"
down_revision = "loyalty_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("coupons_by_issued", "coupons", ["tenant_id", "issued_at"], postgresql_include=["status"])
    op.create_index(
        "coupons_by_redeemed",
        "coupons",
        ["tenant_id", "redeemed_at"],
        postgresql_include=["discount_minor"],
        postgresql_where=sa.text("redeemed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("coupons_by_redeemed", table_name="coupons")
    op.drop_index("coupons_by_issued", table_name="coupons")

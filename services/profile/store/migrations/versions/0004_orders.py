"""Orders and refunds.

Revision ID: profile_0004
Revises: profile_0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "profile_0004"
down_revision = "profile_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("paid_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.Text, nullable=False, server_default="paid"),
        sa.Column("coupon_code", sa.Text),
        sa.Column("channel", sa.Text),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("refund_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("request_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.customer_id"],
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("amount_minor >= 0", name="ck_orders_amount"),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="ck_orders_refunded"
        ),
        sa.CheckConstraint(
            "(status = 'paid' AND refunded_minor = 0)"
            " OR (status = 'partially_refunded' AND refunded_minor > 0 AND refunded_minor < amount_minor)"
            " OR (status = 'refunded' AND refunded_minor > 0 AND refunded_minor = amount_minor)",
            name="ck_orders_status",
        ),
        sa.CheckConstraint("item_count > 0 AND refund_count >= 0", name="ck_orders_counts"),
    )
    op.create_index("ix_orders_customer_paid", "orders", ["tenant_id", "customer_id", "paid_at", "order_id"])
    op.create_table(
        "order_items",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("category", sa.Text),
        sa.Column("brand", sa.Text),
        sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "order_id"], ["orders.tenant_id", "orders.order_id"], ondelete="CASCADE"
        ),
        sa.CheckConstraint("unit_price_minor >= 0", name="ck_order_items_price"),
        sa.CheckConstraint("quantity > 0", name="ck_order_items_quantity"),
    )
    op.create_table(
        "order_refunds",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("refund_id", sa.Text, primary_key=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("refunded_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("request_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["tenant_id", "order_id"], ["orders.tenant_id", "orders.order_id"], ondelete="CASCADE"
        ),
        sa.CheckConstraint("amount_minor > 0", name="ck_order_refunds_amount"),
    )


def downgrade() -> None:
    op.drop_table("order_refunds")
    op.drop_table("order_items")
    op.drop_index("ix_orders_customer_paid", table_name="orders")
    op.drop_table("orders")

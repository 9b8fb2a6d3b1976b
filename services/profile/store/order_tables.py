"""Tables of the profile service's order capability (declared on the shared metadata).

Money is BIGINT minor units. The database itself refuses a refund total above the order's amount and
a status that disagrees with the amounts, whatever the code above it does. ``customer_id`` is a live
customer: a merge moves orders to the survivor and erasing a customer deletes their orders (see the
end of ``services.profile.store.orders``); items and refunds follow their order (ON DELETE CASCADE).
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.profile.store.tables import metadata

orders = sa.Table(
    "orders",
    metadata,
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
        ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.customer_id"], ondelete="CASCADE"
    ),
    sa.CheckConstraint("amount_minor >= 0", name="ck_orders_amount"),
    sa.CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="ck_orders_refunded"),
    sa.CheckConstraint(
        "(status = 'paid' AND refunded_minor = 0)"
        " OR (status = 'partially_refunded' AND refunded_minor > 0 AND refunded_minor < amount_minor)"
        " OR (status = 'refunded' AND refunded_minor > 0 AND refunded_minor = amount_minor)",
        name="ck_orders_status",
    ),
    sa.CheckConstraint("item_count > 0 AND refund_count >= 0", name="ck_orders_counts"),
    # A customer's orders newest first (scanned backwards), and moving them on a merge.
    sa.Index("ix_orders_customer_paid", "tenant_id", "customer_id", "paid_at", "order_id"),
)

order_items = sa.Table(
    "order_items",
    metadata,
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

order_refunds = sa.Table(
    "order_refunds",
    metadata,
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

"""Tables of the loyalty service's coupon capability (declared on the shared metadata).

- ``coupon_templates``: what a coupon gives and under which limits. ``issued_count`` and
  ``redeemed_count`` are counters kept by the conditional statements that issue and redeem; the
  CHECK refuses an ``issued_count`` above the ``budget`` whatever the code above does.
- ``coupon_holdings``: how many coupons of a template a customer was issued; the per-customer
  limit is one conditional upsert on this row.
- ``coupons``: one row per issued coupon, keyed by its unguessable code (unique per tenant);
  ``issue_key`` makes an issue idempotent. ``customer_id`` is NULL once the customer is erased.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.loyalty.store.tables import metadata

_NOW = sa.func.now()

coupon_templates = sa.Table(
    "coupon_templates",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("template_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("threshold_minor", sa.BigInteger),
    sa.Column("discount_minor", sa.BigInteger),
    sa.Column("percent_off", sa.Integer),
    sa.Column("max_discount_minor", sa.BigInteger),
    sa.Column("valid_from", sa.TIMESTAMP(timezone=True)),
    sa.Column("valid_until", sa.TIMESTAMP(timezone=True)),
    sa.Column("valid_days", sa.Integer),
    sa.Column("per_customer_limit", sa.Integer, nullable=False),
    sa.Column("budget", sa.Integer),
    sa.Column("points_price", sa.BigInteger),
    sa.Column("issued_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("redeemed_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    sa.CheckConstraint(
        "kind IN ('threshold', 'percent', 'no_threshold', 'first_order')", name="ck_coupon_templates_kind"
    ),
    sa.CheckConstraint(
        "issued_count >= 0 AND (budget IS NULL OR issued_count <= budget)",
        name="ck_coupon_templates_budget",
    ),
    sa.CheckConstraint(
        "redeemed_count >= 0 AND redeemed_count <= issued_count", name="ck_coupon_templates_redeemed"
    ),
    sa.CheckConstraint(
        "(valid_days IS NOT NULL AND valid_from IS NULL AND valid_until IS NULL)"
        " OR (valid_days IS NULL AND valid_from IS NOT NULL AND valid_until > valid_from)",
        name="ck_coupon_templates_validity",
    ),
    sa.Index("ix_coupon_templates_listing", "tenant_id", "created_at", "template_id"),
)

coupon_holdings = sa.Table(
    "coupon_holdings",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("template_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("issued", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(
        ["tenant_id", "template_id"], ["coupon_templates.tenant_id", "coupon_templates.template_id"]
    ),
    sa.CheckConstraint("issued >= 0", name="ck_coupon_holdings_issued"),
    sa.Index("ix_coupon_holdings_customer", "tenant_id", "customer_id"),
)

coupons = sa.Table(
    "coupons",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("template_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True)),
    sa.Column("issue_key", sa.Text),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="issued"),
    sa.Column("valid_from", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("valid_until", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("issued_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("points_entry_id", pg.UUID(as_uuid=True)),
    sa.Column("redeemed_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("order_id", sa.Text),
    sa.Column("order_amount_minor", sa.BigInteger),
    sa.Column("discount_minor", sa.BigInteger),
    sa.ForeignKeyConstraint(
        ["tenant_id", "template_id"], ["coupon_templates.tenant_id", "coupon_templates.template_id"]
    ),
    sa.CheckConstraint("status IN ('issued', 'redeemed', 'revoked')", name="ck_coupons_status"),
    sa.CheckConstraint(
        "(status = 'redeemed') = (redeemed_at IS NOT NULL AND order_id IS NOT NULL"
        " AND order_amount_minor IS NOT NULL AND discount_minor IS NOT NULL)",
        name="ck_coupons_redemption",
    ),
    sa.CheckConstraint(
        "discount_minor IS NULL OR (discount_minor > 0 AND discount_minor <= order_amount_minor)",
        name="ck_coupons_discount",
    ),
    sa.CheckConstraint("valid_until > valid_from", name="ck_coupons_validity"),
    sa.Index(
        "ux_coupons_issue_key",
        "tenant_id",
        "issue_key",
        unique=True,
        postgresql_where=sa.text("issue_key IS NOT NULL"),
    ),
    # A customer's coupons newest first.
    sa.Index("ix_coupons_customer", "tenant_id", "customer_id", "issued_at", "code"),
    # The KPIs (docs/kpis.md): coupons issued in a period and whether redeemed; redemptions in a
    # period and their discounts, each read index-only.
    sa.Index("coupons_by_issued", "tenant_id", "issued_at", postgresql_include=["status"]),
    sa.Index(
        "coupons_by_redeemed",
        "tenant_id",
        "redeemed_at",
        postgresql_include=["discount_minor"],
        postgresql_where=sa.text("redeemed_at IS NOT NULL"),
    ),
)

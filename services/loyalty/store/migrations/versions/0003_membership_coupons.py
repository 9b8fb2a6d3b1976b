"""Member tiers (memberships, progress facts, tier history) and coupons (templates, holdings, coupons).

Revision ID: loyalty_0003
Revises: loyalty_0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "loyalty_0003"
down_revision = "loyalty_0002"
branch_labels = None
depends_on = None

_NOW = sa.func.now()


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"])


def _template_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "template_id"], ["coupon_templates.tenant_id", "coupon_templates.template_id"]
    )


def _upgrade_membership() -> None:
    op.create_table(
        "memberships",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tier_code", sa.Text, nullable=False),
        sa.Column("tier_since", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("next_review_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("grace_until", sa.TIMESTAMP(timezone=True)),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
        _tenant_fk(),
        sa.CheckConstraint(
            "grace_until IS NULL OR next_review_at = grace_until", name="ck_memberships_grace_is_review"
        ),
    )
    op.create_index(
        "ix_memberships_due",
        "memberships",
        ["next_review_at"],
        postgresql_where=sa.text("next_review_at IS NOT NULL"),
    )
    op.create_table(
        "membership_facts",
        sa.Column("fact_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text),
        sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("spend_minor", sa.BigInteger, nullable=False),
        sa.Column("orders", sa.Integer, nullable=False),
        sa.Column("growth", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
        _tenant_fk(),
        sa.CheckConstraint("kind IN ('order', 'refund', 'review')", name="ck_membership_facts_kind"),
        sa.CheckConstraint("(kind = 'review') = (order_id IS NULL)", name="ck_membership_facts_order_id"),
    )
    op.create_index(
        "ix_membership_facts_customer", "membership_facts", ["tenant_id", "customer_id", "occurred_at"]
    )
    op.create_index(
        "ux_membership_facts_order",
        "membership_facts",
        ["tenant_id", "order_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'order'"),
    )
    op.create_index(
        "ix_membership_facts_refund",
        "membership_facts",
        ["tenant_id", "order_id"],
        postgresql_where=sa.text("kind = 'refund'"),
    )
    op.create_table(
        "tier_history",
        sa.Column("change_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("from_tier", sa.Text, nullable=False),
        sa.Column("to_tier", sa.Text, nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("program_version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False),
        _tenant_fk(),
        sa.CheckConstraint("direction IN ('upgrade', 'downgrade')", name="ck_tier_history_direction"),
    )
    op.create_index("ix_tier_history_customer", "tier_history", ["tenant_id", "customer_id", "change_id"])


def _upgrade_coupons() -> None:
    op.create_table(
        "coupon_templates",
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
        _tenant_fk(),
        sa.CheckConstraint(
            "kind IN ('threshold', 'percent', 'no_threshold', 'first_order')",
            name="ck_coupon_templates_kind",
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
    )
    op.create_index(
        "ix_coupon_templates_listing", "coupon_templates", ["tenant_id", "created_at", "template_id"]
    )
    op.create_table(
        "coupon_holdings",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("template_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("issued", sa.Integer, nullable=False),
        _template_fk(),
        sa.CheckConstraint("issued >= 0", name="ck_coupon_holdings_issued"),
    )
    op.create_index("ix_coupon_holdings_customer", "coupon_holdings", ["tenant_id", "customer_id"])
    op.create_table(
        "coupons",
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
        _template_fk(),
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
    )
    op.create_index(
        "ux_coupons_issue_key",
        "coupons",
        ["tenant_id", "issue_key"],
        unique=True,
        postgresql_where=sa.text("issue_key IS NOT NULL"),
    )
    op.create_index("ix_coupons_customer", "coupons", ["tenant_id", "customer_id", "issued_at", "code"])


def upgrade() -> None:
    _upgrade_membership()
    _upgrade_coupons()


def downgrade() -> None:
    for table in ("coupons", "coupon_holdings", "coupon_templates", "tier_history", "membership_facts"):
        op.drop_table(table)
    op.drop_table("memberships")

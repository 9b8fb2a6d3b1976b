"""Tables of the loyalty service's membership capability (declared on the shared metadata).

- ``memberships``: one row per customer who ever made progress: the tier held, since when, the next
  review and, while the member is in grace, when the grace ends. Customers without a row hold the
  base tier. ``next_review_at`` is NULL at the base tier (there is nothing to review).
- ``membership_facts``: what moves progress (a paid order, a refund, a review), each with its signed
  contribution to every metric (spend in minor units, orders, growth value), so the rolling window
  is a sum over the facts whose ``occurred_at`` lies in it, whatever the ladder's metric is. A
  paid order is recorded once per order id (the unique index), which also answers "has this
  customer ordered before" for first-order coupons.
- ``tier_history``: every tier change, never rewritten.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.loyalty.store.tables import metadata

_NOW = sa.func.now()

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tier_code", sa.Text, nullable=False),
    sa.Column("tier_since", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("next_review_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("grace_until", sa.TIMESTAMP(timezone=True)),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=_NOW),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    sa.CheckConstraint(
        "grace_until IS NULL OR next_review_at = grace_until", name="ck_memberships_grace_is_review"
    ),
    # The review job's scan: members whose review is due, oldest first.
    sa.Index("ix_memberships_due", "next_review_at", postgresql_where=sa.text("next_review_at IS NOT NULL")),
)

membership_facts = sa.Table(
    "membership_facts",
    metadata,
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
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    sa.CheckConstraint("kind IN ('order', 'refund', 'review')", name="ck_membership_facts_kind"),
    sa.CheckConstraint("(kind = 'review') = (order_id IS NULL)", name="ck_membership_facts_order_id"),
    # The rolling window of one customer.
    sa.Index("ix_membership_facts_customer", "tenant_id", "customer_id", "occurred_at"),
    sa.Index(
        "ux_membership_facts_order",
        "tenant_id",
        "order_id",
        unique=True,
        postgresql_where=sa.text("kind = 'order'"),
    ),
    sa.Index(
        "ix_membership_facts_refund",
        "tenant_id",
        "order_id",
        postgresql_where=sa.text("kind = 'refund'"),
    ),
)

tier_history = sa.Table(
    "tier_history",
    metadata,
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
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
    sa.CheckConstraint("direction IN ('upgrade', 'downgrade')", name="ck_tier_history_direction"),
    sa.Index("ix_tier_history_customer", "tenant_id", "customer_id", "change_id"),
)

"""Tables of the points capability: programme versions, the customer projection, the ledger.

The ledger is three tables that always agree: ``point_entries`` (immutable; their sum per customer
is the balance), ``point_accounts`` (the balance, guarded by ``CHECK (balance >= 0)``) and
``point_lots`` (what is left of each credit; their sum is the balance too, consumed oldest-expiring
first so that expiry takes exactly what is left of each lot).
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.loyalty.store.tables import metadata

ENTRY_TYPES = ("earn", "redeem", "expire", "reverse", "adjust")

# Every stored version of every tenant's programme; a tenant without rows runs the default.
programs = sa.Table(
    "loyalty_programs",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("document", pg.JSONB, nullable=False),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("version >= 1", name="ck_loyalty_programs_version"),
)

# Loyalty's projection of profile's customers: who was merged into whom, who was erased.
customers = sa.Table(
    "loyalty_customers",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("merged_into", pg.UUID(as_uuid=True)),
    sa.Column("erased_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("birthday", sa.Text),  # "MM-DD" only (no year): all the birthday multiplier needs
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
)

point_accounts = sa.Table(
    "point_accounts",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("debt", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("merged_into", pg.UUID(as_uuid=True)),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("balance >= 0", name="ck_point_accounts_balance"),
    sa.CheckConstraint("debt >= 0", name="ck_point_accounts_debt"),
)

point_entries = sa.Table(
    "point_entries",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("entry_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("delta", sa.BigInteger, nullable=False),
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("program_version", sa.Integer, nullable=False),
    sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint(f"type IN {ENTRY_TYPES!r}", name="ck_point_entries_type"),
    sa.CheckConstraint("delta <> 0", name="ck_point_entries_delta"),
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="ux_point_entries_idempotency_key"),
    sa.Index("ix_point_entries_customer", "tenant_id", "customer_id", "seq"),
    sa.Index("ix_point_entries_created", "tenant_id", "created_at"),
)

point_lots = sa.Table(
    "point_lots",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("lot_id", pg.UUID(as_uuid=True), primary_key=True),  # the crediting entry's id
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("earned", sa.BigInteger, nullable=False),
    sa.Column("remaining", sa.BigInteger, nullable=False),
    sa.Column("earned_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
    sa.CheckConstraint("earned > 0", name="ck_point_lots_earned"),
    sa.CheckConstraint("remaining >= 0 AND remaining <= earned", name="ck_point_lots_remaining"),
    sa.Index(
        "ix_point_lots_live",
        "tenant_id",
        "customer_id",
        "expires_at",
        "earned_at",
        postgresql_where=sa.text("remaining > 0"),
    ),
    sa.Index("ix_point_lots_expiring", "tenant_id", "expires_at", postgresql_where=sa.text("remaining > 0")),
)

# What each paid order earned and how much of it refunds took back (cumulative, never more).
order_points = sa.Table(
    "order_points",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("earned", sa.BigInteger, nullable=False),
    sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reversed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("lot_id", pg.UUID(as_uuid=True)),
    sa.Column("paid_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.CheckConstraint("reversed >= 0 AND reversed <= earned", name="ck_order_points_reversed"),
    sa.CheckConstraint(
        "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="ck_order_points_refunded"
    ),
)

# One row per customer and tenant-local day signed in: the once-a-day rule is its primary key.
sign_ins = sa.Table(
    "sign_ins",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("streak", sa.Integer, nullable=False),
    sa.Column("points_awarded", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Points awarded per customer, tenant-local day and capped source (review, share): the daily caps.
daily_awards = sa.Table(
    "daily_awards",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("points", sa.BigInteger, nullable=False),
)

# When each tenant's expiry last ran, by tenant-local date (the job runs once per local midnight).
expiry_runs = sa.Table(
    "expiry_runs",
    metadata,
    sa.Column("tenant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("lots_expired", sa.Integer, nullable=False),
    sa.Column("points_expired", sa.BigInteger, nullable=False),
    sa.Column("ran_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
)

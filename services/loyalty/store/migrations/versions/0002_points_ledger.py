"""The points programme and ledger; loyalty becomes a producer and a consumer of profile's events.

Revision ID: loyalty_0002
Revises: loyalty_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from services.runtime.events.tables import (
    create_consumer_tables_v1,
    create_producer_tables_v1,
    drop_consumer_tables_v1,
    drop_producer_tables_v1,
)

revision = "loyalty_0002"
down_revision = "loyalty_0001"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TIME = sa.TIMESTAMP(timezone=True)


def _ledger() -> None:
    op.create_table(
        "point_accounts",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("debt", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("merged_into", _UUID),
        sa.Column("created_at", _TIME, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", _TIME, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("balance >= 0", name="ck_point_accounts_balance"),
        sa.CheckConstraint("debt >= 0", name="ck_point_accounts_debt"),
    )
    op.create_table(
        "point_entries",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("entry_id", _UUID, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("delta", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("program_version", sa.Integer, nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "type IN ('earn', 'redeem', 'expire', 'reverse', 'adjust')", name="ck_point_entries_type"
        ),
        sa.CheckConstraint("delta <> 0", name="ck_point_entries_delta"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="ux_point_entries_idempotency_key"),
    )
    op.create_index("ix_point_entries_customer", "point_entries", ["tenant_id", "customer_id", "seq"])
    op.create_index("ix_point_entries_created", "point_entries", ["tenant_id", "created_at"])
    op.create_table(
        "point_lots",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("lot_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("earned", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.Column("earned_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME),
        sa.CheckConstraint("earned > 0", name="ck_point_lots_earned"),
        sa.CheckConstraint("remaining >= 0 AND remaining <= earned", name="ck_point_lots_remaining"),
    )
    op.create_index(
        "ix_point_lots_live",
        "point_lots",
        ["tenant_id", "customer_id", "expires_at", "earned_at"],
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_index(
        "ix_point_lots_expiring",
        "point_lots",
        ["tenant_id", "expires_at"],
        postgresql_where=sa.text("remaining > 0"),
    )


def _earning() -> None:
    op.create_table(
        "order_points",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("customer_id", _UUID, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("earned", sa.BigInteger, nullable=False),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reversed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("lot_id", _UUID),
        sa.Column("paid_at", _TIME, nullable=False),
        sa.CheckConstraint("reversed >= 0 AND reversed <= earned", name="ck_order_points_reversed"),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="ck_order_points_refunded"
        ),
    )
    op.create_table(
        "sign_ins",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("streak", sa.Integer, nullable=False),
        sa.Column("points_awarded", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "daily_awards",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("points", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "expiry_runs",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("local_date", sa.Date, primary_key=True),
        sa.Column("lots_expired", sa.Integer, nullable=False),
        sa.Column("points_expired", sa.BigInteger, nullable=False),
        sa.Column("ran_at", _TIME, nullable=False, server_default=sa.func.now()),
    )


def upgrade() -> None:
    create_producer_tables_v1()
    create_consumer_tables_v1()
    op.create_table(
        "loyalty_programs",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("version >= 1", name="ck_loyalty_programs_version"),
    )
    op.create_table(
        "loyalty_customers",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("merged_into", _UUID),
        sa.Column("erased_at", _TIME),
        sa.Column("birthday", sa.Text),
        sa.Column("updated_at", _TIME, nullable=False, server_default=sa.func.now()),
    )
    _ledger()
    _earning()


def downgrade() -> None:
    for table in (
        "expiry_runs",
        "daily_awards",
        "sign_ins",
        "order_points",
        "point_lots",
        "point_entries",
        "point_accounts",
        "loyalty_customers",
        "loyalty_programs",
    ):
        op.drop_table(table)
    drop_consumer_tables_v1()
    drop_producer_tables_v1()

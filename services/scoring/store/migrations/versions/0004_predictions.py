"""Fitted BG/NBD and Gamma-Gamma models and per-customer predictions.

Revision ID: scoring_0004
Revises: scoring_0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "scoring_0004"
down_revision = "scoring_0003"
branch_labels = None
depends_on = None

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)
_FLOAT = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "prediction_models",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("customers", sa.BigInteger, nullable=False),
        sa.Column("repeat_customers", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("bgnbd_r", _FLOAT),
        sa.Column("bgnbd_alpha", _FLOAT),
        sa.Column("bgnbd_a", _FLOAT),
        sa.Column("bgnbd_b", _FLOAT),
        sa.Column("bgnbd_log_likelihood", _FLOAT),
        sa.Column("gg_p", _FLOAT),
        sa.Column("gg_q", _FLOAT),
        sa.Column("gg_gamma", _FLOAT),
        sa.Column("gg_log_likelihood", _FLOAT),
        sa.Column("clv_horizon_months", sa.Integer, nullable=False),
        sa.Column("annual_discount_rate", _FLOAT, nullable=False),
        sa.Column("diagnostics", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("fitted_at", _TS, nullable=False),
    )
    op.create_index("ix_prediction_models_latest", "prediction_models", ["tenant_id", "fitted_at"])
    op.create_table(
        "predictions",
        sa.Column("tenant_id", _UUID, primary_key=True),
        sa.Column("customer_id", _UUID, primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("p_alive", _FLOAT, nullable=False),
        sa.Column("expected_purchases_30d", _FLOAT, nullable=False),
        sa.Column("expected_avg_spend_minor", sa.BigInteger, nullable=False),
        sa.Column("clv_minor", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_index("ix_prediction_models_latest", table_name="prediction_models")
    op.drop_table("prediction_models")

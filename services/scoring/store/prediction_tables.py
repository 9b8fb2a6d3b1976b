"""Tables of the scoring service's prediction capability (declared on the shared metadata).

``prediction_models`` keeps every fit, one per tenant and ``as_of`` (a second fit for the same date
replaces the first); the latest by ``fitted_at`` is the tenant's current model. ``predictions`` holds
one row per customer from the tenant's latest fit only: each fit replaces the tenant's rows, and a fit
that ends without ``fitted`` clears them, so scores never disagree with the model status.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.scoring.store.tables import metadata

_UUID = pg.UUID(as_uuid=True)
_TS = sa.TIMESTAMP(timezone=True)
_FLOAT = sa.Float(precision=53)

prediction_models = sa.Table(
    "prediction_models",
    metadata,
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
    # Per model: converged, iterations, evaluations, gradient_norm, message (see OptimiserReport).
    sa.Column("diagnostics", pg.JSONB, nullable=False, server_default="{}"),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("fitted_at", _TS, nullable=False),
    sa.Index("ix_prediction_models_latest", "tenant_id", "fitted_at"),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("tenant_id", _UUID, primary_key=True),
    sa.Column("customer_id", _UUID, primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("p_alive", _FLOAT, nullable=False),
    sa.Column("expected_purchases_30d", _FLOAT, nullable=False),
    sa.Column("expected_avg_spend_minor", sa.BigInteger, nullable=False),
    sa.Column("clv_minor", sa.BigInteger, nullable=False),
)
